//! `callback_url`: when a submission finishes, its result (Judge0's default fields, base64) is
//! PUT there, as Judge0 does: up to 3 tries, 5 s each, done at the first HTTP answer.
//!
//! With `ServerConfig::allow_callbacks` off, a callback may not reach loopback, private,
//! link-local or otherwise internal addresses (the SSRF of Judge0's CVE-2024-29021): literal
//! addresses are refused when the submission is made, host names are resolved at send time and
//! the checked address is the one connected to (no second lookup to rebind), and redirects are
//! not followed. IPv6 forms that lead to an IPv4 address (IPv4-mapped and -compatible, NAT64,
//! 6to4) are judged by that IPv4 address.
//!
//! `https://` callbacks use rustls with Mozilla's roots (no system TLS library). Proxy variables
//! (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are ignored: a proxy would connect to whatever the
//! name resolves to from its side, which defeats the pinning of the checked address.

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
    put_trusting(url, body, allow_private, &[]).await
}

/// [`put`], trusting `extra_roots` besides the built-in roots (tests trust their own
/// self-signed certificate this way).
async fn put_trusting(
    url: &str,
    body: &str,
    allow_private: bool,
    extra_roots: &[reqwest::Certificate],
) -> Result<reqwest::StatusCode, TryError> {
    let parsed = Url::parse(url).map_err(|e| Refused(e.to_string()))?;
    let mut client = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // The connection goes to the checked address, never through a proxy from the
        // environment.
        .no_proxy()
        .use_rustls_tls();
    for root in extra_roots {
        client = client.add_root_certificate(root.clone());
    }
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
/// addresses, in any of their IPv6 forms.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address leads to: a connection to `::ffff:10.0.0.1`, to
/// `64:ff9b::a00:1` through a NAT64 gateway or to `2002:a00:1::` through a 6to4 relay reaches
/// 10.0.0.1.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    match s {
        // ::ffff:0:0/96 IPv4-mapped, ::ffff:0:0:0/96 IPv4-translated (RFC 2765), ::/96
        // IPv4-compatible (deprecated by RFC 4291; :: and ::1 fall here too, as 0.0.0.0/8)
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] | [0, 0, 0, 0, 0, 0, _, _] => {
            Some(Ipv4Addr::new(a, b, c, d))
        }
        // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(Ipv4Addr::new(a, b, c, d)),
        // 2002::/16, 6to4 (RFC 3056): the IPv4 address is in bits 16 to 48
        [0x2002, hi, lo, ..] => {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            Some(Ipv4Addr::new(a, b, c, d))
        }
        _ => None,
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
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local (deprecated)
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // 64:ff9b:1::/48, NAT64 prefixes for local use (RFC 8215): whatever they translate to
        // is the operator's own network
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        // 2001::/32 Teredo (tunnels to the host behind a NAT), 2001:db8::/32 documentation
        || (s[0] == 0x2001 && (s[1] == 0 || s[1] == 0xdb8))
        // 100::/64, discard-only
        || (s[0] == 0x100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
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

    #[test]
    fn ipv6_forms_of_internal_addresses_are_internal() {
        for ip in [
            // IPv4-mapped, IPv4-translated, IPv4-compatible
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:192.168.1.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "::a9fe:a9fe",
            // NAT64, the well-known prefix (the IPv4 address in the last 32 bits)
            "64:ff9b::7f00:1",
            "64:ff9b::10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::c0a8:101",
            "64:ff9b::6440:1",
            // NAT64 for local use: all of it
            "64:ff9b:1::1",
            "64:ff9b:1:abcd::5db8:d822",
            // 6to4 (the IPv4 address in bits 16 to 48)
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101:1::1",
            "2002:a9fe:a9fe::1",
            // other non-public IPv6
            "fec0::1",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
            assert!(check_url(&format!("http://[{ip}]:8080/hook"), false).is_err(), "{ip}");
        }
        // The same forms of a public address are public.
        for ip in [
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "64:ff9b::93.184.216.34",
            "2002:5db8:d822::1",
            "2001:4860:4860::8888",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
            assert!(check_url(&format!("https://[{ip}]/hook"), false).is_ok(), "{ip}");
        }
    }

    /// A one-connection-at-a-time http or https server that answers every request 204 and
    /// sends each request's head and body to the returned channel.
    async fn hook_server(
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> (
        SocketAddr,
        tokio::sync::mpsc::Receiver<String>,
        tokio::task::JoinHandle<()>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) -> Option<String> {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                            .await
                            .ok()?;
                        s.shutdown().await.ok()?;
                        return Some(text);
                    }
                }
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let got = match &tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => answer(stream).await,
                        Err(e) => Some(format!("tls handshake failed: {e}")),
                    },
                    None => answer(stream).await,
                };
                if let Some(got) = got {
                    let _ = tx.send(got).await;
                }
            }
        });
        (addr, rx, task)
    }

    /// A self-signed certificate for 127.0.0.1 and localhost, and a TLS acceptor serving it.
    fn self_signed() -> (reqwest::Certificate, tokio_rustls::TlsAcceptor) {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a certificate");
        let der = made.cert.der().clone();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(made.key_pair.serialize_der());
        let config =
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![der.clone()], key.into())
                .expect("a server configuration");
        (
            reqwest::Certificate::from_der(&der).expect("a certificate reqwest reads"),
            tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
        )
    }

    #[tokio::test]
    async fn https_callbacks_are_delivered() {
        let (root, acceptor) = self_signed();
        let (addr, mut got, task) = hook_server(Some(acceptor)).await;
        let url = format!("https://{addr}/hook");
        let status = put_trusting(&url, r#"{"token":"t"}"#, true, &[root])
            .await
            .unwrap_or_else(|(Refused(e) | Failed(e))| panic!("{url}: {e}"));
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
        let request = got.recv().await.expect("the request");
        assert!(request.starts_with("PUT /hook HTTP/1.1"), "{request}");
        assert!(request.ends_with(r#"{"token":"t"}"#), "{request}");
        // A certificate nobody vouches for is not accepted.
        let untrusted = put_trusting(&url, "{}", true, &[]).await;
        assert!(
            matches!(untrusted, Err(Failed(_))),
            "an untrusted certificate was accepted"
        );
        task.abort();
    }

    #[tokio::test]
    async fn proxy_variables_are_ignored() {
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        // This test is a process of its own under nextest; under `cargo test` the other tests
        // of this module ignore the variables too (that is what is tested).
        for var in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            std::env::set_var(var, &proxy_url);
        }
        for var in ["NO_PROXY", "no_proxy"] {
            std::env::remove_var(var);
        }
        let (root, acceptor) = self_signed();
        let (https, mut https_got, https_task) = hook_server(Some(acceptor)).await;
        let (http, mut http_got, http_task) = hook_server(None).await;
        for (url, got) in [
            (format!("http://{http}/hook"), &mut http_got),
            (format!("https://{https}/hook"), &mut https_got),
        ] {
            let delivered = put_trusting(&url, "{}", true, std::slice::from_ref(&root)).await;
            assert!(
                matches!(delivered, Ok(reqwest::StatusCode::NO_CONTENT)),
                "{url} was not delivered directly"
            );
            assert!(got.recv().await.is_some());
        }
        let proxied = tokio::time::timeout(Duration::from_millis(200), proxy.accept()).await;
        assert!(proxied.is_err(), "the proxy got a connection");
        https_task.abort();
        http_task.abort();
    }
}
