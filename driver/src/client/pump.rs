//! The client task while joined: a pump between the link and the sans-IO
//! [`Session`](nexus_core::session::Session), which decides everything the protocol asks
//! (WAMP spec, *Sessions*, *Publish & Subscribe*, *Remote Procedure Calls*, and the advanced
//! profile's RPC features). The pump reads frames into
//! [`handle_message`](Session::handle_message), writes what
//! [`poll_transmit`](Session::poll_transmit) gives, sleeps until
//! [`poll_timeout`](Session::poll_timeout), and turns the session's events into replies on the
//! API's channels and futures. Its bookkeeping is [`Key`] → [`Route`] (where each request of
//! the current session leads in the application) and the handles' queues and handlers by
//! [`LiveId`]; which router ID each handle holds is the
//! [`Reconnector`](nexus_core::session::Reconnector)'s. It also owns the transport
//! keep-alive. What happens between connections is in [`supervise`](super::supervise).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::{FutureExt, SinkExt, StreamExt};
use nexus_core::message::{
    CallOptions, ErrorDetails, EventDetails, InvocationDetails, PublishOptions, RegisterOptions,
    SubscribeOptions, YieldOptions,
};
use nexus_core::session::{
    Bound, LiveId, LiveRequest, Release, Restored, Session, SessionEvent, UsageError,
};
use nexus_core::{
    Dict, Payload, PublicationId, RegistrationId, RequestId, SubscriptionId, Uri, Value,
};

use super::handles::{EventQueue, RegistrationShared, Released};
use super::link::{Link, Received, Unsent};
use super::supervise::Task;
use super::{CallResponse, Event, Handler, HandlerResult, Invocation};
use crate::error::{Error, WampError};
use crate::rpc::{CallReply, InvocationShared, InvocationStream, Progress, Revoked};
use crate::runtime;

