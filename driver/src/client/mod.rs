//! The async client: connect by URL (or in-process to a router), then call, register,
//! publish and subscribe. One task per client (the [pump](pump)) owns the sans-IO
//! [`Session`](nexus_core::session::Session) and the transport; the API here talks to it
//! through a channel. The session decides the protocol (WAMP spec, basic and advanced
//! profiles); this module is the API surface: calls, registrations, publications,
//! subscriptions and their handles.

mod config;
mod connect;
mod handles;
mod link;
mod pump;
mod state;
mod supervise;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::FutureExt;
use nexus_core::message::{
    CallOptions, EventDetails, InvocationDetails, PublishOptions, RegisterOptions, ResultDetails,
    SubscribeOptions, WelcomeDetails, YieldOptions,
};
use nexus_core::{
    Dict, Payload, PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, Uri, Value,
};

pub use config::{ChallengeHandler, ClientConfig};
pub use connect::connect_transport;
pub use handles::{Missed, Registration, Subscription, SubscriptionError, SubscriptionItem};
pub(crate) use pump::Cmd;
pub use state::{ClientState, ClientStates};

use handles::Releases;
use state::StateWatchers;

use crate::error::{Error, WampError};
use crate::rpc::{
    CallReply, CallSender, InvocationShared, InvocationStream, Progress, ProgressiveCall,
    Revocations, Revoked,
};

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
    pub registration: RegistrationId,
    progress: Progress,
}

impl Invocation {
    /// An invocation made by hand, for testing a handler without a router: request ID 1;
    /// progressive results are allowed when `details.receive_progress` is set, and sending
    /// one fails with [`Error::Closed`] since no session is behind it.
    ///
    /// ```
    /// use nexus_core::message::InvocationDetails;
    /// use nexus_core::{args, Payload, RegistrationId};
    /// use nexus_driver::{HandlerResult, Invocation};
    ///
    /// async fn double(inv: Invocation) -> HandlerResult {
    ///     let n = inv.args.first().and_then(|v| v.as_i64()).unwrap_or(0);
    ///     Ok(Payload::new(args![2 * n], Default::default()))
    /// }
    ///
    /// let inv = Invocation::new(RegistrationId::new(7).unwrap(), args![21], Default::default(), InvocationDetails::default());
    /// let answer = futures::executor::block_on(double(inv)).unwrap();
    /// assert_eq!(answer.args(), args![42]);
    /// ```
    pub fn new(
        registration: RegistrationId,
        args: Vec<Value>,
        kwargs: Dict,
        details: InvocationDetails,
    ) -> Self {
        let (cmd, _) = mpsc::unbounded();
        let shared =
            InvocationShared::new(RequestId::MIN, details.receive_progress == Some(true), cmd);
        Invocation {
            args,
            kwargs,
            details,
            registration,
            progress: Progress { shared },
        }
    }

    /// The INVOCATION request ID, which the router chose.
    pub fn request_id(&self) -> RequestId {
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
    pub subscription: SubscriptionId,
    /// The publication.
    pub publication: PublicationId,
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

struct Shared {
    cmd: mpsc::UnboundedSender<Cmd>,
    common: Arc<Common>,
    tokens: AtomicU64,
    closed: futures::future::Shared<oneshot::Receiver<()>>,
    /// Dropped with the last `Client` handle, which tells the task to leave.
    _alive: oneshot::Sender<()>,
}

/// What the API and the client task share.
pub(crate) struct Common {
    /// The current (or last) session and its WELCOME details.
    joined: std::sync::Mutex<Option<(SessionId, Arc<WelcomeDetails>)>>,
    states: StateWatchers,
    /// Handles let go, for the task to release.
    releases: Arc<Releases>,
    /// Who watches revocations. Shared with the task rather than registered through a
    /// command, so a watcher exists from the moment `revocations()` returns (a command could
    /// be read after a revocation the router already sent).
    revocations: std::sync::Mutex<Watchers>,
}

impl Common {
    fn new() -> Common {
        Common {
            joined: std::sync::Mutex::new(None),
            states: StateWatchers::new(),
            releases: Arc::new(Releases::default()),
            revocations: std::sync::Mutex::new(Watchers::default()),
        }
    }

    fn joined(&self) -> (SessionId, Arc<WelcomeDetails>) {
        let joined = self.joined.lock().unwrap_or_else(|e| e.into_inner());
        joined
            .clone()
            .unwrap_or_else(|| (SessionId::MIN, Arc::new(WelcomeDetails::default())))
    }
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
            .field("session", &self.session_id())
            .finish()
    }
}

impl Client {
    /// The ID of the current session (after a reconnection, the new one's; while
    /// disconnected, the last one's).
    pub fn session_id(&self) -> SessionId {
        self.shared.common.joined().0
    }

    /// The router's WELCOME details of the current (or last) session: roles, features,
    /// authid, authrole...
    pub fn welcome(&self) -> Arc<WelcomeDetails> {
        self.shared.common.joined().1
    }

    /// The authid the router authenticated this client as (`WELCOME.Details.authid`).
    pub fn authid(&self) -> Option<String> {
        self.welcome().authid.clone()
    }

    /// The role the router gave this client (`WELCOME.Details.authrole`).
    pub fn authrole(&self) -> Option<String> {
        self.welcome().authrole.clone()
    }

    /// The authentication method the router used (`WELCOME.Details.authmethod`), for
    /// example `ticket`, `wampcra`, `cryptosign`, `scram` or `anonymous`.
    pub fn authmethod(&self) -> Option<String> {
        self.welcome().authmethod.clone()
    }

    /// The client's state as it changes: a stream that starts with the current
    /// [`ClientState`] and yields each change (connecting, joined, disconnected, retrying),
    /// ending after [`ClientState::Stopped`].
    pub fn state(&self) -> ClientStates {
        self.shared.common.states.watch()
    }

    /// The client's current state.
    pub fn current_state(&self) -> ClientState {
        self.shared.common.states.current()
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
    ) -> Result<PublicationId, Error> {
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
    /// # async fn run(client: nexus_driver::Client, backup: nexus_core::SessionId) -> Result<(), nexus_driver::Error> {
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
    ) -> Result<Option<PublicationId>, Error> {
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
    /// // The last ten events the router kept for this subscription, newest first.
    /// let id = events.id().expect("held by the current session");
    /// let history = client
    ///     .call(
    ///         "wamp.subscription.get_events",
    ///         args![id.get()],
    ///         nexus_core::kwargs! { "limit" => 10, "reverse" => true },
    ///     )
    ///     .await?;
    /// while let Some(Ok(event)) = events.next().await {
    ///     let topic = event.details.topic.as_ref().map(|t| t.as_str());
    ///     println!("{topic:?} from {:?}: {:?}", event.details.publisher, event.args);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn subscribe_with(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Subscribe {
            topic: Uri::new_unchecked(topic),
            options,
            reply,
        })?;
        let (live, queue) = rx.await.map_err(|_| Error::Closed)??;
        Ok(Subscription {
            live,
            queue,
            releases: self.shared.common.releases.clone(),
            cmd: self.shared.cmd.clone(),
            done: false,
        })
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
        let (live, shared) = rx.await.map_err(|_| Error::Closed)??;
        Ok(Registration {
            live,
            shared,
            releases: self.shared.common.releases.clone(),
            cmd: self.shared.cmd.clone(),
            done: false,
        })
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
            .common
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
