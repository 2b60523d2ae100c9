//! A FerroTunnel server inside your own program.
//!
//! ```sh
//! cargo run --example embedded_server          # clients on 127.0.0.1:7835, visitors on :8080
//! ```

use std::time::Duration;

#[tokio::main]
async fn main() -> ferrotunnel::Result<()> {
    let server = ferrotunnel::Server::builder()
        .control_addr("127.0.0.1:7835".parse().expect("a valid address"))
        .http_addr("127.0.0.1:8080".parse().expect("a valid address"))
        .domain("localhost")
        .token("secret")
        .heartbeat_interval(Duration::from_secs(15))
        .build()?
        .start()
        .await?;
    println!("clients connect to tcp://{}", server.control_addr());
    println!(
        "visitors reach http://<name>.localhost:{}",
        server.http_addr().port()
    );

    let mut tunnels = server.watch_tunnels();
    loop {
        tokio::select! {
            changed = tunnels.changed() => {
                if changed.is_err() { break; }
                let names: Vec<String> = tunnels.borrow().iter().map(|t| t.public_url.clone()).collect();
                println!("live tunnels: {names:?}");
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.shutdown().await;
    Ok(())
}
