//! What the ingress knows about a visitor's request before any layer runs, put in the request
//! extensions by the listener that accepted it (or by the app a server is mounted in).

use std::{
    io::Write as _,
    net::{IpAddr, SocketAddr},
    time::Instant,
};

/// The visitor's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorAddr(pub SocketAddr);

/// When the ingress received the request's head: the start of its latency, for logs, metrics
/// and plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedAt(pub Instant);

/// The scheme the visitor used (`http` or `https`). Requests without it (a mounted ingress)
/// count as `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressScheme(pub &'static str);

/// Appends `ip` as `Display` writes it. IPv4 addresses, nearly every visitor's, are written
/// digit by digit: the formatting machinery cost the server 3 % of its instructions per request
/// when `X-Forwarded-For` went through it, and header rules write addresses on every request.
pub fn push_ip(text: &mut String, ip: IpAddr) {
    let mut written = [0; IP_TEXT_MAX];
    text.push_str(ip_text(ip, &mut written));
}

/// The longest address text: an IPv6 address ending in an IPv4 one.
pub(crate) const IP_TEXT_MAX: usize = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len();

/// Writes `ip` as `Display` does into `out`, and returns the text: an address for a header
/// value, with no allocation of its own.
pub(crate) fn ip_text(ip: IpAddr, out: &mut [u8; IP_TEXT_MAX]) -> &str {
    let mut len = 0;
    let mut push = |byte: u8| {
        out[len] = byte;
        len += 1;
    };
    match ip {
        IpAddr::V4(ip) => {
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    push(b'.');
                }
                if octet >= 100 {
                    push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    push(b'0' + octet / 10 % 10);
                }
                push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(ip) => {
            let mut rest = &mut out[..];
            // Cannot fail: the buffer holds the longest text.
            let _ = write!(rest, "{ip}");
            len = IP_TEXT_MAX - rest.len();
        }
    }
    // Only ASCII digits, dots, colons and hex digits were written.
    std::str::from_utf8(&out[..len]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ip: IpAddr) -> String {
        let mut text = String::new();
        push_ip(&mut text, ip);
        text
    }

    #[test]
    fn addresses_read_as_display_writes_them() {
        for written in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "192.0.2.7",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:192.0.2.7",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = written.parse().unwrap();
            assert_eq!(text(ip), ip.to_string());
        }
        for octet in 0..=u8::MAX {
            let ip = IpAddr::from([octet, octet / 3, 200 - octet % 200, 7]);
            assert_eq!(text(ip), ip.to_string());
        }
    }
}