/// What the API asks of the client task.
pub(crate) enum Cmd {
    Call {
        token: u64,
        procedure: Uri,
        options: CallOptions,
        payload: Payload,
        reply: CallReply,
    },
    /// The next chunk of a progressive call invocation.
    Chunk {
        token: u64,
        payload: Payload,
        last: bool,
        reply: oneshot::Sender<Result<(), Error>>,
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
        reply: oneshot::Sender<Result<(LiveId, Arc<EventQueue>), Error>>,
    },
    Register {
        procedure: Uri,
        options: RegisterOptions,
        handler: Handler,
        reply: oneshot::Sender<Result<(LiveId, Arc<RegistrationShared>), Error>>,
    },
    /// `Subscription::unsubscribe` or `Registration::unregister`: let go, and answer once the
    /// router has.
    Release {
        released: Released,
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

impl Cmd {
    /// The command cannot be carried out: no session is up (or ever will be again).
    pub(super) fn refuse(self, error: impl Fn() -> Error) {
        match self {
            Cmd::Call { reply, .. } => reply.finish(Err(error())),
            Cmd::Chunk { reply, .. } => {
                let _ = reply.send(Err(Error::CallEnded));
            }
            Cmd::Publish { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Cmd::Subscribe { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Cmd::Register { reply, .. } => {
                let _ = reply.send(Err(error()));
            }
            Cmd::Release { reply, .. } | Cmd::Leave { reply } => {
                let _ = reply.send(Ok(()));
            }
            Cmd::Answer { .. } | Cmd::Progress { .. } => {}
        }
    }

    /// Whether it needs a session (and so may wait for one while disconnected).
    pub(super) fn needs_session(&self) -> bool {
        matches!(
            self,
            Cmd::Call { .. } | Cmd::Publish { .. } | Cmd::Subscribe { .. } | Cmd::Register { .. }
        )
    }
}

/// One of the session's IDs (or a call handle's token), by what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// An outstanding request.
    Request(RequestId),
    /// An invocation whose handler runs.
    Invocation(RequestId),
    /// The token of a call's API handles (`CallFuture`, `ProgressiveCall`, `CallSender`).
    CallHandle(u64),
}

/// Where a [`Key`] leads in the application.
pub(super) enum Route {
    Call {
        token: u64,
        reply: CallReply,
    },
    Publish(oneshot::Sender<Result<Option<PublicationId>, Error>>),
    Subscribe {
        request: LiveRequest,
        reply: oneshot::Sender<Result<(LiveId, Arc<EventQueue>), Error>>,
    },
    Register {
        request: LiveRequest,
        handler: Handler,
        reply: oneshot::Sender<Result<(LiveId, Arc<RegistrationShared>), Error>>,
    },
    /// A SUBSCRIBE or REGISTER that restores a live handle after a reconnection.
    Restore(LiveId),
    /// An UNSUBSCRIBE or UNREGISTER the application waits for.
    Release(oneshot::Sender<Result<(), Error>>),
    Running(RunningInvocation),
    /// A call handle's CALL request.
    CallOf(RequestId),
}

impl Route {
    /// The request failed, or the session ended: tell whoever waits.
    pub(super) fn fail(self, error: Error) {
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
            Route::Release(reply) => {
                let _ = reply.send(Err(error));
            }
            Route::Running(running) => running.finish(),
            Route::Restore(_) | Route::CallOf(_) => {}
        }
    }
}

/// An invocation whose handler runs.
pub(super) struct RunningInvocation {
    /// Dropping it stops the handler.
    _abort: oneshot::Sender<()>,
    /// The handler's stream of input chunks, while more may come.
    chunks: Option<mpsc::Sender<Payload>>,
    shared: Arc<InvocationShared>,
}

impl RunningInvocation {
    /// Refuses further progressive results; dropping `self` then stops the handler.
    pub(super) fn finish(self) {
        self.shared.lock().finished = true;
    }
}

/// The current connection: its session and link.
pub(super) struct Conn {
    pub(super) session: Session,
    pub(super) link: Link,
}

impl Task {
    /// Pumps the joined connection until it ends.
    pub(super) async fn pump(
        &mut self,
        conn: &mut Conn,
        cmds: &mut mpsc::Receiver<Cmd>,
        dropped: &mut Option<oneshot::Receiver<()>>,
    ) -> Error {
        let interval = self.config.keepalive;
        let mut last_heard = Instant::now();
        let mut tick = interval.map(|i| self.runtime.sleep(i));
        loop {
            // Short-lived, on the stack: boxing the command would only add an allocation.
            #[allow(clippy::large_enum_variant)]
            enum Input {
                Link(Received),
                Cmd(Option<Cmd>),
                Released(Vec<Released>),
                Tick,
                Dropped,
                Deadline,
            }
            let input = {
                let releases = self.common.releases.clone();
                let released = future::poll_fn(|cx| releases.poll_take(cx));
                let both = future::select(conn.link.recv(), cmds.next());
                let tick = match &mut tick {
                    Some(t) => Either::Left(t),
                    None => Either::Right(future::pending::<()>()),
                };
                let gone = match dropped {
                    Some(d) => Either::Left(d.map(|_| ())),
                    None => Either::Right(future::pending::<()>()),
                };
                let deadline = match conn.session.poll_timeout() {
                    Some(at) => Either::Left(
                        self.runtime
                            .sleep(at.saturating_duration_since(Instant::now())),
                    ),
                    None => Either::Right(future::pending::<()>()),
                };
                let timers = future::select(tick, future::select(gone, deadline));
                match future::select(future::select(both, released), timers).await {
                    Either::Left((Either::Left((Either::Left((r, _)), _)), _)) => Input::Link(r),
                    Either::Left((Either::Left((Either::Right((c, _)), _)), _)) => Input::Cmd(c),
                    Either::Left((Either::Right((r, _)), _)) => Input::Released(r),
                    Either::Right((Either::Left(((), _)), _)) => Input::Tick,
                    Either::Right((Either::Right((Either::Left(((), _)), _)), _)) => Input::Dropped,
                    Either::Right((Either::Right((Either::Right(((), _)), _)), _)) => {
                        Input::Deadline
                    }
                }
            };
            match input {
                Input::Link(Received::Messages(messages)) => {
                    last_heard = Instant::now();
                    for m in messages {
                        let _ = conn.session.handle_message(last_heard, m);
                    }
                }
                Input::Link(Received::Undecodable(e)) => conn.session.handle_decode_error(&e),
                Input::Link(Received::Nothing) => last_heard = Instant::now(),
                Input::Link(Received::End(e)) => {
                    conn.session.handle_transport_closed();
                    self.drain_events(&mut conn.session);
                    return e.unwrap_or(Error::Closed);
                }
                // Every Client handle is gone: leave politely, and do not come back.
                Input::Dropped | Input::Cmd(None) => {
                    *dropped = None;
                    self.closing = true;
                    if !conn.session.is_closed() && self.leaving.is_none() {
                        let _ = conn.session.leave(nexus_core::uri::close::NORMAL, None);
                    }
                }
                Input::Cmd(Some(cmd)) => self.command(&mut conn.session, cmd),
                Input::Released(list) => {
                    for released in list {
                        self.release(&mut conn.session, released, None);
                    }
                }
                Input::Tick => {
                    let interval = interval.unwrap_or(Duration::from_secs(30));
                    if last_heard.elapsed() > interval * 2 {
                        return Error::Timeout {
                            what: "the router sent nothing, not even a pong, for twice ClientConfig::keepalive",
                            after: interval * 2,
                        };
                    }
                    if last_heard.elapsed() >= interval && conn.link.ping().await.is_err() {
                        return Error::Closed;
                    }
                    tick = Some(self.runtime.sleep(interval));
                }
                Input::Deadline => conn.session.handle_timeout(Instant::now()),
            }
            if let Some(end) = self.flush(conn).await {
                return end;
            }
        }
    }

    /// Sends what the session queued and handles its events, until both are drained
    /// (handling an event can queue more); returns the reason when the session ended.
    pub(super) async fn flush(&mut self, conn: &mut Conn) -> Option<Error> {
        loop {
            while let Some(m) = conn.session.poll_transmit() {
                match conn.link.send_checked(m).await {
                    Ok(()) => {}
                    Err(Unsent::TooLarge {
                        message,
                        size,
                        limit,
                    }) => tracing::warn!(
                        "a {message} was not sent: the message is {size} bytes; the router accepts at most {limit}"
                    ),
                    Err(Unsent::Failed(e)) => {
                        conn.session.handle_transport_closed();
                        self.drain_events(&mut conn.session);
                        return Some(e);
                    }
                }
            }
            if let Some(e) = self.drain_events(&mut conn.session) {
                return Some(e);
            }
            if !conn.session.has_transmit() {
                return None;
            }
        }
    }

    /// Handles the session's events; returns the reason when the session ended.
    fn drain_events(&mut self, session: &mut Session) -> Option<Error> {
        while let Some(event) = session.poll_event() {
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
                        let kept = match self.routes.get(&Key::Request(request)) {
                            Some(Route::Call { reply, .. }) => reply.progress(response),
                            _ => true,
                        };
                        if !kept {
                            // The application reads too slowly: end the call rather than
                            // hold its results without bound.
                            session.abandon_call(request);
                            if let Some(route) = self.end_request(request) {
                                route.fail(Error::Overflow {
                                    what: "the progressive results of a call",
                                    capacity: crate::rpc::RESULT_BUFFER,
                                });
                            }
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
                } => match self.end_request(request) {
                    Some(Route::Subscribe { request, reply }) => {
                        let bound = Bound::Subscription(subscription);
                        let live = self.reconnector.add(request, bound);
                        let queue = EventQueue::new(self.config.event_buffer, subscription);
                        self.subscriptions.insert(live, queue.clone());
                        if reply.send(Ok((live, queue))).is_err() {
                            // The subscribe future was dropped: nobody holds it.
                            self.release(session, Released::Subscription(live), None);
                        }
                    }
                    Some(Route::Restore(live)) => {
                        self.restored(session, live, Bound::Subscription(subscription))
                    }
                    _ => {}
                },
                SessionEvent::Registered {
                    request,
                    registration,
                } => match self.end_request(request) {
                    Some(Route::Register {
                        request,
                        handler,
                        reply,
                    }) => {
                        let bound = Bound::Registration(registration);
                        let live = self.reconnector.add(request, bound);
                        let shared = RegistrationShared::new(registration);
                        self.registrations.insert(live, (handler, shared.clone()));
                        if reply.send(Ok((live, shared))).is_err() {
                            self.release(session, Released::Registration(live), None);
                        }
                    }
                    Some(Route::Restore(live)) => {
                        self.restored(session, live, Bound::Registration(registration))
                    }
                    _ => {}
                },
                SessionEvent::Unsubscribed { request, .. }
                | SessionEvent::Unregistered { request, .. } => {
                    if let Some(Route::Release(reply)) = self.end_request(request) {
                        let _ = reply.send(Ok(()));
                    }
                }
                SessionEvent::SubscribeError {
                    request,
                    error,
                    details,
                    payload,
                }
                | SessionEvent::RegisterError {
                    request,
                    error,
                    details,
                    payload,
                } => match self.end_request(request) {
                    Some(Route::Restore(live)) => {
                        let error = wamp_error(error, details, payload);
                        self.restore_refused(live, error);
                    }
                    Some(route) => route.fail(wamp_error(error, details, payload)),
                    None => {}
                },
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
                | SessionEvent::UnsubscribeError {
                    request,
                    error,
                    details,
                    payload,
                    ..
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
                    for live in self
                        .reconnector
                        .handle_revoked(Bound::Subscription(subscription))
                    {
                        if let Some(queue) = self.subscriptions.remove(&live) {
                            queue.close(Some(Error::Revoked {
                                reason: reason.clone(),
                            }));
                        }
                    }
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
                    for live in self
                        .reconnector
                        .handle_revoked(Bound::Registration(registration))
                    {
                        if let Some((_, shared)) = self.registrations.remove(&live) {
                            shared.set(None);
                        }
                    }
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
                } => self.invoke(session, request, registration, details, payload),
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
                        let overflow = match &mut running.chunks {
                            Some(chunks) => chunks.try_send(payload).is_err_and(|e| e.is_full()),
                            None => false,
                        };
                        if details.progress != Some(true) {
                            running.chunks = None;
                        }
                        if overflow {
                            self.input_overflow(session, request);
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
                SessionEvent::Left { reason, .. } => {
                    if let Some(reply) = self.leaving.take() {
                        let _ = reply.send(Ok(()));
                        return Some(Error::Closed);
                    }
                    // The router said goodbye (a shutdown, a kill): a lost connection.
                    return Some(Error::Aborted {
                        reason,
                        message: None,
                    });
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

    /// A restoring SUBSCRIBE or REGISTER succeeded.
    fn restored(&mut self, session: &mut Session, live: LiveId, bound: Bound) {
        match self.reconnector.handle_restored(live, bound) {
            Restored::Held => match bound {
                Bound::Subscription(id) => {
                    if let Some(queue) = self.subscriptions.get(&live) {
                        queue.set_current(Some(id));
                    }
                }
                Bound::Registration(id) => {
                    if let Some((_, shared)) = self.registrations.get(&live) {
                        shared.set(Some(id));
                    }
                }
            },
            Restored::Released(Release::Send(bound)) => send_release(session, bound),
            Restored::Released(Release::Keep) | Restored::Unknown => {}
        }
        // Last: the handles know their new IDs before the client is announced as joined.
        self.restore_done(1);
    }

    /// The router refused to restore a handle.
    fn restore_refused(&mut self, live: LiveId, error: Error) {
        self.unrestorable(live, error);
        self.restore_done(1);
    }

    /// A handle cannot be restored on this connection (the router refused it, or the
    /// session cannot ask for it): it ends, and the application is told.
    pub(super) fn unrestorable(&mut self, live: LiveId, error: Error) {
        let request = self.reconnector.request(live).cloned();
        if !self.reconnector.handle_restore_refused(live) {
            return;
        }
        tracing::warn!("{request:?} could not be restored after reconnecting: {error}");
        if let Some(queue) = self.subscriptions.remove(&live) {
            queue.close(Some(error));
        } else if let Some((_, shared)) = self.registrations.remove(&live) {
            shared.set(None);
            if let Some(LiveRequest::Register { procedure, .. }) = request {
                let error = match error {
                    Error::Wamp(e) => e,
                    e => Box::new(WampError::from(e)),
                };
                self.revoked(Revoked::NotRestored { procedure, error });
            }
        }
    }

    /// Forgets a handle's queue (ending its stream) or handler; the router's ID is the
    /// reconnector's business.
    pub(super) fn forget(&mut self, live: LiveId) {
        if let Some(queue) = self.subscriptions.remove(&live) {
            queue.close(None);
        }
        if let Some((_, shared)) = self.registrations.remove(&live) {
            shared.set(None);
        }
    }

    /// The application let go of a handle: forget its queue or handler, and release the
    /// router's ID when no other handle holds it (answering `reply` once the router has).
    pub(super) fn release(
        &mut self,
        session: &mut Session,
        released: Released,
        reply: Option<oneshot::Sender<Result<(), Error>>>,
    ) {
        let live = match released {
            Released::Call(token) => return self.drop_call(session, token),
            Released::Input(token) => return self.abandon_input(session, token),
            Released::Subscription(live) | Released::Registration(live) => {
                self.forget(live);
                live
            }
        };
        let Release::Send(bound) = self.reconnector.remove(live) else {
            if let Some(reply) = reply {
                let _ = reply.send(Ok(()));
            }
            return;
        };
        let request = match bound {
            Bound::Subscription(id) => session.unsubscribe(id),
            Bound::Registration(id) => session.unregister(id),
        };
        match (request, reply) {
            (Ok(request), Some(reply)) => {
                self.routes
                    .insert(Key::Request(request), Route::Release(reply));
            }
            (Err(e), Some(reply)) => {
                let _ = reply.send(Err(e.into()));
            }
            (_, None) => {}
        }
    }

    /// A call's future or stream was dropped before its end: cancel the call.
    fn drop_call(&mut self, session: &mut Session, token: u64) {
        if let Some(request) = self.call_of(token) {
            self.end_request(request);
            session.abandon_call(request);
        }
    }

    /// A call's input was cut short: cancel rather than pass it off as complete.
    fn abandon_input(&mut self, session: &mut Session, token: u64) {
        let Some(request) = self.call_of(token) else {
            return;
        };
        if session.abandon_call(request) {
            return;
        }
        if let Some(route) = self.end_request(request) {
            route.fail(Error::from(
                WampError::new(nexus_core::uri::error::CANCELED).with_args(vec![Value::from(
                    "the CallSender was dropped before finish(), and the router cannot cancel calls",
                )]),
            ));
        }
    }

    pub(super) fn command(&mut self, session: &mut Session, cmd: Cmd) {
        match cmd {
            Cmd::Call {
                token,
                procedure,
                options,
                payload,
                reply,
            } => match session.call(procedure, options, payload) {
                Ok(request) => {
                    self.routes
                        .insert(Key::Request(request), Route::Call { token, reply });
                    self.routes
                        .insert(Key::CallHandle(token), Route::CallOf(request));
                }
                Err(e) => reply.finish(Err(usage(e))),
            },
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
                    session.finish_call(request, payload)
                } else {
                    session.continue_call(request, payload)
                };
                let _ = reply.send(sent.map_err(|e| match e {
                    UsageError::CallNotOutstanding { .. }
                    | UsageError::CallInputFinished { .. } => Error::CallEnded,
                    e => usage(e),
                }));
            }
            Cmd::Publish {
                topic,
                options,
                payload,
                reply,
            } => {
                let acknowledged = options.acknowledge == Some(true);
                match session.publish(topic, options, payload) {
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
                reply,
            } => {
                let request = LiveRequest::Subscribe {
                    topic: topic.clone(),
                    options: options.clone(),
                };
                match session.subscribe(topic, options) {
                    Ok(id) => {
                        self.routes
                            .insert(Key::Request(id), Route::Subscribe { request, reply });
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
                let whole = matches!(handler, Handler::Plain(_));
                let request = LiveRequest::Register {
                    procedure: procedure.clone(),
                    options: options.clone(),
                    whole,
                };
                let registered = if whole {
                    session.register_whole(procedure, options)
                } else {
                    session.register(procedure, options)
                };
                match registered {
                    Ok(id) => {
                        let route = Route::Register {
                            request,
                            handler,
                            reply,
                        };
                        self.routes.insert(Key::Request(id), route);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Cmd::Release { released, reply } => self.release(session, released, Some(reply)),
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
                        session.yield_result(Instant::now(), invocation, options, payload)
                    }
                    Err(e) => session.yield_error(
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
                    let _ = session.answer_refused(invocation, &e);
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
                if let Err(e) = session.yield_result(Instant::now(), invocation, options, payload) {
                    tracing::warn!(
                        "invocation {invocation}: a progressive result was refused: {e}"
                    );
                }
            }
            Cmd::Leave { reply } => {
                self.closing = true;
                if session.is_closed() {
                    let _ = reply.send(Ok(()));
                    return;
                }
                match session.leave(nexus_core::uri::close::NORMAL, None) {
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

    fn deliver(
        &mut self,
        subscription: SubscriptionId,
        publication: PublicationId,
        details: EventDetails,
        payload: Payload,
    ) {
        let (args, kwargs) = split(payload);
        let event = Event {
            subscription,
            publication,
            args,
            kwargs,
            details,
        };
        for live in self.reconnector.holders(Bound::Subscription(subscription)) {
            if let Some(queue) = self.subscriptions.get(&live) {
                queue.push(event.clone());
            }
        }
    }

    fn invoke(
        &mut self,
        session: &mut Session,
        request: RequestId,
        registration: RegistrationId,
        details: InvocationDetails,
        payload: Payload,
    ) {
        let handler = self
            .reconnector
            .holders(Bound::Registration(registration))
            .next()
            .and_then(|live| self.registrations.get(&live))
            .map(|(handler, _)| handler.clone());
        let Some(handler) = handler else {
            let _ = session.refuse_invocation(request);
            return;
        };
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
        let (chunks, chunks_rx) = mpsc::channel(crate::rpc::CHUNK_BUFFER);
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
            // Refuse further progressive results before the answer is queued.
            let options = {
                let mut state = shared.lock();
                state.finished = true;
                std::mem::take(&mut state.yield_options)
            };
            let answer = Cmd::Answer {
                invocation: request,
                result,
                options,
            };
            let _ = shared.cmd.clone().send(answer).await;
        });
    }

    pub(super) fn revoked(&mut self, revoked: Revoked) {
        let mut watchers = self
            .common
            .revocations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        watchers.list.retain(|queue| Arc::strong_count(queue) > 1);
        for queue in &watchers.list {
            queue.push(revoked.clone());
        }
    }

    /// A caller sends input faster than the handler reads it: the invocation ends with an
    /// error for the caller, and the handler is stopped.
    fn input_overflow(&mut self, session: &mut Session, request: RequestId) {
        if let Some(Route::Running(running)) = self.routes.remove(&Key::Invocation(request)) {
            running.finish();
        }
        tracing::warn!(
            "invocation {request}: more than {} input chunks wait for the handler; ending it",
            crate::rpc::CHUNK_BUFFER
        );
        let message = format!(
            "the callee reads its input too slowly: more than {} chunks were waiting",
            crate::rpc::CHUNK_BUFFER
        );
        let _ = session.yield_error(
            request,
            Uri::new_unchecked(nexus_core::uri::error::CANCELED),
            ErrorDetails::default(),
            Payload::new(vec![Value::from(message)], Dict::new()),
        );
    }
}

/// UNSUBSCRIBE or UNREGISTER without anyone waiting for the answer.
fn send_release(session: &mut Session, bound: Bound) {
    let _ = match bound {
        Bound::Subscription(id) => session.unsubscribe(id),
        Bound::Registration(id) => session.unregister(id),
    };
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
