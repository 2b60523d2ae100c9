use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    str::FromStr,
};

use ipnet::{IpNet, Ipv4Net};

const HINT: &str = "write an address or a CIDR block like 10.0.0.0/8 or 2001:db8::/32";

/// A block of IP addresses, as written on the command line or in a config file: `10.0.0.0/8`,
/// `2001:db8::/32`, or one address, `192.0.2.7` (the same as `192.0.2.7/32`).
///
/// A block with bits set after its prefix, like `10.0.0.1/8`, is refused rather than quietly
/// widened to `10.0.0.0/8`: it is usually a typo for one address or for another block, and a
/// filter that guesses lets in the wrong visitors. (Built from an [`IpNet`] in code, the block
/// is the network the `IpNet` names, whatever its host bits.)
///
/// An IPv4-mapped IPv6 block (`::ffff:192.0.2.0/120`) is kept as the IPv4 block it is
/// (`192.0.2.0/24`): visitors' addresses are compared as IPv4 when they are IPv4 (see
/// [`visitor_ip`](crate::request::visitor_ip)), so a mapped rule would otherwise never match.
///
/// ```
/// use ferrotunnel_tower::ip_filter::Cidr;
///
/// let block: Cidr = "10.0.0.0/8".parse()?;
/// assert!(block.contains("10.1.2.3".parse()?));
/// assert_eq!(block.to_string(), "10.0.0.0/8");
///
/// let one: Cidr = "2001:db8::7".parse()?;
/// assert_eq!(one, "2001:db8::7/128".parse()?);
///
/// let err = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
/// assert!(err.contains("10.0.0.0/8"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Whether `ip` is in this block. An IPv4 block matches IPv4 addresses only, an IPv6 block
    /// IPv6 addresses only; pass addresses through [`IpAddr::to_canonical`] first (as
    /// [`visitor_ip`](crate::request::visitor_ip) does) so mapped IPv4 addresses count as IPv4.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }

    /// The block as an [`IpNet`].
    pub fn net(&self) -> IpNet {
        self.0
    }
}

impl From<IpNet> for Cidr {
    /// The network `net` names (its host bits cleared); a mapped IPv4 block becomes IPv4.
    fn from(net: IpNet) -> Self {
        let net = net.trunc();
        if let IpNet::V6(v6) = net {
            if let Some(v4) = unmapped(v6.network(), v6.prefix_len()) {
                return Self(IpNet::V4(v4));
            }
        }
        Self(net)
    }
}

impl From<IpAddr> for Cidr {
    /// The block of the one address `ip`.
    fn from(ip: IpAddr) -> Self {
        Self::from(IpNet::from(ip))
    }
}

/// The IPv4 block an IPv4-mapped IPv6 block (`::ffff:0:0/96` and narrower) stands for.
fn unmapped(network: Ipv6Addr, prefix_len: u8) -> Option<Ipv4Net> {
    let v4 = network.to_ipv4_mapped()?;
    let v4_len = prefix_len.checked_sub(96)?;
    Ipv4Net::new(v4, v4_len).ok()
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let not_a_block = || format!("{text:?} is not an address or a CIDR block: {HINT}");
        if !trimmed.contains('/') {
            let ip: IpAddr = trimmed.parse().map_err(|_| not_a_block())?;
            return Ok(Self::from(ip));
        }
        let net: IpNet = trimmed.parse().map_err(|_| not_a_block())?;
        if net.addr() != net.network() {
            return Err(format!(
                "{text:?} has bits set after its /{} prefix: write the block {}, or {} for the \
                 one address",
                net.prefix_len(),
                net.trunc(),
                net.addr(),
            ));
        }
        Ok(Self::from(net))
    }
}

impl fmt::Display for Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`; a block of one address is written as the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn reads_blocks_and_single_addresses() {
        for (text, net) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("192.0.2.7", "192.0.2.7/32"),
            ("2001:db8::7", "2001:db8::7/128"),
            (" 0.0.0.0/0 ", "0.0.0.0/0"),
            ("::/0", "::/0"),
        ] {
            assert_eq!(cidr(text).net(), net.parse::<IpNet>().expect(net), "{text}");
        }
    }

    #[test]
    fn display_writes_what_from_str_reads() {
        for text in [
            "10.0.0.0/8",
            "192.0.2.7",
            "192.0.2.7/32",
            "2001:db8::/32",
            "2001:db8::7",
            "::/0",
            "0.0.0.0/0",
            "::ffff:192.0.2.0/120",
            "::ffff:192.0.2.7",
        ] {
            let value = cidr(text);
            assert_eq!(cidr(&value.to_string()), value, "{text} -> {value}");
        }
        assert_eq!(cidr("192.0.2.7/32").to_string(), "192.0.2.7");
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(format!("{:?}", cidr("10.0.0.0/8")), "10.0.0.0/8");
    }

    #[test]
    fn mapped_ipv4_blocks_are_ipv4_blocks() {
        assert_eq!(cidr("::ffff:192.0.2.0/120"), cidr("192.0.2.0/24"));
        assert_eq!(cidr("::ffff:192.0.2.7"), cidr("192.0.2.7"));
        // Wider than the mapped range: stays IPv6.
        assert!(matches!(cidr("::/80").net(), IpNet::V6(_)));
    }

    #[test]
    fn host_bits_are_refused_with_the_block_to_write_instead() {
        let err = "10.0.0.1/8".parse::<Cidr>().expect_err("host bits");
        assert!(err.starts_with("\"10.0.0.1/8\""), "{err}");
        assert!(err.contains("write the block 10.0.0.0/8"), "{err}");
        assert!(err.contains("10.0.0.1 for the one address"), "{err}");

        let err = "2001:db8::1/32".parse::<Cidr>().expect_err("host bits");
        assert!(err.contains("2001:db8::/32"), "{err}");
    }

    #[test]
    fn code_built_blocks_are_their_network() {
        let net: IpNet = "10.0.0.1/8".parse().expect("net");
        assert_eq!(Cidr::from(net), cidr("10.0.0.0/8"));
        assert_eq!(Cidr::from(IpAddr::from([192, 0, 2, 7])), cidr("192.0.2.7"));
    }

    #[test]
    fn refuses_what_is_not_an_address_and_says_what_to_write() {
        for text in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0/8",
            "example.com",
            "10.0.0.0/",
            "/8",
            "10.0.0.0/8/8",
            "10.0.0.256",
        ] {
            let err = text.parse::<Cidr>().expect_err(text);
            assert!(err.starts_with(&format!("{text:?}")), "{text}: {err}");
            assert!(err.ends_with(HINT), "{text}: {err}");
        }
    }

    #[test]
    fn contains_matches_the_family_of_the_block() {
        let v4 = cidr("10.0.0.0/8");
        assert!(v4.contains(IpAddr::from([10, 255, 0, 1])));
        assert!(!v4.contains(IpAddr::from([11, 0, 0, 1])));
        let v6 = cidr("2001:db8::/32");
        assert!(v6.contains("2001:db8:1::1".parse().expect("ip")));
        assert!(!v6.contains("2001:db9::1".parse().expect("ip")));
        assert!(!v6.contains(IpAddr::from([10, 0, 0, 1])));
        assert!(!cidr("::/0").contains(IpAddr::from([10, 0, 0, 1])));
    }
}
