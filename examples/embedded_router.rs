//! An embedded router: a program that runs its own WAMP router, serves it to the network,
//! and uses it in-process, without a socket, at the same time.
//!
//! `cargo run -p nexus-examples --example embedded_router`

use nexus_tokio::{ClientConfig, Invocation, RouterBuilder};

#[tokio::main]
async fn main() -> Result<(), nexus_tokio::Error> {
    // A router with one open realm, on a free port for other programs.
    let router = nexus_tokio::start(RouterBuilder::new().realm("realm1"));
    let url = router.listen("ws://127.0.0.1:0/ws", None).await?;
    println!("router listening on {url}");

    // An in-process client: messages go straight to the router, no serialization.
    let local = nexus_tokio::Client::connect_local(&router, ClientConfig::new("realm1")).await?;
    local
        .register("com.example.hello", |inv: Invocation| async move {
            let name: Option<String> = inv.arg(0)?;
            Ok(format!("hello, {}", name.as_deref().unwrap_or("world")))
        })
        .await?
        .detach();

    // A network client of the same router calls the in-process callee.
    let remote = nexus_tokio::connect(&url, ClientConfig::new("realm1")).await?;
    let greeting: String = remote
        .call("com.example.hello")
        .arg("nexus")
        .await?
        .arg(0)?;
    println!("{greeting}");

    remote.close().await?;
    local.close().await?;
    // Every session gets GOODBYE, then the router stops.
    router.shutdown().await;
    Ok(())
}
