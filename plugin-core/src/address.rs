//! Which addresses a plugin may reach, by HTTP or by socket: public ones,
//! and the networks that are not public only where the host grants them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The addresses one plugin may connect to.
///
/// Refused unless granted: loopback (`127.0.0.0/8`, `::1`), private
/// (`10/8`, `172.16/12`, `192.168/16`, `fc00::/7`), shared (`100.64/10`),
/// link-local (`169.254/16`, which holds cloud metadata services,
/// `fe80::/10`), unspecified (`0.0.0.0/8`, `::`), multicast, broadcast and
/// the reserved `240/4`. An IPv4-mapped or IPv4-compatible IPv6 address is
/// judged as the IPv4 address it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressRules {
    plugin: String,
    granted: Vec<IpNet>,
}

impl AddressRules {
    /// The rules of `plugin`, with the non-public networks it was granted.
    pub fn new(plugin: &str, granted: Vec<IpNet>) -> Self {
        Self {
            plugin: plugin.to_owned(),
            granted,
        }
    }

    /// The plugin these rules are for.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Why `ip` may not be reached, if it may not.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        let Some(kind) = non_public(ip) else {
            return Ok(());
        };
        if self.granted.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        Err(format!(
            "{ip} is a {kind} address; to allow it, grant a network holding it in plugins.permissions.plugins.{}.private_networks",
            self.plugin
        ))
    }
}

/// An IPv4 address carried in IPv6 (`::ffff:a.b.c.d`, `::a.b.c.d`) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => match v6.segments() {
                // IPv4-compatible (deprecated, but routed as IPv4 by some stacks).
                [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => {
                    IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)))
                }
                _ => ip,
            },
        },
        v4 => v4,
    }
}

/// What kind of non-public address `ip` is, or `None` for a public one.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if a == 0 {
        "unspecified"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if ip.is_multicast() {
        "multicast"
    } else if a == 100 && (b & 0xc0) == 64 {
        "shared (carrier-grade NAT)"
    } else if a >= 240 {
        "reserved"
    } else {
        return None;
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if (first & 0xfe00) == 0xfc00 {
        "private (unique local)"
    } else if (first & 0xffc0) == 0xfe80 {
        "link-local"
    } else if (first & 0xffc0) == 0xfec0 {
        "site-local"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(rules: &AddressRules, ip: &str) -> bool {
        rules.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        let rules = AddressRules::new("p", Vec::new());
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "100.64.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
        ] {
            assert!(refused(&rules, ip), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert!(!refused(&rules, ip), "{ip}");
        }
        let why = rules.check("127.0.0.1".parse().unwrap()).unwrap_err();
        assert!(why.contains("loopback"), "{why}");
        assert!(
            why.contains("plugins.permissions.plugins.p.private_networks"),
            "{why}"
        );
    }

    #[test]
    fn granted_networks_are_reachable_and_no_more() {
        let rules = AddressRules::new("p", vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(!refused(&rules, "127.0.0.1"));
        assert!(!refused(&rules, "::ffff:127.0.0.1"));
        assert!(refused(&rules, "::1"));
        assert!(refused(&rules, "10.0.0.1"));
    }
}
