//! The async client: connect by URL (or in-process to a router), then call, register,
//! publish and subscribe. One task per client owns the sans-IO
//! [`Session`](nexus_core::session::Session) and the transport; the API talks to it through
//! a channel.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{self, BoxFuture, Either};
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use nexus_core::auth::client::{Credentials, HELLO_RANDOM_LEN};
use nexus_core::auth::cryptosign::SigningKey;
use nexus_core::auth::Secret;
use nexus_core::message::{
    AuthenticateExtra, Call, CallOptions, CancelMode, Challenge, ErrorDetails, EventDetails,
    InvocationDetails, Message, Publish, PublishOptions, RegisterOptions, ResultDetails,
    SubscribeOptions, WelcomeDetails, YieldOptions,
};
use nexus_core::session::{Session, SessionConfig, SessionEvent, UsageError};
use nexus_core::{Dict, Id, Limits, Payload, Serializer, Uri, Value};
use nexus_transports::{Endpoint, Incoming, Outgoing, Transport};

use nexus_core::auth::AuthError;

use crate::cookie::CookieJar;
use crate::error::{Error, WampError};
use crate::host::{LocalLink, RouterHandle};
use crate::rpc::{
    CallReply, CallSender, InvocationShared, InvocationStream, Progress, ProgressiveCall,
    Revocations, Revoked,
};
use crate::runtime::{self, Runtime};
use crate::wire::decode_frame;

/// Answers a CHALLENGE during the join: returns the AUTHENTICATE signature and extra.
pub type ChallengeHandler = Arc<
    dyn Fn(Challenge) -> BoxFuture<'static, Result<(String, AuthenticateExtra), Error>>
        + Send
        + Sync,
>;

/// How a client connects and joins.
#[derive(Clone)]
pub struct ClientConfig {
    /// The realm to join.
    pub realm: String,
    /// Serializers to offer, in preference order (RawSocket uses the first).
    pub serializers: Vec<Serializer>,
    /// How long connecting, the transport handshake and joining may take together.
    pub connect_timeout: Duration,
    /// Decoding limits (the message size is also the transport's maximum).
    pub limits: Limits,
    /// TLS settings for `wss://` and `tcps://` (default: the webpki root certificates).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The authid to announce.
    pub authid: Option<String>,
    /// The credentials the client authenticates with itself (see [`ClientConfig::ticket`],
    /// [`ClientConfig::wampcra`], [`ClientConfig::cryptosign`], [`ClientConfig::scram`]):
    /// their methods are offered first, the client answers their CHALLENGEs and checks the
    /// router's proof in WELCOME (SCRAM server signature, cryptosign router key).
    pub credentials: Credentials,
    /// Further authentication methods to offer, answered by [`on_challenge`](Self::on_challenge).
    pub authmethods: Vec<String>,
    /// Method-specific HELLO data (added to what the credentials send).
    pub authextra: Dict,
    /// Answers CHALLENGEs for methods the credentials do not handle.
    pub on_challenge: Option<ChallengeHandler>,
    /// Sends a ping after this much silence and gives up after twice as much.
    pub keepalive: Option<Duration>,
    /// Events buffered per subscription before new ones are dropped (a slow consumer
    /// must not stall the client).
    pub event_buffer: usize,
    /// Where WebSocket cookies come from and go to (see [`ClientConfig::cookie_jar`]).
    pub cookie_jar: Option<CookieJar>,
    /// Offers `tls` (TLS client certificate authentication) first, before the credentials'
    /// methods (see [`ClientConfig::client_certificate`]).
    pub offer_tls: bool,
}

impl ClientConfig {
    /// Defaults for `realm`: CBOR, MessagePack then JSON; 10 s to connect; 30 s keep-alive.
    pub fn new(realm: impl Into<String>) -> Self {
        ClientConfig {
            realm: realm.into(),
            serializers: Serializer::ALL.to_vec(),
            connect_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            tls: None,
            authid: None,
            credentials: Credentials::new(),
            authmethods: Vec::new(),
            authextra: Dict::new(),
            on_challenge: None,
            keepalive: Some(Duration::from_secs(30)),
            event_buffer: 4096,
            cookie_jar: None,
            offer_tls: false,
        }
    }

    /// Offers only `serializer`.
    pub fn serializer(mut self, serializer: Serializer) -> Self {
        self.serializers = vec![serializer];
        self
    }

    /// Uses these TLS settings.
    pub fn tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the authid to authenticate as (required by ticket, WAMP-CRA and SCRAM; optional
    /// for cryptosign, where the router may find it from the public key).
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").ticket("s3cr3t");
    /// assert_eq!(config.authid.as_deref(), Some("joe"));
    /// assert_eq!(config.credentials.authmethods(), ["ticket"]);
    /// ```
    pub fn authid(mut self, authid: impl Into<String>) -> Self {
        self.authid = Some(authid.into());
        self
    }

    /// Offers ticket authentication: the ticket is sent as is, so use it over TLS only.
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").ticket("s3cr3t");
    /// // Secrets never show in Debug output.
    /// assert!(!format!("{config:?}").contains("s3cr3t"));
    /// ```
    pub fn ticket(mut self, ticket: impl Into<Secret>) -> Self {
        self.credentials = self.credentials.ticket(ticket);
        self
    }

    /// Offers WAMP-CRA with `secret`; the router's CHALLENGE says whether the key is the
    /// secret itself or derived from it with PBKDF2 (salted WAMP-CRA).
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").wampcra("secret1");
    /// assert_eq!(config.credentials.authmethods(), ["wampcra"]);
    /// ```
    pub fn wampcra(mut self, secret: impl Into<Secret>) -> Self {
        self.credentials = self.credentials.wampcra(secret);
        self
    }

    /// Offers cryptosign with an Ed25519 key (announced in `authextra.pubkey`). For router
    /// authentication or channel binding, build the [`Credentials`] with
    /// [`Credentials::cryptosign_with`] and use [`ClientConfig::credentials`].
    ///
    /// ```
    /// use nexus_driver::nexus_core::auth::cryptosign::SigningKey;
    ///
    /// let key = SigningKey::from_hex("4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510").unwrap();
    /// let config = nexus_driver::ClientConfig::new("realm1").cryptosign(key);
    /// assert_eq!(config.credentials.authmethods(), ["cryptosign"]);
    /// ```
    pub fn cryptosign(mut self, key: SigningKey) -> Self {
        self.credentials = self.credentials.cryptosign(key);
        self
    }

    /// Offers SCRAM with `password`, in both dialects: `scram` (Autobahn and Crossbar) and
    /// `wamp-scram` (the specification), in that order (Crossbar refuses a HELLO whose
    /// methods it does not know unless it meets one it has configured first); the client follows the router's choice, refuses
    /// key derivation costs outside the default
    /// [`CostPolicy`](nexus_core::auth::scram::CostPolicy), and checks the router's server
    /// signature in WELCOME.
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").scram("pencil");
    /// assert_eq!(config.credentials.authmethods(), ["scram", "wamp-scram"]);
    /// ```
    pub fn scram(mut self, password: impl Into<Secret>) -> Self {
        self.credentials = self.credentials.scram(password);
        self
    }

    /// Offers `anonymous` too (usually last, as a fallback).
    ///
    /// ```
    /// let config = nexus_driver::ClientConfig::new("realm1").authid("joe").ticket("t").anonymous();
    /// assert_eq!(config.credentials.authmethods(), ["ticket", "anonymous"]);
    /// ```
    pub fn anonymous(mut self) -> Self {
        self.credentials = self.credentials.anonymous();
        self
    }

    /// Keeps WebSocket cookies in `jar`: the client stores the cookies the router sets in
    /// the handshake response and sends the jar's cookies for the router's host in the
    /// handshake request. When it sends one, it offers `cookie` first in `authmethods`
    /// (and `anonymous` after it, if nothing else is offered), so a router that bound the
    /// cookie to an earlier authenticated session welcomes it without a CHALLENGE (as
    /// that session's authid and authrole); otherwise the router goes on with the next
    /// method. RawSocket and in-process connections ignore the jar.
    ///
    /// ```no_run
    /// # async fn example(runtime: std::sync::Arc<dyn nexus_driver::Runtime>) -> Result<(), nexus_driver::Error> {
    /// use nexus_driver::{Client, ClientConfig, CookieJar};
    ///
    /// let jar = CookieJar::new();
    /// // The first session authenticates by ticket; the router sets a cookie and binds it.
    /// let config = ClientConfig::new("realm1").authid("joe").ticket("s3cr3t");
    /// let first = Client::connect(runtime.clone(), "ws://127.0.0.1:8080/ws", config.cookie_jar(jar.clone())).await?;
    /// first.close().await?;
    /// // The next one needs nothing but the cookie.
    /// let config = ClientConfig::new("realm1").cookie_jar(jar);
    /// let second = Client::connect(runtime, "ws://127.0.0.1:8080/ws", config).await?;
    /// assert_eq!(second.authid(), Some("joe"));
    /// # Ok(()) }
    /// ```
    pub fn cookie_jar(mut self, jar: CookieJar) -> Self {
        self.cookie_jar = Some(jar);
        self
    }

    /// Presents the client certificate of `tls` (build it with
    /// [`tls::client_config_with_cert`](nexus_transports::tls::client_config_with_cert))
    /// on `wss://` and `tcps://` connections, and offers `tls` authentication first: the
    /// router authenticates the client from the certificate, without a CHALLENGE.
    ///
    /// ```no_run
    /// # fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use nexus_driver::nexus_transports::tls;
    ///
    /// // The router's CA (when not a public one), the client's certificate and its key.
    /// let tls = tls::client_config_with_cert(
    ///     Some(&std::fs::read("ca.pem")?),
    ///     &std::fs::read("client.pem")?,
    ///     &std::fs::read("client.key")?,
    /// )?;
    /// let config = nexus_driver::ClientConfig::new("realm1").client_certificate(tls);
    /// assert!(config.offer_tls && config.tls.is_some());
    /// # Ok(()) }
    /// ```
    pub fn client_certificate(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self.offer_tls = true;
        self
    }

    /// Replaces the credentials (for options the shortcuts above do not cover).
    ///
    /// ```
    /// use nexus_driver::nexus_core::auth::client::{Credentials, CryptosignOptions};
    /// use nexus_driver::nexus_core::auth::cryptosign::{PublicKey, SigningKey};
    ///
    /// let router = PublicKey::from_hex("4a3838f6fe75251e613329d53fc69b262d5eac97fb1d73bebbaed4015b53c862").unwrap();
    /// let credentials = Credentials::new().cryptosign_with(
    ///     SigningKey::from_seed(&[1; 32]),
    ///     CryptosignOptions { router_key: Some(router), ..Default::default() },
    /// );
    /// let config = nexus_driver::ClientConfig::new("realm1").credentials(credentials);
    /// ```
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("realm", &self.realm)
            .field("serializers", &self.serializers)
            .field("connect_timeout", &self.connect_timeout)
            .field("authid", &self.authid)
            .field("credentials", &self.credentials)
            .field("authmethods", &self.authmethods)
            .field("cookie_jar", &self.cookie_jar)
            .field("offer_tls", &self.offer_tls)
            .finish_non_exhaustive()
    }
}

