//! Which HTTP version a visitor's connection speaks, decided before hyper reads a byte.
//!
//! hyper-util's `auto::Builder` finds out by reading the first 24 bytes itself and handing
//! them back to hyper ahead of the socket. hyper's first read then returns just those bytes, a
//! partial request head, and the second read doubles its 8 KiB buffer to make room: every
//! HTTP/1 visitor connection held 16 KiB of read buffer for a 60-byte request, the largest
//! single cost of a held stream (see `docs/benchmarks.md`). Deciding by ALPN (TLS) or by
//! *peeking* at the socket (plain TCP) leaves the bytes where they are, so hyper reads the
//! whole head at once, into one buffer of the usual size.

use std::io;

use tokio::net::TcpStream;

/// The HTTP/2 connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a visitor speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Speaks {
    Http1,
    Http2,
    /// Not known yet: the bytes so far begin the HTTP/2 preface but do not complete it, or a
    /// TLS visitor offered no ALPN protocol. hyper-util's detection takes over.
    Undecided,
}

impl Speaks {
    /// Decides from the first bytes a plain-TCP visitor sent.
    pub(super) fn from_first_bytes(bytes: &[u8]) -> Self {
        let n = bytes.len().min(PREFACE.len());
        if bytes[..n] != PREFACE[..n] {
            Self::Http1
        } else if n == PREFACE.len() {
            Self::Http2
        } else {
            Self::Undecided
        }
    }

    /// Decides from the ALPN protocol a TLS visitor agreed on.
    pub(super) fn from_alpn(protocol: Option<&[u8]>) -> Self {
        match protocol {
            Some(b"h2") => Self::Http2,
            Some(_) => Self::Http1,
            None => Self::Undecided,
        }
    }

    /// Waits for a plain-TCP visitor's first bytes and decides from them without consuming
    /// them; `None` if the visitor closed the connection before sending any. The caller bounds
    /// the wait.
    pub(super) async fn peek(tcp: TcpStream) -> io::Result<(TcpStream, Option<Self>)> {
        let mut first = [0; PREFACE.len()];
        let n = tcp.peek(&mut first).await?;
        Ok((tcp, (n > 0).then(|| Self::from_first_bytes(&first[..n]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http1_request_is_known_by_its_first_byte() {
        assert_eq!(
            Speaks::from_first_bytes(b"GET / HTTP/1.1\r\n"),
            Speaks::Http1
        );
        assert_eq!(Speaks::from_first_bytes(b"G"), Speaks::Http1);
        // A method that merely starts like the preface.
        assert_eq!(Speaks::from_first_bytes(b"PRIX / HTTP/1.1"), Speaks::Http1);
    }

    #[test]
    fn only_the_whole_preface_means_http2() {
        assert_eq!(Speaks::from_first_bytes(PREFACE), Speaks::Http2);
        let with_settings = [PREFACE, &[0, 0, 0, 4, 0, 0, 0, 0, 0]].concat();
        assert_eq!(Speaks::from_first_bytes(&with_settings), Speaks::Http2);
        assert_eq!(
            Speaks::from_first_bytes(b"PRI * HTTP/2.0"),
            Speaks::Undecided
        );
        assert_eq!(Speaks::from_first_bytes(b"P"), Speaks::Undecided);
    }

    #[test]
    fn alpn_decides_for_tls_visitors() {
        assert_eq!(Speaks::from_alpn(Some(b"h2")), Speaks::Http2);
        assert_eq!(Speaks::from_alpn(Some(b"http/1.1")), Speaks::Http1);
        assert_eq!(Speaks::from_alpn(None), Speaks::Undecided);
    }
}
