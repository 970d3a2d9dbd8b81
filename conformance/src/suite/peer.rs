//! A raw WAMP peer for scenarios: it sends exactly the messages (or bytes) a scenario asks
//! for, and reads what the router answers, with a timeout on every wait.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use nexus_tokio::nexus_core::message::{ClientRoles, Hello, Message, Role, WelcomeDetails};
use nexus_tokio::nexus_core::{
    features, Limits, RequestId, RequestIdCounter, Serializer, SessionId, Uri, Value,
};
use nexus_tokio::nexus_transports::{Incoming, Outgoing, Transport};

use super::Failure;

/// Where and how scenarios connect.
#[derive(Clone)]
pub struct Target {
    /// The router URL.
    pub url: String,
    /// The realm to join.
    pub realm: String,
    /// The serializer every peer uses.
    pub serializer: Serializer,
    /// TLS settings for wss:// and tcps:// (default: webpki roots).
    pub tls: Option<Arc<nexus_tokio::nexus_transports::tls::ClientConfig>>,
    /// How long any single wait may take.
    pub timeout: Duration,
    /// How long "the router sends nothing" is observed.
    pub quiet: Duration,
    /// A URI prefix under which the router denies the suite's sessions every action (call,
    /// register, publish, subscribe), for the `authorization` group; everything else the
    /// suite does must stay allowed. `None`: that group reports "not configured".
    pub authz_denied_prefix: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("realm", &self.realm)
            .field("serializer", &self.serializer)
            .field("authz_denied_prefix", &self.authz_denied_prefix)
            .finish_non_exhaustive()
    }
}

/// Every client role, with the features a scenario may rely on.
pub fn all_roles() -> ClientRoles {
    let callee = Role::with_features([
        features::CALL_CANCELING,
        features::PROGRESSIVE_CALL_RESULTS,
        features::CALLER_IDENTIFICATION,
        features::PATTERN_BASED_REGISTRATION,
        features::SHARED_REGISTRATION,
        features::CALL_TRUSTLEVELS,
        features::REGISTRATION_REVOCATION,
        features::CALL_TIMEOUT,
        features::PROGRESSIVE_CALL_INVOCATIONS,
        features::PAYLOAD_PASSTHRU_MODE,
    ]);
    let caller = Role::with_features([
        features::CALL_CANCELING,
        features::PROGRESSIVE_CALL_RESULTS,
        features::CALLER_IDENTIFICATION,
        features::CALL_TIMEOUT,
        features::PROGRESSIVE_CALL_INVOCATIONS,
        features::PAYLOAD_PASSTHRU_MODE,
    ]);
    let publisher = Role::with_features([
        features::PUBLISHER_EXCLUSION,
        features::PUBLISHER_IDENTIFICATION,
        features::SUBSCRIBER_BLACKWHITE_LISTING,
        features::PAYLOAD_PASSTHRU_MODE,
    ]);
    let subscriber = Role::with_features([
        features::PUBLISHER_IDENTIFICATION,
        features::PATTERN_BASED_SUBSCRIPTION,
        features::PUBLICATION_TRUSTLEVELS,
        features::SUBSCRIPTION_REVOCATION,
        features::PAYLOAD_PASSTHRU_MODE,
    ]);
    ClientRoles {
        subscriber: Some(subscriber),
        publisher: Some(publisher),
        caller: Some(caller),
        callee: Some(callee),
        ..Default::default()
    }
}

/// One raw connection to the router.
pub struct Peer {
    transport: Transport,
    serializer: Serializer,
    limits: Limits,
    timeout: Duration,
    quiet: Duration,
    ids: RequestIdCounter,
    /// The session ID, once joined.
    pub session: Option<SessionId>,
    /// The WELCOME details, once joined.
    pub welcome: Option<WelcomeDetails>,
}

impl Peer {
    /// Opens a transport to the target (no HELLO yet).
    pub async fn connect(target: &Target) -> Result<Peer, Failure> {
        let rt = nexus_tokio::runtime();
        let transport = nexus_tokio::connect_transport(
            &*rt,
            &target.url,
            &[target.serializer],
            target.tls.clone(),
            Limits::default().max_message_size,
            target.timeout,
        )
        .await
        .map_err(|e| Failure::setup(format!("cannot connect to {}: {e}", target.url)))?;
        Ok(Peer {
            transport,
            serializer: target.serializer,
            limits: Limits::default(),
            timeout: target.timeout,
            quiet: target.quiet,
            ids: RequestIdCounter::new(),
            session: None,
            welcome: None,
        })
    }

    /// Connects and joins the target's realm with every client role.
    pub async fn join(target: &Target) -> Result<Peer, Failure> {
        Peer::join_with(target, all_roles()).await
    }

    /// Connects and joins with the given roles.
    pub async fn join_with(target: &Target, roles: ClientRoles) -> Result<Peer, Failure> {
        let mut peer = Peer::connect(target).await?;
        let realm = Uri::parse(target.realm.clone())
            .map_err(|e| Failure::setup(format!("realm {}: {e}", target.realm)))?;
        peer.send(Hello::new(realm, roles)).await?;
        match peer.recv().await? {
            Message::Welcome(w) => {
                peer.session = Some(w.session);
                peer.welcome = Some(w.details);
                Ok(peer)
            }
            other => Err(Failure::new("WELCOME", describe(&other))),
        }
    }

    /// The next request ID of this peer (sequential from 1).
    pub fn next_id(&mut self) -> RequestId {
        self.ids.next_id()
    }

