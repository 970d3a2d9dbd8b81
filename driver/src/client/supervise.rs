//! The client task's life across connections: it follows the
//! [`Reconnector`](nexus_core::session::Reconnector) (connect, wait, give up), pumps each
//! joined connection ([`pump`](super::pump)), restores the application's subscriptions and
//! registrations after every join, and serves the API while disconnected: requests wait for
//! the next session up to [`ClientConfig::wait_for_connection`](super::ClientConfig::wait_for_connection)
//! or fail at once, calls in flight when a connection drops fail with
//! [`Error::ConnectionLost`], and each subscription's stream is told where it may have missed
//! events.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use futures::channel::{mpsc, oneshot};
use futures::future::{self, BoxFuture, Either};
use futures::{FutureExt, StreamExt};
use nexus_core::session::{Failure, GiveUp, LiveId, LiveRequest, ReconnectAction, Reconnector};

use super::connect::{connect_and_join, Joined, Target};
use super::handles::{EventQueue, Missed, RegistrationShared, Released};
use super::pump::{Cmd, Conn, Key, Route};
use super::state::ClientState;
use super::{ClientConfig, Common, Handler};
use crate::error::Error;
use crate::runtime::Runtime;

/// Requests made while disconnected that may wait for the next session, at most.
const PARKED_LIMIT: usize = 1024;

/// The client task: owns the reconnector, the current connection's routes and the handles'
/// queues and handlers.
pub(super) struct Task {
    pub(super) runtime: Arc<dyn Runtime>,
    pub(super) config: Arc<ClientConfig>,
    target: Target,
    pub(super) reconnector: Reconnector,
    /// The current session's requests, invocations and call handles.
    pub(super) routes: HashMap<Key, Route>,
    /// Each live subscription handle's queue.
    pub(super) subscriptions: HashMap<LiveId, Arc<EventQueue>>,
    /// Each live registration handle's handler.
    pub(super) registrations: HashMap<LiveId, (Handler, Arc<RegistrationShared>)>,
    pub(super) common: Arc<Common>,
    /// For invocation handlers' answers.
    pub(super) cmd: mpsc::Sender<Cmd>,
    /// The reply to `Client::close`, once GOODBYE is sent.
    pub(super) leaving: Option<oneshot::Sender<Result<(), Error>>>,
    /// The application closed the client (or dropped every handle): no reconnection.
    pub(super) closing: bool,
    /// Requests made while disconnected, with the time they give up.
    parked: VecDeque<(Instant, Cmd)>,
    /// Restoring requests not answered yet, and the `Joined` state announced once they are.
    restoring: usize,
    joined_state: Option<ClientState>,
}

/// How a connection attempt ended: a joined connection, or why not.
type Attempt = Result<Box<Joined>, Error>;

/// What happened while waiting between connections.
enum Offline {
    Attempt(Attempt),
    Timer,
    Close,
}

impl Task {
    pub(super) fn new(
        runtime: Arc<dyn Runtime>,
        target: Target,
        config: Arc<ClientConfig>,
        common: Arc<Common>,
        cmd: mpsc::Sender<Cmd>,
        seed: [u8; 32],
    ) -> Task {
        Task {
            reconnector: Reconnector::new(config.reconnect.clone(), seed),
            runtime,
            config,
            target,
            routes: HashMap::new(),
            subscriptions: HashMap::new(),
            registrations: HashMap::new(),
            common,
            cmd,
            leaving: None,
            closing: false,
            parked: VecDeque::new(),
            restoring: 0,
            joined_state: None,
        }
    }

