//! Client addresses behind proxies: which hops to believe (`AUTHQL_TRUSTED_PROXIES`) and how
//! the client is read from `X-Forwarded-For`. Pure, so every spoofing case is a unit test.
//!
//! Every hop appends the address it received the request from to `X-Forwarded-For`, so only
//! the right end of the list was written by machines we run; whatever the client sent arrives
//! on the left. Walking from the right and stopping at the first address that is not one of
//! our proxies gives the client as our outermost proxy saw it. Taking the left-most value, or
//! believing `Forwarded`, would let any client pick the address the throttle counts.

use std::net::IpAddr;
use std::str::FromStr;

/// An address block: `10.0.0.0/8`, `::1/128`, or a single address (`192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr = canonical(addr.parse::<IpAddr>().map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("`{s}`: the prefix length must be 0 to {max}")),
            },
        };
        Ok(IpNet { addr, prefix })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4 peer on a dual-stack socket shows up as `::ffff:a.b.c.d`: compare it as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` item: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(item: &str) -> Option<IpAddr> {
    let item = item.trim();
    if let Ok(ip) = item.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = item.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    item.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok().map(canonical)
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` address that is not itself a trusted proxy. `forwarded_for`
/// holds every `X-Forwarded-For` header value in the order received.
///
/// A hop that cannot be read ends the walk at the last address we could trust: nothing to
/// its left was written by a machine we run.
pub(crate) fn client_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("valid")).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("valid"))
    }

    #[test]
    fn blocks_parse_and_match() {
        let net: IpNet = "10.1.0.0/16".parse().expect("valid");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("ip")), "IPv4-mapped IPv6 is the same host");
        let one: IpNet = "192.0.2.7".parse().expect("valid");
        assert!(one.contains("192.0.2.7".parse().expect("ip")));
        assert!(!one.contains("192.0.2.8".parse().expect("ip")));
        let v6: IpNet = "2001:db8::/32".parse().expect("valid");
        assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
        let all: IpNet = "0.0.0.0/0".parse().expect("valid");
        assert!(all.contains("203.0.113.1".parse().expect("ip")));
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "example.com", "10.0.0.0/x", "10.0.0.0/"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = nets(&["10.0.0.1"]);
        assert_eq!(client_address(ip("203.0.113.9"), ["1.1.1.1"], &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("203.0.113.9"), [], &[]), ip("203.0.113.9"));
        // With no proxies configured the header is never read.
        assert_eq!(client_address(ip("127.0.0.1"), ["1.1.1.1"], &[]), ip("127.0.0.1"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_wins() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client wrote "6.6.6.6"; our proxy appended the real address.
        assert_eq!(client_address(ip("10.0.0.1"), ["6.6.6.6, 198.51.100.4"], &trusted), ip("198.51.100.4"));
        // Two of our proxies in a row are skipped.
        assert_eq!(client_address(ip("10.0.0.1"), ["6.6.6.6, 198.51.100.4, 10.0.0.2"], &trusted), ip("198.51.100.4"));
        // Several header lines form one list.
        assert_eq!(client_address(ip("10.0.0.1"), ["6.6.6.6", "198.51.100.4:5555"], &trusted), ip("198.51.100.4"));
        assert_eq!(client_address(ip("10.0.0.1"), ["[2001:db8::7]:443"], &trusted), ip("2001:db8::7"));
        // No header: the proxy itself is all we know.
        assert_eq!(client_address(ip("10.0.0.1"), [], &trusted), ip("10.0.0.1"));
        // Every hop ours: the farthest one.
        assert_eq!(client_address(ip("10.0.0.1"), ["10.9.9.9, 10.0.0.3"], &trusted), ip("10.9.9.9"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_address(ip("10.0.0.1"), ["6.6.6.6, unknown"], &trusted), ip("10.0.0.1"));
        assert_eq!(client_address(ip("10.0.0.1"), ["198.51.100.4, <script>, 10.0.0.2"], &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("10.0.0.1"), [""], &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn mapped_peers_compare_as_ipv4() {
        let trusted = nets(&["127.0.0.1"]);
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), ["198.51.100.4"], &trusted), ip("198.51.100.4"));
    }
}
