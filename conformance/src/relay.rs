//! `wamp-relay`: the floor a router is measured against. It speaks just enough WAMP for
//! `wamp-bench`'s sessions (HELLO to GOODBYE, REGISTER, CALL, YIELD, SUBSCRIBE, PUBLISH and
//! their answers), over the same transports (WebSocket and RawSocket, from
//! `nexus-transports`), with the same hops (caller → relay → callee and back, publisher →
//! relay → each subscriber), but forwards payloads without decoding them: each frame's
//! elements are found with [`Serializer::skim`] and the payload's bytes are copied into the
//! outgoing message as they came. No router that reads messages can be faster on the same
//! machine, which makes the relay's figures the ones to compare a router's with.
//!
//! What it leaves out, because the benchmark does not use it: authentication (every HELLO
//! is welcomed), pattern-based subscriptions and registrations, options (progressive
//! results, call timeouts, exclusion lists), meta events. A message it does not know gets
//! no answer. It is a measuring instrument, not a router.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use nexus_core::{Dict, Limits, Serializer, Value};
use nexus_transports::{Endpoint, Incoming, Outgoing, ServerConfig, Transport};
use tokio::sync::mpsc;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A listen URL is not a WebSocket or RawSocket-over-TCP URL.
    #[error("cannot listen on `{url}`: {problem}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Binding the socket failed.
    #[error("cannot listen on `{url}`: {source}")]
    Bind {
        /// The URL given.
        url: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Where a relay listens, and what it accepts.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The largest message accepted and sent (16 MiB by default, as nexusd).
    pub max_message_size: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            max_message_size: 16 * 1024 * 1024,
        }
    }
}

/// Binds `url` (`ws://HOST:PORT/PATH` or `tcp://HOST:PORT`; port 0 picks a free one) and
/// serves relay connections on it from a spawned task; returns the URL with the port bound.
///
/// ```no_run
/// # async fn run() -> Result<(), nexus_conformance::relay::RelayError> {
/// let relay = nexus_conformance::relay::Relay::new(Default::default());
/// let url = relay.listen("tcp://127.0.0.1:0").await?;
/// println!("listening on {url}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Relay {
    shared: Arc<Shared>,
}

impl Relay {
    /// A relay with nothing bound yet.
    pub fn new(config: RelayConfig) -> Relay {
        Relay {
            shared: Arc::new(Shared {
                config,
                ids: AtomicU64::new(1),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// See [`Relay`].
    pub async fn listen(&self, url: &str) -> Result<String, RelayError> {
        let bad = |problem: &str| RelayError::Url {
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        // The path a WebSocket URL shows (none for RawSocket).
        let (host, port, path) = match Endpoint::parse(url).map_err(|e| bad(&e.to_string()))? {
            Endpoint::WebSocket {
                tls: false,
                host,
                port,
                path,
            } => (host, port, Some(path)),
            Endpoint::RawSocket {
                tls: false,
                host,
                port,
            } => (host, port, None),
            _ => return Err(bad("the relay serves ws:// and tcp:// only")),
        };
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .map_err(|source| RelayError::Bind {
                url: url.to_owned(),
                source,
            })?;
        let bound = listener
            .local_addr()
            .map_err(|source| RelayError::Bind {
                url: url.to_owned(),
                source,
            })?
            .port();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let config = ServerConfig {
                        max_message_size: shared.config.max_message_size,
                        allow_batched: false,
                        ..ServerConfig::default()
                    };
                    if let Ok(transport) = nexus_transports::accept(stream.compat(), &config).await
                    {
                        serve(shared, transport).await;
                    }
                });
            }
        });
        Ok(match path {
            Some(path) => format!("ws://{host}:{bound}{path}"),
            None => format!("tcp://{host}:{bound}"),
        })
    }
}

struct Shared {
    config: RelayConfig,
    ids: AtomicU64,
    state: Mutex<State>,
}

