//! A callee: registers `com.example.add` and serves calls until Ctrl-C.
//!
//! Run nexusd, then: `cargo run -p nexus-examples --example callee [URL]`

use nexus_tokio::{args, ClientConfig, Invocation, Payload, Value, WampError};

#[tokio::main]
async fn main() -> Result<(), nexus_tokio::Error> {
    let client = nexus_tokio::connect(&nexus_examples::url(), ClientConfig::new("realm1")).await?;

    // The handler is async; it gets the call's arguments and returns a result or an error.
    // The procedure stays registered while `_add` lives.
    let _add = client
        .register("com.example.add", |inv: Invocation| async move {
            let (Some(a), Some(b)) = (
                inv.args.first().and_then(Value::as_i64),
                inv.args.get(1).and_then(Value::as_i64),
            ) else {
                // Callers get this as a WAMP error with the URI and the message.
                return Err(WampError::new("wamp.error.invalid_argument")
                    .with_args(args!["add needs two integers"]));
            };
            Ok(Payload::new(args![a + b], Default::default()))
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
