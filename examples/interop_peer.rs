//! The Rust side of the interoperability test against autobahn-python (`interop/`): a small
//! WAMP peer driven by its command line, printing what it sees as one JSON object per line.
//!
//! ```text
//! interop_peer URL SERIALIZER callee PREFIX                      # serves until stdin closes
//! interop_peer URL SERIALIZER caller PROCEDURE ARGS KWARGS
//! interop_peer URL SERIALIZER subscriber TOPIC COUNT             # exits after COUNT events
//! interop_peer URL SERIALIZER publisher TOPIC ARGS KWARGS ack|noack
//! ```
//!
//! SERIALIZER is `json`, `msgpack` or `cbor`; ARGS and KWARGS are a JSON list and a JSON object.
//! Binary values are written `{"$bytes": "<hex>"}` in both the arguments and the output.
//!
//! Output lines: `{"registered": [procedures]}` (callee, once ready), `{"result": {"args",
//! "kwargs"}}` or `{"error": {"uri", "args", "kwargs"}}` (caller), `{"subscribed": id}` then
//! `{"event": {"publication", "args", "kwargs"}}` per event (subscriber), `{"published": id}`
//! (`null` when not acknowledged). Any other failure goes to stderr with exit status 1.

use futures::StreamExt;
use nexus_tokio::{args, ClientConfig, Dict, Error, Invocation, Payload, Serializer, Value};
use nexus_tokio::{Client, WampError};
use serde_json::{json, Value as Json};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&argv).await {
        eprintln!("interop_peer: {e}");
        std::process::exit(1);
    }
    // A callee may still have a thread blocked on stdin; leave without waiting for it.
    std::process::exit(0);
}

async fn run(argv: &[String]) -> Result<(), String> {
    let [url, serializer, role, rest @ ..] = argv else {
        return Err("usage: interop_peer URL SERIALIZER ROLE ARGS... (see the source)".into());
    };
    let serializer =
        Serializer::from_name(serializer).ok_or(format!("unknown serializer {serializer}"))?;
    let client = nexus_tokio::connect(url, ClientConfig::new("realm1").serializer(serializer))
        .await
        .map_err(|e| e.to_string())?;
    let s = |e: Error| e.to_string();
    match (role.as_str(), rest) {
        ("callee", [prefix]) => {
            let echo = format!("{prefix}.echo");
            let add = format!("{prefix}.add");
            let error = format!("{prefix}.error");
            // echo: the arguments back, unchanged.
            client
                .register(&echo, |inv: Invocation| async move {
                    Ok(Payload::new(inv.args, inv.kwargs))
                })
                .await
                .map_err(s)?
                .detach();
            // add: the sum of the integer arguments.
            client
                .register(&add, |inv: Invocation| async move {
                    let ints: Option<Vec<i64>> = inv.args.iter().map(Value::as_i64).collect();
                    match ints.and_then(|v| v.into_iter().try_fold(0i64, i64::checked_add)) {
                        Some(sum) => Ok(Payload::new(args![sum], Dict::new())),
                        None => Err(WampError::new("wamp.error.invalid_argument")
                            .with_args(args!["add needs integers"])),
                    }
                })
                .await
                .map_err(s)?
                .detach();
            // error: an application error carrying the call's arguments.
            client
                .register(&error, |inv: Invocation| async move {
                    Err::<Payload, _>(
                        WampError::new("com.interop.error")
                            .with_args(inv.args)
                            .with_kwargs(inv.kwargs),
                    )
                })
                .await
                .map_err(s)?
                .detach();
            println!("{}", json!({ "registered": [echo, add, error] }));
            // Serve until the test closes our stdin (or the router ends the session).
            let (mut stdin, mut sink) = (tokio::io::stdin(), Vec::new());
            tokio::select! {
                _ = stdin.read_to_end(&mut sink) => {}
                _ = client.closed() => {}
            }
        }
        ("caller", [procedure, args, kwargs]) => {
            let (args, kwargs) = (parse_args(args)?, parse_kwargs(kwargs)?);
            let line = match client.call(procedure).args(args).kwargs(kwargs).await {
                Ok(r) => json!({ "result": { "args": list(&r.args), "kwargs": dict(&r.kwargs) } }),
                Err(Error::Wamp(e)) => json!({ "error": {
                    "uri": e.error.as_str(), "args": list(&e.args), "kwargs": dict(&e.kwargs)
                } }),
                Err(e) => return Err(e.to_string()),
            };
            println!("{line}");
        }
        ("subscriber", [topic, count]) => {
            let count: usize = count.parse().map_err(|_| "COUNT must be a number")?;
            let mut events = client.subscribe(topic).await.map_err(s)?;
            let id = events.id().ok_or("the subscription ended")?;
            println!("{}", json!({ "subscribed": id.get() }));
            for _ in 0..count {
                let event = events
                    .next()
                    .await
                    .ok_or("the subscription ended")?
                    .map_err(|e| e.to_string())?;
                println!(
                    "{}",
                    json!({ "event": {
                        "publication": event.publication.get(),
                        "args": list(&event.args),
                        "kwargs": dict(&event.kwargs),
                    } })
                );
            }
        }
        ("publisher", [topic, args, kwargs, ack]) => {
            let (args, kwargs) = (parse_args(args)?, parse_kwargs(kwargs)?);
            let published = match ack.as_str() {
                "ack" => Some(
                    client
                        .publish(topic)
                        .args(args)
                        .kwargs(kwargs)
                        .acknowledged()
                        .await
                        .map_err(s)?
                        .get(),
                ),
                _ => {
                    client
                        .publish(topic)
                        .args(args)
                        .kwargs(kwargs)
                        .await
                        .map_err(s)?;
                    None
                }
            };
            println!("{}", json!({ "published": published }));
        }
        _ => return Err(format!("bad arguments for role {role}: {rest:?}")),
    }
    // GOODBYE; an unacknowledged publication is sent before it, in order.
    close(&client).await
}

async fn close(client: &Client) -> Result<(), String> {
    client.close().await.map_err(|e| e.to_string())
}

fn parse_args(text: &str) -> Result<Vec<Value>, String> {
    match serde_json::from_str::<Json>(text).map(|j| from_json(&j)) {
        Ok(Value::List(l)) => Ok(l),
        _ => Err(format!("ARGS must be a JSON list: {text}")),
    }
}

fn parse_kwargs(text: &str) -> Result<Dict, String> {
    match serde_json::from_str::<Json>(text).map(|j| from_json(&j)) {
        Ok(Value::Dict(d)) => Ok(d),
        _ => Err(format!("KWARGS must be a JSON object: {text}")),
    }
}

/// JSON to a WAMP value; `{"$bytes": "<hex>"}` is binary.
fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::UInt(u),
            (None, Some(i)) => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::List(a.iter().map(from_json).collect()),
        Json::Object(o) => match (o.len(), o.get("$bytes").and_then(Json::as_str)) {
            (1, Some(h)) => Value::Bytes(hex::decode(h).unwrap_or_default().into()),
            _ => Value::Dict(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
        },
    }
}

/// A WAMP value to JSON, binary as `{"$bytes": "<hex>"}` (non-finite floats become null).
fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Float(f) => json!(f),
        Value::String(s) => json!(s),
        Value::Bytes(b) => json!({ "$bytes": hex::encode(b) }),
        Value::List(l) => list(l),
        Value::Dict(d) => dict(d),
    }
}

fn list(l: &[Value]) -> Json {
    Json::Array(l.iter().map(to_json).collect())
}

fn dict(d: &Dict) -> Json {
    Json::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}
