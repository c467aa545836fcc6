//! `callback_url`: when a submission finishes, its result (Judge0's default fields, base64) is
//! PUT there, as Judge0 does: up to 3 tries, 5 s each, done at the first HTTP answer.
//!
//! With `ServerConfig::allow_callbacks` off, a callback may not reach loopback, private,
//! link-local or otherwise internal addresses (the SSRF of Judge0's CVE-2024-29021): literal
//! addresses are refused when the submission is made, host names are resolved at send time and
//! the checked address is the one connected to (no second lookup to rebind), and redirects are
//! not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

use super::wire::MAX_CALLBACK_URL_BYTES;

/// Judge0's CALLBACKS_MAX_TRIES.
pub const CALLBACK_TRIES: u32 = 3;
/// Judge0's CALLBACKS_TIMEOUT, per try.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between tries.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Check a callback URL when the submission is made; the error is Judge0-style field text.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    if url.len() > MAX_CALLBACK_URL_BYTES {
        return Err(format!("is too long (maximum is {MAX_CALLBACK_URL_BYTES} characters)"));
    }
    let parsed = Url::parse(url).map_err(|_| "is not a valid URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("is not a valid URL".to_owned());
    }
    if let Some(ip) = literal_ip(&parsed).filter(|ip| !allow_private && is_internal(*ip)) {
        return Err(format!("must not point at an internal address ({ip})"));
    }
    Ok(())
}

/// PUT `body` to `url` in the background. Failures are logged; nothing waits for it.
pub fn spawn(url: String, body: String, allow_private: bool) {
    tokio::spawn(async move {
        for attempt in 1..=CALLBACK_TRIES {
            match put(&url, &body, allow_private).await {
                Ok(status) => {
                    tracing::debug!(%url, %status, attempt, "judge0 callback delivered");
                    return;
                }
                Err(Refused(reason)) => {
                    tracing::warn!(%url, %reason, "judge0 callback refused");
                    return;
                }
                Err(Failed(reason)) => {
                    tracing::info!(%url, %reason, attempt, "judge0 callback failed");
                }
            }
            if attempt < CALLBACK_TRIES {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    });
}

/// Why one try did not deliver.
enum TryError {
    /// Not sent, and never will be (an internal address): no retry.
    Refused(String),
    /// A connection or timeout failure: try again.
    Failed(String),
}
use TryError::{Failed, Refused};

async fn put(url: &str, body: &str, allow_private: bool) -> Result<reqwest::StatusCode, TryError> {
    let parsed = Url::parse(url).map_err(|e| Refused(e.to_string()))?;
    let mut client = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if !allow_private {
        if let Some(ip) = literal_ip(&parsed) {
            if is_internal(ip) {
                return Err(Refused(format!("{ip} is an internal address")));
            }
        } else if let Some(domain) = parsed.host_str() {
            let port = parsed.port_or_known_default().unwrap_or(80);
            let addrs: Vec<SocketAddr> =
                tokio::time::timeout(CALLBACK_TIMEOUT, tokio::net::lookup_host((domain, port)))
                    .await
                    .map_err(|_| Failed(format!("resolving {domain} timed out")))?
                    .map_err(|e| Failed(format!("cannot resolve {domain}: {e}")))?
                    .collect();
            let allowed: Vec<SocketAddr> = addrs.iter().copied().filter(|a| !is_internal(a.ip())).collect();
            if allowed.is_empty() || allowed.len() != addrs.len() {
                return Err(Refused(format!("{domain} resolves to an internal address")));
            }
            client = client.resolve_to_addrs(domain, &allowed);
        }
    }
    let client = client.build().map_err(|e| Refused(e.to_string()))?;
    let response = client
        .put(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| Failed(e.to_string()))?;
    Ok(response.status())
}

/// The host of a URL when it is an IP address (IPv6 without its brackets).
fn literal_ip(url: &Url) -> Option<IpAddr> {
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Loopback, private, link-local, shared, unspecified, multicast and other non-public
/// addresses.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT (often cloud-internal)
        || (a == 100 && (64..128).contains(&b))
        // 198.18.0.0/15, benchmarking
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://example.com/hook", false).is_ok());
        assert!(check_url("https://203.0.113.9/hook", true).is_ok());
        assert_eq!(
            check_url("ftp://example.com/", true).unwrap_err(),
            "must be an http or https URL"
        );
        assert_eq!(check_url("not a url", true).unwrap_err(), "is not a valid URL");
        assert!(check_url("http://127.0.0.1:9/x", false).is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("http://[::1]/x", false).is_err());
        assert!(check_url("http://10.1.2.3/x", false).is_err());
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
