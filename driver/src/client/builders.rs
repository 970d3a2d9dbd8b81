//! One way to do each thing: [`Client::call`], [`Client::publish`], [`Client::subscribe`] and
//! [`Client::register`] return builders. Arguments are anything `Serialize`; the options the
//! advanced profile defines have a method each (and [`options`](Call::options) sets the whole
//! struct for the rest); awaiting the builder sends the request.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::BoxFuture;
use nexus_core::message::{
    CallOptions, InvokePolicy, PublishOptions, RegisterOptions, SubscribeOptions,
};
use nexus_core::typed::{self, IntoPayload, PayloadError};
use nexus_core::{Dict, MatchPolicy, Payload, PublicationId, SessionId, Uri, Value};
use serde::Serialize;

use super::{CallFuture, Client, Cmd, Handler, Invocation, Registration, Released, Subscription};
use crate::error::{Error, WampError};
use crate::rpc::{CallReply, CallSender, InvocationStream, Outbox, ProgressiveCall, ResultQueue};

/// The arguments a builder collects, or the first error met while collecting them.
#[derive(Default)]
struct Arguments {
    args: Vec<Value>,
    kwargs: Dict,
    /// Set by `payload`: sent as it is.
    payload: Option<Payload>,
    error: Option<PayloadError>,
}

impl Arguments {
    fn arg(&mut self, value: &(impl Serialize + ?Sized)) {
        match typed::to_arg(value) {
            Ok(v) => self.args.push(v),
            Err(e) => self.fail(e, format!("argument {}", self.args.len())),
        }
    }

    fn args(&mut self, values: &(impl Serialize + ?Sized)) {
        match typed::to_args(values) {
            Ok(v) => self.args = v,
            Err(e) => self.fail(e, "the positional arguments".into()),
        }
    }

    fn kwarg(&mut self, key: String, value: &(impl Serialize + ?Sized)) {
        match typed::to_arg(value) {
            Ok(v) => {
                self.kwargs.insert(key, v);
            }
            Err(e) => self.fail(e, format!("keyword argument {key:?}")),
        }
    }

    fn kwargs(&mut self, values: &(impl Serialize + ?Sized)) {
        match typed::to_kwargs(values) {
            Ok(v) => self.kwargs = v,
            Err(e) => self.fail(e, "the keyword arguments".into()),
        }
    }

    fn fail(&mut self, mut e: PayloadError, place: String) {
        if self.error.is_none() {
            e.where_ = Some(place);
            self.error = Some(e);
        }
    }

    fn into_payload(self) -> Result<Payload, Error> {
        if let Some(e) = self.error {
            return Err(Error::Payload(e));
        }
        Ok(self
            .payload
            .unwrap_or_else(|| Payload::new(self.args, self.kwargs)))
    }
}

/// The argument methods every builder shares.
macro_rules! argument_methods {
    () => {
        /// Adds a positional argument: any `Serialize` value.
        pub fn arg(mut self, value: impl Serialize) -> Self {
            self.arguments.arg(&value);
            self
        }

        /// Sets all positional arguments from a value that serializes as a sequence (a
        /// tuple, an array, a `Vec`).
        pub fn args(mut self, values: impl Serialize) -> Self {
            self.arguments.args(&values);
            self
        }

        /// Adds a keyword argument.
        pub fn kwarg(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
            self.arguments.kwarg(key.into(), &value);
            self
        }

        /// Sets all keyword arguments from a value that serializes as a map (a struct, a
        /// map, a [`Dict`](nexus_core::Dict)).
        pub fn kwargs(mut self, values: impl Serialize) -> Self {
            self.arguments.kwargs(&values);
            self
        }

        /// Sends this payload as it is, in place of the arguments (for example a payload
        /// passthru payload, or values already in a [`Payload`]).
        pub fn payload(mut self, payload: Payload) -> Self {
            self.arguments.payload = Some(payload);
            self
        }
    };
}

// ---- call ------------------------------------------------------------------------------

