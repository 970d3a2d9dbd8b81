//! A caller: calls `com.example.add` (registered by the callee example) and prints the sum.
//!
//! `cargo run -p nexus-examples --example caller [URL]`

use nexus_tokio::{ClientConfig, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = nexus_tokio::connect(&nexus_examples::url(), ClientConfig::new("realm1")).await?;

    // Arguments are anything serde can serialize; results read into any type it can
    // deserialize.
    match client.call("com.example.add").arg(2).arg(3).await {
        Ok(result) => println!("2 + 3 = {}", result.arg::<i64>(0)?),
        // A WAMP error (no callee registered, or the callee's own error) is distinct from a
        // transport failure.
        Err(Error::Wamp(e)) => println!("the call failed: {e}"),
        Err(e) => return Err(e),
    }

    client.close().await
}
