//! [`ExchangeSummary`] as JSON for the event stream, written by hand: the stream writes one per
//! exchange, and serde's writer, which escapes every key byte by byte and formats numbers and
//! times through `fmt`, cost the server more per request than recording the exchange. The
//! output is the same JSON value as `serde_json::to_writer` gives (a test checks it); the API's
//! other answers keep serde.

use std::io::Write as _;

use super::ExchangeSummary;

impl ExchangeSummary<'_> {
    /// Appends the summary as one JSON object.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        number(out, self.id);
        out.extend_from_slice(b",\"tunnel\":");
        optional_string(out, self.tunnel);
        out.extend_from_slice(b",\"visitor\":");
        match self.visitor {
            // An address's text needs no escaping.
            Some(visitor) => {
                let _ = write!(out, "\"{visitor}\"");
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"method\":");
        string(out, self.method);
        out.extend_from_slice(b",\"uri\":");
        string(out, self.uri);
        out.extend_from_slice(b",\"host\":");
        optional_string(out, self.host);
        out.extend_from_slice(b",\"http_version\":");
        string(out, self.http_version);
        out.extend_from_slice(b",\"status\":");
        optional_number(out, self.status.map(u64::from));
        out.extend_from_slice(b",\"started_at\":\"");
        out.extend_from_slice(&self.started_at.ascii());
        out.extend_from_slice(b"\",\"duration_ms\":");
        float(out, self.duration_ms);
        out.extend_from_slice(b",\"response_head_ms\":");
        float(out, self.response_head_ms);
        out.extend_from_slice(b",\"request_bytes\":");
        number(out, self.request_bytes);
        out.extend_from_slice(b",\"response_bytes\":");
        number(out, self.response_bytes);
        out.extend_from_slice(b",\"outcome\":");
        string(out, self.outcome);
        out.extend_from_slice(b",\"error\":");
        optional_string(out, self.error);
        out.extend_from_slice(b",\"replay_of\":");
        optional_number(out, self.replay_of);
        out.extend_from_slice(b",\"request_content_type\":");
        optional_string(out, self.request_content_type);
        out.extend_from_slice(b",\"response_content_type\":");
        optional_string(out, self.response_content_type);
        out.push(b'}');
    }
}

/// A JSON string: copied as it is when nothing in it needs escaping (the usual case for
/// methods, paths, hosts and content types), else escaped by serde_json.
fn string(out: &mut Vec<u8>, text: &str) {
    if text
        .bytes()
        .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, text).is_err() {
        // Writing to a Vec cannot fail; keep the JSON whole regardless.
        out.extend_from_slice(b"null");
    }
}

fn optional_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn number(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn optional_number(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        Some(value) => number(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// A float as serde_json writes it (shortest round-trip form; `null` for none or non-finite).
fn float(out: &mut Vec<u8>, value: Option<f64>) {
    match value {
        Some(value) if serde_json::to_writer(&mut *out, &value).is_ok() => {}
        _ => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        net::SocketAddr,
        time::{Duration, UNIX_EPOCH},
    };

    use super::super::{ExchangeSummary, Visitor};
    use crate::time::Rfc3339Millis;

    fn same_as_serde(summary: &ExchangeSummary<'_>) {
        let mut written = Vec::new();
        summary.write_json(&mut written);
        let ours: serde_json::Value = serde_json::from_slice(&written)
            .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&written)));
        let serde = serde_json::to_value(summary).expect("serializes");
        assert_eq!(ours, serde);
    }

    fn summary<'a>() -> ExchangeSummary<'a> {
        ExchangeSummary {
            id: 18_446_744_073_709_551_615,
            tunnel: Some("app"),
            visitor: Some(Visitor("192.0.2.7:50000".parse().expect("address"))),
            method: "GET",
            uri: "/orders/7?q=1",
            host: Some("app.example.com"),
            http_version: "HTTP/1.1",
            status: Some(200),
            started_at: Rfc3339Millis(UNIX_EPOCH + Duration::from_millis(1_796_058_131_123)),
            duration_ms: Some(12.5),
            response_head_ms: Some(0.001),
            request_bytes: 0,
            response_bytes: 1024,
            outcome: "complete",
            error: None,
            replay_of: Some(3),
            request_content_type: None,
            response_content_type: Some("application/json; charset=utf-8"),
        }
    }

    #[test]
    fn an_ordinary_exchange_is_the_json_serde_writes() {
        same_as_serde(&summary());
    }

    #[test]
    fn strings_that_need_escaping_and_missing_values_are_too() {
        same_as_serde(&ExchangeSummary {
            id: 0,
            tunnel: Some("tünnel \"quoted\""),
            visitor: Some(Visitor(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 0)))),
            method: "PROPFIND",
            uri: "/a\\b\u{1}",
            host: None,
            status: None,
            duration_ms: None,
            response_head_ms: Some(f64::NAN),
            outcome: "error",
            error: Some("connection reset\nby \"peer\"\t"),
            replay_of: None,
            response_content_type: None,
            ..summary()
        });
    }
}
