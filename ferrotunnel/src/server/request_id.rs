//! Request ids for the request-id step of the ingress stack (tower-http's `SetRequestId` and
//! `PropagateRequestId`): a request that comes without an `x-request-id` gets one, and the
//! response carries it back, so a visitor, the local service and the logs can name one request.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header that carries a request's id.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes ids unique within this process and, through a random prefix, across processes:
/// `3f9a1c0d7e5b2a64-000000000001a`. Cheaper than a UUID per request (no random numbers, no
/// system call), which matters on the path every request takes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix = PREFIX.get_or_init(|| {
            let mut bytes = [0; 8];
            // Without the OS generator, ids are still unique within this process.
            let _ = getrandom::fill(&mut bytes);
            u64::from_le_bytes(bytes)
        });
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        HeaderValue::try_from(format!("{prefix:016x}-{n:012x}"))
            .ok()
            .map(RequestId::new)
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
                let id = RequestIds.make_request_id(&request).expect("an id");
                id.header_value().to_str().expect("ascii").to_owned()
            })
            .collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        let prefix = |id: &str| id.split('-').next().map(str::to_owned);
        assert!(ids.iter().all(|id| prefix(id) == prefix(&ids[0])));
        assert_eq!(ids[0].len(), 16 + 1 + 12);
    }
}
