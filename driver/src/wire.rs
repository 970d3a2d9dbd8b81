//! What crosses a connection: messages encoded for the connection's serializer (and batched
//! framing), and the flow-control window between the router task and a connection's writer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use nexus_core::message::Message;
use nexus_core::{DecodeError, EncodeError, Limits, Serializer};

/// A message on its way to a peer: encoded already (a fan-out EVENT, encoded once per
/// serializer by the router task) or to be encoded by the connection's own task.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Message(Arc<Message>),
    Encoded(Bytes),
}

impl Out {
    /// The bytes to send for this message on a connection with `serializer`, and the
    /// message itself when the connection's task encoded it (a fan-out EVENT arrives encoded
    /// already: carrying its message too would cost every subscriber a shared reference
    /// count).
    pub fn into_frame(
        self,
        serializer: Serializer,
        batched: bool,
    ) -> Result<(Bytes, Option<Arc<Message>>), EncodeError> {
        let (encoded, message) = match self {
            Out::Encoded(b) => (b, None),
            Out::Message(m) => (serializer.encode(&m)?, Some(m)),
        };
        let frame = if batched {
            serializer.frame_for_batch(&encoded)
        } else {
            encoded
        };
        Ok((frame, message))
    }

    /// The message itself, for in-process links.
    pub fn into_message(
        self,
        serializer: Serializer,
        limits: &Limits,
    ) -> Result<Message, DecodeError> {
        match self {
            Out::Message(m) => Ok(Arc::try_unwrap(m).unwrap_or_else(|m| (*m).clone())),
            Out::Encoded(b) => serializer.decode(&b, limits),
        }
    }
}

/// Decodes one incoming frame (a message, or a batch on batched transports) for a client
/// session: every payload into values.
pub(crate) fn decode_frame(
    serializer: Serializer,
    batched: bool,
    frame: &[u8],
    limits: &Limits,
) -> Result<Vec<Message>, DecodeError> {
    if batched {
        serializer.decode_batch(frame, limits)
    } else {
        serializer.decode(frame, limits).map(|m| vec![m])
    }
}

/// Decodes one incoming frame for the router: payloads stay slices of the frame, forwarded
/// unread to peers of the same serializer.
pub(crate) fn decode_routed_frame(
    serializer: Serializer,
    batched: bool,
    frame: &Bytes,
    limits: &Limits,
) -> Result<Vec<Message>, DecodeError> {
    if batched {
        serializer.decode_batch_lazy(frame, limits)
    } else {
        serializer.decode_lazy(frame, limits).map(|m| vec![m])
    }
}

/// How many messages the router task hands a connection's writer before waiting for it to
/// catch up; the rest stay in the router's bounded queue, where its slow-peer policy applies.
pub(crate) const WINDOW: usize = 64;

/// The flow-control window of one connection, shared by the router task and the writer.
#[derive(Debug, Default)]
pub(crate) struct Window {
    in_flight: AtomicUsize,
    wants_more: AtomicBool,
}

impl Window {
    /// Router side: whether another message may be handed over now. When not, the writer
    /// is asked to say when it has room (see [`Window::written`]).
    pub fn try_take(&self) -> bool {
        if self.in_flight.load(Ordering::SeqCst) < WINDOW {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        self.wants_more.store(true, Ordering::SeqCst);
        // The writer may have made room between the load and the store.
        if self.in_flight.load(Ordering::SeqCst) < WINDOW {
            self.wants_more.store(false, Ordering::SeqCst);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Router side: a message handed over without asking (on close, everything queued goes).
    pub fn force_take(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// Writer side: one message was written. Returns true when the router task asked to be
    /// told (it has more queued for this connection).
    pub fn written(&self) -> bool {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.wants_more.swap(false, Ordering::SeqCst)
    }
}
