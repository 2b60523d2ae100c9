//! Requests over a real session's streams, answered byte for byte by a "local service" at the
//! far end: what the server makes of what a local service may write.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::session::{self, Inbound, SessionHandle};

struct Pipe {
    near: SessionHandle,
    far: Inbound,
    // The sessions end with their handles.
    _far_session: SessionHandle,
    _near_inbound: Inbound,
}

impl Pipe {
    fn new() -> Self {
        let ((near, _near_inbound), (_far_session, far)) = session::pair();
        Self {
            near,
            far,
            _far_session,
            _near_inbound,
        }
    }

    async fn connection(&self) -> Connection {
        Connection::new(self.near.open_stream().await.unwrap())
    }
}

fn get(path: &str) -> Request<TunnelBody> {
    Request::get(path)
        .header("host", "app.localhost")
        .body(Empty::new().map_err(BoxError::from).boxed_unsync())
        .unwrap()
}

/// Reads a request head (up to its blank line) off `stream`.
async fn read_head(stream: &mut SessionStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

async fn answered(answer: Result<Answer, SendError>) -> Response<ResponseBody> {
    match answer {
        Ok(Answer::Response(response)) => response,
        Ok(Answer::Upgrade(..)) => panic!("an upgrade"),
        Err(SendError::Unsent(_)) => panic!("unsent"),
        Err(SendError::Failed(err)) => panic!("failed: {err}"),
    }
}

fn failure(answer: Result<Answer, SendError>) -> BoxError {
    match answer {
        Err(SendError::Failed(err)) => err,
        _ => panic!("expected a failure"),
    }
}

#[tokio::test]
async fn a_response_comes_back_and_the_connection_serves_again() {
    let mut pipe = Pipe::new();
    let connection = pipe.connection().await;
    let exchange = tokio::spawn(connection.send(get("/one")));
    let mut local = pipe.far.accept().await.unwrap();
    assert_eq!(
        read_head(&mut local).await,
        "GET /one HTTP/1.1\r\nhost: app.localhost\r\n\r\n"
    );
    local
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhel")
        .await
        .unwrap();
    let response = answered(exchange.await.unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-a"], "b");
    let mut body = response.into_body();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "hel"
    );
    local.write_all(b"lo").await.unwrap();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "lo"
    );
    assert!(body.is_end_stream());
    let again = body.take_idle_connection().expect("reusable");

    // The second request on the same stream.
    let exchange = tokio::spawn(again.send(get("/two")));
    assert!(read_head(&mut local).await.starts_with("GET /two "));
    local
        .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
        .await
        .unwrap();
    let mut body = answered(exchange.await.unwrap()).await.into_body();
    assert!(body.is_end_stream());
    assert!(body.take_idle_connection().is_some());
}

#[tokio::test]
async fn a_sized_body_stops_at_its_length_and_says_when_it_was_cut_short() {
    let mut pipe = Pipe::new();
    let exchange = tokio::spawn(pipe.connection().await.send(get("/")));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n")
        .await
        .unwrap();
    let mut body = answered(exchange.await.unwrap()).await.into_body();
    // The body's bytes and some past its end arrive in one frame, after the head.
    local.write_all(b"body!!HTTP/1.1 200 OK\r\n").await.unwrap();
    let bytes = (&mut body).collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "body!!");
    assert!(
        body.take_idle_connection().is_none(),
        "bytes no request asked for"
    );

    let exchange = tokio::spawn(pipe.connection().await.send(get("/")));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
        .await
        .unwrap();
    let mut body = answered(exchange.await.unwrap()).await.into_body();
    local.write_all(b"only this").await.unwrap();
    local.shutdown().await.unwrap();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "only this"
    );
    let err = body.frame().await.unwrap().unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(Error::LocalReset(_))),
        "{err}"
    );
    assert!(body.take_idle_connection().is_none());
}

#[tokio::test]
async fn chunked_bodies_informational_heads_and_trailers() {
    let mut pipe = Pipe::new();
    let exchange = tokio::spawn(pipe.connection().await.send(get("/")));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    for piece in [
        &b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n6\r\n world\r\n0\r\nx-sum: 1",
        b"1\r\n\r\n",
    ] {
        local.write_all(piece).await.unwrap();
    }
    let response = answered(exchange.await.unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "the 103 was read past");
    let mut body = response.into_body();
    let collected = (&mut body).collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-sum"], "11");
    assert_eq!(collected.to_bytes(), "hello world");
    assert!(body.take_idle_connection().is_some());
}

#[tokio::test]
async fn a_held_response_holds_no_buffer() {
    let mut pipe = Pipe::new();
    let exchange = tokio::spawn(pipe.connection().await.send(get("/hold")));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await
        .unwrap();
    let mut body = answered(exchange.await.unwrap()).await.into_body();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "hello"
    );
    // Waiting for the next chunk: nothing buffered, nothing allocated for it.
    let waiting = futures::poll!(body.frame());
    assert!(waiting.is_pending());
    assert_eq!(body.buffered_capacity(), 0);
    // Closing in the middle of the body is an error, and the connection is not reused.
    drop(local);
    let err = body.frame().await.unwrap().unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(Error::LocalReset(_))),
        "{err}"
    );
    assert!(body.take_idle_connection().is_none());
}

#[tokio::test]
async fn a_body_to_the_close_ends_the_connection_with_it() {
    let mut pipe = Pipe::new();
    let exchange = tokio::spawn(pipe.connection().await.send(get("/")));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 200 OK\r\n\r\nall of it")
        .await
        .unwrap();
    local.shutdown().await.unwrap();
    let mut body = answered(exchange.await.unwrap()).await.into_body();
    let bytes = (&mut body).collect().await.unwrap().to_bytes();
    assert_eq!(bytes, "all of it");
    assert!(body.take_idle_connection().is_none());
}