/// The result of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResponse {
    /// Positional results.
    pub args: Vec<Value>,
    /// Keyword results.
    pub kwargs: Dict,
    /// RESULT details.
    pub details: ResultDetails,
}

/// An invocation of a registered procedure, as a handler sees it.
///
/// Besides the arguments and details, it is the handler's way to answer in more than one
/// message: [`progress`](Invocation::progress) sends progressive results while the handler
/// runs (when the caller asked for them), and
/// [`set_yield_options`](Invocation::set_yield_options) sets options for the final YIELD.
/// The final result is the handler's return value.
///
/// `details` carries what the router disclosed: the concrete `procedure` for pattern-based
/// registrations, the `caller` (caller identification), the `trustlevel` (call trust
/// levels), a `timeout` the client enforces (see [`Client::register_with`]), `ppt_*` keys
/// (payload passthru: the payload is then one binary argument, passed through untouched).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// INVOCATION details (the concrete `procedure` for pattern registrations, the caller
    /// when disclosed...).
    pub details: InvocationDetails,
    /// The registration invoked.
    pub registration: Id,
    progress: Progress,
}

impl Invocation {
    /// An invocation made by hand, for testing a handler without a router: request ID 1;
    /// progressive results are allowed when `details.receive_progress` is set, and sending
    /// one fails with [`Error::Closed`] since no session is behind it.
    ///
    /// ```
    /// use nexus_core::message::InvocationDetails;
    /// use nexus_core::{args, Id, Payload};
    /// use nexus_driver::{HandlerResult, Invocation};
    ///
    /// async fn double(inv: Invocation) -> HandlerResult {
    ///     let n = inv.args.first().and_then(|v| v.as_i64()).unwrap_or(0);
    ///     Ok(Payload::new(args![2 * n], Default::default()))
    /// }
    ///
    /// let inv = Invocation::new(Id::new(7).unwrap(), args![21], Default::default(), InvocationDetails::default());
    /// let answer = futures::executor::block_on(double(inv)).unwrap();
    /// assert_eq!(answer.args(), args![42]);
    /// ```
    pub fn new(
        registration: Id,
        args: Vec<Value>,
        kwargs: Dict,
        details: InvocationDetails,
    ) -> Self {
        let (cmd, _) = mpsc::unbounded();
        let shared = InvocationShared::new(
            Id::new(1).expect("1 is an ID"),
            details.receive_progress == Some(true),
            cmd,
            None,
        );
        Invocation {
            args,
            kwargs,
            details,
            registration,
            progress: Progress { shared },
        }
    }

    /// The INVOCATION request ID, which the router chose.
    pub fn request_id(&self) -> Id {
        self.progress.request_id()
    }

    /// Sends a progressive result to the caller now (YIELD with `progress: true`); the
    /// handler's return value stays the final result. Allowed only when the caller asked
    /// for progressive results (`details.receive_progress`).
    ///
    /// Fails with [`Error::Usage`]`(`[`UsageError::ProgressNotRequested`](nexus_core::session::UsageError::ProgressNotRequested)`)`
    /// when the caller did not ask, and [`Error::InvocationFinished`] once the invocation is
    /// answered, interrupted or timed out. To send from another task, clone a
    /// [`progress_sender`](Invocation::progress_sender).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::{args, Payload};
    /// use nexus_driver::Invocation;
    ///
    /// client
    ///     .register("com.example.lines", |inv: Invocation| async move {
    ///         let mut count = 0;
    ///         for line in ["a", "b", "c"] {
    ///             count += 1;
    ///             if inv.details.receive_progress == Some(true) {
    ///                 inv.progress(Payload::new(args![line], Default::default()))?;
    ///             }
    ///         }
    ///         Ok(Payload::new(args![count], Default::default()))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn progress(&self, payload: Payload) -> Result<(), Error> {
        self.progress.send(payload)
    }

    /// A cheap, cloneable handle that sends progressive results for this invocation, for
    /// other tasks or for `'static` closures.
    pub fn progress_sender(&self) -> Progress {
        self.progress.clone()
    }

    /// Sets the options of the final YIELD sent with the handler's `Ok` result, for
    /// example `ppt_scheme` and `ppt_serializer` when the result is a payload passthru
    /// payload (one binary argument). `progress` is ignored. An `Err` result carries its
    /// own [`WampError::details`] instead.
    pub fn set_yield_options(&self, mut options: YieldOptions) {
        options.progress = None;
        self.progress.shared.lock().yield_options = options;
    }
}

/// An event received on a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The subscription.
    pub subscription: Id,
    /// The publication.
    pub publication: Id,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// EVENT details (the concrete `topic` for pattern subscriptions...).
    pub details: EventDetails,
}

/// A procedure handler's answer: the result payload, or a WAMP error.
pub type HandlerResult = Result<Payload, WampError>;

