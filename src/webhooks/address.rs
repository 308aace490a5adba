//! Which addresses a webhook may be sent to. A URL's host is looked up, and
//! every address it resolves to must be public unless
//! `WEBHOOKS_ALLOW_PRIVATE_URLS` is set: otherwise anyone who can register a
//! webhook could make the server call its own network (a cloud metadata
//! service, a database's HTTP port). The dispatcher connects to an address
//! checked here, never to a second lookup's answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Why a URL may not be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not an absolute http(s) URL with a host.
    BadUrl(String),
    /// The host did not resolve (now).
    Unresolved(String),
    /// The host resolves to this private address.
    Private(IpAddr),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::BadUrl(message) => write!(f, "bad URL: {message}"),
            Refused::Unresolved(message) => write!(f, "cannot resolve the host: {message}"),
            Refused::Private(ip) => {
                write!(f, "the host resolves to {ip}, a private address (WEBHOOKS_ALLOW_PRIVATE_URLS is off)")
            }
        }
    }
}

/// The addresses `url`'s host resolves to (with the URL's port), all of them
/// public. Blocking: it may ask DNS.
pub fn resolve_public(url: &str) -> Result<Vec<SocketAddr>, Refused> {
    let addrs = resolve(url)?;
    match addrs.iter().find(|a| is_private(a.ip())) {
        Some(private) => Err(Refused::Private(private.ip())),
        None => Ok(addrs),
    }
}

/// The addresses `url`'s host resolves to, with the URL's port. Blocking.
pub fn resolve(url: &str) -> Result<Vec<SocketAddr>, Refused> {
    let url = url::Url::parse(url).map_err(|e| Refused::BadUrl(e.to_string()))?;
    let port = url.port_or_known_default().ok_or_else(|| Refused::BadUrl("no port".into()))?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Domain(domain)) => {
            (domain, port).to_socket_addrs().map_err(|e| Refused::Unresolved(e.to_string()))?.collect()
        }
        None => return Err(Refused::BadUrl("no host".into())),
    };
    if addrs.is_empty() {
        return Err(Refused::Unresolved("no addresses".into()));
    }
    Ok(addrs)
}

/// Whether an address is not a public unicast one: loopback, private (RFC
/// 1918), link-local (with 169.254.169.254, the cloud metadata service),
/// CGNAT (100.64/10), unspecified, "this network", IETF protocol
/// assignments (192.0.0/24), benchmarking (198.18/15), documentation,
/// multicast and reserved (240/4, broadcast included); in IPv6 also
/// unique-local (fc00::/7, with AWS's fd00:ec2::254), link-local,
/// multicast, documentation, discard-only, Teredo and local-use NAT64
/// prefixes, and IPv4 written as IPv6 (mapped, compatible, NAT64, 6to4)
/// when that IPv4 address is not public.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xff00) == 0xff00
        // Documentation, Teredo, discard-only, local-use NAT64.
        || ip.segments()[..2] == [0x2001, 0x0db8]
        || ip.segments()[..2] == [0x2001, 0]
        || ip.segments()[..4] == [0x100, 0, 0, 0]
        || ip.segments()[..3] == [0x64, 0xff9b, 1]
        // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) addresses.
        || ip.segments()[..6] == [0; 6]
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_private_v4(embedded_v4(ip)))
        // 6to4 (2002::/16) carries its IPv4 address in bits 16 to 48.
        || (first == 0x2002 && {
            let [_, _, a, b, c, d, ..] = ip.octets();
            is_private_v4(Ipv4Addr::new(a, b, c, d))
        })
}

/// The IPv4 address in an IPv6 address's last 32 bits.
fn embedded_v4(ip: Ipv6Addr) -> Ipv4Addr {
    let [.., a, b, c, d] = ip.octets();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_refused() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "192.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "64:ff9b:1::a00:1",
            "2002:a00:1::",
            "2002:7f00:1::1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
            "2002:5db8:d822::1",
            "2001:4860::8888",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn literal_hosts_need_no_lookup() {
        assert_eq!(resolve_public("http://127.0.0.1:9/x"), Err(Refused::Private("127.0.0.1".parse().unwrap())));
        assert_eq!(resolve_public("http://[::1]/"), Err(Refused::Private("::1".parse().unwrap())));
        assert_eq!(resolve_public("https://1.1.1.1/hook").unwrap(), vec!["1.1.1.1:443".parse().unwrap()]);
        assert_eq!(resolve_public("http://localhost:8080/").map_err(|e| matches!(e, Refused::Private(_))), Err(true));
    }
}
