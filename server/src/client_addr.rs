//! The client's address behind reverse proxies. The peer of the TCP connection is the client
//! unless it is a proxy the operator trusts (`--trusted-proxies`); only then are the
//! `X-Forwarded-For` or `Forwarded` hops read, right to left, and the first hop that is not a
//! trusted proxy is the client. A header sent by anyone else is ignored, so nobody can pick the
//! address their failed logins are counted and audited under.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use ipnet::IpNet;

/// The networks whose connections may name the client they forward for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From CIDR ranges or single addresses (`10.0.0.0/8`, `192.0.2.7`, `::1`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("trusted_proxies: {entry:?} is not an address or CIDR range"))?;
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request that arrived from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                // A hop that does not name an address ends the walk at the proxy that added it.
                None => return client,
                Some(address) => client = *address,
            }
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// The hops of `X-Forwarded-For` (or, without it, `Forwarded`), oldest first; `None` for a hop
/// that is not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("garbage").to_owned())
            .collect::<Vec<_>>()
    };
    let x_forwarded_for = values(header::HeaderName::from_static("x-forwarded-for"));
    if !x_forwarded_for.is_empty() {
        return x_forwarded_for
            .iter()
            .flat_map(|v| v.split(','))
            .map(|hop| parse_hop(hop.trim()))
            .collect();
    }
    values(header::FORWARDED)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| name.eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_hop(value.trim().trim_matches('"')))
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::default();
        let claimed = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(none.client(ip("198.51.100.4"), &claimed), ip("198.51.100.4"));
        let other = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(other.client(ip("198.51.100.4"), &claimed), ip("198.51.100.4"));
    }

    #[test]
    fn a_trusted_proxy_names_the_rightmost_untrusted_hop() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.7"]).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            proxies.client(ip("192.0.2.7"), &spoofed),
            ip("203.0.113.9"),
            "what the client wrote itself (1.2.3.4) is not believed"
        );
        let split = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &split), ip("203.0.113.9"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.6")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &all_trusted), ip("10.0.0.5"));
        assert_eq!(proxies.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let proxies = TrustedProxies::parse(&["::1", "127.0.0.1"]).unwrap();
        let forwarded = headers(&[(
            "forwarded",
            r#"for=1.2.3.4, for="[2001:db8::7]:4711";proto=https, for=127.0.0.1:80"#,
        )]);
        assert_eq!(proxies.client(ip("::1"), &forwarded), ip("2001:db8::7"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &unknown),
            ip("127.0.0.1"),
            "an unnamed client is known only as its proxy"
        );
        let mapped = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        let xff = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(mapped.client(ip("::ffff:127.0.0.1"), &xff), ip("203.0.113.9"));
    }

    #[test]
    fn bad_entries_are_named() {
        let error = TrustedProxies::parse(&["10.0.0.0/8", "proxy.example"]).unwrap_err();
        assert!(error.contains("\"proxy.example\""), "{error}");
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
    }
}
