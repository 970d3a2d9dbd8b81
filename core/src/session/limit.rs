//! The router's frame limit: which outgoing messages are too large to send (WAMP spec,
//! *RawSocket* maximum message length, WebSocket limits, and `wamp.error.payload_size_exceeded`
//! in the basic profile's URIs).
//!
//! The transport negotiates the largest message the router accepts (RawSocket's length
//! exponent, the WebSocket limit the application configured); a message over it is not sent
//! (the router would have to drop the connection). The [`Session`](super::Session) checks the
//! messages that carry an application payload (CALL, PUBLISH, YIELD) before queueing them and
//! decides what happens instead (a local error, or ERROR `wamp.error.payload_size_exceeded`
//! to the router for an invocation's answer).

use crate::message::Message;
use crate::{Payload, Serializer, Value};

/// Room for everything in a message but its payload (type, IDs, URI, options), used by the
/// cheap bound below: a payload this far under the limit needs no exact encoding.
const ENVELOPE: usize = 1024;

/// How messages reach the router, for [`Session::set_send_limit`](super::Session::set_send_limit):
/// the serializer, whether frames are batched (WebSocket batched framing adds a few bytes per
/// message), and the largest frame the router accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimit {
    /// The connection's serializer.
    pub serializer: Serializer,
    /// Whether the connection uses batched framing.
    pub batched: bool,
    /// The largest frame the router accepts, in bytes.
    pub max_size: usize,
}

impl SendLimit {
    /// The size of `message` as it would go on the wire, when that is over the limit.
    /// Payloads far below the limit skip the exact encoding. A message that cannot be
    /// encoded is not judged here: sending it fails in the transport.
    pub(crate) fn exceeded_by(&self, message: &Message) -> Option<usize> {
        let payload = payload_of(message)?;
        if payload_upper_bound(payload) + ENVELOPE < self.max_size {
            return None;
        }
        let encoded = self.serializer.encode(message).ok()?;
        let size = if self.batched {
            self.serializer.frame_for_batch(&encoded).len()
        } else {
            encoded.len()
        };
        (size > self.max_size).then_some(size)
    }
}

/// The payload of the messages the session checks.
fn payload_of(message: &Message) -> Option<&Payload> {
    match message {
        Message::Call(m) => Some(&m.payload),
        Message::Publish(m) => Some(&m.payload),
        Message::Yield(m) => Some(&m.payload),
        _ => None,
    }
}

/// An upper bound of a payload's encoded size in any serializer (escaped JSON strings and
/// base64 binary included), cheap to compute.
fn payload_upper_bound(payload: &Payload) -> usize {
    fn value(v: &Value) -> usize {
        match v {
            Value::String(s) => 6 * s.len() + 8,
            Value::Bytes(b) => 2 * b.len() + 8,
            Value::List(l) => l.iter().map(value).sum::<usize>() + 8,
            Value::Dict(d) => {
                d.iter()
                    .map(|(k, v)| 6 * k.len() + 8 + value(v))
                    .sum::<usize>()
                    + 8
            }
            _ => 32,
        }
    }
    match payload {
        Payload::Args { args, kwargs } => {
            args.iter().map(value).sum::<usize>()
                + kwargs
                    .iter()
                    .map(|(k, v)| 6 * k.len() + 8 + value(v))
                    .sum::<usize>()
                + 16
        }
        Payload::Transparent(b) => 2 * b.len() + 8,
        // Escapes and base64 grow an encoding at most six-fold.
        Payload::Encoded(p) => 6 * p.footprint() + 16,
    }
}
