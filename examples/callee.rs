//! A callee: registers `com.example.add` and serves calls until Ctrl-C.
//!
//! Run nexusd, then: `cargo run -p nexus-examples --example callee [URL]`

use nexus_tokio::{args, ClientConfig, Invocation, WampError};

#[tokio::main]
async fn main() -> Result<(), nexus_tokio::Error> {
    let client = nexus_tokio::connect(&nexus_examples::url(), ClientConfig::new("realm1")).await?;

    // The handler is async; it gets the call's arguments and returns a result or an error.
    // The procedure stays registered while `_add` lives.
    let _add = client
        .register("com.example.add", |inv: Invocation| async move {
            // Arguments of the wrong type answer the caller with wamp.error.invalid_argument
            // and what was wrong; any other error is a WampError of our own.
            let (a, b): (i64, i64) = inv.args()?;
            a.checked_add(b)
                .ok_or_else(|| WampError::new("com.example.overflow").with_args(args![a, b]))
        })
        .await?;
    println!("registered com.example.add; press Ctrl-C to stop");

    // Serve until Ctrl-C (or until the router ends the session), then leave cleanly.
    tokio::select! {
        _ = tokio::signal::ctrl_c() => client.close().await?,
        _ = client.closed() => println!("the router ended the session"),
    }
    Ok(())
}