/// A call being built, from [`Client::call`]. Await it for the final result, or turn it
/// into a stream of progressive results ([`progress`](Call::progress)) or a call with input
/// in chunks ([`chunked`](Call::chunked), [`duplex`](Call::duplex)).
///
/// Dropping the future (or stream) before it completes cancels the call (CANCEL
/// `killnowait` when the router supports call canceling).
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use std::time::Duration;
///
/// let sum = client.call("com.example.add").arg(2).arg(3).await?;
/// let (total,): (i64,) = sum.args()?;
///
/// // Caller identification and a timeout the dealer enforces (wamp.error.timeout).
/// let me = client
///     .call("com.example.whoami")
///     .disclose_me()
///     .timeout(Duration::from_secs(5))
///     .await?;
///
/// // Sharded registration: every call with this key goes to the same callee.
/// let orders = client.call("com.example.orders").rkey("customer-42").await?;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<'a> {
    client: &'a Client,
    procedure: String,
    options: CallOptions,
    arguments: Arguments,
}

impl Call<'_> {
    argument_methods!();

    /// Sets every option at once (the methods below set one each).
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// Asks the dealer to cancel the call after `timeout` (answered with
    /// `wamp.error.timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout.as_millis().try_into().unwrap_or(u64::MAX));
        self
    }

    /// Tells the callee who calls (caller identification).
    pub fn disclose_me(mut self) -> Self {
        self.options.disclose_me = Some(true);
        self
    }

    /// Routes the call by `key` among the callees of a sharded registration
    /// (`runmode: "partition"`).
    pub fn rkey(mut self, key: impl Into<String>) -> Self {
        self.options.runmode = Some("partition".into());
        self.options.rkey = Some(key.into());
        self
    }

    /// A stream of the callee's progressive results, then the final result (or the error),
    /// then the end (`receive_progress`).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    ///
    /// let mut hits = client.call("com.example.search").arg("needle").progress();
    /// while let Some(hit) = hits.next().await {
    ///     let hit = hit?;
    ///     let last = hit.details.progress != Some(true);
    ///     println!("{:?}{}", hit.args, if last { " (final)" } else { "" });
    /// }
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self) -> ProgressiveCall {
        self.options.receive_progress = Some(true);
        self.options.progress = None;
        let queue = ResultQueue::new();
        let (outbox, start_error) = split(self.start(CallReply::Stream(queue.clone())));
        ProgressiveCall {
            outbox,
            queue,
            start_error,
            done: false,
        }
    }

    /// Input in chunks (progressive call invocations): the arguments built so far are the
    /// first chunk; send the next with [`CallSender::send`] and the last with
    /// [`CallSender::finish`]. The future completes with the final result, which may come
    /// before the input is finished. Needs a router whose dealer announces
    /// `progressive_call_invocations`.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use nexus_core::{args, Payload};
    ///
    /// let chunk = |s: &str| Payload::new(args![s], Default::default());
    /// let (mut input, result) = client.call("com.example.upload").arg("first").chunked();
    /// input.send(chunk("second")).await?;
    /// input.finish(chunk("last")).await?;
    /// println!("stored {:?}", result.await?.args);
    /// # Ok(()) }
    /// ```
    pub fn chunked(mut self) -> (CallSender, CallFuture) {
        self.options.receive_progress = None;
        self.options.progress = Some(true);
        let (reply, rx) = oneshot::channel();
        let (outbox, error) = split(self.start(CallReply::Once(reply)));
        let sender = CallSender {
            outbox: outbox.as_ref().map(Outbox::share),
            finished: false,
        };
        let future = CallFuture {
            outbox,
            rx: match error {
                None => Ok(rx),
                Some(e) => Err(Some(e)),
            },
            done: false,
        };
        (sender, future)
    }

    /// Input in chunks, as [`chunked`](Call::chunked), and progressive results, as
    /// [`progress`](Call::progress): results and chunks need not pair up.
    pub fn duplex(mut self) -> (CallSender, ProgressiveCall) {
        self.options.receive_progress = Some(true);
        self.options.progress = Some(true);
        let queue = ResultQueue::new();
        let (outbox, start_error) = split(self.start(CallReply::Stream(queue.clone())));
        let sender = CallSender {
            outbox: outbox.as_ref().map(Outbox::share),
            finished: false,
        };
        let call = ProgressiveCall {
            outbox,
            queue,
            start_error,
            done: false,
        };
        (sender, call)
    }

    fn start(self, reply: CallReply) -> Result<Outbox, Error> {
        let payload = self.arguments.into_payload();
        self.client
            .start_call(&self.procedure, self.options, payload, reply)
    }
}

