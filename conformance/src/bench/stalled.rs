//! Stalled subscribers (`pubsub --stalled-subscribers`): sessions that subscribe and then never
//! read a byte, so that the router's queue for them fills while the others are served. Raw
//! transports, not clients: a client reads its socket whatever the application does.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nexus_tokio::nexus_core::message::{ClientRoles, Hello, Message, Role, Subscribe};
use nexus_tokio::nexus_core::{Limits, RequestId, Serializer, Uri};
use nexus_tokio::nexus_transports::{Incoming, Outgoing, Transport};

use super::cli::Target;
use super::error::BenchError;

/// How long the handshake, the join and the subscription may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A session subscribed to a topic whose transport is never polled again. Dropping it closes
/// the connection.
pub(super) struct StalledSubscriber {
    _transport: Transport,
}

impl StalledSubscriber {
    /// Connects, joins `target`'s realm and subscribes to `topic`.
    pub(super) async fn open(
        target: &Target,
        topic: &str,
    ) -> Result<StalledSubscriber, BenchError> {
        let failed = |what: String| BenchError::Stalled {
            url: target.url.clone(),
            what,
        };
        let rt = nexus_tokio::runtime();
        let limits = Limits::default();
        let mut transport = nexus_tokio::connect_transport(
            &*rt,
            &target.url,
            &[target.serializer],
            None,
            limits.max_message_size,
            SETUP_TIMEOUT,
        )
        .await
        .map_err(|e| failed(format!("cannot connect: {e}")))?;
        let realm = Uri::parse(target.realm.clone())
            .map_err(|e| failed(format!("realm {}: {e}", target.realm)))?;
        let roles = ClientRoles {
            subscriber: Some(Role::default()),
            ..Default::default()
        };
        let setup = async {
            let hello = Hello::new(realm, roles).into();
            match exchange(&mut transport, target.serializer, &limits, hello).await? {
                Message::Welcome(_) => {}
                other => return Err(format!("HELLO was answered with {other:?}")),
            }
            let topic = Uri::parse(topic).map_err(|e| format!("topic {topic}: {e}"))?;
            let subscribe = Subscribe::new(RequestId::MIN, topic).into();
            match exchange(&mut transport, target.serializer, &limits, subscribe).await? {
                Message::Subscribed(_) => Ok(()),
                other => Err(format!("SUBSCRIBE was answered with {other:?}")),
            }
        };
        match tokio::time::timeout(SETUP_TIMEOUT, setup).await {
            Ok(Ok(())) => Ok(StalledSubscriber {
                _transport: transport,
            }),
            Ok(Err(what)) => Err(failed(what)),
            Err(_) => Err(failed(format!("no answer within {SETUP_TIMEOUT:?}"))),
        }
    }
}

/// Sends `message` and returns the router's next message.
async fn exchange(
    transport: &mut Transport,
    serializer: Serializer,
    limits: &Limits,
    message: Message,
) -> Result<Message, String> {
    let bytes = serializer
        .encode(&message)
        .map_err(|e| format!("cannot encode: {e}"))?;
    transport
        .send(Outgoing::Message(bytes))
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
    loop {
        match transport.next().await {
            Some(Ok(Incoming::Message(frame))) => {
                return serializer
                    .decode(&frame, limits)
                    .map_err(|e| format!("an undecodable answer: {e}"));
            }
            Some(Ok(Incoming::Pong(_))) => continue,
            Some(Err(e)) => return Err(format!("transport error: {e}")),
            None => return Err("the router closed the connection".to_owned()),
        }
    }
}