/// A registered procedure's handler.
#[derive(Clone)]
pub(crate) enum Handler {
    /// From `register`: one invocation, one answer.
    Plain(Arc<dyn Fn(Invocation) -> BoxFuture<'static, HandlerResult> + Send + Sync>),
    /// From `register_streaming`: the first chunk and a stream of the others.
    Streaming(
        Arc<
            dyn Fn(Invocation, InvocationStream) -> BoxFuture<'static, HandlerResult> + Send + Sync,
        >,
    ),
}

/// A subscription: a stream of events. Dropping it (or [`Client::unsubscribe`]) ends it;
/// the stream also ends when the router revokes the subscription (reported by
/// [`Client::revocations`]) or the session ends.
pub struct Subscription {
    id: Id,
    token: u64,
    events: mpsc::Receiver<Event>,
}

impl Subscription {
    /// The subscription ID.
    pub fn id(&self) -> Id {
        self.id
    }
}

impl Stream for Subscription {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.poll_next_unpin(cx)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

/// A registration. It stays until [`Client::unregister`], a revocation by the router
/// (reported by [`Client::revocations`]) or the end of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Registration {
    id: Id,
}

impl Registration {
    /// The registration ID.
    pub fn id(&self) -> Id {
        self.id
    }
}

/// What the API asks of the client task.
pub(crate) enum Cmd {
    Call {
        token: u64,
        procedure: Uri,
        options: CallOptions,
        payload: Payload,
        reply: CallReply,
    },
    DropCall {
        token: u64,
    },
    /// The next chunk of a progressive call invocation.
    Chunk {
        token: u64,
        payload: Payload,
        last: bool,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// A `CallSender` was dropped before its last chunk.
    AbandonInput {
        token: u64,
    },
    Publish {
        topic: Uri,
        options: PublishOptions,
        payload: Payload,
        reply: oneshot::Sender<Result<Option<Id>, Error>>,
    },
    Subscribe {
        topic: Uri,
        options: SubscribeOptions,
        token: u64,
        events: mpsc::Sender<Event>,
        reply: oneshot::Sender<Result<Id, Error>>,
    },
    Unsubscribe {
        subscription: Id,
        token: u64,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Register {
        procedure: Uri,
        options: RegisterOptions,
        handler: Handler,
        reply: oneshot::Sender<Result<Id, Error>>,
    },
    Unregister {
        registration: Id,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Answer {
        invocation: Id,
        result: HandlerResult,
        options: YieldOptions,
    },
    /// A progressive YIELD.
    Progress {
        invocation: Id,
        options: YieldOptions,
        payload: Payload,
    },
    Leave {
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

struct Shared {
    cmd: mpsc::UnboundedSender<Cmd>,
    session: Id,
    welcome: WelcomeDetails,
    tokens: AtomicU64,
    event_buffer: usize,
    closed: futures::future::Shared<oneshot::Receiver<()>>,
    /// Who watches revocations. Shared with the task rather than registered through a
    /// command, so a watcher exists from the moment `revocations()` returns (a command could
    /// be read after a revocation the router already sent).
    revocations: Arc<std::sync::Mutex<Watchers>>,
    /// Dropped with the last `Client` handle, which tells the task to leave.
    _alive: oneshot::Sender<()>,
}

/// The revocation watchers; `closed` once the session ended (new watchers end at once).
#[derive(Default)]
struct Watchers {
    closed: bool,
    list: Vec<mpsc::UnboundedSender<Revoked>>,
}

/// A WAMP client session over a transport (or in-process). Cheap to clone; every clone is the
/// same session.
///
/// ```no_run
/// # async fn run(runtime: std::sync::Arc<dyn nexus_driver::Runtime>) -> Result<(), nexus_driver::Error> {
/// use nexus_driver::{Client, ClientConfig};
/// use nexus_core::args;
///
/// let client = Client::connect(runtime, "ws://127.0.0.1:8080/ws", ClientConfig::new("realm1")).await?;
/// let sum = client.call("com.example.add", args![2, 3], Default::default()).await?;
/// println!("2 + 3 = {}", sum.args[0]);
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.shared.session)
            .finish()
    }
}

/// The connection under a client.
enum Link {
    Wire {
        transport: Transport,
        limits: Limits,
    },
    Local(LocalLink),
}

/// Why a message was not sent.
enum Unsent {
    /// It is larger than the router accepts; the link is fine.
    TooLarge {
        message: Box<Message>,
        size: usize,
        limit: usize,
    },
    /// The link failed.
    Failed(Error),
}

enum Received {
    Messages(Vec<Message>),
    Nothing,
    End(Option<Error>),
}

impl Link {
    async fn send(&mut self, message: Message) -> Result<(), Error> {
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
    async fn send_checked(&mut self, message: Message) -> Result<(), Unsent> {
        match self {
            Link::Wire { transport, .. } => {
                let serializer = transport.serializer();
                let mut bytes = serializer
                    .encode(&message)
                    .map_err(|e| Unsent::Failed(Error::Protocol(e.to_string())))?;
                if transport.is_batched() {
                    bytes = serializer.frame_for_batch(&bytes);
                }
                let limit = transport.send_limit();
                if bytes.len() > limit {
                    return Err(Unsent::TooLarge {
                        message: Box::new(message),
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

    async fn ping(&mut self) -> Result<(), Error> {
        if let Link::Wire { transport, .. } = self {
            transport
                .send(Outgoing::Ping(Bytes::from_static(b"nexus")))
                .await?;
        }
        Ok(())
    }

    /// Waits for the next input; cancel-safe (the state lives in the link).
    fn recv(&mut self) -> BoxFuture<'_, Received> {
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
                            Err(e) => Received::End(Some(Error::Protocol(format!(
                                "the router sent a message that does not decode: {e}"
                            )))),
                        }
                    }
                }
            }),
            Link::Local(local) => Box::pin(async move {
                match local.rx.next().await {
                    None => Received::End(None),
                    Some(out) => match local.received(out).await {
                        Ok(m) => Received::Messages(vec![m]),
                        Err(e) => Received::End(Some(e)),
                    },
                }
            }),
        }
    }

    async fn close(&mut self) {
        match self {
            Link::Wire { transport, .. } => {
                let _ = transport.close().await;
            }
            Link::Local(local) => local.close().await,
        }
    }
}

impl Client {
    /// Connects to `url` (`ws://`, `wss://`, `tcp://`, `tcps://`, `unix://`) and joins
    /// `config.realm`.
    pub async fn connect(
        runtime: Arc<dyn Runtime>,
        url: &str,
        config: ClientConfig,
    ) -> Result<Client, Error> {
        let started = Instant::now();
        let endpoint = Endpoint::parse(url).map_err(|e| Error::Url(e.to_string()))?;
        // The jar's cookies for this host, on WebSocket only.
        let cookie_host = match (&endpoint, &config.cookie_jar) {
            (Endpoint::WebSocket { host, tls, .. }, Some(jar)) => Some((jar, host.clone(), *tls)),
            _ => None,
        };
        let mut headers = Vec::new();
        if let Some((jar, host, tls)) = &cookie_host {
            if let Some(cookie) = jar.header(host, *tls) {
                headers.push(("Cookie".to_owned(), cookie));
            }
        }
        let cookie_sent = !headers.is_empty();
        let transport = open_transport(
            &*runtime,
            url,
            &endpoint,
            &config.serializers,
            config.tls.clone(),
            config.limits.max_message_size,
            config.connect_timeout,
            headers,
        )
        .await?;
        if let Some((jar, host, _)) = &cookie_host {
            for (name, value) in transport.response_headers() {
                if name.eq_ignore_ascii_case("set-cookie") {
                    jar.store(host, value);
                }
            }
        }
        let link = Link::Wire {
            transport,
            limits: config.limits,
        };
        let left = config.connect_timeout.saturating_sub(started.elapsed());
        Client::start(runtime, link, config, left, cookie_sent).await
    }

    /// Joins `config.realm` on an in-process router, without a socket or serialization.
    pub async fn connect_local(
        router: &RouterHandle,
        config: ClientConfig,
    ) -> Result<Client, Error> {
        let link = Link::Local(router.attach_local().await?);
        let timeout = config.connect_timeout;
        Client::start(router.runtime(), link, config, timeout, false).await
    }

    async fn start(
        runtime: Arc<dyn Runtime>,
        mut link: Link,
        config: ClientConfig,
        timeout: Duration,
        cookie_sent: bool,
    ) -> Result<Client, Error> {
        let realm = Uri::parse(config.realm.clone())?;
        let mut session_config = SessionConfig::new(realm);
        session_config.authid = config.authid.clone();
        session_config.authmethods = config.authmethods.clone();
        session_config.authextra = config.authextra.clone();
        let mut credentials = config.credentials.clone();
        if let Some(authid) = &config.authid {
            credentials = credentials.authid(authid.clone());
        }
        if !credentials.is_empty() {
            let hello = random_bytes().and_then(|random| Ok(credentials.hello(&random)?));
            match hello {
                Ok(hello) => hello.apply(&mut session_config),
                Err(e) => {
                    link.close().await;
                    return Err(e);
                }
            }
        }
        // Transport-level methods go first: they need no CHALLENGE, and routers such as
        // Crossbar pick the first offered method they have configured.
        let mut first: Vec<String> = Vec::new();
        if cookie_sent {
            first.push("cookie".into());
        }
        if config.offer_tls {
            first.push("tls".into());
        }
        if !first.is_empty() {
            let rest = std::mem::take(&mut session_config.authmethods);
            if cookie_sent && rest.is_empty() && !config.offer_tls {
                // Without the cookie this client would have offered nothing (anonymous).
                first.push("anonymous".into());
            }
            first.extend(rest.into_iter().filter(|m| m != "cookie" && m != "tls"));
            session_config.authmethods = first;
        }
        let mut session = Session::new(session_config);
        session.join()?;
        let join = join(&mut session, &mut link, &config, &mut credentials);
        let (id, welcome) = match runtime::timeout(&*runtime, timeout, join).await {
            Ok(Ok(joined)) => joined,
            Ok(Err(e)) => {
                link.close().await;
                return Err(e);
            }
            Err(_) => {
                link.close().await;
                return Err(Error::Timeout(config.connect_timeout));
            }
        };
        let (cmd, cmds) = mpsc::unbounded();
        let (closed_tx, closed_rx) = oneshot::channel();
        let (alive, dropped) = oneshot::channel();
        let revocations = Arc::new(std::sync::Mutex::new(Watchers::default()));
        let shared = Arc::new(Shared {
            cmd: cmd.clone(),
            session: id,
            welcome,
            tokens: AtomicU64::new(1),
            event_buffer: config.event_buffer.max(1),
            closed: closed_rx.shared(),
            revocations: revocations.clone(),
            _alive: alive,
        });
        let task = Task {
            session,
            runtime: runtime.clone(),
            cmd,
            config,
            calls: HashMap::new(),
            call_tokens: HashMap::new(),
            publishes: HashMap::new(),
            subscribes: HashMap::new(),
            subscriptions: HashMap::new(),
            unsubscribes: HashMap::new(),
            registers: HashMap::new(),
            registrations: HashMap::new(),
            unregisters: HashMap::new(),
            invocations: HashMap::new(),
            inputs: HashMap::new(),
            revocation_watchers: revocations,
            leaving: None,
            pending_raw: Vec::new(),
            send_limit: match &link {
                Link::Wire { transport, .. } => {
                    Some((transport.serializer(), transport.send_limit()))
                }
                Link::Local(_) => None,
            },
        };
        runtime::spawn(&*runtime, task.run(link, cmds, dropped, closed_tx));
        Ok(Client { shared })
    }

    /// The session ID the router assigned.
    pub fn session_id(&self) -> Id {
        self.shared.session
    }

    /// The router's WELCOME details (roles, features, authid, authrole...).
    pub fn welcome(&self) -> &WelcomeDetails {
        &self.shared.welcome
    }

    /// The authid the router authenticated this session as (`WELCOME.Details.authid`).
    pub fn authid(&self) -> Option<&str> {
        self.shared.welcome.authid.as_deref()
    }

    /// The role the router gave this session (`WELCOME.Details.authrole`).
    pub fn authrole(&self) -> Option<&str> {
        self.shared.welcome.authrole.as_deref()
    }

    /// The authentication method the router used (`WELCOME.Details.authmethod`), for
    /// example `ticket`, `wampcra`, `cryptosign`, `scram` or `anonymous`.
    pub fn authmethod(&self) -> Option<&str> {
        self.shared.welcome.authmethod.as_deref()
    }

    fn send(&self, cmd: Cmd) -> Result<(), Error> {
        self.shared
            .cmd
            .unbounded_send(cmd)
            .map_err(|_| Error::Closed)
    }

    fn token(&self) -> u64 {
        self.shared.tokens.fetch_add(1, Ordering::Relaxed)
    }

    /// Calls `procedure` with arguments.
    pub async fn call(
        &self,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<CallResponse, Error> {
        self.call_with(
            procedure,
            CallOptions::default(),
            Payload::new(args, kwargs),
        )
        .await
    }

    /// Calls `procedure` with options. Dropping the returned future before it completes
    /// cancels the call (CANCEL `killnowait` when the router supports call canceling).
    ///
    /// The future completes with the final result: progressive results (when
    /// `options.receive_progress` is set) are skipped; use
    /// [`call_progressive`](Client::call_progressive) to see them. `options.progress` is
    /// ignored: use [`call_streaming`](Client::call_streaming) to send input in chunks.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::message::CallOptions;
    /// use nexus_core::{args, Payload};
    ///
    /// // Caller identification: the callee sees this session in `Invocation::details.caller`;
    /// // and a timeout the dealer enforces (an Error::Wamp with wamp.error.timeout after 5 s).
    /// let options = CallOptions { disclose_me: Some(true), timeout: Some(5_000), ..Default::default() };
    /// let r = client.call_with("com.example.whoami", options, Payload::new(args![], Default::default())).await?;
    ///
    /// // Sharded registration: every call with this key goes to the same callee of the
    /// // shared registration (nexus routes it by `router::shard_score`).
    /// let options = CallOptions {
    ///     runmode: Some("partition".into()),
    ///     rkey: Some("customer-42".into()),
    ///     ..Default::default()
    /// };
    /// let r = client.call_with("com.example.orders", options, Payload::new(args![], Default::default())).await?;
    /// # Ok(()) }
    /// ```
    pub fn call_with(
        &self,
        procedure: &str,
        mut options: CallOptions,
        payload: Payload,
    ) -> CallFuture {
        options.progress = None;
        let (reply, rx) = oneshot::channel();
        let (token, sent) = self.start_call(procedure, options, payload, CallReply::Once(reply));
        CallFuture {
            rx: sent.map(|()| rx),
            token,
            cmd: self.shared.cmd.clone(),
            done: false,
        }
    }

    /// Calls `procedure` asking for progressive results (sets `receive_progress`, ignores
    /// `progress`): a
    /// [`ProgressiveCall`] stream yields each progressive result (`details.progress ==
    /// Some(true)`) as the callee sends it, then the final result (or the error), then
    /// ends. A callee that sends no progressive results gives a stream of one item.
    ///
    /// Dropping the stream before its end cancels the call, like dropping a
    /// [`CallFuture`].
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    /// use nexus_core::{args, Payload};
    ///
    /// let mut call = client.call_progressive(
    ///     "com.example.search",
    ///     Default::default(),
    ///     Payload::new(args!["needle"], Default::default()),
    /// );
    /// while let Some(hit) = call.next().await {
    ///     println!("{:?}", hit?.args);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn call_progressive(
        &self,
        procedure: &str,
        mut options: CallOptions,
        payload: Payload,
    ) -> ProgressiveCall {
        options.receive_progress = Some(true);
        options.progress = None;
        let (tx, rx) = mpsc::unbounded();
        let (token, sent) = self.start_call(procedure, options, payload, CallReply::Stream(tx));
        ProgressiveCall {
            rx: sent.map(|()| rx).map_err(Some),
            token,
            cmd: self.shared.cmd.clone(),
            done: false,
        }
    }

    /// Calls `procedure` with its input in chunks (progressive call invocations): the
    /// first chunk is sent now with `options`, which hold for the whole call; send the
    /// next ones with [`CallSender::send`] and the last with [`CallSender::finish`]. The
    /// [`CallFuture`] completes with the callee's final result, which may come before the
    /// input is finished.
    ///
    /// Needs a router whose dealer announces `progressive_call_invocations`; otherwise the
    /// call fails with [`Error::Usage`]. Dropping the [`CallSender`] without `finish`
    /// cancels the call; dropping the future cancels it too.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::{args, Payload};
    ///
    /// let chunk = |s: &str| Payload::new(args![s], Default::default());
    /// let (mut input, result) = client.call_streaming("com.example.upload", Default::default(), chunk("first"));
    /// input.send(chunk("second")).await?;
    /// input.finish(chunk("last")).await?;
    /// println!("stored {:?}", result.await?.args);
    /// # Ok(()) }
    /// ```
    pub fn call_streaming(
        &self,
        procedure: &str,
        options: CallOptions,
        first: Payload,
    ) -> (CallSender, CallFuture) {
        let (reply, rx) = oneshot::channel();
        let (sender, token, sent) =
            self.streaming_call(procedure, options, first, CallReply::Once(reply));
        let future = CallFuture {
            rx: sent.map(|()| rx),
            token,
            cmd: self.shared.cmd.clone(),
            done: false,
        };
        (sender, future)
    }

    /// A full-duplex call: input in chunks, as with [`call_streaming`](Client::call_streaming),
    /// and progressive results, as with [`call_progressive`](Client::call_progressive)
    /// (`receive_progress` is set). Results and chunks need not pair up.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    /// use nexus_core::{args, Payload};
    ///
    /// let line = |s: &str| Payload::new(args![s], Default::default());
    /// let (mut input, mut output) = client.call_duplex("com.example.echo_lines", Default::default(), line("hello"));
    /// println!("{:?}", output.next().await);
    /// input.finish(line("bye")).await?;
    /// while let Some(result) = output.next().await {
    ///     println!("{:?}", result?.args);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn call_duplex(
        &self,
        procedure: &str,
        mut options: CallOptions,
        first: Payload,
    ) -> (CallSender, ProgressiveCall) {
        options.receive_progress = Some(true);
        options.progress = Some(true);
        let (tx, rx) = mpsc::unbounded();
        let (sender, token, sent) =
            self.streaming_call(procedure, options, first, CallReply::Stream(tx));
        let call = ProgressiveCall {
            rx: sent.map(|()| rx).map_err(Some),
            token,
            cmd: self.shared.cmd.clone(),
            done: false,
        };
        (sender, call)
    }

    fn streaming_call(
        &self,
        procedure: &str,
        mut options: CallOptions,
        first: Payload,
        reply: CallReply,
    ) -> (CallSender, u64, Result<(), Error>) {
        options.progress = Some(true);
        let (token, sent) = self.start_call(procedure, options, first, reply);
        let sender = CallSender {
            token,
            cmd: self.shared.cmd.clone(),
            // A call that never started has nothing to cancel.
            finished: sent.is_err(),
        };
        (sender, token, sent)
    }

    /// Hands a CALL to the task; returns its token and whether it got there.
    fn start_call(
        &self,
        procedure: &str,
        options: CallOptions,
        payload: Payload,
        reply: CallReply,
    ) -> (u64, Result<(), Error>) {
        let token = self.token();
        let sent = Uri::parse(procedure)
            .map_err(Error::from)
            .and_then(|procedure| {
                self.send(Cmd::Call {
                    token,
                    procedure,
                    options,
                    payload,
                    reply,
                })
            });
        (token, sent)
    }

    /// Publishes an event, without acknowledgement: completes once the event is sent.
    pub async fn publish(&self, topic: &str, args: Vec<Value>, kwargs: Dict) -> Result<(), Error> {
        self.publish_with(topic, PublishOptions::default(), Payload::new(args, kwargs))
            .await
            .map(|_| ())
    }

    /// Publishes an event and waits for the router's acknowledgement; returns the
    /// publication ID.
    pub async fn publish_acknowledged(
        &self,
        topic: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Result<Id, Error> {
        let options = PublishOptions {
            acknowledge: Some(true),
            ..Default::default()
        };
        self.publish_with(topic, options, Payload::new(args, kwargs))
            .await?
            .ok_or(Error::Closed)
    }

    /// Publishes with options; returns the publication ID when acknowledgement was asked.
    ///
    /// The options carry the advanced profile's publication features: black- and
    /// whitelisting (`exclude`, `eligible`, `exclude_authid`, `eligible_authrole`...),
    /// publisher exclusion (`exclude_me`), publisher identification (`disclose_me`),
    /// retention (`retain`), sharding (`rkey`) and payload passthru (`ppt_*`).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client, backup: nexus_core::Id) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::message::PublishOptions;
    /// use nexus_core::{args, Payload};
    ///
    /// // To every subscriber with role "operator" except one session, telling them who
    /// // published, and kept as the topic's retained event for later subscribers.
    /// let options = PublishOptions {
    ///     eligible_authrole: Some(vec!["operator".into()]),
    ///     exclude: Some(vec![backup]),
    ///     disclose_me: Some(true),
    ///     retain: Some(true),
    ///     acknowledge: Some(true),
    ///     ..Default::default()
    /// };
    /// let publication = client
    ///     .publish_with("com.example.alarm", options, Payload::new(args!["overheat"], Default::default()))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish_with(
        &self,
        topic: &str,
        options: PublishOptions,
        payload: Payload,
    ) -> Result<Option<Id>, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Publish {
            topic: Uri::parse(topic)?,
            options,
            payload,
            reply,
        })?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Subscribes to `topic`.
    pub async fn subscribe(&self, topic: &str) -> Result<Subscription, Error> {
        self.subscribe_with(topic, SubscribeOptions::default())
            .await
    }

