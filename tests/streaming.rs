//! Bodies stream through the tunnel both ways: 100 MiB up and 100 MiB down, checked by
//! SHA-256, with proof that nothing on the way holds a whole body.

mod support;

use bytes::Bytes;
use futures::StreamExt;
use http::StatusCode;
use http_body_util::{BodyExt, StreamBody};
use sha2::{Digest, Sha256};
use support::*;

const SIZE: u64 = 100 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_upload_streams_and_echoes_back_intact() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let _client = start_client(&server, "up", local).await;
    let visitor = Visitor::new(server.http_addr());

    let (chunks, rx) = tokio::sync::mpsc::channel::<
        Result<http_body::Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>,
    >(4);
    let body = BodyExt::boxed(StreamBody::new(tokio_stream(rx)));
    let request = visitor.request("up.localhost", "POST", "/echo", body);
    let response = tokio::spawn({
        let visitor = visitor.clone();
        async move { visitor.send(request).await }
    });

    let mut pattern = pattern_stream(SIZE);
    let mut sent_hash = Sha256::new();
    // Send the first chunk only, and wait for the echo to start: if the server, the client or
    // the tunnel buffered whole bodies, no response could start before the upload ended.
    let first = pattern.next().await.expect("chunk").expect("infallible");
    sent_hash.update(&first);
    chunks
        .send(Ok(http_body::Frame::data(first.clone())))
        .await
        .expect("send");
    let response = response.await.expect("task");
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = response.into_body().into_data_stream();
    let echoed = received.next().await.expect("echo starts").expect("chunk");
    assert!(
        first.starts_with(&echoed) && !echoed.is_empty(),
        "the echo starts with the first chunk"
    );

    let upload = async move {
        while let Some(chunk) = pattern.next().await {
            let chunk = chunk.expect("infallible");
            sent_hash.update(&chunk);
            chunks
                .send(Ok(http_body::Frame::data(chunk)))
                .await
                .expect("send");
        }
        drop(chunks);
        sent_hash.finalize()
    };
    let download = async move {
        let mut hash = Sha256::new();
        hash.update(&echoed);
        let mut total = echoed.len() as u64;
        while let Some(chunk) = received.next().await {
            let chunk = chunk.expect("chunk");
            total += chunk.len() as u64;
            hash.update(&chunk);
        }
        (total, hash.finalize())
    };
    let (sent, (total, got)) = tokio::join!(upload, download);
    assert_eq!(total, SIZE);
    assert_eq!(sent, got, "SHA-256 of the echo matches the upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_download_arrives_intact() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let _client = start_client(&server, "down", local).await;
    let visitor = Visitor::new(server.http_addr());

    let request = visitor.request(
        "down.localhost",
        "GET",
        &format!("/download/{SIZE}"),
        full(b""),
    );
    let response = visitor.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let (mut got, mut expected) = (Sha256::new(), Sha256::new());
    let mut pattern = pattern_stream(SIZE);
    let mut total = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        total += chunk.len() as u64;
        got.update(&chunk);
    }
    while let Some(chunk) = pattern.next().await {
        expected.update(chunk.expect("infallible"));
    }
    assert_eq!(total, SIZE);
    assert_eq!(got.finalize(), expected.finalize());
}

fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
