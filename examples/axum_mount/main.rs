//! One axum app on one port that serves its own routes, the public side of the tunnels, and the
//! endpoint where clients connect over WebSocket.
//!
//! ```sh
//! cargo run --example axum_mount                      # the app on 127.0.0.1:3000
//! ferrotunnel client --server ws://127.0.0.1:3000 --token secret --local 127.0.0.1:8000 --subdomain demo
//! curl http://127.0.0.1:3000/t/demo/                  # reaches 127.0.0.1:8000 through the tunnel
//! ```

mod app;

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:3000")
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let tunnels = ferrotunnel::Server::builder()
        .token("secret")
        .public_base_url(format!("http://{addr}/t"))
        .build()?
        .into_embedded();

    println!("my app:   http://{addr}/");
    println!(
        "clients:  ferrotunnel client --server ws://{addr} --token secret --local 127.0.0.1:8000 --subdomain demo"
    );
    let app = app::app(&tunnels).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    tunnels.shutdown().await;
    Ok(())
}