/// The handles' outbox, or the error that kept the call from starting.
fn split(started: Result<Outbox, Error>) -> (Option<Outbox>, Option<Error>) {
    match started {
        Ok(outbox) => (Some(outbox), None),
        Err(e) => (None, Some(e)),
    }
}

impl IntoFuture for Call<'_> {
    type Output = Result<super::CallResponse, Error>;
    type IntoFuture = CallFuture;

    fn into_future(mut self) -> CallFuture {
        self.options.progress = None;
        let (reply, rx) = oneshot::channel();
        let (outbox, error) = split(self.start(CallReply::Once(reply)));
        CallFuture {
            outbox,
            rx: match error {
                None => Ok(rx),
                Some(e) => Err(Some(e)),
            },
            done: false,
        }
    }
}

// ---- publish ---------------------------------------------------------------------------

/// A publication being built, from [`Client::publish`]. Await it to send the event
/// (without acknowledgement: it completes once the event is on its way), or await
/// [`acknowledged`](Publish::acknowledged) for the router's publication ID.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client, backup: nexus_core::SessionId) -> Result<(), nexus_driver::Error> {
/// #[derive(serde::Serialize)]
/// struct Reading { sensor: String, celsius: f64 }
///
/// client.publish("com.example.readings").arg(Reading { sensor: "t1".into(), celsius: 21.5 }).await?;
///
/// // To every subscriber with role "operator" but one session, telling them who published,
/// // kept as the topic's retained event, and acknowledged by the router.
/// let publication = client
///     .publish("com.example.alarm")
///     .arg("overheat")
///     .eligible_authrole(["operator"])
///     .exclude([backup])
///     .disclose_me()
///     .retain()
///     .acknowledged()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a publication does nothing until it is awaited"]
pub struct Publish<'a> {
    client: &'a Client,
    topic: String,
    options: PublishOptions,
    arguments: Arguments,
}

impl Publish<'_> {
    argument_methods!();

    /// Sets every option at once.
    pub fn options(mut self, options: PublishOptions) -> Self {
        self.options = options;
        self
    }

    /// Whether this session receives its own event when subscribed (publisher exclusion:
    /// by default it does not).
    pub fn exclude_me(mut self, exclude: bool) -> Self {
        self.options.exclude_me = Some(exclude);
        self
    }

    /// Not to these sessions (blacklisting).
    pub fn exclude(mut self, sessions: impl IntoIterator<Item = SessionId>) -> Self {
        self.options.exclude = Some(sessions.into_iter().collect());
        self
    }

    /// Only to these sessions (whitelisting).
    pub fn eligible(mut self, sessions: impl IntoIterator<Item = SessionId>) -> Self {
        self.options.eligible = Some(sessions.into_iter().collect());
        self
    }

    /// Not to sessions with these authids.
    pub fn exclude_authid<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.options.exclude_authid = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Only to sessions with these authids.
    pub fn eligible_authid<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.options.eligible_authid = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Not to sessions with these roles.
    pub fn exclude_authrole<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> Self {
        self.options.exclude_authrole = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// Only to sessions with these roles.
    pub fn eligible_authrole<S: Into<String>>(
        mut self,
        roles: impl IntoIterator<Item = S>,
    ) -> Self {
        self.options.eligible_authrole = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// Tells subscribers who published (publisher identification).
    pub fn disclose_me(mut self) -> Self {
        self.options.disclose_me = Some(true);
        self
    }

    /// Keeps the event as the topic's retained event, for later subscribers that ask.
    pub fn retain(mut self) -> Self {
        self.options.retain = Some(true);
        self
    }

    /// Delivers to one subscriber of each sharded subscription, chosen by `key`.
    pub fn rkey(mut self, key: impl Into<String>) -> Self {
        self.options.rkey = Some(key.into());
        self
    }

    /// Publishes with acknowledgement: completes with the router's publication ID once it
    /// has accepted the event, or with its error (for example `wamp.error.not_authorized`).
    pub fn acknowledged(mut self) -> impl Future<Output = Result<PublicationId, Error>> {
        self.options.acknowledge = Some(true);
        let sent = self.send();
        async move { sent.await?.ok_or(Error::Closed) }
    }

    fn send(self) -> BoxFuture<'static, Result<Option<PublicationId>, Error>> {
        let payload = self.arguments.into_payload();
        let topic = Uri::parse(self.topic);
        let client = self.client.clone();
        let options = self.options;
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            client
                .send(Cmd::Publish {
                    topic: topic?,
                    options,
                    payload: payload?,
                    reply,
                })
                .await?;
            rx.await.map_err(|_| Error::Closed)?
        })
    }
}

