//! A subscriber: prints every event on `com.example.ticks` until Ctrl-C.
//!
//! `cargo run -p nexus-examples --example subscriber [URL]`

use futures::StreamExt;
use nexus_tokio::ClientConfig;

#[tokio::main]
async fn main() -> Result<(), nexus_tokio::Error> {
    let client = nexus_tokio::connect(&nexus_examples::url(), ClientConfig::new("realm1")).await?;

    // A subscription is a stream of events (and of the gaps where some were missed); it
    // ends when the session ends. Dropping it unsubscribes.
    let mut ticks = client.subscribe("com.example.ticks").await?;
    println!("subscribed to com.example.ticks; press Ctrl-C to stop");
    loop {
        tokio::select! {
            event = ticks.next() => match event {
                Some(Ok(event)) => println!("event {}: {:?} {:?}", event.publication, event.args, event.kwargs),
                // Where events may have been missed (this reader fell behind).
                Some(Err(gap)) => eprintln!("{gap}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }

    client.close().await
}