#[tokio::test]
async fn request_bodies_stream_out_in_their_framing() {
    let mut pipe = Pipe::new();
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<http_body::Frame<Bytes>, BoxError>>();
    let request = Request::post("/upload")
        .body(StreamBody::new(rx).boxed_unsync())
        .unwrap();
    let exchange = tokio::spawn(pipe.connection().await.send(request));
    let mut local = pipe.far.accept().await.unwrap();
    let head = read_head(&mut local).await;
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    tx.unbounded_send(Ok(http_body::Frame::data(Bytes::from_static(b"hello"))))
        .unwrap();
    let mut wire = [0; 10];
    local.read_exact(&mut wire).await.unwrap();
    assert_eq!(&wire, b"5\r\nhello\r\n");
    drop(tx);
    let mut end = [0; 5];
    local.read_exact(&mut end).await.unwrap();
    assert_eq!(&end, b"0\r\n\r\n");
    local
        .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut body = answered(exchange.await.unwrap()).await.into_body();
    assert!(body.take_idle_connection().is_some());

    // A body of known size goes with its length, in the same frame as the head.
    let mut pipe = Pipe::new();
    let request = Request::post("/")
        .body(
            Full::new(Bytes::from_static(b"abc"))
                .map_err(BoxError::from)
                .boxed_unsync(),
        )
        .unwrap();
    let exchange = tokio::spawn(pipe.connection().await.send(request));
    let mut local = pipe.far.accept().await.unwrap();
    let head = read_head(&mut local).await;
    assert!(head.contains("content-length: 3\r\n"), "{head}");
    let mut body = [0; 3];
    local.read_exact(&mut body).await.unwrap();
    assert_eq!(&body, b"abc");
    local
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    answered(exchange.await.unwrap()).await;
}

#[tokio::test]
async fn an_early_answer_to_an_upload_leaves_the_connection_closed() {
    let mut pipe = Pipe::new();
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<http_body::Frame<Bytes>, BoxError>>();
    let request = Request::post("/")
        .body(StreamBody::new(rx).boxed_unsync())
        .unwrap();
    let exchange = tokio::spawn(pipe.connection().await.send(request));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let response = answered(exchange.await.unwrap()).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut body = response.into_body();
    assert!(body.is_end_stream());
    assert!(
        body.take_idle_connection().is_none(),
        "the upload never ended"
    );
    drop(tx);
}

#[tokio::test]
async fn upgrades_hand_over_the_stream_with_what_came_after_the_head() {
    let mut pipe = Pipe::new();
    let mut request = get("/ws");
    request
        .headers_mut()
        .insert("upgrade", http::HeaderValue::from_static("websocket"));
    let exchange = tokio::spawn(pipe.connection().await.send(request));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\nearly")
        .await
        .unwrap();
    let Ok(Answer::Upgrade(head, mut upgraded)) = exchange.await.unwrap() else {
        panic!("not an upgrade");
    };
    assert_eq!(head.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut early = [0; 5];
    upgraded.read_exact(&mut early).await.unwrap();
    assert_eq!(&early, b"early");
    upgraded.write_all(b"ping").await.unwrap();
    let mut ping = [0; 4];
    local.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"ping");
    local.write_all(b"pong").await.unwrap();
    upgraded.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"pong");

    // A 101 nobody asked for is not followed.
    let exchange = tokio::spawn(pipe.connection().await.send(get("/")));
    let mut local = pipe.far.accept().await.unwrap();
    read_head(&mut local).await;
    local
        .write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        .await
        .unwrap();
    let err = failure(exchange.await.unwrap());
    assert!(
        matches!(err.downcast_ref(), Some(Error::LocalInvalid(_))),
        "{err}"
    );
}

#[tokio::test]
async fn what_is_not_http_is_an_error_that_says_so() {
    for (wire, invalid) in [
        (&b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..], true),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            false,
        ),
        (b"HTTP/1.1 200", false),
    ] {
        let mut pipe = Pipe::new();
        let exchange = tokio::spawn(pipe.connection().await.send(get("/")));
        let mut local = pipe.far.accept().await.unwrap();
        read_head(&mut local).await;
        local.write_all(wire).await.unwrap();
        local.shutdown().await.unwrap();
        let err = match exchange.await.unwrap() {
            Ok(Answer::Response(response)) => response
                .into_body()
                .collect()
                .await
                .expect_err("a body error"),
            other => failure(other),
        };
        let text = String::from_utf8_lossy(wire);
        match err.downcast_ref() {
            Some(Error::LocalInvalid(_)) => {}
            Some(Error::LocalReset(_)) if !invalid => {}
            _ => panic!("{text:?}: {err}"),
        }
    }
}

#[tokio::test]
async fn a_closed_connection_is_seen_without_waiting() {
    let mut pipe = Pipe::new();
    let mut stream = pipe.near.open_stream().await.unwrap();
    stream.write_all(b"x").await.unwrap();
    let mut connection = Connection::new(stream);
    let local = pipe.far.accept().await.unwrap();
    assert!(!connection.is_closed());
    drop(local);
    connection.closed().await;
    assert!(connection.is_closed());
    // Nothing was sent, so the request comes back whole, to go elsewhere... or the write
    // goes out into a stream the other side has left: either way, no response is made up.
    match connection.send(get("/")).await {
        Err(SendError::Unsent(request)) => assert_eq!(request.uri(), "/"),
        Err(SendError::Failed(_)) => {}
        Ok(_) => panic!("an answer from a closed stream"),
    }
}
