//! A caller: calls `com.example.add` (registered by the callee example) and prints the sum.
//!
//! `cargo run -p nexus-examples --example caller [URL]`

use nexus_tokio::{args, ClientConfig, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = nexus_tokio::connect(&nexus_examples::url(), ClientConfig::new("realm1")).await?;

    match client.call("com.example.add").args(args![2, 3]).await {
        Ok(result) => println!("2 + 3 = {}", result.args[0]),
        // A WAMP error (no callee registered, or the callee's own error) is distinct from a
        // transport failure.
        Err(Error::Wamp(e)) => println!("the call failed: {e}"),
        Err(e) => return Err(e),
    }

    client.close().await
}
