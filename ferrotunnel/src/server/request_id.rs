//! Request ids for the request-id step of the ingress stack: a request that comes without an
//! `x-request-id` gets one (tower-http's `SetRequestHeader`, if not present), and the response
//! carries it back (tower-http's `PropagateHeader`), so a visitor, the local service and the
//! logs can name one request.
//!
//! Not tower-http's `SetRequestId`: it also puts the id in the request's extensions, an
//! allocation and a map insert per request that nothing here reads (a third of the step's cost).

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use tower_http::set_header::MakeHeaderValue;

/// The header that carries a request's id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes request ids for tower-http's `SetRequestHeaderLayer`, unique within this process and,
/// through a random prefix, across processes: `3f9a1c0d7e5b2a64-00000000001a`. Cheaper than a
/// UUID per request (no random numbers, no system call), which matters on the path every
/// request takes. The ingress uses it; it is public for stacks of your own.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIds;

impl<B> MakeHeaderValue<Request<B>> for RequestIds {
    fn make_header_value(&mut self, _request: &Request<B>) -> Option<HeaderValue> {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = PREFIX.get_or_init(|| {
            let mut bytes = [0; 8];
            // Without the OS generator, ids are still unique within this process.
            let _ = getrandom::fill(&mut bytes);
            u64::from_le_bytes(bytes)
        });
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Written digit by digit: `format!` costs more than the rest of the step together.
        let mut id = [b'-'; 16 + 1 + 12];
        hex_into(&mut id[..16], *prefix);
        hex_into(&mut id[17..], n);
        // Owned by a refcounted owner: the response gets a clone of the same bytes, and a
        // clone of plain copied bytes would allocate again.
        HeaderValue::from_maybe_shared(Bytes::from_owner(id)).ok()
    }
}

/// Writes the low `out.len()` hex digits of `n` into `out`, most significant first.
fn hex_into(out: &mut [u8], mut n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_and_share_the_process_prefix() {
        let request = Request::new(());
        let ids: Vec<String> = (0..1000)
            .map(|_| {
                let id = RequestIds.make_header_value(&request).expect("an id");
                id.to_str().expect("ascii").to_owned()
            })
            .collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        let prefix = |id: &str| id.split('-').next().map(str::to_owned);
        assert!(ids.iter().all(|id| prefix(id) == prefix(&ids[0])));
        assert_eq!(ids[0].len(), 16 + 1 + 12);
    }

    #[test]
    fn hex_digits_are_written_like_format_writes_them() {
        for n in [0, 1, 0xabc, u64::from(u32::MAX), 0x0123_4567_89ab_cdef] {
            let mut out = [0; 16];
            hex_into(&mut out, n);
            assert_eq!(std::str::from_utf8(&out), Ok(format!("{n:016x}").as_str()));
        }
        let mut short = [0; 12];
        hex_into(&mut short, 0x1234_5678_9abc_def0);
        assert_eq!(&short, b"56789abcdef0", "the low digits");
    }
}
