//! HTTP upgrades pass through the tunnel: a WebSocket echo session end to end.

mod support;

use futures::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[tokio::test]
async fn a_websocket_echo_session_works_through_the_tunnel() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let _client = start_client(&server, "ws", local).await;

    let tcp = tokio::net::TcpStream::connect(server.http_addr())
        .await
        .expect("connect");
    let mut request = format!("ws://{}/ws", server.http_addr())
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("host", "ws.localhost".parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("handshake through the tunnel");
    assert_eq!(response.status(), 101);

    for i in 0..20 {
        let text = format!("message {i}");
        socket
            .send(Message::text(text.clone()))
            .await
            .expect("send");
        let echoed = socket.next().await.expect("an answer").expect("a message");
        assert_eq!(echoed, Message::text(text));
    }
    let blob = vec![7u8; 256 * 1024];
    socket
        .send(Message::binary(blob.clone()))
        .await
        .expect("send binary");
    assert_eq!(
        socket.next().await.expect("answer").expect("message"),
        Message::binary(blob)
    );
    socket.close(None).await.expect("close");
}
