//! Which addresses a plugin may reach, by HTTP or by socket: public ones,
//! and the networks that are not public only where the host grants them.
//!
//! "Not public" follows the IANA special-purpose address registries (IPv4
//! and IPv6, as of 2025), plus multicast, and for IPv6 everything outside
//! the global unicast space `2000::/3`. An IPv6 address that carries an
//! IPv4 address to a translator or a tunnel is judged by the IPv4 address
//! it reaches, see `embedded_v4`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use plugin_types::PermissionPolicy;

/// The addresses one plugin may connect to.
///
/// Refused unless granted: every block of the IANA IPv4 and IPv6
/// special-purpose registries that is not globally reachable (loopback,
/// private, shared `100.64/10`, link-local with the cloud metadata
/// `169.254.169.254`, "this network" `0/8`, `192.0.0/24`, documentation,
/// benchmarking `198.18/15`, the 6to4 relay anycast `192.88.99/24`, reserved
/// `240/4`, broadcast; `::`, `::1`, discard-only `100::/64`, `2001::/23`,
/// `2001:db8::/32`, `3fff::/20`, SRv6 `5f00::/16`, unique local
/// `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10`), multicast
/// (`224/4`, `ff00::/8`), and any IPv6 address outside `2000::/3`.
///
/// An IPv6 address embedding an IPv4 one (IPv4-mapped `::ffff:0:0/96`,
/// IPv4-translated `::ffff:0:0:0/96`, IPv4-compatible `::/96`, NAT64
/// `64:ff9b::/96` and the local-use `64:ff9b:1::/48`, 6to4 `2002::/16`,
/// Teredo `2001::/32`) is judged by that IPv4 address: it is refused when
/// the IPv4 address is, and opened by a granted network holding the IPv4
/// address (not the IPv6 one). The local-use NAT64 prefix leads to a local
/// translator, so it is refused even carrying a public IPv4 address, unless
/// a granted network holds the IPv6 address itself.
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
        let v6 = match ip {
            IpAddr::V4(v4) => return self.judge(v4.into(), non_public_v4(v4), ""),
            IpAddr::V6(v6) => v6,
        };
        let Some((v4, form)) = embedded_v4(v6) else {
            return self.judge(v6.into(), non_public_v6(v6), "");
        };
        let via = format!("{v6} is {form} address reaching {v4}, ");
        match non_public_v4(v4) {
            Some(kind) => self.judge(v4.into(), Some(kind), &via),
            None if form == LOCAL_NAT64 => {
                self.judge(v6.into(), Some("local-use IPv4/IPv6 translation"), "")
            }
            None => Ok(()),
        }
    }

    /// Refuses `ip` of class `kind` (none: public) unless a granted network
    /// holds it; `via` says how the address asked for leads to it.
    fn judge(&self, ip: IpAddr, kind: Option<&str>, via: &str) -> Result<(), String> {
        let Some(kind) = kind else {
            return Ok(());
        };
        if self.granted.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        let article = if kind.starts_with(|c: char| "aeiouAEIOU".contains(c)) {
            "an"
        } else {
            "a"
        };
        Err(format!(
            "{via}{ip} is {article} {kind} address; to allow it, grant a network holding {ip} in {}",
            PermissionPolicy::setting(&self.plugin, "private_networks")
        ))
    }
}

/// The local-use NAT64 form, refused even with a public IPv4 address.
const LOCAL_NAT64: &str = "a local-use NAT64";

/// The IPv4 address an IPv6 address leads to when it embeds one, and the
/// form (with its article) that does:
/// - IPv4-mapped `::ffff:a.b.c.d` and IPv4-translated `::ffff:0:a.b.c.d`
///   (SIIT): the last 32 bits;
/// - IPv4-compatible `::a.b.c.d` (deprecated, still routed as IPv4 by some
///   stacks), except `::` and `::1`: the last 32 bits;
/// - NAT64, the well-known prefix `64:ff9b::/96` and the local-use
///   `64:ff9b:1::/48` (RFC 6052, RFC 8215; read with the `/96` layout):
///   the last 32 bits;
/// - 6to4 `2002:V4::/48`: bits 16 to 48;
/// - Teredo `2001:0::/32`: the client's address, the last 32 bits
///   inverted.
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let bits = u128::from(ip);
    let last = Ipv4Addr::from(bits as u32);
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => (last, "an IPv4-mapped"),
        [0, 0, 0, 0, 0xffff, 0, ..] => (last, "an IPv4-translated"),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => return None,
        [0, 0, 0, 0, 0, 0, ..] => (last, "an IPv4-compatible"),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => (last, "a NAT64"),
        [0x64, 0xff9b, 1, ..] => (last, LOCAL_NAT64),
        [0x2002, ..] => (Ipv4Addr::from((bits >> 80) as u32), "a 6to4"),
        [0x2001, 0, ..] => (Ipv4Addr::from(!(bits as u32)), "a Teredo"),
        _ => return None,
    })
}

