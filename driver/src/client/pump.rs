//! The client task: a pump between the link and the sans-IO
//! [`Session`](nexus_core::session::Session), which decides everything the protocol asks
//! (WAMP spec, *Sessions*, *Publish & Subscribe*, *Remote Procedure Calls*, and the advanced
//! profile's RPC features). The pump reads frames into
//! [`handle_message`](Session::handle_message), writes what
//! [`poll_transmit`](Session::poll_transmit) gives, sleeps until
//! [`poll_timeout`](Session::poll_timeout), and turns the session's events into replies on the
//! API's channels and futures. Its only bookkeeping is [`Key`] → [`Route`]: where each of the
//! session's IDs leads in the application. It also owns the transport keep-alive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::{FutureExt, StreamExt};
use nexus_core::message::{
    CallOptions, ErrorDetails, EventDetails, InvocationDetails, PublishOptions, RegisterOptions,
    SubscribeOptions, YieldOptions,
};
use nexus_core::session::{Session, SessionEvent, UsageError};
use nexus_core::{
    Dict, Payload, PublicationId, RegistrationId, RequestId, SubscriptionId, Uri, Value,
};

use super::link::{Link, Received, Unsent};
use super::{CallResponse, Event, Handler, HandlerResult, Invocation, Watchers};
use crate::error::{Error, WampError};
use crate::rpc::{CallReply, InvocationShared, InvocationStream, Progress, Revoked};
use crate::runtime::{self, Runtime};

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
        reply: oneshot::Sender<Result<Option<PublicationId>, Error>>,
    },
    Subscribe {
        topic: Uri,
        options: SubscribeOptions,
        token: u64,
        events: mpsc::Sender<Event>,
        reply: oneshot::Sender<Result<SubscriptionId, Error>>,
    },
    Unsubscribe {
        subscription: SubscriptionId,
        token: u64,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Register {
        procedure: Uri,
        options: RegisterOptions,
        handler: Handler,
        reply: oneshot::Sender<Result<RegistrationId, Error>>,
    },
    Unregister {
        registration: RegistrationId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Answer {
        invocation: RequestId,
        result: HandlerResult,
        options: YieldOptions,
    },
    /// A progressive YIELD.
    Progress {
        invocation: RequestId,
        options: YieldOptions,
        payload: Payload,
    },
    Leave {
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// One of the session's IDs (or a call handle's token), by what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// An outstanding request.
    Request(RequestId),
    /// A subscription the session holds.
    Subscription(SubscriptionId),
    /// A registration the session holds.
    Registration(RegistrationId),
    /// An invocation whose handler runs.
    Invocation(RequestId),
    /// The token of a call's API handles (`CallFuture`, `ProgressiveCall`, `CallSender`).
    CallHandle(u64),
}

/// Where a [`Key`] leads in the application.
enum Route {
    Call {
        token: u64,
        reply: CallReply,
    },
    Publish(oneshot::Sender<Result<Option<PublicationId>, Error>>),
    Subscribe {
        token: u64,
        events: mpsc::Sender<Event>,
        reply: oneshot::Sender<Result<SubscriptionId, Error>>,
    },
    Unsubscribe(oneshot::Sender<Result<(), Error>>),
    Register {
        handler: Handler,
        reply: oneshot::Sender<Result<RegistrationId, Error>>,
    },
    Unregister(oneshot::Sender<Result<(), Error>>),
    /// A subscription's local handles: their tokens and event channels.
    Subscribers(Vec<(u64, mpsc::Sender<Event>)>),
    Handler(Handler),
    Running(RunningInvocation),
    /// A call handle's CALL request.
    CallOf(RequestId),
}

impl Route {
    /// The request failed, or the session ended: tell whoever waits.
    fn fail(self, error: Error) {
        match self {
            Route::Call { reply, .. } => reply.finish(Err(error)),
            Route::Publish(reply) => {
                let _ = reply.send(Err(error));
            }
            Route::Subscribe { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Route::Register { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Route::Unsubscribe(reply) | Route::Unregister(reply) => {
                let _ = reply.send(Err(error));
            }
            Route::Running(running) => running.finish(),
            // Dropping the senders ends the Subscription streams.
            Route::Subscribers(_) | Route::Handler(_) | Route::CallOf(_) => {}
        }
    }
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
pub(super) struct Task {
    session: Session,
    runtime: Arc<dyn Runtime>,
    cmd: mpsc::UnboundedSender<Cmd>,
    keepalive: Option<Duration>,
    event_buffer: usize,
    routes: HashMap<Key, Route>,
    /// Streams from `Client::revocations`.
    revocation_watchers: Arc<std::sync::Mutex<Watchers>>,
    /// The reply to `Client::close`, once GOODBYE is sent.
    leaving: Option<oneshot::Sender<Result<(), Error>>>,
}

impl Task {
    pub(super) fn new(
        session: Session,
        runtime: Arc<dyn Runtime>,
        cmd: mpsc::UnboundedSender<Cmd>,
        keepalive: Option<Duration>,
        event_buffer: usize,
        revocation_watchers: Arc<std::sync::Mutex<Watchers>>,
    ) -> Task {
        Task {
            session,
            runtime,
            cmd,
            keepalive,
            event_buffer,
            routes: HashMap::new(),
            revocation_watchers,
            leaving: None,
        }
    }

    pub(super) async fn run(
        mut self,
        mut link: Link,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        dropped: oneshot::Receiver<()>,
        closed: oneshot::Sender<()>,
    ) {
        // Resolves once every Client handle is gone; then never again.
        let mut dropped = Some(dropped);
        let interval = self.keepalive;
        let mut last_heard = Instant::now();
        let mut tick = interval.map(|i| self.runtime.sleep(i));
        let end = loop {
            // Short-lived, on the stack: boxing the command would only add an allocation.
            #[allow(clippy::large_enum_variant)]
            enum Input {
                Link(Received),
                Cmd(Option<Cmd>),
                Tick,
                Deadline,
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
                let deadline = match self.session.poll_timeout() {
                    Some(at) => Either::Left(
                        self.runtime
                            .sleep(at.saturating_duration_since(Instant::now())),
                    ),
                    None => Either::Right(future::pending::<()>()),
                };
                let timers = future::select(tick, future::select(gone, deadline));
                match future::select(both, timers).await {
                    Either::Left((Either::Left((r, _)), _)) => Input::Link(r),
                    Either::Left((Either::Right((c, _)), _)) => Input::Cmd(c),
                    Either::Right((Either::Left(((), _)), _)) => Input::Tick,
                    Either::Right((Either::Right((Either::Left(((), _)), _)), _)) => {
                        Input::Cmd(None)
                    }
                    Either::Right((Either::Right((Either::Right(((), _)), _)), _)) => {
                        Input::Deadline
                    }
                }
            };
            match input {
                Input::Link(Received::Messages(messages)) => {
                    last_heard = Instant::now();
                    for m in messages {
                        let _ = self.session.handle_message(last_heard, m);
                    }
                }
                Input::Link(Received::Undecodable(e)) => self.session.handle_decode_error(&e),
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
                        break Error::Timeout {
                            what: "the router sent nothing, not even a pong, for twice ClientConfig::keepalive",
                            after: interval * 2,
                        };
                    }
                    if last_heard.elapsed() >= interval && link.ping().await.is_err() {
                        break Error::Closed;
                    }
                    tick = Some(self.runtime.sleep(interval));
                }
                Input::Deadline => self.session.handle_timeout(Instant::now()),
            }
            if let Some(end) = self.flush(&mut link).await {
                break end;
            }
        };
        link.close().await;
        self.fail_all(end);
        let _ = closed.send(());
    }

    /// Sends what the session queued and handles its events, until both are drained
    /// (handling an event can queue more); returns the reason when the session ended.
    async fn flush(&mut self, link: &mut Link) -> Option<Error> {
        loop {
            while let Some(m) = self.session.poll_transmit() {
                match link.send_checked(m).await {
                    Ok(()) => {}
                    Err(Unsent::TooLarge {
                        message,
                        size,
                        limit,
                    }) => tracing::warn!(
                        "a {message} was not sent: the message is {size} bytes; the router accepts at most {limit}"
                    ),
                    Err(Unsent::Failed(e)) => {
                        self.session.handle_transport_closed();
                        self.drain_events();
                        return Some(e);
                    }
                }
            }
            if let Some(e) = self.drain_events() {
                return Some(e);
            }
            if !self.session.has_transmit() {
                return None;
            }
        }
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
                        if let Some(Route::Call { reply, .. }) =
                            self.routes.get(&Key::Request(request))
                        {
                            reply.progress(response);
                        }
                    } else if let Some(Route::Call { reply, .. }) = self.end_request(request) {
                        reply.finish(Ok(response));
                    }
                }
                SessionEvent::Published {
                    request,
                    publication,
                } => {
                    if let Some(Route::Publish(reply)) = self.end_request(request) {
                        let _ = reply.send(Ok(Some(publication)));
                    }
                }
                SessionEvent::Subscribed {
                    request,
                    subscription,
                } => {
                    if let Some(Route::Subscribe {
                        token,
                        events,
                        reply,
                    }) = self.end_request(request)
                    {
                        let entry = self
                            .routes
                            .entry(Key::Subscription(subscription))
                            .or_insert_with(|| Route::Subscribers(Vec::new()));
                        if let Route::Subscribers(list) = entry {
                            list.push((token, events));
                        }
                        let _ = reply.send(Ok(subscription));
                    }
                }
                SessionEvent::Unsubscribed { request, .. } => {
                    if let Some(Route::Unsubscribe(reply)) = self.end_request(request) {
                        let _ = reply.send(Ok(()));
                    }
                }
                SessionEvent::Registered {
                    request,
                    registration,
                } => {
                    if let Some(Route::Register { handler, reply }) = self.end_request(request) {
                        self.routes
                            .insert(Key::Registration(registration), Route::Handler(handler));
                        let _ = reply.send(Ok(registration));
                    }
                }
                SessionEvent::Unregistered {
                    request,
                    registration,
                } => {
                    self.routes.remove(&Key::Registration(registration));
                    if let Some(Route::Unregister(reply)) = self.end_request(request) {
                        let _ = reply.send(Ok(()));
                    }
                }
                SessionEvent::CallError {
                    request,
                    error,
                    details,
                    payload,
                }
                | SessionEvent::PublishError {
                    request,
                    error,
                    details,
                    payload,
                }
                | SessionEvent::SubscribeError {
                    request,
                    error,
                    details,
                    payload,
                }
                | SessionEvent::UnsubscribeError {
                    request,
                    error,
                    details,
                    payload,
                    ..
                }
                | SessionEvent::RegisterError {
                    request,
                    error,
                    details,
                    payload,
                }
                | SessionEvent::UnregisterError {
                    request,
                    error,
                    details,
                    payload,
                    ..
                } => {
                    if let Some(route) = self.end_request(request) {
                        route.fail(wamp_error(error, details, payload));
                    }
                }
                SessionEvent::SubscriptionRevoked {
                    subscription,
                    reason,
                } => {
                    tracing::info!("subscription {subscription} revoked by the router: {reason:?}");
                    // Dropping the senders ends the Subscription streams.
                    self.routes.remove(&Key::Subscription(subscription));
                    self.revoked(Revoked::Subscription {
                        id: subscription,
                        reason,
                    });
                }
                SessionEvent::RegistrationRevoked {
                    registration,
                    reason,
                } => {
                    tracing::info!("registration {registration} revoked by the router: {reason:?}");
                    self.routes.remove(&Key::Registration(registration));
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
                } => self.deliver(subscription, publication, details, payload),
                SessionEvent::Invocation {
                    request,
                    registration,
                    details,
                    payload,
                } => self.invoke(request, registration, details, payload),
                SessionEvent::InvocationChunk {
                    request,
                    details,
                    payload,
                    ..
                } => {
                    // Chunks for a handler that already finished are dropped.
                    if let Some(Route::Running(running)) =
                        self.routes.get_mut(&Key::Invocation(request))
                    {
                        if let Some(chunks) = &running.chunks {
                            let _ = chunks.unbounded_send(payload);
                        }
                        if details.progress != Some(true) {
                            running.chunks = None;
                        }
                    }
                }
                // The session has answered (canceled, timed out, too large): stop the handler.
                SessionEvent::Interrupt { request, .. }
                | SessionEvent::InvocationEnded { request, .. } => {
                    if let Some(Route::Running(running)) =
                        self.routes.remove(&Key::Invocation(request))
                    {
                        running.finish();
                    }
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
                SessionEvent::ProtocolViolation { error } => return Some(Error::Protocol(error)),
                SessionEvent::AuthenticationFailed { error } => {
                    return Some(Error::Authentication(error))
                }
                SessionEvent::TransportClosed => return Some(Error::Closed),
                _ => {}
            }
        }
        None
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Call {
                token,
                procedure,
                options,
                payload,
                reply,
            } => match self.session.call(procedure, options, payload) {
                Ok(request) => {
                    self.routes
                        .insert(Key::Request(request), Route::Call { token, reply });
                    self.routes
                        .insert(Key::CallHandle(token), Route::CallOf(request));
                }
                Err(e) => reply.finish(Err(usage(e))),
            },
            Cmd::DropCall { token } => {
                if let Some(request) = self.call_of(token) {
                    self.end_request(request);
                    self.session.abandon_call(request);
                }
            }
            Cmd::Chunk {
                token,
                payload,
                last,
                reply,
            } => {
                let Some(request) = self.call_of(token) else {
                    let _ = reply.send(Err(Error::CallEnded));
                    return;
                };
                let sent = if last {
                    self.session.finish_call(request, payload)
                } else {
                    self.session.continue_call(request, payload)
                };
                let _ = reply.send(sent.map_err(|e| match e {
                    UsageError::CallNotOutstanding { .. }
                    | UsageError::CallInputFinished { .. } => Error::CallEnded,
                    e => usage(e),
                }));
            }
            Cmd::AbandonInput { token } => {
                // The input was cut short: cancel rather than pass it off as complete.
                if let Some(request) = self.call_of(token) {
                    if !self.session.abandon_call(request) {
                        if let Some(route) = self.end_request(request) {
                            route.fail(Error::from(
                                WampError::new(nexus_core::uri::error::CANCELED).with_args(vec![
                                    Value::from(
                                        "the CallSender was dropped before finish(), and the router cannot cancel calls",
                                    ),
                                ]),
                            ));
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
                let acknowledged = options.acknowledge == Some(true);
                match self.session.publish(topic, options, payload) {
                    Ok(request) if acknowledged => {
                        self.routes
                            .insert(Key::Request(request), Route::Publish(reply));
                    }
                    Ok(_) => {
                        let _ = reply.send(Ok(None));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(usage(e)));
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
                    let route = Route::Subscribe {
                        token,
                        events,
                        reply,
                    };
                    self.routes.insert(Key::Request(request), route);
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
                let key = Key::Subscription(subscription);
                let Some(Route::Subscribers(subscribers)) = self.routes.get_mut(&key) else {
                    let _ = reply.send(Ok(()));
                    return;
                };
                subscribers.retain(|(t, _)| *t != token);
                if !subscribers.is_empty() {
                    let _ = reply.send(Ok(()));
                    return;
                }
                self.routes.remove(&key);
                match self.session.unsubscribe(subscription) {
                    Ok(request) => {
                        self.routes
                            .insert(Key::Request(request), Route::Unsubscribe(reply));
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
            } => {
                // A plain handler takes no input in chunks: the session refuses those calls.
                let registered = match handler {
                    Handler::Plain(_) => self.session.register_whole(procedure, options),
                    Handler::Streaming(_) => self.session.register(procedure, options),
                };
                match registered {
                    Ok(request) => {
                        self.routes
                            .insert(Key::Request(request), Route::Register { handler, reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Cmd::Unregister {
                registration,
                reply,
            } => match self.session.unregister(registration) {
                Ok(request) => {
                    self.routes
                        .insert(Key::Request(request), Route::Unregister(reply));
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
                if self.routes.remove(&Key::Invocation(invocation)).is_none() {
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
                    let _ = self.session.answer_refused(invocation, &e);
                }
            }
            Cmd::Progress {
                invocation,
                options,
                payload,
            } => {
                if !self.routes.contains_key(&Key::Invocation(invocation)) {
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

    /// The CALL request of a call handle, while the call is outstanding here.
    fn call_of(&self, token: u64) -> Option<RequestId> {
        match self.routes.get(&Key::CallHandle(token)) {
            Some(Route::CallOf(request)) => Some(*request),
            _ => None,
        }
    }

    /// Ends a request here: forgets its route (and a call's handle token).
    fn end_request(&mut self, request: RequestId) -> Option<Route> {
        let route = self.routes.remove(&Key::Request(request))?;
        if let Route::Call { token, .. } = &route {
            self.routes.remove(&Key::CallHandle(*token));
        }
        Some(route)
    }

    /// The session ended: every request still waiting fails, for `end`.
    fn fail_all(&mut self, end: Error) {
        let end = Arc::new(end);
        let err = || match &*end {
            Error::Aborted { reason, message } => Error::Aborted {
                reason: reason.clone(),
                message: message.clone(),
            },
            Error::Closed => Error::Closed,
            Error::Protocol(e) => Error::Protocol(e.clone()),
            Error::Authentication(e) => Error::Authentication(e.clone()),
            _ => Error::SessionEnded { cause: end.clone() },
        };
        {
            let mut watchers = self
                .revocation_watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            watchers.closed = true;
            watchers.list.clear();
        }
        for (_, route) in self.routes.drain() {
            route.fail(err());
        }
        if let Some(reply) = self.leaving.take() {
            let _ = reply.send(Ok(()));
        }
    }

    fn deliver(
        &mut self,
        subscription: SubscriptionId,
        publication: PublicationId,
        details: EventDetails,
        payload: Payload,
    ) {
        let key = Key::Subscription(subscription);
        let Some(Route::Subscribers(subscribers)) = self.routes.get_mut(&key) else {
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
        let buffer = self.event_buffer;
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
            self.routes.remove(&key);
            let _ = self.session.unsubscribe(subscription);
        }
    }

    fn invoke(
        &mut self,
        request: RequestId,
        registration: RegistrationId,
        details: InvocationDetails,
        payload: Payload,
    ) {
        let Some(Route::Handler(handler)) = self.routes.get(&Key::Registration(registration))
        else {
            let _ = self.session.refuse_invocation(request);
            return;
        };
        let handler = handler.clone();
        let chunked = details.progress == Some(true);
        let shared = InvocationShared::new(
            request,
            details.receive_progress == Some(true),
            self.cmd.clone(),
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
        let running = RunningInvocation {
            _abort: abort,
            // Not chunked: the stream ends at once.
            chunks: chunked.then_some(chunks),
            shared: shared.clone(),
        };
        self.routes
            .insert(Key::Invocation(request), Route::Running(running));
        runtime::spawn(&*self.runtime, async move {
            let result = match future::select(work, aborted).await {
                Either::Left((result, _)) => result,
                // Stopped (interrupted, timed out), or the session ended: nothing to answer.
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

    fn revoked(&mut self, revoked: Revoked) {
        let mut watchers = self
            .revocation_watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        watchers
            .list
            .retain(|tx| tx.unbounded_send(revoked.clone()).is_ok());
    }
}

/// The API's error for a request the session refused.
fn usage(e: UsageError) -> Error {
    match e {
        // Reported like the router's own error for a message too large.
        UsageError::PayloadTooLarge { size, limit, .. } => Error::from(
            WampError::new(nexus_core::uri::error::PAYLOAD_SIZE_EXCEEDED).with_args(vec![
                Value::from(format!(
                    "the message is {size} bytes; the router accepts at most {limit}"
                )),
            ]),
        ),
        e => Error::Usage(e),
    }
}

pub(super) fn split(payload: Payload) -> (Vec<Value>, Dict) {
    match payload {
        Payload::Args { args, kwargs } => (args, kwargs),
        Payload::Transparent(bytes) => (vec![Value::Bytes(bytes)], Dict::new()),
        // The session decodes kept payloads on arrival (and reports those it cannot), so
        // none reaches the application; this is for payloads the application built itself.
        Payload::Encoded(p) => p.decode().unwrap_or_default(),
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