    /// Subscribes with options (for example a `prefix` or `wildcard` match).
    ///
    /// With `get_retained`, the topic's retained event (if any, and if this session may
    /// receive it) arrives first, with `details.retained`; with a pattern match each event
    /// names its concrete `details.topic`; `details.publisher` and `details.trustlevel` say
    /// who published and how much the router trusts it. The router's meta API is reached with
    /// ordinary calls and subscriptions (`wamp.subscription.get_events` for the event
    /// history, `wamp.session.on_join`...).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    /// use nexus_core::message::SubscribeOptions;
    /// use nexus_core::{args, MatchPolicy};
    ///
    /// let options = SubscribeOptions {
    ///     match_policy: Some(MatchPolicy::Prefix),
    ///     get_retained: Some(true),
    ///     ..Default::default()
    /// };
    /// let mut events = client.subscribe_with("com.example.sensors", options).await?;
    /// while let Some(event) = events.next().await {
    ///     let topic = event.details.topic.as_ref().map(|t| t.as_str());
    ///     println!("{topic:?} from {:?}: {:?}", event.details.publisher, event.args);
    /// }
    /// // The last ten events the router kept for this subscription, newest first.
    /// let history = client
    ///     .call(
    ///         "wamp.subscription.get_events",
    ///         args![events.id().get()],
    ///         nexus_core::kwargs! { "limit" => 10, "reverse" => true },
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn subscribe_with(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, Error> {
        let token = self.token();
        let (events_tx, events) = mpsc::channel(self.shared.event_buffer);
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Subscribe {
            topic: Uri::new_unchecked(topic),
            options,
            token,
            events: events_tx,
            reply,
        })?;
        let id = rx.await.map_err(|_| Error::Closed)??;
        Ok(Subscription { id, token, events })
    }