impl IntoFuture for Publish<'_> {
    type Output = Result<(), Error>;
    type IntoFuture = BoxFuture<'static, Result<(), Error>>;

    /// Sends the event; with `acknowledge` set in [`options`](Publish::options), waits for
    /// the router's answer.
    fn into_future(self) -> Self::IntoFuture {
        let sent = self.send();
        Box::pin(async move { sent.await.map(|_| ()) })
    }
}

// ---- subscribe -------------------------------------------------------------------------

/// A subscription being made, from [`Client::subscribe`]; await it for the
/// [`Subscription`] stream.
///
/// With [`get_retained`](Subscribe::get_retained), the topic's retained event (if any)
/// arrives first, with `details.retained`; with a pattern each event names its concrete
/// `details.topic`. The router's meta API is reached with ordinary calls and subscriptions
/// (`wamp.subscription.get_events` for the event history, `wamp.session.on_join`...).
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use futures::StreamExt;
///
/// #[derive(serde::Deserialize)]
/// struct Reading { celsius: f64 }
///
/// let mut sensors = client.subscribe("com.example.sensors.").prefix().get_retained().await?;
/// while let Some(Ok(event)) = sensors.next().await {
///     let topic = event.details.topic.as_ref().map(|t| t.to_string());
///     let reading: Reading = event.decode()?;
///     println!("{topic:?}: {} °C", reading.celsius);
/// }
/// # Ok(()) }
/// ```
#[must_use = "a subscription is made when awaited"]
pub struct Subscribe<'a> {
    client: &'a Client,
    topic: String,
    options: SubscribeOptions,
}

impl Subscribe<'_> {
    /// Sets every option at once.
    pub fn options(mut self, options: SubscribeOptions) -> Self {
        self.options = options;
        self
    }

    /// Matches every topic that starts with this one.
    pub fn prefix(mut self) -> Self {
        self.options.match_policy = Some(MatchPolicy::Prefix);
        self
    }

    /// Matches topics whose components equal this one's non-empty components
    /// (`com..update` matches `com.user.update`).
    pub fn wildcard(mut self) -> Self {
        self.options.match_policy = Some(MatchPolicy::Wildcard);
        self
    }

    /// Asks for the topic's retained event first.
    pub fn get_retained(mut self) -> Self {
        self.options.get_retained = Some(true);
        self
    }
}

impl IntoFuture for Subscribe<'_> {
    type Output = Result<Subscription, Error>;
    type IntoFuture = BoxFuture<'static, Result<Subscription, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        let client = self.client.clone();
        let topic = Uri::new_unchecked(self.topic);
        let options = self.options;
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            client
                .send(Cmd::Subscribe {
                    topic,
                    options,
                    reply,
                })
                .await?;
            let (live, queue) = rx.await.map_err(|_| Error::Closed)??;
            Ok(Subscription {
                hold: client.hold(Released::Subscription(live)),
                queue,
            })
        })
    }
}

// ---- register --------------------------------------------------------------------------

