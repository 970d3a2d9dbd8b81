//! A publisher: publishes ten ticks to `com.example.ticks`, one a second.
//!
//! `cargo run -p nexus-examples --example publisher [URL]`

use std::time::Duration;

use nexus_tokio::ClientConfig;

#[tokio::main]
async fn main() -> Result<(), nexus_tokio::Error> {
    let client = nexus_tokio::connect(&nexus_examples::url(), ClientConfig::new("realm1")).await?;

    for tick in 0..10u32 {
        // Acknowledged: the router confirms with a publication ID (plain `publish` does not
        // wait for anything).
        let publication = client
            .publish("com.example.ticks")
            .arg(tick)
            .kwarg("source", "publisher example")
            .acknowledged()
            .await?;
        println!("published tick {tick} as publication {publication}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    client.close().await
}
