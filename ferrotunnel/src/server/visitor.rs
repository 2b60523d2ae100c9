//! What the ingress knows about a visitor's request before any layer runs, put in the request
//! extensions by the listener that accepted it (or by the app a server is mounted in).

use std::{
    fmt::Write as _,
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
    let IpAddr::V4(ip) = ip else {
        let _ = write!(text, "{ip}");
        return;
    };
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
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
