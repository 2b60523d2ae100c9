//! An exchange's handle on the store, from the request's head to the end of its response.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use ferrotunnel::{
    BoxError, TunnelBody,
    server::{ReceivedAt, into_tunnel_body},
};
use http::{Request, Response, StatusCode};
use http_body::Body;

use super::{
    BodyRecord, EXCHANGE_OVERHEAD, Exchange, ExchangeId, Outcome, ReplayOf, ResponseRecord,
    body::{CaptureRequestBody, Prefix, RequestCapture, ResponseCapture},
    copy::{owned_headers, owned_uri},
    stats::{Clock, End, Tally},
    store::{Finish, Shared, Update, headers_cost},
};
use crate::request::{tunnel_name, visitor_addr};

/// Records what happens to one exchange. Dropped before the exchange ended (its response
/// future dropped: the visitor left before the head came), it ends it as
/// [`VisitorGone`](Outcome::VisitorGone).
pub(super) struct Recorder {
    shared: Arc<Shared>,
    id: u64,
    /// What its durations are measured from.
    start: Instant,
    tally: Tally,
    status: Option<StatusCode>,
    finished: bool,
}

impl Recorder {
    /// Records `request`'s head as a new exchange, and wraps its body to record that too.
    pub(super) fn start<B>(shared: &Arc<Shared>, request: Request<B>) -> (Self, Request<TunnelBody>)
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let start = request
            .extensions()
            .get::<ReceivedAt>()
            .map_or_else(Clock::now, |ReceivedAt(at)| *at);
        let body_ended = request.body().is_end_stream();
        // Copied before the lock is taken: the lock is for the store, not for this.
        let headers = Arc::new(owned_headers(request.headers()));
        let uri = owned_uri(request.uri());
        let base_cost = EXCHANGE_OVERHEAD
            + headers_cost(&headers)
            + uri.path_and_query().map_or(0, |path| path.as_str().len())
            + uri
                .authority()
                .map_or(0, |authority| authority.as_str().len());
        let exchange = Arc::new(Exchange {
            id: 0,
            tunnel: None,
            visitor: visitor_addr(&request),
            method: request.method().clone(),
            uri,
            version: request.version(),
            request_headers: headers,
            started_at: shared.clock.wall(start),
            request_body: BodyRecord {
                complete: body_ended,
                ..BodyRecord::default()
            },
            response: None,
            response_head: None,
            body_end: None,
            outcome: Outcome::InFlight,
            replay_of: request
                .extensions()
                .get::<ReplayOf>()
                .map(|ReplayOf(id)| *id),
            mask: shared.mask.clone(),
        });
        let second = shared.clock.second(start);
        let (id, tally) = shared.begin(exchange, tunnel_name(&request), second, base_cost);

        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ExchangeId(id));
        let body = if body_ended {
            into_tunnel_body(body)
        } else {
            let capture = RequestCapture {
                shared: shared.clone(),
                id,
                tally: tally.clone(),
                prefix: Prefix::new(shared.config.body_prefix, &body.size_hint()),
                complete: false,
            };
            into_tunnel_body(CaptureRequestBody::new(body, capture))
        };
        let recorder = Self {
            shared: shared.clone(),
            id,
            start,
            tally,
            status: None,
            finished: false,
        };
        (recorder, Request::from_parts(parts, body))
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Records the response's head. Its body's capture comes back, or `None` if the body has
    /// already ended (it will not be polled): then the exchange ends here, in the same update.
    pub(super) fn response_head<B: Body>(
        mut self,
        response: &Response<B>,
    ) -> Option<ResponseCapture> {
        let now = Clock::now();
        let took = now.saturating_duration_since(self.start);
        let status = response.status();
        self.status = Some(status);
        let headers = Arc::new(owned_headers(response.headers()));
        let cost = headers_cost(&headers);
        let body_ended = response.body().is_end_stream();
        let record = ResponseRecord {
            status,
            version: response.version(),
            headers,
            body: BodyRecord {
                complete: body_ended,
                ..BodyRecord::default()
            },
        };
        let mut update = Update {
            response: Some((record, took, cost)),
            ..Update::default()
        };
        if body_ended {
            update.finish = Some(self.finishing(now, Outcome::Complete, None));
            self.finished = true;
            self.shared.update(self.id, &self.tally, update);
            return None;
        }
        self.shared.update(self.id, &self.tally, update);
        let prefix = Prefix::new(self.shared.config.body_prefix, &response.body().size_hint());
        Some(ResponseCapture {
            recorder: self,
            prefix,
        })
    }

    /// Ends the exchange.
    pub(super) fn finish(&mut self, outcome: Outcome, response_body: Option<BodyRecord>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let finish = self.finishing(Clock::now(), outcome, response_body);
        let update = Update {
            finish: Some(finish),
            ..Update::default()
        };
        self.shared.update(self.id, &self.tally, update);
    }

    fn finishing(
        &self,
        now: Instant,
        outcome: Outcome,
        response_body: Option<BodyRecord>,
    ) -> Finish {
        let took = now.saturating_duration_since(self.start);
        let error = matches!(outcome, Outcome::Error(_))
            || self.status.is_some_and(|status| status.is_server_error());
        let end = End {
            second: self.shared.clock.second(now),
            error,
            // A visitor who left says nothing of the local service's speed (and long-lived
            // streams end that way).
            latency: (outcome != Outcome::VisitorGone).then_some(took),
            bytes_out: response_body.as_ref().map_or(0, |body| body.size),
        };
        Finish {
            outcome,
            response_body,
            took,
            end,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(Outcome::VisitorGone, None);
    }
}
