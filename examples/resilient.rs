//! A client that outlives the router: it serves `com.example.uptime` and prints the events of
//! `com.example.ticks`, and when the router stops and starts again (restart nexusd while it
//! runs) it reconnects, registers and subscribes again, and carries on. Its states and the
//! gaps in the event stream are printed as they happen.
//!
//! `cargo run -p nexus-examples --example resilient [URL]`

use std::time::{Duration, Instant};

use futures::StreamExt;
use nexus_tokio::{args, ClientConfig, ClientState, Invocation, Payload, ReconnectPolicy};

#[tokio::main]
async fn main() -> Result<(), nexus_tokio::Error> {
    // Retry after 250 ms, doubling up to 5 s between attempts, forever; requests made while
    // the router is away wait up to 10 s for it.
    let config = ClientConfig::new("realm1")
        .reconnect(ReconnectPolicy::new().max_delay(Duration::from_secs(5)))
        .wait_for_connection(Duration::from_secs(10));
    let client = nexus_tokio::connect(&nexus_examples::url(), config).await?;

    let mut states = client.state();
    tokio::spawn(async move {
        while let Some(state) = states.next().await {
            match state {
                ClientState::Joined { session, .. } => println!("joined as session {session}"),
                ClientState::Disconnected { reason } => println!("lost the router: {reason}"),
                ClientState::Retrying { attempt, delay } => {
                    println!("attempt {attempt} in {delay:?}")
                }
                other => println!("{other:?}"),
            }
        }
    });

    // Both handles live as long as this program: they are restored after every reconnection.
    let started = Instant::now();
    let _uptime = client
        .register("com.example.uptime", move |_inv: Invocation| async move {
            Ok(Payload::new(
                args![started.elapsed().as_secs()],
                Default::default(),
            ))
        })
        .await?;
    let mut ticks = client.subscribe("com.example.ticks").await?;
    println!("serving com.example.uptime and listening on com.example.ticks; Ctrl-C to stop");

    loop {
        tokio::select! {
            item = ticks.next() => match item {
                Some(Ok(event)) => println!("tick {:?}", event.args),
                // The connection dropped here: ticks published meanwhile were missed.
                Some(Err(gap)) => println!("gap: {gap}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    client.close().await
}