    /// Runs the client until it stops; `first` hears how the first join went (or why the
    /// client gave up before one), `closed` when it stops.
    pub(super) async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Cmd>,
        dropped: oneshot::Receiver<()>,
        first: oneshot::Sender<Result<(), Error>>,
        closed: oneshot::Sender<()>,
    ) {
        let mut first = Some(first);
        let mut dropped = Some(dropped);
        let mut last_error: Option<Arc<Error>> = None;
        self.reconnector.start();
        loop {
            let mut connect = false;
            while let Some(action) = self.reconnector.poll_action() {
                match action {
                    ReconnectAction::Connect { attempt } => {
                        self.common.states.set(ClientState::Connecting { attempt });
                        connect = true;
                    }
                    ReconnectAction::Retrying { attempt, delay } => {
                        tracing::debug!("reconnecting: attempt {attempt} in {delay:?}");
                        self.common
                            .states
                            .set(ClientState::Retrying { attempt, delay });
                    }
                    ReconnectAction::GiveUp(reason) => {
                        let error = match (reason, last_error.take()) {
                            (GiveUp::Closed, _) | (_, None) => Arc::new(Error::Closed),
                            (_, Some(e)) => e,
                        };
                        match first.take() {
                            // Never joined: no handle exists to be told, and `connect`
                            // returns the error itself.
                            Some(first) => {
                                self.stop(Arc::new(Error::Closed), &mut cmds);
                                let error =
                                    Arc::try_unwrap(error).unwrap_or_else(|e| e.duplicate());
                                let _ = first.send(Err(error));
                            }
                            None => self.stop(error, &mut cmds),
                        }
                        let _ = closed.send(());
                        return;
                    }
                }
            }
            let outcome = if connect {
                let attempt = connect_and_join(
                    self.runtime.clone(),
                    self.target.clone(),
                    self.config.clone(),
                )
                .boxed();
                self.offline(Some(attempt), &mut cmds, &mut dropped).await
            } else {
                self.offline(None, &mut cmds, &mut dropped).await
            };
            match outcome {
                Offline::Attempt(Ok(joined)) => {
                    let Joined {
                        mut conn,
                        id,
                        welcome,
                    } = *joined;
                    self.joined(&mut conn, id, welcome);
                    if let Some(first) = first.take() {
                        let _ = first.send(Ok(()));
                    }
                    let end = match self.flush(&mut conn).await {
                        Some(end) => end,
                        None => self.pump(&mut conn, &mut cmds, &mut dropped).await,
                    };
                    conn.link.close().await;
                    last_error = Some(self.lost(end));
                }
                Offline::Attempt(Err(e)) => {
                    let failure = failure_of(&e);
                    tracing::debug!("connecting failed: {e}");
                    let e = Arc::new(e);
                    // Nobody can watch the states before the first join returns a Client.
                    if first.is_none() {
                        self.common
                            .states
                            .set(ClientState::Disconnected { reason: e.clone() });
                    }
                    last_error = Some(e);
                    self.reconnector.handle_failed(Instant::now(), failure);
                }
                Offline::Timer => self.reconnector.handle_timeout(Instant::now()),
                Offline::Close => self.reconnector.close(),
            }
        }
    }

    /// Serves the API between connections, until the attempt (if any) ends, the next attempt
    /// is due, or the application closes the client.
    async fn offline(
        &mut self,
        mut attempt: Option<BoxFuture<'static, Attempt>>,
        cmds: &mut mpsc::Receiver<Cmd>,
        dropped: &mut Option<oneshot::Receiver<()>>,
    ) -> Offline {
        loop {
            let due = self.reconnector.poll_timeout();
            let expiry = self.parked.front().map(|(at, _)| *at);
            let wake = [due, expiry].into_iter().flatten().min();
            // Short-lived, on the stack: boxing the command would only add an allocation.
            #[allow(clippy::large_enum_variant)]
            enum Input {
                Attempt(Attempt),
                Cmd(Option<Cmd>),
                Released(Vec<Released>),
                Dropped,
                Timer,
            }
            let input = {
                let releases = self.common.releases.clone();
                let released = future::poll_fn(|cx| releases.poll_take(cx));
                let attempt = match &mut attempt {
                    Some(a) => Either::Left(a),
                    None => Either::Right(future::pending()),
                };
                let gone = match dropped {
                    Some(d) => Either::Left(d.map(|_| ())),
                    None => Either::Right(future::pending::<()>()),
                };
                let timer = match wake {
                    Some(at) => Either::Left(
                        self.runtime
                            .sleep(at.saturating_duration_since(Instant::now())),
                    ),
                    None => Either::Right(future::pending::<()>()),
                };
                let api = future::select(cmds.next(), released);
                match future::select(future::select(attempt, api), future::select(gone, timer))
                    .await
                {
                    Either::Left((Either::Left((r, _)), _)) => Input::Attempt(r),
                    Either::Left((Either::Right((Either::Left((c, _)), _)), _)) => Input::Cmd(c),
                    Either::Left((Either::Right((Either::Right((r, _)), _)), _)) => {
                        Input::Released(r)
                    }
                    Either::Right((Either::Left(((), _)), _)) => Input::Dropped,
                    Either::Right((Either::Right(((), _)), _)) => Input::Timer,
                }
            };
            match input {
                Input::Attempt(result) => return Offline::Attempt(result),
                Input::Cmd(Some(Cmd::Leave { reply })) => {
                    self.closing = true;
                    let _ = reply.send(Ok(()));
                    return Offline::Close;
                }
                Input::Cmd(Some(cmd)) => self.park(cmd),
                Input::Dropped | Input::Cmd(None) => {
                    *dropped = None;
                    self.closing = true;
                    return Offline::Close;
                }
                Input::Released(list) => {
                    for released in list {
                        self.release_offline(released);
                    }
                }
                Input::Timer => {
                    let now = Instant::now();
                    while self.parked.front().is_some_and(|(at, _)| *at <= now) {
                        if let Some((_, cmd)) = self.parked.pop_front() {
                            cmd.refuse(|| self.not_connected());
                        }
                    }
                    if attempt.is_none() && due.is_some_and(|due| due <= now) {
                        return Offline::Timer;
                    }
                }
            }
        }
    }

    fn not_connected(&self) -> Error {
        Error::NotConnected {
            waited: self.config.wait_for_connection,
        }
    }

    /// A request made while disconnected: waits for the next session, or fails at once.
    fn park(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Release { released, reply } => {
                self.release_offline(released);
                let _ = reply.send(Ok(()));
            }
            cmd if cmd.needs_session()
                && !self.config.wait_for_connection.is_zero()
                && self.parked.len() < PARKED_LIMIT =>
            {
                let until = Instant::now() + self.config.wait_for_connection;
                self.parked.push_back((until, cmd));
            }
            cmd => cmd.refuse(|| self.not_connected()),
        }
    }

    /// A call dropped before it could be sent: it never will be.
    fn unpark_call(&mut self, token: u64) {
        self.parked
            .retain(|(_, cmd)| !matches!(cmd, Cmd::Call { token: t, .. } if *t == token));
    }

    /// The application let go of a handle while disconnected: nothing to tell the router.
    fn release_offline(&mut self, released: Released) {
        match released {
            Released::Subscription(live) | Released::Registration(live) => {
                self.forget(live);
                self.reconnector.remove(live);
            }
            Released::Call(token) | Released::Input(token) => self.unpark_call(token),
        }
    }

    /// A connection joined: restore what the application holds, then send what waited.
    fn joined(
        &mut self,
        conn: &mut Conn,
        id: nexus_core::SessionId,
        welcome: nexus_core::message::WelcomeDetails,
    ) {
        let welcome = Arc::new(welcome);
        *self.common.joined.lock().unwrap_or_else(|e| e.into_inner()) = Some((id, welcome.clone()));
        let restore = self.reconnector.handle_joined();
        if !restore.is_empty() {
            tracing::info!(
                "joined again as session {id}: restoring {} subscriptions and registrations",
                restore.len()
            );
        }
        for item in restore {
            let sent = match item.request {
                LiveRequest::Subscribe { topic, options } => conn.session.subscribe(topic, options),
                LiveRequest::Register {
                    procedure,
                    options,
                    whole: true,
                } => conn.session.register_whole(procedure, options),
                LiveRequest::Register {
                    procedure, options, ..
                } => conn.session.register(procedure, options),
            };
            match sent {
                Ok(request) => {
                    self.routes
                        .insert(Key::Request(request), Route::Restore(item.live));
                    self.restoring += 1;
                }
                // The new router does not support what the old one did (an option).
                Err(e) => self.unrestorable(item.live, e.into()),
            }
        }
        // Joined once everything is back (at once when there is nothing to restore).
        self.joined_state = Some(ClientState::Joined {
            session: id,
            details: welcome,
        });
        self.restore_done(0);
        while let Some((_, cmd)) = self.parked.pop_front() {
            self.command(&mut conn.session, cmd);
        }
    }

    /// `answered` restoring requests were answered: once none is left, the client is
    /// joined with everything restored.
    pub(super) fn restore_done(&mut self, answered: usize) {
        self.restoring = self.restoring.saturating_sub(answered);
        if self.restoring == 0 {
            if let Some(state) = self.joined_state.take() {
                self.common.states.set(state);
            }
        }
    }

    /// The joined connection ended for `end`: whatever waited on it fails, the handles wait
    /// for the next join. Returns the reason, shared.
    fn lost(&mut self, end: Error) -> Arc<Error> {
        let end = Arc::new(end);
        let closing = self.closing;
        self.restoring = 0;
        self.joined_state = None;
        if !closing {
            tracing::warn!("the connection to the router was lost: {end}");
        }
        for (_, route) in self.routes.drain() {
            match route {
                // The connection took the subscription or registration with it.
                Route::Release(reply) => {
                    let _ = reply.send(Ok(()));
                }
                route if closing => route.fail(end.duplicate()),
                route => route.fail(Error::ConnectionLost { cause: end.clone() }),
            }
        }
        if let Some(reply) = self.leaving.take() {
            let _ = reply.send(Ok(()));
        }
        for queue in self.subscriptions.values() {
            queue.set_current(None);
            if !closing {
                queue.gap(Missed::Disconnected);
            }
        }
        for (_, shared) in self.registrations.values() {
            shared.set(None);
        }
        if closing {
            self.reconnector.close();
        } else {
            self.common.states.set(ClientState::Disconnected {
                reason: end.clone(),
            });
            self.reconnector.handle_lost(Instant::now());
        }
        end
    }

    /// The client stopped for `error`: every handle ends, and every request still waiting
    /// fails.
    fn stop(&mut self, error: Arc<Error>, cmds: &mut mpsc::Receiver<Cmd>) {
        let closed = matches!(&*error, Error::Closed);
        for (_, queue) in self.subscriptions.drain() {
            queue.close((!closed).then(|| error.duplicate()));
        }
        for (_, (_, shared)) in self.registrations.drain() {
            shared.set(None);
        }
        for (_, cmd) in self.parked.drain(..) {
            cmd.refuse(|| error.duplicate());
        }
        {
            let mut watchers = self
                .common
                .revocations
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            watchers.closed = true;
            for queue in watchers.list.drain(..) {
                queue.close();
            }
        }
        self.common.states.set(ClientState::Stopped {
            reason: error.clone(),
        });
        cmds.close();
        while let Ok(cmd) = cmds.try_recv() {
            cmd.refuse(|| Error::Closed);
        }
    }
}

/// Whether a failed attempt is worth repeating.
fn failure_of(e: &Error) -> Failure {
    match e {
        // The router refused the join, or nothing here can change on a retry.
        Error::Aborted { .. }
        | Error::Authentication(_)
        | Error::Config { .. }
        | Error::Url(_)
        | Error::Usage(_)
        | Error::Uri(_)
        | Error::Random { .. } => Failure::Refused,
        _ => Failure::Transient,
    }
}
