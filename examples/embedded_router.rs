//! An embedded router: a program that runs its own WAMP router, serves it to the network,
//! and uses it in-process, without a socket, at the same time.
//!
//! `cargo run -p nexus-examples --example embedded_router`

use nexus_tokio::{args, ClientConfig, Invocation, Payload, RouterBuilder};

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
            let name = inv
                .args
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or("world")
                .to_owned();
            Ok(Payload::new(
                args![format!("hello, {name}")],
                Default::default(),
            ))
        })
        .await?
        .detach();

    // A network client of the same router calls the in-process callee.
    let remote = nexus_tokio::connect(&url, ClientConfig::new("realm1")).await?;
    let greeting = remote
        .call("com.example.hello")
        .args(args!["nexus"])
        .await?;
    println!("{}", greeting.args[0]);

    remote.close().await?;
    local.close().await?;
    // Every session gets GOODBYE, then the router stops.
    router.shutdown().await;
    Ok(())
}