    /// Sends a message.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Failure> {
        let bytes = self
            .serializer
            .encode(&message.into())
            .map_err(|e| Failure::setup(format!("cannot encode: {e}")))?;
        self.send_bytes(bytes).await
    }

    /// Sends any value as a message (for malformed messages).
    pub async fn send_value(&mut self, value: Value) -> Result<(), Failure> {
        let bytes = self
            .serializer
            .encode_value(&value)
            .map_err(|e| Failure::setup(format!("cannot encode: {e}")))?;
        self.send_bytes(bytes).await
    }

    /// Sends raw bytes as one message.
    pub async fn send_bytes(&mut self, bytes: Bytes) -> Result<(), Failure> {
        match tokio::time::timeout(self.timeout, self.transport.send(Outgoing::Message(bytes)))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::new(
                "to send a message",
                format!("transport error: {e}"),
            )),
            Err(_) => Err(Failure::new("to send a message", "timed out")),
        }
    }

    /// The next message from the router.
    pub async fn recv(&mut self) -> Result<Message, Failure> {
        match self.next_within(self.timeout).await? {
            Some(m) => Ok(m),
            None => Err(Failure::new(
                "a message",
                format!("nothing within {:?}", self.timeout),
            )),
        }
    }

    /// Checks that the router sends nothing for a while (the "quiet" period).
    pub async fn expect_nothing(&mut self) -> Result<(), Failure> {
        match self.next_within(self.quiet).await? {
            None => Ok(()),
            Some(m) => Err(Failure::new("no message", describe(&m))),
        }
    }

    /// The next message within `wait`, `None` if nothing came.
    async fn next_within(&mut self, wait: Duration) -> Result<Option<Message>, Failure> {
        loop {
            match tokio::time::timeout(wait, self.transport.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => {
                    return Err(Failure::new(
                        "a message",
                        "the router closed the connection",
                    ))
                }
                Ok(Some(Err(e))) => {
                    return Err(Failure::new("a message", format!("transport error: {e}")))
                }
                Ok(Some(Ok(Incoming::Pong(_)))) => continue,
                Ok(Some(Ok(Incoming::Message(frame)))) => {
                    return self
                        .serializer
                        .decode(&frame, &self.limits)
                        .map(Some)
                        .map_err(|e| {
                            Failure::new("a valid WAMP message", format!("undecodable: {e}"))
                        });
                }
            }
        }
    }

    /// Checks that the router closes the connection (after ABORT, for example).
    pub async fn expect_closed(&mut self) -> Result<(), Failure> {
        loop {
            match tokio::time::timeout(self.timeout, self.transport.next()).await {
                Err(_) => {
                    return Err(Failure::new(
                        "the connection closed",
                        format!("still open after {:?}", self.timeout),
                    ))
                }
                Ok(None) | Ok(Some(Err(_))) => return Ok(()),
                Ok(Some(Ok(Incoming::Pong(_)))) => continue,
                Ok(Some(Ok(Incoming::Message(frame)))) => {
                    let got = match self.serializer.decode(&frame, &self.limits) {
                        Ok(m) => describe(&m),
                        Err(_) => "an undecodable message".into(),
                    };
                    return Err(Failure::new("the connection closed", got));
                }
            }
        }
    }

    /// Expects ABORT `wamp.error.protocol_violation`, then the connection closed.
    pub async fn expect_violation(&mut self) -> Result<(), Failure> {
        match self.recv().await {
            Ok(Message::Abort(a)) if a.reason == "wamp.error.protocol_violation" => {}
            Ok(other) => {
                return Err(Failure::new(
                    "ABORT wamp.error.protocol_violation",
                    describe(&other),
                ))
            }
            // Closing without ABORT is half right: say so.
            Err(f) if f.got.contains("closed") => {
                return Err(Failure::new(
                    "ABORT wamp.error.protocol_violation, then the connection closed",
                    "the connection closed without ABORT",
                ))
            }
            Err(f) => return Err(f),
        }
        self.expect_closed().await
    }

    /// Leaves with GOODBYE and waits for the reply.
    pub async fn leave(&mut self) -> Result<(), Failure> {
        self.send(nexus_tokio::nexus_core::message::Goodbye::new(
            "wamp.close.normal",
        ))
        .await?;
        loop {
            match self.recv().await? {
                Message::Goodbye(_) => return Ok(()),
                // Events or invocations may still be on their way.
                Message::Event(_) | Message::Invocation(_) | Message::Interrupt(_) => continue,
                other => return Err(Failure::new("GOODBYE", describe(&other))),
            }
        }
    }

    /// Closes the transport abruptly.
    pub async fn drop_connection(mut self) {
        let _ = self.transport.close().await;
    }
}

/// A short description of a message for reports: its name and its main fields.
pub fn describe(m: &Message) -> String {
    match m {
        Message::Abort(a) => format!(
            "ABORT {}{}",
            a.reason,
            a.details
                .message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        Message::Goodbye(g) => format!("GOODBYE {}", g.reason),
        Message::Error(e) => format!(
            "ERROR {} for {} {}",
            e.error,
            e.request_type.code(),
            e.request
        ),
        Message::Welcome(w) => format!("WELCOME session {}", w.session),
        Message::Event(e) => format!(
            "EVENT subscription {} publication {}",
            e.subscription, e.publication
        ),
        Message::Invocation(i) => {
            format!("INVOCATION {} registration {}", i.request, i.registration)
        }
        Message::Result(r) => format!("RESULT {}", r.request),
        other => format!(
            "{} {}",
            other.name(),
            other
                .request_id()
                .map(|i| i.to_string())
                .unwrap_or_default()
        )
        .trim()
        .to_owned(),
    }
}