/// A registration being made, from [`Client::register`]; await it for the
/// [`Registration`] handle (dropping it unregisters).
///
/// **Timeouts.** When an invocation carries `details.timeout` (a dealer that forwards call
/// timeouts, for example to a registration made with
/// [`forward_timeout`](Register::forward_timeout)), the client enforces it: a handler that
/// has not answered by then is stopped (dropped) and the caller gets `wamp.error.timeout`.
/// Each progressive result restarts the timer.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use nexus_core::message::InvokePolicy;
/// use nexus_driver::Invocation;
///
/// // Every procedure under com.example.users., shared round-robin with other callees,
/// // with call timeouts forwarded to this client.
/// let users = client
///     .register("com.example.users.", |inv: Invocation| async move {
///         Ok(inv.details.procedure.map(|p| p.to_string()))
///     })
///     .prefix()
///     .invoke(InvokePolicy::RoundRobin)
///     .forward_timeout()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a registration is made when awaited"]
pub struct Register<'a> {
    client: &'a Client,
    procedure: String,
    options: RegisterOptions,
    handler: Handler,
}

impl Register<'_> {
    /// Sets every option at once.
    pub fn options(mut self, options: RegisterOptions) -> Self {
        self.options = options;
        self
    }

    /// Serves every procedure that starts with this one (the concrete one is in
    /// `details.procedure`).
    pub fn prefix(mut self) -> Self {
        self.options.match_policy = Some(MatchPolicy::Prefix);
        self
    }

    /// Serves procedures whose components equal this one's non-empty components.
    pub fn wildcard(mut self) -> Self {
        self.options.match_policy = Some(MatchPolicy::Wildcard);
        self
    }

    /// Shares the procedure with other callees, invoked by `policy` (shared registration).
    pub fn invoke(mut self, policy: InvokePolicy) -> Self {
        self.options.invoke = Some(policy);
        self
    }

    /// Asks the router to tell the handler who calls (`details.caller`).
    pub fn disclose_caller(mut self) -> Self {
        self.options.disclose_caller = Some(true);
        self
    }

    /// Asks the dealer to forward call timeouts to this client, which enforces them.
    pub fn forward_timeout(mut self) -> Self {
        self.options.forward_timeout = Some(true);
        self
    }
}

impl IntoFuture for Register<'_> {
    type Output = Result<Registration, Error>;
    type IntoFuture = BoxFuture<'static, Result<Registration, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        let client = self.client.clone();
        let procedure = Uri::new_unchecked(self.procedure);
        let options = self.options;
        let handler = self.handler;
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            client
                .send(Cmd::Register {
                    procedure,
                    options,
                    handler,
                    reply,
                })
                .await?;
            let (live, shared) = rx.await.map_err(|_| Error::Closed)??;
            Ok(Registration {
                hold: client.hold(Released::Registration(live)),
                shared,
            })
        })
    }
}

/// A procedure's handler: an async function of the [`Invocation`] (or of the invocation and
/// the [`InvocationStream`] of its further input chunks) that returns any `Serialize` value
/// (the result's one argument), a [`Payload`], or a [`WampError`].
///
/// Implemented for closures and functions of those shapes; the parameter `M` only tells the
/// two apart.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use nexus_driver::{Invocation, WampError};
///
/// #[derive(serde::Deserialize)]
/// struct Transfer { from: String, to: String, cents: u64 }
///
/// // A function works as well as a closure; its arguments are read with `?`
/// // (a payload of the wrong shape is answered with wamp.error.invalid_argument).
/// async fn transfer(inv: Invocation) -> Result<u64, WampError> {
///     let t: Transfer = inv.kwargs()?;
///     if t.from == t.to {
///         return Err(WampError::new("com.bank.error.same_account"));
///     }
///     Ok(t.cents)
/// }
///
/// let _transfer = client.register("com.bank.transfer", transfer).await?;
/// # Ok(()) }
/// ```
pub trait IntoHandler<M>: Send + Sync + 'static {
    /// The handler, ready for the client task.
    #[doc(hidden)]
    fn into_handler(self) -> ErasedHandler;
}

/// A handler with its types erased (see [`IntoHandler`]).
#[doc(hidden)]
pub struct ErasedHandler(pub(crate) Handler);