impl Shared {
    fn id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// Where frames for one connection go.
#[derive(Clone)]
struct Peer {
    conn: u64,
    serializer: Serializer,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    /// Procedure → (registration ID, callee).
    registrations: HashMap<String, (u64, Peer)>,
    /// Topic → (subscription ID, subscribers).
    subscriptions: HashMap<String, (u64, Vec<Peer>)>,
    /// Invocation ID → (caller, the caller's request ID as its serializer encoded it).
    invocations: HashMap<u64, (Peer, Vec<u8>)>,
}

const HELLO: u64 = 1;
const GOODBYE: u64 = 6;
const ERROR: u64 = 8;
const PUBLISH: u64 = 16;
const SUBSCRIBE: u64 = 32;
const UNSUBSCRIBE: u64 = 34;
const CALL: u64 = 48;
const REGISTER: u64 = 64;
const UNREGISTER: u64 = 66;
const YIELD: u64 = 70;

async fn serve(shared: Arc<Shared>, mut transport: Transport) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let me = Peer {
        conn: shared.id(),
        serializer: transport.serializer(),
        tx,
    };
    let limits = Limits {
        max_message_size: shared.config.max_message_size,
        ..Limits::default()
    };
    // One task reads and writes, as nexusd's connections do: a `Transport` split between
    // two tasks would have both wait on the socket's write readiness, and the reader's
    // wait would replace the writer's.
    loop {
        tokio::select! {
            incoming = transport.next() => {
                let Some(Ok(incoming)) = incoming else { break };
                let Incoming::Message(frame) = incoming else { continue };
                if !handle(&shared, &me, &frame, &limits).unwrap_or(false) {
                    break;
                }
            }
            // Everything queued while the last write was under way goes out in one flush.
            Some(frame) = rx.recv() => {
                if transport.feed(Outgoing::Message(frame)).await.is_err() {
                    break;
                }
                while let Ok(frame) = rx.try_recv() {
                    if transport.feed(Outgoing::Message(frame)).await.is_err() {
                        break;
                    }
                }
                if transport.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    forget(&shared, me.conn);
    // What was queued for this connection (a GOODBYE answer) still goes out.
    while let Ok(frame) = rx.try_recv() {
        let _ = transport.feed(Outgoing::Message(frame)).await;
    }
    let _ = transport.close().await;
}

/// Handles one frame; `Ok(false)` when the session is over.
fn handle(shared: &Shared, me: &Peer, frame: &Bytes, limits: &Limits) -> Result<bool, ()> {
    let s = me.serializer;
    let spans = s.skim(frame, limits).map_err(drop)?;
    let el = |i: usize| spans.get(i).map(|r| &frame[r.clone()]);
    let code = el(0).and_then(|b| small_uint(s, b)).ok_or(())?;
    let send = |peer: &Peer, bytes: Vec<u8>| {
        let _ = peer.tx.send(Bytes::from(bytes));
    };
    match code {
        HELLO => {
            let roles = Dict::from_iter([
                ("broker".to_owned(), Value::Dict(Dict::new())),
                ("dealer".to_owned(), Value::Dict(Dict::new())),
            ]);
            let details = Dict::from_iter([
                ("roles".to_owned(), Value::Dict(roles)),
                ("authid".to_owned(), Value::from("relay")),
                ("authrole".to_owned(), Value::from("anonymous")),
                ("authmethod".to_owned(), Value::from("anonymous")),
            ]);
            let welcome = [
                Value::UInt(2),
                Value::UInt(shared.id()),
                Value::Dict(details),
            ];
            send(me, encode(s, &welcome));
        }
        GOODBYE => {
            let reply = [
                Value::UInt(GOODBYE),
                Value::Dict(Dict::new()),
                Value::from("wamp.close.goodbye_and_out"),
            ];
            send(me, encode(s, &reply));
            return Ok(false);
        }
        REGISTER | SUBSCRIBE => {
            let request = el(1).ok_or(())?;
            let uri = text(s, el(3).ok_or(())?, limits).ok_or(())?;
            let mut state = shared.state.lock().map_err(drop)?;
            let id = if code == REGISTER {
                if state.registrations.contains_key(&*uri) {
                    let error = "wamp.error.procedure_already_exists";
                    send(me, error_reply(s, REGISTER, request, error));
                    return Ok(true);
                }
                let id = shared.id();
                state
                    .registrations
                    .insert(uri.into_owned(), (id, me.clone()));
                id
            } else {
                let entry = state
                    .subscriptions
                    .entry(uri.into_owned())
                    .or_insert_with(|| (shared.id(), Vec::new()));
                entry.1.push(me.clone());
                entry.0
            };
            let answer = s.join(&[&encode_one(s, code + 1), request, &encode_one(s, id)]);
            send(me, answer);
        }
        UNREGISTER | UNSUBSCRIBE => {
            let request = el(1).ok_or(())?;
            let id = el(2).and_then(|b| small_uint(s, b)).ok_or(())?;
            let mut state = shared.state.lock().map_err(drop)?;
            if code == UNREGISTER {
                state
                    .registrations
                    .retain(|_, (r, p)| !(*r == id && p.conn == me.conn));
            } else {
                for (sub, peers) in state.subscriptions.values_mut() {
                    if *sub == id {
                        peers.retain(|p| p.conn != me.conn);
                    }
                }
            }
            send(me, s.join(&[&encode_one(s, code + 1), request]));
        }
        CALL => {
            let request = el(1).ok_or(())?;
            let procedure = text(s, el(3).ok_or(())?, limits).ok_or(())?;
            let target = {
                let mut state = shared.state.lock().map_err(drop)?;
                match state.registrations.get(&*procedure) {
                    Some((registration, callee)) => {
                        let (registration, callee) = (*registration, callee.clone());
                        let invocation = shared.id();
                        state
                            .invocations
                            .insert(invocation, (me.clone(), request.to_vec()));
                        Some((invocation, registration, callee))
                    }
                    None => None,
                }
            };
            let Some((invocation, registration, callee)) = target else {
                send(
                    me,
                    error_reply(s, CALL, request, "wamp.error.no_such_procedure"),
                );
                return Ok(true);
            };
            let c = callee.serializer;
            let head = [
                encode_one(c, 68),
                encode_one(c, invocation),
                encode_one(c, registration),
                Bytes::from_static(empty_dict(c)),
            ];
            let payload = convert(s, c, &spans[4.min(spans.len())..], frame, limits)?;
            send(&callee, assemble(c, &head, &payload));
        }
        YIELD | ERROR => {
            // ERROR: [8, 68, request, details, error, args?, kwargs?]; YIELD: [70, request,
            // options, args?, kwargs?].
            let (at, from) = if code == YIELD { (1, 3) } else { (2, 3) };
            if code == ERROR && el(1).and_then(|b| small_uint(s, b)) != Some(68) {
                return Ok(true);
            }
            let invocation = el(at).and_then(|b| small_uint(s, b)).ok_or(())?;
            let Some((caller, request)) = shared
                .state
                .lock()
                .map_err(drop)?
                .invocations
                .remove(&invocation)
            else {
                return Ok(true);
            };
            let c = caller.serializer;
            // An ERROR's details and URI come before its payload, so they travel with it.
            let request = Bytes::from(request);
            let head = if code == YIELD {
                [
                    encode_one(c, 50),
                    request,
                    Bytes::from_static(empty_dict(c)),
                ]
            } else {
                [encode_one(c, ERROR), encode_one(c, CALL), request]
            };
            let payload = convert(s, c, &spans[from.min(spans.len())..], frame, limits)?;
            send(&caller, assemble(c, &head, &payload));
        }
        PUBLISH => {
            let request = el(1).ok_or(())?;
            let options = el(2).ok_or(())?;
            let topic = text(s, el(3).ok_or(())?, limits).ok_or(())?;
            let publication = shared.id();
            {
                let state = shared.state.lock().map_err(drop)?;
                if let Some((subscription, peers)) = state.subscriptions.get(&*topic) {
                    // One encoding per serializer, shared by every subscriber that uses it.
                    let mut encoded: Vec<(Serializer, Bytes)> = Vec::with_capacity(1);
                    for peer in peers.iter().filter(|p| p.conn != me.conn) {
                        let bytes = match encoded.iter().find(|(k, _)| *k == peer.serializer) {
                            Some((_, b)) => b.clone(),
                            None => {
                                let c = peer.serializer;
                                let head = [
                                    encode_one(c, 36),
                                    encode_one(c, *subscription),
                                    encode_one(c, publication),
                                    Bytes::from_static(empty_dict(c)),
                                ];
                                let tail = &spans[4.min(spans.len())..];
                                let payload = convert(s, c, tail, frame, limits)?;
                                let b = Bytes::from(assemble(c, &head, &payload));
                                encoded.push((c, b.clone()));
                                b
                            }
                        };
                        let _ = peer.tx.send(bytes);
                    }
                }
            }
            if acknowledge(s, options, limits) {
                send(
                    me,
                    s.join(&[&encode_one(s, 17), request, &encode_one(s, publication)]),
                );
            }
        }
        _ => {}
    }
    Ok(true)
}

/// Drops what a closed connection held.
fn forget(shared: &Shared, conn: u64) {
    let Ok(mut state) = shared.state.lock() else {
        return;
    };
    state.registrations.retain(|_, (_, p)| p.conn != conn);
    for (_, peers) in state.subscriptions.values_mut() {
        peers.retain(|p| p.conn != conn);
    }
    state.invocations.retain(|_, (p, _)| p.conn != conn);
}

fn encode(s: Serializer, list: &[Value]) -> Vec<u8> {
    s.encode_value(&Value::List(list.to_vec()))
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

fn encode_one(s: Serializer, n: u64) -> Bytes {
    s.encode_value(&Value::UInt(n)).unwrap_or_default()
}

fn empty_dict(s: Serializer) -> &'static [u8] {
    match s {
        Serializer::Json => b"{}",
        Serializer::MsgPack => b"\x80",
        Serializer::Cbor => b"\xa0",
    }
}

/// ERROR `[8, request_type, request, {}, error]`, with the request ID as it came.
fn error_reply(s: Serializer, request_type: u64, request: &[u8], error: &str) -> Vec<u8> {
    let uri = s.encode_value(&Value::from(error)).unwrap_or_default();
    let head = [encode_one(s, ERROR), encode_one(s, request_type)];
    s.join(&[&head[0], &head[1], request, empty_dict(s), &uri])
}

fn assemble(s: Serializer, head: &[Bytes], tail: &[Cow<'_, [u8]>]) -> Vec<u8> {
    let parts: Vec<&[u8]> = head
        .iter()
        .map(|b| &b[..])
        .chain(tail.iter().map(|t| &t[..]))
        .collect();
    s.join(&parts)
}

/// The payload elements for a peer using `to`: the bytes as they came when it uses the same
/// serializer, converted otherwise.
fn convert<'a>(
    from: Serializer,
    to: Serializer,
    spans: &[std::ops::Range<usize>],
    frame: &'a [u8],
    limits: &Limits,
) -> Result<Vec<Cow<'a, [u8]>>, ()> {
    spans
        .iter()
        .map(|r| {
            let bytes = &frame[r.clone()];
            if from == to {
                Ok(Cow::Borrowed(bytes))
            } else {
                let value = from.decode_value(bytes, limits).map_err(drop)?;
                let converted = to.encode_value(&value).map_err(drop)?;
                Ok(Cow::Owned(converted.to_vec()))
            }
        })
        .collect()
}

/// A small unsigned integer element, read without the decoder.
fn small_uint(s: Serializer, b: &[u8]) -> Option<u64> {
    let be = |b: &[u8]| b.iter().fold(0u64, |n, x| n << 8 | u64::from(*x));
    match s {
        Serializer::MsgPack => match b.first()? {
            0x00..=0x7f if b.len() == 1 => Some(u64::from(b[0])),
            0xcc..=0xcf => Some(be(&b[1..])),
            _ => None,
        },
        Serializer::Cbor => match b.first()? {
            0x00..=0x17 if b.len() == 1 => Some(u64::from(b[0])),
            0x18..=0x1b => Some(be(&b[1..])),
            _ => None,
        },
        Serializer::Json => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}

/// A string element: short ones without escapes are borrowed as they are.
fn text<'a>(s: Serializer, b: &'a [u8], limits: &Limits) -> Option<Cow<'a, str>> {
    let direct = match (s, b.first()) {
        (Serializer::MsgPack, Some(0xa0..=0xbf)) => b.get(1..),
        (Serializer::MsgPack, Some(0xd9)) => b.get(2..),
        (Serializer::Cbor, Some(0x60..=0x77)) => b.get(1..),
        (Serializer::Cbor, Some(0x78)) => b.get(2..),
        (Serializer::Json, Some(b'"')) if !b.contains(&b'\\') => b.get(1..b.len() - 1),
        _ => None,
    };
    // `skim` checked the element, UTF-8 included.
    if let Some(t) = direct.and_then(|t| std::str::from_utf8(t).ok()) {
        return Some(Cow::Borrowed(t));
    }
    match s.decode_value(b, limits).ok()? {
        Value::String(t) => Some(Cow::Owned(t)),
        _ => None,
    }
}

/// Whether PUBLISH options ask for an acknowledgement.
fn acknowledge(s: Serializer, options: &[u8], limits: &Limits) -> bool {
    if options == empty_dict(s) {
        return false;
    }
    match s.decode_value(options, limits) {
        Ok(Value::Dict(d)) => matches!(d.get("acknowledge"), Some(Value::Bool(true))),
        _ => false,
    }
}
