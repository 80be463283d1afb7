//! The address rules (`plugin_core::AddressRules`): every spelling of an
//! address gets the verdict of the address it parses to.
//!
//! The input is either text (first byte even) that, when it is an address,
//! must reach the same address and verdict through a URL's host as through
//! `IpAddr::from_str`; or the numeric address in the following 4 or 16
//! bytes, spelled every way a URL host accepts (decimal, hex, octal, short
//! dotted forms, expanded and dotted-quad IPv6). Also: std's own classes
//! (loopback, private, link-local, multicast, ...) are always refused; an
//! IPv4-mapped IPv6 address gets its IPv4 address's verdict; granting
//! everything allows everything.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use plugin_core::AddressRules;

fn rules() -> AddressRules {
    AddressRules::new("p", Vec::new())
}

/// The verdict as allowed or not.
fn allowed(ip: IpAddr) -> bool {
    let verdict = rules().check(ip);
    if let Err(message) = &verdict {
        assert!(
            message.contains("private_networks"),
            "{ip}: refusal does not name the setting: {message}"
        );
    }
    verdict.is_ok()
}

/// The address a URL with `host` reaches, if the URL parses to an IP host.
fn url_host(host: &str) -> Option<IpAddr> {
    let url = url::Url::parse(&format!("http://{host}/")).ok()?;
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

fn same_everywhere(ip: IpAddr, spellings: &[String]) {
    let verdict = allowed(ip);
    for spelling in spellings {
        let reached = url_host(spelling)
            .unwrap_or_else(|| panic!("{spelling:?} (for {ip}) is not an IP host in a URL"));
        assert_eq!(reached, ip, "{spelling:?} reaches {reached}, not {ip}");
        assert_eq!(allowed(reached), verdict, "{spelling:?} vs {ip}");
    }
}

fn v4_spellings(v4: Ipv4Addr) -> Vec<String> {
    let [a, b, c, d] = v4.octets();
    let n = u32::from(v4);
    vec![
        v4.to_string(),
        n.to_string(),
        format!("{n:#x}"),
        format!("{n:#X}"),
        format!("0{n:o}"),
        format!("{a}.{}", n & 0x00ff_ffff),
        format!("{a}.{b}.{}", n & 0xffff),
        format!("{a:#x}.{b:#x}.{c:#x}.{d:#x}"),
        format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        format!("{a}.{b}.{c}.{d}."),
    ]
}

fn v6_spellings(v6: Ipv6Addr) -> Vec<String> {
    let s = v6.segments();
    let [_, _, _, _, _, _, _, _, _, _, _, _, a, b, c, d] = v6.octets();
    vec![
        format!("[{v6}]"),
        format!(
            "[{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}]",
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        ),
        format!(
            "[{:04X}:{:04X}:{:04X}:{:04X}:{:04X}:{:04X}:{:04X}:{:04X}]",
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        ),
        format!(
            "[{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{a}.{b}.{c}.{d}]",
            s[0], s[1], s[2], s[3], s[4], s[5]
        ),
    ]
}

/// Std's classes that are never public.
fn std_says_not_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    }
}

fn invariants(ip: IpAddr) {
    if std_says_not_public(ip) {
        assert!(!allowed(ip), "{ip} is not public by std but allowed");
    }
    if let IpAddr::V4(v4) = ip {
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        assert_eq!(allowed(mapped), allowed(ip), "{mapped} vs {ip}");
        same_everywhere(ip, &v4_spellings(v4));
    }
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = v6.to_ipv4_mapped() {
            assert_eq!(allowed(ip), allowed(IpAddr::V4(v4)), "{ip} vs {v4}");
        }
        same_everywhere(ip, &v6_spellings(v6));
    }
    let everything: Vec<IpNet> = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    assert_eq!(AddressRules::new("p", everything).check(ip), Ok(()), "{ip}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(ip) = text.parse::<IpAddr>() else {
            // Not an address to std: a URL that takes it for one must
            // still judge what it reaches consistently.
            if let Some(reached) = url_host(text) {
                invariants(reached);
            }
            return;
        };
        let spelled = match ip {
            IpAddr::V4(_) => text.to_owned(),
            IpAddr::V6(_) => format!("[{text}]"),
        };
        same_everywhere(ip, &[spelled]);
        invariants(ip);
    } else if let Ok(bytes) = <[u8; 16]>::try_from(rest.get(..16).unwrap_or_default()) {
        invariants(IpAddr::V6(Ipv6Addr::from(bytes)));
    } else if let Ok(bytes) = <[u8; 4]>::try_from(rest.get(..4).unwrap_or_default()) {
        invariants(IpAddr::V4(Ipv4Addr::from(bytes)));
    }
});
