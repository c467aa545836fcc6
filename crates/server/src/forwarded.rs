//! The client's address behind trusted proxies: `X-Forwarded-For` and `Forwarded` (RFC 7239)
//! are read only when the connection comes from a trusted proxy, walking the list from the
//! right (the hop the nearest proxy added) and skipping hops that are trusted proxies too; the
//! first hop that is not a trusted proxy is the client. What lies to the left of it is the
//! client's own claim and is never believed.
//!
//! A proxy usually maintains one of the two headers and passes the other through as the
//! client sent it. So when a request carries both and they name different clients, one of them
//! is forged and nothing tells which: such a request is counted as coming from the proxy
//! itself (honest clients send neither header, so they never share that quota).
//!
//! The parsing is ours: the crates that read these headers either trust the leftmost entry or
//! take the whole framework with them; the grammar (comma lists, `;` pairs, quoted strings,
//! bracketed IPv6 with ports) is small.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address a request counts as coming from: the peer itself, or the client a trusted
/// proxy forwarded the request for.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let from_xff = walk(peer, x_forwarded_for(headers), trusted);
    let from_forwarded = walk(peer, forwarded(headers), trusted);
    match (from_xff, from_forwarded) {
        (Some(a), Some(b)) if a != b => peer,
        (Some(ip), _) | (None, Some(ip)) => ip,
        (None, None) => peer,
    }
}

/// Parse a `--trusted-proxy` value: a CIDR (`10.0.0.0/8`, `fd00::/8`) or one address.
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is not an address or a CIDR such as 10.0.0.0/8"))
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client named by a list of hops (`None`: the header is absent). A hop that is not an
/// address (`unknown`, an obfuscated `_name`, garbage) ends the walk at the trusted proxy that
/// wrote it.
fn walk(peer: IpAddr, hops: Option<Vec<Option<IpAddr>>>, trusted: &[IpNet]) -> Option<IpAddr> {
    let hops = hops?;
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = hop else { break };
        client = ip.to_canonical();
        if !is_trusted(client, trusted) {
            break;
        }
    }
    Some(client)
}

/// The hops of every `X-Forwarded-For` line, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(list) => hops.extend(list.split(',').map(node)),
            Err(_) => hops.push(None),
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// The `for=` of every element of every `Forwarded` line, in order.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(list) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in split_unquoted(list, ',') {
            let for_value = split_unquoted(element, ';').into_iter().find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then_some(value)
            });
            hops.push(for_value.and_then(|v| node(&unquote(v.trim()))));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// Split at `separator` outside double quotes (a backslash escapes inside them).
fn split_unquoted(s: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(s: &str) -> String {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
            }
            out
        }
        None => s.to_owned(),
    }
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn node(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    s.strip_prefix('[')?.split_once(']')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| parse_trusted_proxy(s).unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.8")]);
        assert_eq!(client_ip(ip("203.0.113.1"), &h, &[]), ip("203.0.113.1"));
        assert_eq!(
            client_ip(ip("203.0.113.1"), &h, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.1")
        );
    }

    #[test]
    fn x_forwarded_for_is_walked_from_the_right_past_trusted_hops() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        let peer = ip("10.0.0.2");
        // One proxy.
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("198.51.100.7"));
        // The client's own claim (leftmost) is not believed; trusted hops are skipped.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.9")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("198.51.100.7"));
        // Several lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.7, 10.1.1.1"),
        ]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("198.51.100.7"));
        // Ports, brackets, IPv4-mapped IPv6.
        let h = headers(&[("x-forwarded-for", "198.51.100.7:5555")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::5]:443")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("2001:db8::5"));
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.7")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("198.51.100.7"));
        // A peer on an IPv4-mapped address is matched as IPv4.
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        // All hops trusted: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, fd00::1")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("10.9.9.9"));
        // An unreadable hop stops at the trusted proxy that wrote it.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.0.0.5")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("10.0.0.5"));
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(client_ip(peer, &h, &trusted), peer);
    }

    #[test]
    fn forwarded_is_parsed_as_rfc_7239_has_it() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        let cases = [
            ("for=198.51.100.7", "198.51.100.7"),
            ("For=\"198.51.100.7:4711\";proto=https", "198.51.100.7"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            (
                "for=1.2.3.4, for=198.51.100.7;by=10.0.0.2, for=10.3.3.3",
                "198.51.100.7",
            ),
            ("proto=https; for=198.51.100.7 ;host=\"a,b;c\"", "198.51.100.7"),
            ("for=198.51.100.7, for=unknown", "10.0.0.2"),
            ("for=198.51.100.7, for=_hidden, for=10.0.0.3", "10.0.0.3"),
            ("host=example.com", "10.0.0.2"),
        ];
        for (value, want) in cases {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(client_ip(peer, &h, &trusted), ip(want), "{value}");
        }
    }

    #[test]
    fn headers_that_disagree_count_as_the_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        // The proxy keeps X-Forwarded-For; the client forged Forwarded.
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=203.0.113.66")]);
        assert_eq!(client_ip(peer, &h, &trusted), peer);
        // A proxy that keeps both.
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.7")]);
        assert_eq!(client_ip(peer, &h, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn trusted_proxies_parse() {
        assert_eq!(parse_trusted_proxy("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_trusted_proxy(" 10.1.2.3 ").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(parse_trusted_proxy("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert_eq!(parse_trusted_proxy("::1").unwrap().to_string(), "::1/128");
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0.0/8/8"] {
            let e = parse_trusted_proxy(bad).unwrap_err();
            assert!(e.contains("CIDR"), "{e}");
        }
    }
}