    /// Ends a subscription.
    pub async fn unsubscribe(&self, subscription: Subscription) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Unsubscribe {
            subscription: subscription.id,
            token: subscription.token,
            reply,
        })?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Registers `procedure` with an async handler.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::{args, Payload};
    /// client
    ///     .register("com.example.add", |inv: nexus_driver::Invocation| async move {
    ///         let a = inv.args.first().and_then(|v| v.as_i64()).unwrap_or(0);
    ///         let b = inv.args.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
    ///         Ok(Payload::new(args![a + b], Default::default()))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register<F, Fut>(&self, procedure: &str, handler: F) -> Result<Registration, Error>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register_with(procedure, RegisterOptions::default(), handler)
            .await
    }

    /// Registers with options: pattern-based (`match_policy`), shared (`invoke`),
    /// `disclose_caller`, `forward_timeout`...
    ///
    /// **Timeouts.** When an invocation carries `details.timeout` (milliseconds, set by a
    /// dealer that forwards call timeouts, for example to a registration made with
    /// `forward_timeout`), the client enforces it: if the handler has not answered by then
    /// it is stopped (dropped) and the caller gets ERROR `wamp.error.timeout`. Each
    /// progressive result restarts the timer, as the spec measures the timeout between
    /// results.
    ///
    /// A plain handler cannot take a progressive call invocation (input in chunks): such
    /// calls are answered with `wamp.error.feature_not_supported`; use
    /// [`register_streaming`](Client::register_streaming).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::message::{InvokePolicy, RegisterOptions};
    /// use nexus_core::uri::MatchPolicy;
    /// use nexus_core::{args, Payload};
    /// use nexus_driver::Invocation;
    ///
    /// // Every procedure under com.example.users., shared round-robin with other callees,
    /// // with call timeouts forwarded to this client.
    /// let options = RegisterOptions {
    ///     match_policy: Some(MatchPolicy::Prefix),
    ///     invoke: Some(InvokePolicy::RoundRobin),
    ///     forward_timeout: Some(true),
    ///     ..Default::default()
    /// };
    /// client
    ///     .register_with("com.example.users.", options, |inv: Invocation| async move {
    ///         let procedure = inv.details.procedure.map(|p| p.to_string()).unwrap_or_default();
    ///         Ok(Payload::new(args![procedure], Default::default()))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register_with<F, Fut>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Result<Registration, Error>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler = Handler::Plain(Arc::new(move |inv| Box::pin(handler(inv))));
        self.register_handler(procedure, options, handler).await
    }

    /// Registers a procedure that takes its input in chunks (progressive call
    /// invocations): the handler gets the first chunk as the [`Invocation`] and the
    /// following chunks' payloads as an [`InvocationStream`], which ends after the caller's
    /// last chunk (at once for an ordinary call). The handler may answer before reading
    /// every chunk; later chunks are then discarded. Progressive results, timeouts and the
    /// final answer work as for [`register_with`](Client::register_with).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    /// use nexus_core::{args, Payload};
    /// use nexus_driver::{Invocation, InvocationStream};
    ///
    /// client
    ///     .register_streaming("com.example.upload", Default::default(), |inv: Invocation, mut rest: InvocationStream| async move {
    ///         let mut chunks = 1;
    ///         while let Some(_payload) = rest.next().await {
    ///             chunks += 1;
    ///         }
    ///         Ok(Payload::new(args![chunks], Default::default()))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register_streaming<F, Fut>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Result<Registration, Error>
    where
        F: Fn(Invocation, InvocationStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler =
            Handler::Streaming(Arc::new(move |inv, chunks| Box::pin(handler(inv, chunks))));
        self.register_handler(procedure, options, handler).await
    }

    async fn register_handler(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: Handler,
    ) -> Result<Registration, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Register {
            procedure: Uri::new_unchecked(procedure),
            options,
            handler,
            reply,
        })?;
        let id = rx.await.map_err(|_| Error::Closed)??;
        Ok(Registration { id })
    }

    /// Ends a registration.
    pub async fn unregister(&self, registration: Registration) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Unregister {
            registration: registration.id,
            reply,
        })?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// The registrations and subscriptions the router revokes from now on (registration
    /// and subscription revocation), as a stream of [`Revoked`]. A revoked registration
    /// gets no more invocations; a revoked subscription's [`Subscription`] streams end.
    /// Each call returns a new stream that sees every later revocation; the stream ends
    /// when the session ends.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) {
    /// use futures::StreamExt;
    /// use nexus_driver::Revoked;
    ///
    /// let mut revocations = client.revocations();
    /// while let Some(revoked) = revocations.next().await {
    ///     match revoked {
    ///         Revoked::Registration { id, reason } => eprintln!("registration {id} revoked: {reason:?}"),
    ///         Revoked::Subscription { id, reason } => eprintln!("subscription {id} revoked: {reason:?}"),
    ///         _ => {}
    ///     }
    /// }
    /// # }
    /// ```
    pub fn revocations(&self) -> Revocations {
        let (tx, rx) = mpsc::unbounded();
        let mut watchers = self
            .shared
            .revocations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // A closed session: `tx` is dropped and the stream ends at once.
        if !watchers.closed {
            watchers.list.push(tx);
        }
        Revocations { rx }
    }

    /// Leaves the realm (GOODBYE) and closes the transport.
    pub async fn close(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        if self.send(Cmd::Leave { reply }).is_err() {
            return Ok(());
        }
        let left = rx.await.unwrap_or(Ok(()));
        // The GOODBYE reply came; return once the transport is closed too, so a program
        // that exits right after close() does not cut the connection short.
        self.closed().await;
        left
    }

    /// Completes when the session has ended, whoever ended it.
    pub async fn closed(&self) {
        let _ = self.shared.closed.clone().await;
    }
}

/// Opens a negotiated WAMP transport to `url` (`ws://`, `wss://`, `tcp://`, `tcps://`,
/// `unix://`) without joining a realm: for tools that speak WAMP messages themselves, such as
/// a conformance suite. WebSocket offers `serializers` in order; RawSocket uses the first.
/// TLS uses `tls`, or the webpki root certificates.
pub async fn connect_transport(
    runtime: &dyn Runtime,
    url: &str,
    serializers: &[Serializer],
    tls: Option<Arc<rustls::ClientConfig>>,
    max_message_size: usize,
    timeout: Duration,
) -> Result<Transport, Error> {
    let endpoint = Endpoint::parse(url).map_err(|e| Error::Url(e.to_string()))?;
    open_transport(
        runtime,
        url,
        &endpoint,
        serializers,
        tls,
        max_message_size,
        timeout,
        Vec::new(),
    )
    .await
}

/// [`connect_transport`] with extra WebSocket handshake headers.
#[allow(clippy::too_many_arguments)]
async fn open_transport(
    runtime: &dyn Runtime,
    url: &str,
    endpoint: &Endpoint,
    serializers: &[Serializer],
    tls: Option<Arc<rustls::ClientConfig>>,
    max_message_size: usize,
    timeout: Duration,
    headers: Vec<(String, String)>,
) -> Result<Transport, Error> {
    let connect = async {
        let io = match endpoint {
            Endpoint::WebSocket { host, port, .. } | Endpoint::RawSocket { host, port, .. } => {
                runtime.connect_tcp(host.clone(), *port).await
            }
            Endpoint::Unix { path } => runtime.connect_unix(path.clone()).await,
        }
        .map_err(|e| Error::Connect(url.to_owned(), e.to_string()))?;
        let io: crate::runtime::BoxIo = match endpoint {
            Endpoint::WebSocket {
                tls: true, host, ..
            }
            | Endpoint::RawSocket {
                tls: true, host, ..
            } => {
                let tls = match tls {
                    Some(tls) => tls,
                    None => nexus_transports::tls::client_config(None)
                        .map_err(|e| Error::Config(e.to_string()))?,
                };
                Box::new(
                    nexus_transports::tls::connect(io, host, tls)
                        .await
                        .map_err(|e| Error::Connect(url.to_owned(), e.to_string()))?,
                )
            }
            _ => io,
        };
        let transport = match endpoint {
            Endpoint::WebSocket { .. } => {
                let config = nexus_transports::WebSocketClientConfig {
                    offers: serializers.iter().map(|s| (*s, false)).collect(),
                    max_message_size,
                    headers,
                };
                nexus_transports::connect_websocket_with_config(io, endpoint, &config).await?
            }
            _ => {
                let serializer = *serializers
                    .first()
                    .ok_or_else(|| Error::Config("no serializer configured".into()))?;
                nexus_transports::connect_rawsocket(io, serializer, max_message_size).await?
            }
        };
        Ok::<_, Error>(transport)
    };
    runtime::timeout(runtime, timeout, connect)
        .await
        .map_err(|_| Error::Timeout(timeout))?
}

/// A call in flight; dropping it before completion cancels the call.
pub struct CallFuture {
    rx: Result<oneshot::Receiver<Result<CallResponse, Error>>, Error>,
    token: u64,
    cmd: mpsc::UnboundedSender<Cmd>,
    done: bool,
}

