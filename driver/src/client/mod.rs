//! The async client: connect by URL (or in-process to a router), then call, register,
//! publish and subscribe. One task per client (the [pump](pump)) owns the sans-IO
//! [`Session`](nexus_core::session::Session) and the transport; the API here talks to it
//! through a channel. The session decides the protocol (WAMP spec, basic and advanced
//! profiles); this module is the API surface: calls, registrations, publications,
//! subscriptions and their handles.

mod builders;
mod config;
mod connect;
mod handles;
mod link;
mod pump;
mod state;
mod supervise;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::SinkExt;
use nexus_core::message::{
    CallOptions, EventDetails, InvocationDetails, ResultDetails, WelcomeDetails, YieldOptions,
};
use nexus_core::typed::{self, PayloadError};
use nexus_core::{
    Dict, Payload, PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, Uri, Value,
};

pub use builders::{Call, ErasedHandler, IntoHandler, Publish, Register, Subscribe};
pub use config::{ChallengeHandler, ClientConfig};
pub use connect::connect_transport;
pub use handles::{Missed, Registration, Subscription, SubscriptionError, SubscriptionItem};
pub(crate) use handles::{Released, Releases};
pub(crate) use pump::Cmd;
pub use state::{ClientState, ClientStates};

use state::StateWatchers;

/// How many requests may wait for the client task; past it, a request waits for room.
pub(crate) const COMMAND_BUFFER: usize = 1024;

use crate::error::{Error, WampError};
pub use crate::rpc::CallFuture;
use crate::rpc::{
    CallReply, InvocationShared, InvocationStream, Progress, RevocationQueue, Revocations,
};

/// The result of a call.
///
/// Read it as typed values with [`args`](CallResponse::args), [`arg`](CallResponse::arg),
/// [`kwargs`](CallResponse::kwargs) or [`decode`](CallResponse::decode), or as [`Value`]s
/// through the fields.
///
/// ```
/// use nexus_core::{args, kwargs};
/// use nexus_driver::CallResponse;
///
/// let r = CallResponse { args: args![5, "five"], kwargs: kwargs! { "exact" => true }, details: Default::default() };
/// let (n, word): (i64, String) = r.args()?;
/// assert_eq!((n, word.as_str()), (5, "five"));
/// assert_eq!(r.arg::<u8>(0)?, 5);
/// #[derive(serde::Deserialize)]
/// struct Flags { exact: bool }
/// assert!(r.kwargs::<Flags>()?.exact);
/// let err = r.args::<(i64, i64)>().unwrap_err();
/// assert_eq!(err.to_string(), "argument 1: invalid type: string \"five\", expected i64");
/// # Ok::<(), nexus_driver::nexus_core::typed::PayloadError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CallResponse {
    /// Positional results.
    pub args: Vec<Value>,
    /// Keyword results.
    pub kwargs: Dict,
    /// RESULT details.
    pub details: ResultDetails,
}

/// The typed readers every payload holder shares (results, events, invocations).
macro_rules! typed_readers {
    ($what:literal) => {
        #[doc = concat!("The positional ", $what, " as `T`: a tuple, an array, a `Vec`, or a struct read in order.")]
        pub fn args<T: serde::de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
            typed::from_args(self.args.clone())
        }

        #[doc = concat!("Positional ", $what, " `index` as `T` (a missing one reads as null: an `Option` gives `None`).")]
        pub fn arg<T: serde::de::DeserializeOwned>(&self, index: usize) -> Result<T, PayloadError> {
            typed::from_arg(&self.args, index)
        }

        #[doc = concat!("The keyword ", $what, " as `T`: a struct or a map.")]
        pub fn kwargs<T: serde::de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
            typed::from_kwargs(self.kwargs.clone())
        }

        /// The payload as one value: the single positional argument, or the keyword
        /// arguments when there are no positional ones.
        pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
            typed::decode(self.args.clone(), self.kwargs.clone())
        }
    };
}

