//! A FerroTunnel client inside your own program: expose a local service and watch the state of
//! the connection.
//!
//! ```sh
//! cargo run --example embedded_server &
//! cargo run --example embedded_client -- 127.0.0.1:3000    # exposes 127.0.0.1:3000 as "demo"
//! ```

use ferrotunnel::ClientState;

#[tokio::main]
async fn main() -> ferrotunnel::Result<()> {
    let local = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut client = ferrotunnel::Client::builder()
        .server_url("tcp://127.0.0.1:7835")
        .token("secret")
        .local_address(&local)
        .subdomain("demo")
        .build()?
        .start()
        .await?;
    println!("forwarding {} -> {local}", client.public_url());

    let mut state = client.state();
    loop {
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() { break; }
                match &*state.borrow() {
                    ClientState::Connected { tunnels, .. } => println!("online: {}", tunnels[0].public_url),
                    ClientState::Reconnecting { attempt, error } => println!("reconnecting (attempt {attempt}): {error}"),
                    other => println!("{other:?}"),
                }
            }
            result = client.wait() => return result,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    client.shutdown().await
}