/// A network of the special-purpose registries that is not public, and
/// what it is.
type Block<A> = (A, u8, &'static str);

/// The IPv4 blocks that are not public, most specific first.
const V4_BLOCKS: &[Block<[u8; 4]>] = &[
    ([255, 255, 255, 255], 32, "broadcast"),
    ([0, 0, 0, 0], 8, "unspecified (\"this network\")"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "shared (carrier-grade NAT)"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "IETF protocol assignment"),
    ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (deprecated)"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
    ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved"),
];

/// The IPv6 blocks that are not public, most specific first (the forms
/// embedding IPv4 are judged before, by [`embedded_v4`]).
const V6_BLOCKS: &[Block<[u16; 8]>] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    ([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "dummy (RFC 9780)"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignment",
    ),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing (SRv6 SID)",
    ),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "private (unique local)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

/// What kind of non-public address `ip` is, or `None` for a public one.
fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_BLOCKS.iter().find_map(|&(net, len, kind)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        (bits & mask == u32::from_be_bytes(net) & mask).then_some(kind)
    })
}

/// What kind of non-public address `ip` is, or `None` for a public one.
fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let block = V6_BLOCKS.iter().find_map(|&(net, len, kind)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        (bits & mask == u128::from(Ipv6Addr::from(net)) & mask).then_some(kind)
    });
    match block {
        Some(kind) => Some(kind),
        // Only 2000::/3 is allocated for global unicast.
        None if bits >> 125 != 1 => Some("reserved (outside the global unicast 2000::/3)"),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(granted: &[&str]) -> AddressRules {
        AddressRules::new("p", granted.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn check(rules: &AddressRules, ip: &str) -> Result<(), String> {
        rules.check(ip.parse().unwrap())
    }

    /// Each block of the IPv4 special-purpose registry (and multicast): its
    /// first address, one inside and its last, refused by class; the
    /// neighbours on either side public.
    #[test]
    fn every_ipv4_block_is_refused_by_class() {
        let none = rules(&[]);
        let table: &[(&str, &[&str], &str)] = &[
            (
                "0.0.0.0/8",
                &["0.0.0.0", "0.1.2.3", "0.255.255.255"],
                "unspecified",
            ),
            (
                "10.0.0.0/8",
                &["10.0.0.0", "10.0.0.1", "10.255.255.255"],
                "private",
            ),
            (
                "100.64.0.0/10",
                &["100.64.0.0", "100.100.1.1", "100.127.255.255"],
                "shared",
            ),
            (
                "127.0.0.0/8",
                &["127.0.0.1", "127.1.2.3", "127.255.255.255"],
                "loopback",
            ),
            (
                "169.254.0.0/16",
                &["169.254.0.0", "169.254.169.254", "169.254.255.255"],
                "link-local",
            ),
            (
                "172.16.0.0/12",
                &["172.16.0.0", "172.20.5.4", "172.31.255.255"],
                "private",
            ),
            (
                "192.0.0.0/24",
                &["192.0.0.0", "192.0.0.9", "192.0.0.170", "192.0.0.255"],
                "IETF",
            ),
            (
                "192.0.2.0/24",
                &["192.0.2.0", "192.0.2.1", "192.0.2.255"],
                "TEST-NET-1",
            ),
            (
                "192.88.99.0/24",
                &["192.88.99.0", "192.88.99.1", "192.88.99.255"],
                "6to4 relay",
            ),
            (
                "192.168.0.0/16",
                &["192.168.0.0", "192.168.1.1", "192.168.255.255"],
                "private",
            ),
            (
                "198.18.0.0/15",
                &["198.18.0.0", "198.19.4.5", "198.19.255.255"],
                "benchmarking",
            ),
            (
                "198.51.100.0/24",
                &["198.51.100.0", "198.51.100.7", "198.51.100.255"],
                "TEST-NET-2",
            ),
            (
                "203.0.113.0/24",
                &["203.0.113.0", "203.0.113.9", "203.0.113.255"],
                "TEST-NET-3",
            ),
            (
                "224.0.0.0/4",
                &["224.0.0.1", "232.1.1.1", "239.255.255.255"],
                "multicast",
            ),
            (
                "240.0.0.0/4",
                &["240.0.0.0", "250.1.2.3", "255.255.255.254"],
                "reserved",
            ),
            ("255.255.255.255/32", &["255.255.255.255"], "broadcast"),
        ];
        for (block, ips, kind) in table {
            for ip in *ips {
                let why = check(&none, ip).expect_err(ip);
                assert!(why.contains(kind), "{block}: {ip}: {why}");
                assert!(why.starts_with(&format!("{ip} is a")), "{ip}: {why}");
                assert!(
                    why.contains("plugins.permissions.plugins.p.private_networks"),
                    "{why}"
                );
                check(&rules(&[block]), ip).unwrap_or_else(|e| panic!("granted {block}: {e}"));
            }
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "192.175.48.1",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "93.184.216.34",
        ] {
            check(&none, ip).unwrap_or_else(|e| panic!("{ip} is public: {e}"));
        }
    }

    /// Each block of the IPv6 special-purpose registry (and multicast,
    /// and what lies outside 2000::/3), refused by class.
    #[test]
    fn every_ipv6_block_is_refused_by_class() {
        let none = rules(&[]);
        let table: &[(&str, &[&str], &str)] = &[
            ("::/128", &["::"], "unspecified"),
            ("::1/128", &["::1"], "loopback"),
            (
                "100::/64",
                &["100::", "100::1", "100::ffff:ffff:ffff:ffff"],
                "discard-only",
            ),
            ("100:0:0:1::/64", &["100:0:0:1::1"], "dummy"),
            (
                "2001::/23",
                &[
                    "2001:1::1",
                    "2001:1::2",
                    "2001:2::1",
                    "2001:3::1",
                    "2001:4:112::1",
                    "2001:10::1",
                    "2001:20::1",
                    "2001:1ff:ffff::1",
                ],
                "IETF protocol assignment",
            ),
            (
                "2001:db8::/32",
                &["2001:db8::", "2001:db8:ffff::1"],
                "documentation",
            ),
            ("3fff::/20", &["3fff::1", "3fff:fff::1"], "documentation"),
            ("5f00::/16", &["5f00::1"], "SRv6"),
            (
                "fc00::/7",
                &["fc00::1", "fd12:3456::1", "fdff:ffff::1"],
                "unique local",
            ),
            ("fe80::/10", &["fe80::1", "febf:ffff::1"], "link-local"),
            ("fec0::/10", &["fec0::1"], "site-local"),
            ("ff00::/8", &["ff02::1", "ff0e::1", "ffff::1"], "multicast"),
            ("::/3", &["::1:0:0:1", "1::1", "1fff:ffff::1"], "reserved"),
            ("4000::/2", &["4000::1", "7fff::1"], "reserved"),
            ("e000::/4", &["e000::1"], "reserved"),
            ("f800::/6", &["fb00::1"], "reserved"),
        ];
        for (block, ips, kind) in table {
            for ip in *ips {
                let why = check(&none, ip).expect_err(ip);
                assert!(why.contains(kind), "{block}: {ip}: {why}");
                assert!(
                    why.contains("plugins.permissions.plugins.p.private_networks"),
                    "{why}"
                );
                check(&rules(&[block]), ip).unwrap_or_else(|e| panic!("granted {block}: {e}"));
            }
        }
        for ip in [
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2620:4f:8000::1",
            "2a00:1450::1",
            "3ffe::1",
            "3fff:1000::1",
        ] {
            check(&none, ip).unwrap_or_else(|e| panic!("{ip} is public: {e}"));
        }
    }

    /// Every IPv6 form that embeds an IPv4 address is judged by the IPv4
    /// address it reaches: refused as that address's class, opened by a
    /// grant holding the IPv4 address and by no other, and public when the
    /// IPv4 address is (the local-use NAT64 prefix excepted).
    #[test]
    fn forms_embedding_ipv4_are_judged_by_the_address_they_reach() {
        // (form, an address reaching 10.0.0.1, one reaching 127.0.0.1, one
        // reaching the public 8.8.8.8)
        let table = [
            (
                "IPv4-mapped",
                "::ffff:10.0.0.1",
                "::ffff:7f00:1",
                "::ffff:8.8.8.8",
            ),
            (
                "IPv4-translated",
                "::ffff:0:10.0.0.1",
                "::ffff:0:7f00:1",
                "::ffff:0:8.8.8.8",
            ),
            ("IPv4-compatible", "::10.0.0.1", "::127.0.0.1", "::8.8.8.8"),
            (
                "NAT64",
                "64:ff9b::10.0.0.1",
                "64:ff9b::7f00:1",
                "64:ff9b::8.8.8.8",
            ),
            (
                "local-use NAT64",
                "64:ff9b:1::10.0.0.1",
                "64:ff9b:1::7f00:1",
                "",
            ),
            (
                "6to4",
                "2002:a00:1::",
                "2002:7f00:1:ffff::1",
                "2002:808:808::1",
            ),
            // Teredo: the client's address is the last 32 bits inverted.
            (
                "Teredo",
                "2001:0:4136:e378:8000:63bf:f5ff:fffe",
                "2001::80ff:fffe",
                "2001:0:1:2:3:4:f7f7:f7f7",
            ),
        ];
        let none = rules(&[]);
        let ten = rules(&["10.0.0.0/8"]);
        for (form, private, loopback, public) in table {
            let why = check(&none, private).expect_err(private);
            let shown: Ipv6Addr = private.parse().unwrap();
            assert_eq!(
                why,
                format!(
                    "{shown} is a{} {form} address reaching 10.0.0.1, 10.0.0.1 is a private address; to allow it, grant a network holding 10.0.0.1 in plugins.permissions.plugins.p.private_networks",
                    if form.starts_with('I') { "n" } else { "" }
                ),
                "{form}"
            );
            check(&ten, private).unwrap_or_else(|e| panic!("{form}: {private}: {e}"));
            let why = check(&ten, loopback).expect_err(loopback);
            assert!(
                why.contains("reaching 127.0.0.1") && why.contains("loopback"),
                "{form}: {why}"
            );
            check(&rules(&["127.0.0.0/8"]), loopback).unwrap();
            // Granting the IPv6 form's own network does not open it: the
            // IPv4 address decides.
            let own: IpNet = format!("{private}/128").parse().unwrap();
            let own = AddressRules::new("p", vec![own]);
            assert!(check(&own, private).is_err(), "{form}");
            if !public.is_empty() {
                check(&none, public).unwrap_or_else(|e| panic!("{form}: {public}: {e}"));
            }
        }
        // The local-use NAT64 prefix leads to a local translator: refused
        // even with a public address, unless the prefix is granted.
        let why = check(&none, "64:ff9b:1::8.8.8.8").unwrap_err();
        assert!(why.contains("local-use IPv4/IPv6 translation"), "{why}");
        check(&rules(&["64:ff9b:1::/48"]), "64:ff9b:1::8.8.8.8").unwrap();
        // 6to4 and Teredo wrapping other classes.
        for (ip, kind) in [
            ("2002:a9fe:a9fe::", "link-local"),
            ("2002:c0a8:101::1", "private"),
            ("2002:6440:1::", "shared"),
            ("2002:c612:1::", "benchmarking"),
            ("2002:c000:1::", "IETF"),
            ("2002::", "unspecified"),
            ("2002:e000:1::", "multicast"),
            ("2001::5601:5601", "link-local"),
            ("64:ff9b::c0a8:101", "private"),
        ] {
            let why = check(&none, ip).expect_err(ip);
            assert!(why.contains(kind), "{ip}: {why}");
        }
    }

    #[test]
    fn granted_networks_are_reachable_and_no_more() {
        let rules = rules(&["127.0.0.0/8"]);
        assert!(check(&rules, "127.0.0.1").is_ok());
        assert!(check(&rules, "::ffff:127.0.0.1").is_ok());
        assert!(check(&rules, "::1").is_err());
        assert!(check(&rules, "10.0.0.1").is_err());
        assert!(check(&rules, "169.254.169.254").is_err());
    }
}