impl Future for CallFuture {
    type Output = Result<CallResponse, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let rx = match &mut this.rx {
            Ok(rx) => rx,
            Err(_) => {
                this.done = true;
                let Err(e) = std::mem::replace(&mut this.rx, Err(Error::Closed)) else {
                    unreachable!()
                };
                return Poll::Ready(Err(e));
            }
        };
        match rx.poll_unpin(cx) {
            Poll::Ready(r) => {
                this.done = true;
                Poll::Ready(r.unwrap_or(Err(Error::Closed)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for CallFuture {
    fn drop(&mut self) {
        if !self.done && self.rx.is_ok() {
            let _ = self.cmd.unbounded_send(Cmd::DropCall { token: self.token });
        }
    }
}

/// Sends HELLO and waits for WELCOME, answering CHALLENGEs.
/// Fresh random bytes from the operating system, for HELLO.
fn random_bytes() -> Result<[u8; HELLO_RANDOM_LEN], Error> {
    let mut random = [0u8; HELLO_RANDOM_LEN];
    getrandom::fill(&mut random).map_err(|e| {
        Error::Config(format!(
            "the operating system gave no random bytes for authentication: {e}"
        ))
    })?;
    Ok(random)
}

/// Aborts the session being joined (`wamp.error.authentication_failed`) because our side of
/// the authentication failed, and returns the error.
async fn abort_join(session: &mut Session, link: &mut Link, error: AuthError) -> Error {
    let _ = session.abort(
        nexus_core::uri::error::AUTHENTICATION_FAILED,
        Some(error.to_string()),
    );
    while let Some(m) = session.poll_transmit() {
        let _ = link.send(m).await;
    }
    Error::Authentication(error)
}

async fn join(
    session: &mut Session,
    link: &mut Link,
    config: &ClientConfig,
    credentials: &mut Credentials,
) -> Result<(Id, WelcomeDetails), Error> {
    loop {
        while let Some(m) = session.poll_transmit() {
            link.send(m).await?;
        }
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::Joined {
                    session: id,
                    details,
                } => {
                    if let Err(e) = credentials.check_welcome(&details) {
                        return Err(abort_join(session, link, e).await);
                    }
                    return Ok((id, *details));
                }
                SessionEvent::Challenge(challenge)
                    if credentials.handles(&challenge.auth_method) =>
                {
                    match credentials.respond(&challenge) {
                        Ok((signature, extra)) => session.authenticate(signature, extra)?,
                        Err(e) => return Err(abort_join(session, link, e).await),
                    }
                }
                SessionEvent::Challenge(challenge) => {
                    let Some(handler) = &config.on_challenge else {
                        let _ = session.abort(
                            nexus_core::uri::error::AUTHENTICATION_FAILED,
                            Some("this client has no way to answer a CHALLENGE".into()),
                        );
                        while let Some(m) = session.poll_transmit() {
                            let _ = link.send(m).await;
                        }
                        return Err(Error::Config(format!(
                            "the router asked for {} authentication, but no challenge handler is configured",
                            challenge.auth_method
                        )));
                    };
                    let (signature, extra) = handler(challenge).await?;
                    session.authenticate(signature, extra)?;
                }
                SessionEvent::Aborted {
                    reason, details, ..
                } => {
                    return Err(Error::Aborted {
                        reason,
                        message: details.message,
                    })
                }
                SessionEvent::ProtocolViolation { error } => {
                    while let Some(m) = session.poll_transmit() {
                        let _ = link.send(m).await;
                    }
                    return Err(Error::Protocol(error.to_string()));
                }
                _ => return Err(Error::Closed),
            }
        }
        while let Some(m) = session.poll_transmit() {
            link.send(m).await?;
        }
        match link.recv().await {
            Received::Messages(messages) => {
                for m in messages {
                    let _ = session.handle_message(Instant::now(), m);
                }
            }
            Received::Nothing => {}
            Received::End(e) => return Err(e.unwrap_or(Error::Closed)),
        }
    }
}

/// A SUBSCRIBE in flight: the handle's token, its event channel, and the API's reply.
type PendingSubscribe = (u64, mpsc::Sender<Event>, oneshot::Sender<Result<Id, Error>>);

struct PendingCall {
    token: u64,
    reply: CallReply,
}

/// An invocation whose handler runs.
struct RunningInvocation {
    /// Dropping it stops the handler.
    _abort: oneshot::Sender<()>,
    /// The handler's stream of input chunks, while more may come.
    chunks: Option<mpsc::UnboundedSender<Payload>>,
    shared: Arc<InvocationShared>,
}

impl RunningInvocation {
    /// Refuses further progressive results; dropping `self` then stops the handler.
    fn finish(self) {
        self.shared.lock().finished = true;
    }
}

/// The client task: owns the session and the link.
struct Task {
    session: Session,
    runtime: Arc<dyn Runtime>,
    cmd: mpsc::UnboundedSender<Cmd>,
    config: ClientConfig,
    calls: HashMap<Id, PendingCall>,
    call_tokens: HashMap<u64, Id>,
    publishes: HashMap<Id, oneshot::Sender<Result<Option<Id>, Error>>>,
    subscribes: HashMap<Id, PendingSubscribe>,
    subscriptions: HashMap<Id, Vec<(u64, mpsc::Sender<Event>)>>,
    unsubscribes: HashMap<Id, oneshot::Sender<Result<(), Error>>>,
    registers: HashMap<Id, (Handler, oneshot::Sender<Result<Id, Error>>)>,
    registrations: HashMap<Id, Handler>,
    unregisters: HashMap<Id, oneshot::Sender<Result<(), Error>>>,
    /// Invocations being handled.
    invocations: HashMap<Id, RunningInvocation>,
    /// Progressive call invocations whose last chunk is not sent: CallSender token to
    /// CALL request.
    inputs: HashMap<u64, (Id, Uri)>,
    /// Streams from `Client::revocations`.
    revocation_watchers: Arc<std::sync::Mutex<Watchers>>,
    leaving: Option<oneshot::Sender<Result<(), Error>>>,
    /// Messages to send that bypass the session (an ERROR replacing a too large YIELD).
    pending_raw: Vec<Message>,
    /// The link's serializer and the largest message the router accepts, for wire links.
    send_limit: Option<(Serializer, usize)>,
}

impl Task {
    async fn run(
        mut self,
        mut link: Link,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        dropped: oneshot::Receiver<()>,
        closed: oneshot::Sender<()>,
    ) {
        // Resolves once every Client handle is gone; then never again.
        let mut dropped = Some(dropped);
        let interval = self.config.keepalive;
        let mut last_heard = Instant::now();
        let mut tick = interval.map(|i| self.runtime.sleep(i));
        let end = loop {
            // Short-lived, on the stack: boxing the command would only add an allocation.
            #[allow(clippy::large_enum_variant)]
            enum Input {
                Link(Received),
                Cmd(Option<Cmd>),
                Tick,
            }
            let input = {
                let both = future::select(link.recv(), cmds.next());
                let tick = match &mut tick {
                    Some(t) => Either::Left(t),
                    None => Either::Right(future::pending::<()>()),
                };
                let gone = match &mut dropped {
                    Some(d) => Either::Left(d.map(|_| ())),
                    None => Either::Right(future::pending::<()>()),
                };
                match future::select(both, future::select(tick, gone)).await {
                    Either::Left((Either::Left((r, _)), _)) => Input::Link(r),
                    Either::Left((Either::Right((c, _)), _)) => Input::Cmd(c),
                    Either::Right((Either::Left(((), _)), _)) => Input::Tick,
                    Either::Right((Either::Right(((), _)), _)) => Input::Cmd(None),
                }
            };
            match input {
                Input::Link(Received::Messages(messages)) => {
                    last_heard = Instant::now();
                    for m in messages {
                        let _ = self.session.handle_message(Instant::now(), m);
                    }
                }
                Input::Link(Received::Nothing) => last_heard = Instant::now(),
                Input::Link(Received::End(e)) => {
                    self.session.handle_transport_closed();
                    self.drain_events();
                    break e.unwrap_or(Error::Closed);
                }
                // Every Client handle is gone: leave politely.
                Input::Cmd(None) => {
                    dropped = None;
                    if !self.session.is_closed() && self.leaving.is_none() {
                        let _ = self.session.leave(nexus_core::uri::close::NORMAL, None);
                    }
                }
                Input::Cmd(Some(cmd)) => self.command(cmd),
                Input::Tick => {
                    let interval = interval.unwrap_or(Duration::from_secs(30));
                    if last_heard.elapsed() > interval * 2 {
                        break Error::Timeout(interval * 2);
                    }
                    if last_heard.elapsed() >= interval && link.ping().await.is_err() {
                        break Error::Closed;
                    }
                    tick = Some(self.runtime.sleep(interval));
                }
            }
            // Handling events can queue more messages (an answer to an INTERRUPT, an
            // invocation refused at once...): send those too before waiting again.
            let mut end = None;
            loop {
                let mut failed = None;
                while let Some(m) = self.session.poll_transmit() {
                    match link.send_checked(m).await {
                        Ok(()) => {}
                        Err(Unsent::TooLarge {
                            message,
                            size,
                            limit,
                        }) => self.too_large(*message, size, limit),
                        Err(Unsent::Failed(e)) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                for m in std::mem::take(&mut self.pending_raw) {
                    if failed.is_none() {
                        if let Err(e) = link.send(m).await {
                            failed = Some(e);
                        }
                    }
                }
                if let Some(e) = failed {
                    self.session.handle_transport_closed();
                    self.drain_events();
                    end = Some(e);
                    break;
                }
                if let Some(e) = self.drain_events() {
                    end = Some(e);
                    break;
                }
                if !self.session.has_transmit() && self.pending_raw.is_empty() {
                    break;
                }
            }
            if let Some(end) = end {
                break end;
            }
        };
        link.close().await;
        self.fail_all(end);
        let _ = closed.send(());
    }

    /// Handles the session's events; returns the reason when the session ended.
    fn drain_events(&mut self) -> Option<Error> {
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Result {
                    request,
                    details,
                    payload,
                } => {
                    let (args, kwargs) = split(payload);
                    let response = CallResponse {
                        args,
                        kwargs,
                        details,
                    };
                    if response.details.progress == Some(true) {
                        if let Some(call) = self.calls.get(&request) {
                            call.reply.progress(response);
                        }
                    } else if let Some(call) = self.end_call(request) {
                        call.reply.finish(Ok(response));
                    }
                }
                SessionEvent::CallError {
                    request,
                    error,
                    details,
                    payload,
                } => {
                    if let Some(call) = self.end_call(request) {
                        call.reply.finish(Err(wamp_error(error, details, payload)));
                    }
                }
                SessionEvent::Published {
                    request,
                    publication,
                } => {
                    if let Some(reply) = self.publishes.remove(&request) {
                        let _ = reply.send(Ok(Some(publication)));
                    }
                }
                SessionEvent::PublishError {
                    request,
                    error,
                    details,
                    payload,
                } => {
                    if let Some(reply) = self.publishes.remove(&request) {
                        let _ = reply.send(Err(wamp_error(error, details, payload)));
                    }
                }
                SessionEvent::Subscribed {
                    request,
                    subscription,
                } => {
                    if let Some((token, events, reply)) = self.subscribes.remove(&request) {
                        self.subscriptions
                            .entry(subscription)
                            .or_default()
                            .push((token, events));
                        let _ = reply.send(Ok(subscription));
                    }
                }
                SessionEvent::SubscribeError {
                    request,
                    error,
                    details,
                    payload,
                } => {
                    if let Some((_, _, reply)) = self.subscribes.remove(&request) {
                        let _ = reply.send(Err(wamp_error(error, details, payload)));
                    }
                }
                SessionEvent::Unsubscribed { request, .. } => {
                    if let Some(reply) = self.unsubscribes.remove(&request) {
                        let _ = reply.send(Ok(()));
                    }
                }
                SessionEvent::UnsubscribeError {
                    request,
                    error,
                    details,
                    payload,
                    ..
                } => {
                    if let Some(reply) = self.unsubscribes.remove(&request) {
                        let _ = reply.send(Err(wamp_error(error, details, payload)));
                    }
                }
                SessionEvent::SubscriptionRevoked {
                    subscription,
                    reason,
                } => {
                    tracing::info!("subscription {subscription} revoked by the router: {reason:?}");
                    // Dropping the senders ends the Subscription streams.
                    self.subscriptions.remove(&subscription);
                    self.revoked(Revoked::Subscription {
                        id: subscription,
                        reason,
                    });
                }
                SessionEvent::Registered {
                    request,
                    registration,
                } => {
                    if let Some((handler, reply)) = self.registers.remove(&request) {
                        self.registrations.insert(registration, handler);
                        let _ = reply.send(Ok(registration));
                    }
                }
                SessionEvent::RegisterError {
                    request,
                    error,
                    details,
                    payload,
                } => {
                    if let Some((_, reply)) = self.registers.remove(&request) {
                        let _ = reply.send(Err(wamp_error(error, details, payload)));
                    }
                }
                SessionEvent::Unregistered {
                    request,
                    registration,
                } => {
                    self.registrations.remove(&registration);
                    if let Some(reply) = self.unregisters.remove(&request) {
                        let _ = reply.send(Ok(()));
                    }
                }
                SessionEvent::UnregisterError {
                    request,
                    error,
                    details,
                    payload,
                    ..
                } => {
                    if let Some(reply) = self.unregisters.remove(&request) {
                        let _ = reply.send(Err(wamp_error(error, details, payload)));
                    }
                }
                SessionEvent::RegistrationRevoked {
                    registration,
                    reason,
                } => {
                    tracing::info!("registration {registration} revoked by the router: {reason:?}");
                    self.registrations.remove(&registration);
                    self.revoked(Revoked::Registration {
                        id: registration,
                        reason,
                    });
                }
                SessionEvent::Event {
                    subscription,
                    publication,
                    details,
                    payload,
                } => {
                    self.deliver(subscription, publication, details, payload);
                }
                SessionEvent::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                } => {
                    self.invoke(request, registration, details, payload);
                }
                SessionEvent::InvocationChunk {
                    request,
                    details,
                    payload,
                    ..
                } => {
                    // Chunks for a handler that already finished are dropped.
                    if let Some(running) = self.invocations.get_mut(&request) {
                        if let Some(chunks) = &running.chunks {
                            let _ = chunks.unbounded_send(payload);
                        }
                        if details.progress != Some(true) {
                            running.chunks = None;
                        }
                    }
                }
                SessionEvent::Interrupt { request, .. } => {
                    // Finishing stops the handler. For `kill` the caller waits for our
                    // answer; for `killnowait` the dealer discards it (the spec lets a
                    // callee answer late), but it closes the invocation in the session,
                    // which would otherwise keep it open for good.
                    let Some(running) = self.invocations.remove(&request) else {
                        continue;
                    };
                    running.finish();
                    let _ = self.session.yield_error(
                        request,
                        Uri::new_unchecked(nexus_core::uri::error::CANCELED),
                        ErrorDetails::default(),
                        Payload::default(),
                    );
                }
                SessionEvent::Left { .. } => {
                    if let Some(reply) = self.leaving.take() {
                        let _ = reply.send(Ok(()));
                    }
                    return Some(Error::Closed);
                }
                SessionEvent::Aborted {
                    reason, details, ..
                } => {
                    return Some(Error::Aborted {
                        reason,
                        message: details.message,
                    })
                }
                SessionEvent::ProtocolViolation { error } => {
                    return Some(Error::Protocol(error.to_string()))
                }
                SessionEvent::TransportClosed => return Some(Error::Closed),
                _ => {}
            }
        }
        None
    }

    /// Whether a request with `payload` fits the router's limit; `build` makes the message
    /// with a given request ID (the widest is used). Payloads far below the limit skip the
    /// exact check.
    fn fits(&self, build: impl FnOnce(Id) -> Message, payload: &Payload) -> Result<(), Error> {
        let Some((serializer, limit)) = self.send_limit else {
            return Ok(());
        };
        if payload_upper_bound(payload) + 1024 < limit {
            return Ok(());
        }
        let size = serializer
            .encode(&build(Id::MAX))
            .map_err(|e| Error::Protocol(e.to_string()))?
            .len();
        if size + 4 > limit {
            return Err(Error::from(
                WampError::new(nexus_core::uri::error::PAYLOAD_SIZE_EXCEEDED).with_args(vec![
                    Value::from(format!(
                        "the message is {size} bytes; the router accepts at most {limit}"
                    )),
                ]),
            ));
        }
        Ok(())
    }

    /// A request too large for the router was not sent: fail it locally with
    /// `wamp.error.payload_size_exceeded`; a too large result goes to the caller as that
    /// error instead.
    fn too_large(&mut self, message: Message, size: usize, limit: usize) {
        let why = format!("the message is {size} bytes; the router accepts at most {limit}");
        let error = || {
            Error::from(
                WampError::new(nexus_core::uri::error::PAYLOAD_SIZE_EXCEEDED)
                    .with_args(vec![Value::from(why.clone())]),
            )
        };
        match message {
            // The session still counts the request as outstanding; nothing will answer it.
            Message::Call(c) => {
                if let Some(call) = self.end_call(c.request) {
                    call.reply.finish(Err(error()));
                }
            }
            Message::Publish(p) => match self.publishes.remove(&p.request) {
                Some(reply) => {
                    let _ = reply.send(Err(error()));
                }
                None => tracing::warn!("an unacknowledged PUBLISH was not sent: {why}"),
            },
            // A progressive result: the invocation is still open in the session; end it
            // with the error and stop the handler.
            Message::Yield(y) if y.options.progress == Some(true) => {
                if let Some(running) = self.invocations.remove(&y.request) {
                    running.finish();
                }
                let _ = self.session.yield_error(
                    y.request,
                    Uri::new_unchecked(nexus_core::uri::error::PAYLOAD_SIZE_EXCEEDED),
                    ErrorDetails::default(),
                    Payload::new(vec![Value::from(why)], Dict::new()),
                );
            }
            Message::Yield(y) => {
                let error = nexus_core::message::Error::new(
                    nexus_core::message::RequestType::Invocation,
                    y.request,
                    nexus_core::uri::error::PAYLOAD_SIZE_EXCEEDED,
                )
                .with_args(vec![Value::from(why)]);
                // Sent right after; the session already counts the invocation as answered.
                self.pending_raw.push(error.into());
            }
            other => tracing::warn!("a {} was not sent: {why}", other.name()),
        }
    }

    fn deliver(
        &mut self,
        subscription: Id,
        publication: Id,
        details: EventDetails,
        payload: Payload,
    ) {
        let Some(subscribers) = self.subscriptions.get_mut(&subscription) else {
            return;
        };
        let (args, kwargs) = split(payload);
        let event = Event {
            subscription,
            publication,
            args,
            kwargs,
            details,
        };
        let buffer = self.config.event_buffer;
        subscribers.retain_mut(|(_, tx)| {
            if tx.is_closed() {
                return false;
            }
            match tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(e) if e.is_full() => {
                    tracing::warn!("subscription {subscription}: the consumer is {buffer} events behind; dropping an event");
                    true
                }
                Err(_) => false,
            }
        });
        if subscribers.is_empty() {
            // Every local handle was dropped: leave the subscription.
            self.subscriptions.remove(&subscription);
            let _ = self.session.unsubscribe(subscription);
        }
    }

    fn invoke(
        &mut self,
        request: Id,
        registration: Id,
        details: InvocationDetails,
        payload: Payload,
    ) {
        let Some(handler) = self.registrations.get(&registration).cloned() else {
            let _ = self.session.yield_error(
                request,
                Uri::new_unchecked(nexus_core::uri::error::NO_SUCH_REGISTRATION),
                ErrorDetails::default(),
                Payload::default(),
            );
            return;
        };
        let chunked = details.progress == Some(true);
        if chunked && matches!(handler, Handler::Plain(_)) {
            // Later chunks are discarded by the session once this is answered.
            let _ = self.session.yield_error(
                request,
                Uri::new_unchecked(nexus_core::uri::error::FEATURE_NOT_SUPPORTED),
                ErrorDetails::default(),
                Payload::new(
                    vec![Value::from(format!(
                        "registration {registration} takes no input in chunks (progressive call invocations): its callee registered it with register, not register_streaming"
                    ))],
                    Dict::new(),
                ),
            );
            return;
        }
        let timeout = details
            .timeout
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        let (activity, activity_rx) = match timeout {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let shared = InvocationShared::new(
            request,
            details.receive_progress == Some(true),
            self.cmd.clone(),
            activity,
        );
        let (args, kwargs) = split(payload);
        let invocation = Invocation {
            args,
            kwargs,
            details,
            registration,
            progress: Progress {
                shared: shared.clone(),
            },
        };
        let (chunks, chunks_rx) = mpsc::unbounded();
        let work = match handler {
            Handler::Plain(handler) => handler(invocation),
            Handler::Streaming(handler) => handler(invocation, InvocationStream { rx: chunks_rx }),
        };
        let (abort, aborted) = oneshot::channel::<()>();
        self.invocations.insert(
            request,
            RunningInvocation {
                _abort: abort,
                // Not chunked: the stream ends at once.
                chunks: chunked.then_some(chunks),
                shared: shared.clone(),
            },
        );
        let runtime = self.runtime.clone();
        runtime::spawn(&*self.runtime, async move {
            let work = std::pin::pin!(with_timeout(runtime, timeout, activity_rx, work));
            let result = match future::select(work, aborted).await {
                Either::Left((Some(result), _)) => result,
                Either::Left((None, _)) => Err(WampError::new(nexus_core::uri::error::TIMEOUT)
                    .with_args(vec![Value::from(format!(
                        "the callee did not answer within the invocation's timeout of {} ms",
                        timeout.unwrap_or_default().as_millis()
                    ))])),
                // Interrupted, or the session ended: nothing to answer.
                Either::Right(_) => return,
            };
            // Under the lock: no progressive result can be queued after the answer.
            let mut state = shared.lock();
            state.finished = true;
            let options = std::mem::take(&mut state.yield_options);
            let _ = shared.cmd.unbounded_send(Cmd::Answer {
                invocation: request,
                result,
                options,
            });
        });
    }

    /// Ends a call locally: forgets its token and any open input.
    fn end_call(&mut self, request: Id) -> Option<PendingCall> {
        let call = self.calls.remove(&request)?;
        self.call_tokens.remove(&call.token);
        self.inputs.remove(&call.token);
        Some(call)
    }

    fn revoked(&mut self, revoked: Revoked) {
        let mut watchers = self
            .revocation_watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        watchers
            .list
            .retain(|tx| tx.unbounded_send(revoked.clone()).is_ok());
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Call {
                token,
                procedure,
                options,
                payload,
                reply,
            } => {
                // Refused before the session takes a request ID: an ID never sent would
                // leave a gap the router must treat as a protocol violation.
                if let Err(e) = self.fits(
                    |id| {
                        Call::new(id, procedure.clone())
                            .with_options(options.clone())
                            .with_payload(payload.clone())
                            .into()
                    },
                    &payload,
                ) {
                    reply.finish(Err(e));
                    return;
                }
                let chunked = (options.progress == Some(true)).then(|| procedure.clone());
                match self.session.call(procedure, options, payload) {
                    Ok(request) => {
                        self.calls.insert(request, PendingCall { token, reply });
                        self.call_tokens.insert(token, request);
                        if let Some(procedure) = chunked {
                            self.inputs.insert(token, (request, procedure));
                        }
                    }
                    Err(e) => reply.finish(Err(e.into())),
                }
            }
            Cmd::DropCall { token } => {
                if let Some(request) = self.call_tokens.get(&token).copied() {
                    self.end_call(request);
                    self.cancel(request);
                }
            }
            Cmd::Chunk {
                token,
                payload,
                last,
                reply,
            } => {
                let Some((request, procedure)) = self.inputs.get(&token).cloned() else {
                    let _ = reply.send(Err(Error::CallEnded));
                    return;
                };
                if let Err(e) = self.fits(
                    |id| {
                        Call::new(id, procedure.clone())
                            .with_options(CallOptions {
                                progress: Some(true),
                                ..Default::default()
                            })
                            .with_payload(payload.clone())
                            .into()
                    },
                    &payload,
                ) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let sent = if last {
                    self.inputs.remove(&token);
                    self.session.finish_call(request, payload)
                } else {
                    self.session.continue_call(request, payload)
                };
                let _ = reply.send(sent.map_err(|e| match e {
                    UsageError::CallNotOutstanding { .. } => Error::CallEnded,
                    e => Error::Usage(e),
                }));
            }
            Cmd::AbandonInput { token } => {
                // The input was cut short: cancel rather than pass it off as complete.
                if let Some((request, _)) = self.inputs.remove(&token) {
                    if !self.cancel(request) {
                        if let Some(call) = self.end_call(request) {
                            call.reply.finish(Err(Error::from(
                                WampError::new(nexus_core::uri::error::CANCELED).with_args(vec![
                                    Value::from(
                                        "the CallSender was dropped before finish(), and the router cannot cancel calls",
                                    ),
                                ]),
                            )));
                        }
                    }
                }
            }
            Cmd::Publish {
                topic,
                options,
                payload,
                reply,
            } => {
                if let Err(e) = self.fits(
                    |id| {
                        Publish::new(id, topic.clone())
                            .with_options(options.clone())
                            .with_payload(payload.clone())
                            .into()
                    },
                    &payload,
                ) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let acknowledged = options.acknowledge == Some(true);
                match self.session.publish(topic, options, payload) {
                    Ok(request) if acknowledged => {
                        self.publishes.insert(request, reply);
                    }
                    Ok(_) => {
                        let _ = reply.send(Ok(None));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Cmd::Subscribe {
                topic,
                options,
                token,
                events,
                reply,
            } => match self.session.subscribe(topic, options) {
                Ok(request) => {
                    self.subscribes.insert(request, (token, events, reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Cmd::Unsubscribe {
                subscription,
                token,
                reply,
            } => {
                let Some(subscribers) = self.subscriptions.get_mut(&subscription) else {
                    let _ = reply.send(Ok(()));
                    return;
                };
                subscribers.retain(|(t, _)| *t != token);
                if !subscribers.is_empty() {
                    let _ = reply.send(Ok(()));
                    return;
                }
                self.subscriptions.remove(&subscription);
                match self.session.unsubscribe(subscription) {
                    Ok(request) => {
                        self.unsubscribes.insert(request, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Cmd::Register {
                procedure,
                options,
                handler,
                reply,
            } => match self.session.register(procedure, options) {
                Ok(request) => {
                    self.registers.insert(request, (handler, reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Cmd::Unregister {
                registration,
                reply,
            } => match self.session.unregister(registration) {
                Ok(request) => {
                    self.unregisters.insert(request, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Cmd::Answer {
                invocation,
                result,
                options,
            } => {
                if self.invocations.remove(&invocation).is_none() {
                    return;
                }
                let answered = match result {
                    Ok(payload) => {
                        self.session
                            .yield_result(Instant::now(), invocation, options, payload)
                    }
                    Err(e) => self.session.yield_error(
                        invocation,
                        e.error,
                        e.details,
                        Payload::new(e.args, e.kwargs),
                    ),
                };
                if let Err(e) = answered {
                    // For example passthru options with a payload of the wrong shape: the
                    // caller must not wait forever.
                    tracing::warn!(
                        "invocation {invocation}: the handler's answer was refused: {e}"
                    );
                    let _ = self.session.yield_error(
                        invocation,
                        Uri::new_unchecked(nexus_core::uri::error::INVALID_ARGUMENT),
                        ErrorDetails::default(),
                        Payload::new(
                            vec![Value::from(format!("the callee's answer was refused: {e}"))],
                            Dict::new(),
                        ),
                    );
                }
            }
            Cmd::Progress {
                invocation,
                options,
                payload,
            } => {
                if !self.invocations.contains_key(&invocation) {
                    return;
                }
                let procedure_free = |id| {
                    nexus_core::message::Yield {
                        request: id,
                        options: options.clone(),
                        payload: payload.clone(),
                    }
                    .into()
                };
                if let Err(e) = self.fits(procedure_free, &payload) {
                    // Too large for the router: end the invocation with the error.
                    if let Some(running) = self.invocations.remove(&invocation) {
                        running.finish();
                    }
                    if let Error::Wamp(e) = e {
                        let e = *e;
                        let _ = self.session.yield_error(
                            invocation,
                            e.error,
                            e.details,
                            Payload::new(e.args, e.kwargs),
                        );
                    }
                    return;
                }
                if let Err(e) =
                    self.session
                        .yield_result(Instant::now(), invocation, options, payload)
                {
                    tracing::warn!(
                        "invocation {invocation}: a progressive result was refused: {e}"
                    );
                }
            }
            Cmd::Leave { reply } => {
                if self.session.is_closed() {
                    let _ = reply.send(Ok(()));
                    return;
                }
                match self.session.leave(nexus_core::uri::close::NORMAL, None) {
                    Ok(()) => self.leaving = Some(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
        }
    }

    /// Cancels an outstanding call with `killnowait`, if the router supports canceling;
    /// returns whether it did.
    fn cancel(&mut self, request: Id) -> bool {
        self.session
            .router_supports("dealer", nexus_core::features::CALL_CANCELING)
            && self
                .session
                .cancel(request, Some(CancelMode::KillNoWait))
                .is_ok()
    }

    /// The session ended: every request still waiting fails with `end`.
    fn fail_all(&mut self, end: Error) {
        let message = end.to_string();
        let err = || match &end {
            Error::Aborted { reason, message } => Error::Aborted {
                reason: reason.clone(),
                message: message.clone(),
            },
            Error::Closed => Error::Closed,
            _ => Error::Protocol(message.clone()),
        };
        for (_, call) in self.calls.drain() {
            call.reply.finish(Err(err()));
        }
        self.call_tokens.clear();
        self.inputs.clear();
        {
            let mut watchers = self
                .revocation_watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            watchers.closed = true;
            watchers.list.clear();
        }
        for (_, reply) in self.publishes.drain() {
            let _ = reply.send(Err(err()));
        }
        for (_, (_, _, reply)) in self.subscribes.drain() {
            let _ = reply.send(Err(err()));
        }
        for (_, reply) in self.unsubscribes.drain() {
            let _ = reply.send(Err(err()));
        }
        for (_, (_, reply)) in self.registers.drain() {
            let _ = reply.send(Err(err()));
        }
        for (_, reply) in self.unregisters.drain() {
            let _ = reply.send(Err(err()));
        }
        if let Some(reply) = self.leaving.take() {
            let _ = reply.send(Ok(()));
        }
        self.subscriptions.clear();
        for (_, running) in self.invocations.drain() {
            running.finish();
        }
        self.registrations.clear();
    }
}

/// Runs a handler's `work`; with a `timeout`, gives up (returns `None`, dropping the work)
/// when it passes without an answer. Each message on `activity` (a progressive result)
/// restarts the timer.
async fn with_timeout(
    runtime: Arc<dyn Runtime>,
    timeout: Option<Duration>,
    mut activity: Option<mpsc::UnboundedReceiver<()>>,
    mut work: BoxFuture<'static, HandlerResult>,
) -> Option<HandlerResult> {
    let Some(timeout) = timeout else {
        return Some(work.await);
    };
    loop {
        let kicked = match &mut activity {
            Some(rx) => Either::Left(rx.next()),
            None => Either::Right(future::pending()),
        };
        match future::select(work, future::select(runtime.sleep(timeout), kicked)).await {
            Either::Left((result, _)) => return Some(result),
            Either::Right((Either::Left(((), _)), _)) => return None,
            Either::Right((Either::Right((kick, _)), rest)) => {
                if kick.is_none() {
                    // Every progress handle is gone: only the timer is left.
                    activity = None;
                }
                work = rest;
            }
        }
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
    }
}

fn split(payload: Payload) -> (Vec<Value>, Dict) {
    match payload {
        Payload::Args { args, kwargs } => (args, kwargs),
        Payload::Transparent(bytes) => (vec![Value::Bytes(bytes)], Dict::new()),
    }
}

fn wamp_error(error: Uri, details: ErrorDetails, payload: Payload) -> Error {
    let (args, kwargs) = split(payload);
    Error::Wamp(Box::new(WampError {
        error,
        args,
        kwargs,
        details,
    }))
}