/// The handler's answer as the task sends it ([`HandlerResult`](crate::HandlerResult), the
/// shape handlers return, so not boxed).
#[allow(clippy::result_large_err)]
fn answer<R: IntoPayload>(result: Result<R, WampError>) -> crate::HandlerResult {
    match result {
        Ok(r) => r.into_payload().map_err(WampError::from),
        Err(e) => Err(e),
    }
}

impl<F, Fut, R> IntoHandler<(Invocation,)> for F
where
    F: Fn(Invocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, WampError>> + Send + 'static,
    R: IntoPayload,
{
    fn into_handler(self) -> ErasedHandler {
        ErasedHandler(Handler::Plain(std::sync::Arc::new(move |inv| {
            let work = self(inv);
            Box::pin(async move { answer(work.await) })
        })))
    }
}

impl<F, Fut, R> IntoHandler<(Invocation, InvocationStream)> for F
where
    F: Fn(Invocation, InvocationStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, WampError>> + Send + 'static,
    R: IntoPayload,
{
    fn into_handler(self) -> ErasedHandler {
        ErasedHandler(Handler::Streaming(std::sync::Arc::new(move |inv, rest| {
            let work = self(inv, rest);
            Box::pin(async move { answer(work.await) })
        })))
    }
}

impl Client {
    /// Calls `procedure`: add arguments and options to the [`Call`], then await it (or
    /// stream its progressive results).
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// let sum: i64 = client.call("com.example.add").args((2, 3)).await?.arg(0)?;
    /// assert_eq!(sum, 5);
    /// # Ok(()) }
    /// ```
    pub fn call(&self, procedure: impl AsRef<str>) -> Call<'_> {
        Call {
            client: self,
            procedure: procedure.as_ref().to_owned(),
            options: CallOptions::default(),
            arguments: Arguments::default(),
        }
    }

    /// Publishes to `topic`: add arguments and options to the [`Publish`], then await it.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// client.publish("com.example.news").arg("hello").kwarg("lang", "en").await?;
    /// # Ok(()) }
    /// ```
    pub fn publish(&self, topic: impl AsRef<str>) -> Publish<'_> {
        Publish {
            client: self,
            topic: topic.as_ref().to_owned(),
            options: PublishOptions::default(),
            arguments: Arguments::default(),
        }
    }

    /// Subscribes to `topic` (or a pattern): await the [`Subscribe`] for the
    /// [`Subscription`], a stream of events.
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    /// let mut news = client.subscribe("com.example.news").await?;
    /// if let Some(Ok(event)) = news.next().await {
    ///     let headline: String = event.arg(0)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, topic: impl AsRef<str>) -> Subscribe<'_> {
        Subscribe {
            client: self,
            topic: topic.as_ref().to_owned(),
            options: SubscribeOptions::default(),
        }
    }

    /// Registers `procedure` (or a pattern) with an async `handler`: await the [`Register`]
    /// for the [`Registration`]. The handler takes the [`Invocation`] (and, to take input in
    /// chunks, an [`InvocationStream`] of the chunks after the first) and returns any
    /// `Serialize` value, a [`Payload`], or a [`WampError`].
    ///
    /// ```no_run
    /// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
    /// use futures::StreamExt;
    /// use nexus_driver::{Invocation, InvocationStream};
    ///
    /// let add = client
    ///     .register("com.example.add", |inv: Invocation| async move {
    ///         let (a, b): (i64, i64) = inv.args()?;
    ///         Ok(a + b)
    ///     })
    ///     .await?;
    ///
    /// let upload = client
    ///     .register("com.example.upload", |_first: Invocation, mut rest: InvocationStream| async move {
    ///         let mut chunks = 1;
    ///         while rest.next().await.is_some() {
    ///             chunks += 1;
    ///         }
    ///         Ok(chunks)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn register<M>(
        &self,
        procedure: impl AsRef<str>,
        handler: impl IntoHandler<M>,
    ) -> Register<'_> {
        Register {
            client: self,
            procedure: procedure.as_ref().to_owned(),
            options: RegisterOptions::default(),
            handler: handler.into_handler().0,
        }
    }
}
