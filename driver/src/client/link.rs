//! The connection under a client: a negotiated transport (WAMP spec, *Transports*: WebSocket,
//! batched WebSocket and RawSocket framing, the router's size limit, keep-alive pings) or an
//! in-process link to a router task.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use nexus_core::message::Message;
use nexus_core::session::SendLimit;
use nexus_core::{DecodeError, Limits};
use nexus_transports::{Incoming, Outgoing, Transport};

use crate::error::Error;
use crate::host::LocalLink;
use crate::wire::decode_frame;

/// The connection under a client.
pub(crate) enum Link {
    Wire {
        transport: Transport,
        limits: Limits,
    },
    Local(LocalLink),
}

/// Why a message was not sent.
pub(super) enum Unsent {
    /// It is larger than the router accepts; the link is fine. (The session checks the
    /// messages that carry payloads before it queues them; this catches the others.)
    TooLarge {
        /// The message's name.
        message: &'static str,
        size: usize,
        limit: usize,
    },
    /// The link failed.
    Failed(Error),
}

pub(super) enum Received {
    Messages(Vec<Message>),
    /// A frame that does not decode: a protocol violation for the session to report.
    Undecodable(DecodeError),
    Nothing,
    End(Option<Error>),
}

impl Link {
    /// What the session needs to know of the router's size limit (none in-process).
    pub(super) fn send_limit(&self) -> Option<SendLimit> {
        match self {
            Link::Wire { transport, .. } => Some(SendLimit {
                serializer: transport.serializer(),
                batched: transport.is_batched(),
                max_size: transport.send_limit(),
            }),
            Link::Local(_) => None,
        }
    }

    pub(super) async fn send(&mut self, message: Message) -> Result<(), Error> {
        match self.send_checked(message).await {
            Ok(()) => Ok(()),
            Err(Unsent::TooLarge { size, limit, .. }) => Err(Error::Transport(
                nexus_transports::TransportError::TooLarge { size, limit },
            )),
            Err(Unsent::Failed(e)) => Err(e),
        }
    }

    /// Sends a message; one larger than the router accepts comes back unsent instead of
    /// failing the link.
    pub(super) async fn send_checked(&mut self, message: Message) -> Result<(), Unsent> {
        match self {
            Link::Wire { transport, .. } => {
                let serializer = transport.serializer();
                let mut bytes = serializer
                    .encode(&message)
                    .map_err(|e| Unsent::Failed(Error::Encode(e)))?;
                if transport.is_batched() {
                    bytes = serializer.frame_for_batch(&bytes);
                }
                let limit = transport.send_limit();
                if bytes.len() > limit {
                    return Err(Unsent::TooLarge {
                        message: message.name(),
                        size: bytes.len(),
                        limit,
                    });
                }
                transport
                    .send(Outgoing::Message(bytes))
                    .await
                    .map_err(|e| Unsent::Failed(e.into()))
            }
            Link::Local(local) => local.send(message).await.map_err(Unsent::Failed),
        }
    }

    pub(super) async fn ping(&mut self) -> Result<(), Error> {
        if let Link::Wire { transport, .. } = self {
            transport
                .send(Outgoing::Ping(Bytes::from_static(b"nexus")))
                .await?;
        }
        Ok(())
    }

    /// Waits for the next input; cancel-safe (the state lives in the link).
    pub(super) fn recv(&mut self) -> BoxFuture<'_, Received> {
        match self {
            Link::Wire { transport, limits } => Box::pin(async move {
                match transport.next().await {
                    None => Received::End(None),
                    Some(Err(e)) => Received::End(Some(e.into())),
                    Some(Ok(Incoming::Pong(_))) => Received::Nothing,
                    Some(Ok(Incoming::Message(frame))) => {
                        match decode_frame(
                            transport.serializer(),
                            transport.is_batched(),
                            &frame,
                            limits,
                        ) {
                            Ok(messages) => Received::Messages(messages),
                            Err(e) => Received::Undecodable(e),
                        }
                    }
                }
            }),
            Link::Local(local) => Box::pin(async move {
                match local.next().await {
                    None => Received::End(None),
                    Some(out) => match local.received(out).await {
                        Ok(m) => Received::Messages(vec![m]),
                        Err(e) => Received::End(Some(e)),
                    },
                }
            }),
        }
    }

    pub(super) async fn close(&mut self) {
        match self {
            Link::Wire { transport, .. } => {
                let _ = transport.close().await;
            }
            Link::Local(local) => local.close().await,
        }
    }
}