impl CallResponse {
    typed_readers!("results");
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
/// levels), a `timeout` the client enforces (see [`Register`]), `ppt_*` keys
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

impl Event {
    typed_readers!("arguments");
}

impl Invocation {
    typed_readers!("arguments");

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
        let (cmd, _) = mpsc::channel(1);
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
    ///                 inv.progress(Payload::new(args![line], Default::default())).await?;
    ///             }
    ///         }
    ///         Ok(Payload::new(args![count], Default::default()))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn progress(&self, payload: Payload) -> Result<(), Error> {
        self.progress.send(payload).await
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

/// An event received on a subscription. Read it as typed values with
/// [`args`](Event::args), [`arg`](Event::arg), [`kwargs`](Event::kwargs) or
/// [`decode`](Event::decode).
///
/// ```
/// use nexus_core::{args, kwargs, PublicationId, SubscriptionId};
/// use nexus_driver::Event;
///
/// #[derive(serde::Deserialize)]
/// struct Reading { celsius: f64 }
/// let ev = Event {
///     subscription: SubscriptionId::new(1).unwrap(),
///     publication: PublicationId::new(2).unwrap(),
///     args: args![kwargs! { "celsius" => 21.5 }],
///     kwargs: Default::default(),
///     details: Default::default(),
/// };
/// assert_eq!(ev.decode::<Reading>()?.celsius, 21.5);
/// # Ok::<(), nexus_driver::nexus_core::typed::PayloadError>(())
/// ```
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
    /// A handler that takes an `InvocationStream`: the first chunk and a stream of the others.
    Streaming(
        Arc<
            dyn Fn(Invocation, InvocationStream) -> BoxFuture<'static, HandlerResult> + Send + Sync,
        >,
    ),
}

struct Shared {
    cmd: mpsc::Sender<Cmd>,
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

/// The revocation watchers; `closed` once the client stopped (new watchers end at once).
#[derive(Default)]
pub(crate) struct Watchers {
    pub(crate) closed: bool,
    pub(crate) list: Vec<Arc<RevocationQueue>>,
}

/// A WAMP client over a transport (or in-process). Cheap to clone; every clone is the same
/// client. With a [`reconnect`](ClientConfig::reconnect) policy it outlives its connections:
/// each new one is a new session, and the client's handles carry on.
///
/// ```no_run
/// # async fn run(runtime: std::sync::Arc<dyn nexus_driver::Runtime>) -> Result<(), nexus_driver::Error> {
/// use nexus_driver::{Client, ClientConfig};
///
/// let client = Client::connect(runtime, "ws://127.0.0.1:8080/ws", ClientConfig::new("realm1")).await?;
/// let sum: i64 = client.call("com.example.add").args((2, 3)).await?.arg(0)?;
/// println!("2 + 3 = {sum}");
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

    /// A handle's hold on the live entry `released` names.
    fn hold(&self, released: Released) -> handles::Hold {
        handles::Hold::new(
            released,
            self.shared.common.releases.clone(),
            self.shared.cmd.clone(),
        )
    }

    /// Hands a request to the client task, waiting for room in its queue.
    async fn send(&self, cmd: Cmd) -> Result<(), Error> {
        self.shared
            .cmd
            .clone()
            .send(cmd)
            .await
            .map_err(|_| Error::Closed)
    }

    fn token(&self) -> u64 {
        self.shared.tokens.fetch_add(1, Ordering::Relaxed)
    }

    /// A call's handles, with its CALL waiting to be sent by the first of them polled (or
    /// the error that keeps it from starting).
    fn start_call(
        &self,
        procedure: &str,
        options: CallOptions,
        payload: Result<Payload, Error>,
        reply: CallReply,
    ) -> Result<crate::rpc::Outbox, Error> {
        let procedure = Uri::parse(procedure)?;
        let token = self.token();
        let call = Cmd::Call {
            token,
            procedure,
            options,
            payload: payload?,
            reply,
        };
        Ok(crate::rpc::Outbox::new(
            self.shared.cmd.clone(),
            call,
            self.shared.common.releases.clone(),
            token,
        ))
    }

    /// The registrations and subscriptions the router revokes from now on (registration
    /// and subscription revocation), as a stream of [`Revoked`](crate::Revoked). A revoked registration
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
        let queue = RevocationQueue::new();
        let mut watchers = self
            .shared
            .common
            .revocations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // A stopped client: the stream ends at once.
        if watchers.closed {
            queue.close();
        } else {
            watchers.list.push(queue.clone());
        }
        Revocations { queue }
    }

    /// Leaves the realm (GOODBYE) and closes the transport.
    pub async fn close(&self) -> Result<(), Error> {
        let (reply, rx) = oneshot::channel();
        if self.send(Cmd::Leave { reply }).await.is_err() {
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
