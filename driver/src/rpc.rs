//! The handles of the advanced RPC features: progressive results both ways
//! ([`ProgressiveCall`], [`Progress`]), progressive call invocations ([`CallSender`],
//! [`InvocationStream`]) and revocations ([`Revocations`]).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::channel::{mpsc, oneshot};
use futures::stream::FusedStream;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use nexus_core::message::YieldOptions;
use nexus_core::session::UsageError;
use nexus_core::{Payload, RegistrationId, RequestId, SubscriptionId};

use crate::client::{CallResponse, Cmd};
use crate::error::Error;

// ---- callee: progressive results ------------------------------------------------------

/// What the client task and the handles of one invocation share.
pub(crate) struct InvocationShared {
    pub(crate) request: RequestId,
    /// `INVOCATION.Details.receive_progress`.
    pub(crate) receive_progress: bool,
    pub(crate) cmd: mpsc::Sender<Cmd>,
    pub(crate) state: Mutex<InvocationState>,
}

pub(crate) struct InvocationState {
    /// The invocation is answered (or abandoned): progressive results are refused. Set under
    /// the same lock as the final answer is queued, so no progressive result can follow it.
    pub(crate) finished: bool,
    /// Options for the final YIELD.
    pub(crate) yield_options: YieldOptions,
}

impl InvocationShared {
    pub(crate) fn new(
        request: RequestId,
        receive_progress: bool,
        cmd: mpsc::Sender<Cmd>,
    ) -> Arc<InvocationShared> {
        Arc::new(InvocationShared {
            request,
            receive_progress,
            cmd,
            state: Mutex::new(InvocationState {
                finished: false,
                yield_options: YieldOptions::default(),
            }),
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, InvocationState> {
        // Nothing panics while holding the lock; recover the state if something did.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends progressive results for one invocation: a cheap, cloneable handle from
/// [`Invocation::progress_sender`](crate::Invocation::progress_sender), usable from any task
/// while the handler runs. The handler's return value stays the final result.
///
/// Progressive results are allowed only when the caller asked for them
/// (`InvocationDetails::receive_progress`, which [`Call::progress`] sets); they
/// are sent in order, before the final result.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use nexus_core::{args, Payload};
/// use nexus_driver::Invocation;
///
/// client
///     .register("com.example.countdown", |inv: Invocation| async move {
///         let progress = inv.progress_sender();
///         if progress.is_requested() {
///             for n in (1..=3).rev() {
///                 progress.send(Payload::new(args![n], Default::default())).await?;
///             }
///         }
///         Ok(Payload::new(args!["liftoff"], Default::default()))
///     })
///     .await?;
/// # Ok(()) }
/// ```
///
/// [`Call::progress`]: crate::Call::progress
#[derive(Clone)]
pub struct Progress {
    pub(crate) shared: Arc<InvocationShared>,
}

impl Progress {
    /// The INVOCATION request ID.
    pub fn request_id(&self) -> RequestId {
        self.shared.request
    }

    /// Whether the caller asked for progressive results: otherwise [`send`](Progress::send)
    /// fails.
    pub fn is_requested(&self) -> bool {
        self.shared.receive_progress
    }

    /// Whether the invocation is answered, interrupted or timed out: then
    /// [`send`](Progress::send) fails.
    pub fn is_finished(&self) -> bool {
        self.shared.lock().finished
    }

    /// Sends a progressive result (YIELD with `progress: true`); completes once it is
    /// queued for the router (a full queue makes a fast producer wait).
    ///
    /// Fails with [`Error::Usage`]`(`[`UsageError::ProgressNotRequested`]`)` when the caller
    /// did not ask for progressive results, [`Error::InvocationFinished`] once the invocation
    /// is answered, interrupted or timed out, and [`Error::Closed`] when the session is
    /// gone.
    pub async fn send(&self, payload: Payload) -> Result<(), Error> {
        self.send_with(YieldOptions::default(), payload).await
    }

    /// Sends a progressive result with YIELD options (for example `ppt_*` keys for a
    /// payload passthru payload); `progress` is set whatever `options` says.
    pub async fn send_with(
        &self,
        mut options: YieldOptions,
        payload: Payload,
    ) -> Result<(), Error> {
        let request = self.shared.request;
        if !self.shared.receive_progress {
            return Err(Error::Usage(UsageError::ProgressNotRequested { request }));
        }
        if self.shared.lock().finished {
            return Err(Error::InvocationFinished { request });
        }
        options.progress = Some(true);
        // One sent after the final answer (from another task, racing the handler's return)
        // is discarded by the client task, which has forgotten the invocation by then.
        self.shared
            .cmd
            .clone()
            .send(Cmd::Progress {
                invocation: request,
                options,
                payload,
            })
            .await
            .map_err(|_| Error::Closed)
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("request", &self.shared.request)
            .field("requested", &self.shared.receive_progress)
            .finish()
    }
}

impl PartialEq for Progress {
    fn eq(&self, other: &Progress) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

// ---- callee: progressive call invocations ---------------------------------------------

/// The input chunks of a progressive call invocation after the first, as a handler
/// whose handler takes an `InvocationStream` gets
/// them: each chunk's payload, in order. The stream ends after the caller's last chunk, at
/// once when the call was not progressive, and when the session ends.
///
/// At most [`CHUNK_BUFFER`] chunks wait for the handler: a caller that sends faster than the
/// handler reads gets `wamp.error.canceled` and the handler is stopped, rather than the
/// client holding an unbounded input in memory.
pub struct InvocationStream {
    pub(crate) rx: mpsc::Receiver<Payload>,
}

/// How many input chunks of one invocation may wait for its handler.
pub const CHUNK_BUFFER: usize = 256;

impl Stream for InvocationStream {
    type Item = Payload;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Payload>> {
        self.rx.poll_next_unpin(cx)
    }
}

impl FusedStream for InvocationStream {
    fn is_terminated(&self) -> bool {
        self.rx.is_terminated()
    }
}

impl std::fmt::Debug for InvocationStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationStream").finish_non_exhaustive()
    }
}

// ---- caller: the call's handles ---------------------------------------------------------

/// How many progressive results of one call may wait for the application: past it the call
/// is canceled and ends with [`Error::Overflow`].
pub const RESULT_BUFFER: usize = 1024;

/// A call's first CALL until it is queued for the client task, and what the call's handles
/// share to cancel it. The CALL is queued at once when the command queue has room; when it
/// is full, the first handle polled (or the first chunk sent) waits for room, so that the
/// queue makes callers wait rather than grow.
pub(crate) struct Outbox {
    pub(crate) cmd: mpsc::Sender<Cmd>,
    /// The CALL not sent yet; shared by the call's future (or stream) and its input sender.
    pub(crate) pending: Arc<Mutex<Option<Cmd>>>,
    pub(crate) releases: Arc<crate::client::Releases>,
    pub(crate) token: u64,
}

impl Outbox {
    pub(crate) fn new(
        cmd: mpsc::Sender<Cmd>,
        call: Cmd,
        releases: Arc<crate::client::Releases>,
        token: u64,
    ) -> Outbox {
        let mut outbox = Outbox {
            cmd,
            pending: Arc::new(Mutex::new(None)),
            releases,
            token,
        };
        match outbox.cmd.try_send(call) {
            Ok(()) => {}
            Err(e) if e.is_full() => *outbox.lock() = Some(e.into_inner()),
            // The client is gone: the reply channel inside is dropped, and the handles
            // report the client closed.
            Err(_) => {}
        }
        outbox
    }

    /// Another handle of the same call.
    pub(crate) fn share(&self) -> Outbox {
        Outbox {
            cmd: self.cmd.clone(),
            pending: self.pending.clone(),
            releases: self.releases.clone(),
            token: self.token,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cmd>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the CALL if no handle has yet.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.lock().is_none() {
            return Poll::Ready(Ok(()));
        }
        match self.cmd.poll_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Err(Error::Closed)),
            Poll::Ready(Ok(())) => {}
        }
        let call = self.lock().take();
        if let Some(call) = call {
            if self.cmd.start_send(call).is_err() {
                return Poll::Ready(Err(Error::Closed));
            }
        }
        Poll::Ready(Ok(()))
    }

    async fn flush(&mut self) -> Result<(), Error> {
        futures::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// The call was given up (a handle dropped before its end): cancel it, if it was sent.
    pub(crate) fn release(&self, released: crate::client::Released) {
        let never_sent = self.lock().take().is_some();
        if !never_sent {
            self.releases.push(released);
        }
    }
}

/// A call in flight, from awaiting a [`Call`](crate::Call); dropping it before completion
/// cancels the call.
pub struct CallFuture {
    /// `None` when the call could not start (the error is in `rx`).
    pub(crate) outbox: Option<Outbox>,
    pub(crate) rx: Result<oneshot::Receiver<Result<CallResponse, Error>>, Option<Error>>,
    pub(crate) done: bool,
}

impl Future for CallFuture {
    type Output = Result<CallResponse, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(Err(Error::Closed));
        }
        let rx = match &mut this.rx {
            Ok(rx) => rx,
            Err(e) => {
                this.done = true;
                return Poll::Ready(Err(e.take().unwrap_or(Error::Closed)));
            }
        };
        if let Some(outbox) = &mut this.outbox {
            match outbox.poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
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
        if let (false, Some(outbox)) = (self.done, &self.outbox) {
            outbox.release(crate::client::Released::Call(outbox.token));
        }
    }
}

impl std::fmt::Debug for CallFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The progressive results of a call waiting for the application, and its end.
pub(crate) struct ResultQueue {
    state: Mutex<ResultState>,
}

struct ResultState {
    items: VecDeque<Result<CallResponse, Error>>,
    /// The final result or error is queued: nothing follows it.
    finished: bool,
    waker: Option<Waker>,
}

impl ResultQueue {
    pub(crate) fn new() -> Arc<ResultQueue> {
        Arc::new(ResultQueue {
            state: Mutex::new(ResultState {
                items: VecDeque::new(),
                finished: false,
                waker: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ResultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a progressive result; `false` when [`RESULT_BUFFER`] results wait already.
    fn push(&self, response: CallResponse) -> bool {
        let mut s = self.lock();
        if s.finished {
            return true;
        }
        if s.items.len() >= RESULT_BUFFER {
            return false;
        }
        s.items.push_back(Ok(response));
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        true
    }

    /// Queues the final result or error (always: one past the limit).
    fn finish(&self, result: Result<CallResponse, Error>) {
        let mut s = self.lock();
        if s.finished {
            return;
        }
        s.finished = true;
        s.items.push_back(result);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<CallResponse, Error>>> {
        let mut s = self.lock();
        match s.items.pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None if s.finished => Poll::Ready(None),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Where the client task delivers a call's outcome.
pub(crate) enum CallReply {
    /// A [`CallFuture`]: the final result only.
    Once(oneshot::Sender<Result<CallResponse, Error>>),
    /// A [`ProgressiveCall`]: progressive results, then the final result or error.
    Stream(Arc<ResultQueue>),
}

impl CallReply {
    /// A progressive result (dropped for [`CallReply::Once`]); `false` when the application
    /// is too far behind and the call must end.
    pub(crate) fn progress(&self, response: CallResponse) -> bool {
        match self {
            CallReply::Stream(queue) => queue.push(response),
            CallReply::Once(_) => true,
        }
    }

    /// The final result or error.
    pub(crate) fn finish(self, result: Result<CallResponse, Error>) {
        match self {
            CallReply::Once(tx) => {
                let _ = tx.send(result);
            }
            CallReply::Stream(queue) => queue.finish(result),
        }
    }
}

/// A call with progressive results, from [`Call::progress`] or [`Call::duplex`]: a stream of
/// each progressive result (`details.progress == Some(true)`), then the final result (or an
/// error), then the end.
///
/// Dropping it before the end cancels the call (CANCEL `killnowait` when the router supports
/// call canceling), like dropping a [`CallFuture`]. At most [`RESULT_BUFFER`] results wait
/// to be read; a reader further behind gets [`Error::Overflow`] and the call is canceled.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use futures::StreamExt;
///
/// let mut call = client.call("com.example.countdown").progress();
/// while let Some(result) = call.next().await {
///     let result = result?;
///     let last = result.details.progress != Some(true);
///     println!("{:?}{}", result.args, if last { " (final)" } else { "" });
/// }
/// # Ok(()) }
/// ```
///
/// [`Call::progress`]: crate::Call::progress
/// [`Call::duplex`]: crate::Call::duplex
pub struct ProgressiveCall {
    /// `None` when the call could not start (the error is in `start_error`).
    pub(crate) outbox: Option<Outbox>,
    pub(crate) queue: Arc<ResultQueue>,
    pub(crate) start_error: Option<Error>,
    /// The final result or an error was yielded.
    pub(crate) done: bool,
}

impl ProgressiveCall {
    /// Waits for the final result, skipping progressive ones.
    pub async fn final_result(mut self) -> Result<CallResponse, Error> {
        let mut last = Err(Error::Closed);
        while let Some(item) = self.next().await {
            last = item;
        }
        last
    }
}

impl Stream for ProgressiveCall {
    type Item = Result<CallResponse, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(e) = this.start_error.take() {
            this.done = true;
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(outbox) = &mut this.outbox {
            match outbox.poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
        match this.queue.poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(item)) => {
                let progressive = matches!(&item, Ok(r) if r.details.progress == Some(true));
                this.done = !progressive;
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(Some(Err(Error::Closed)))
            }
        }
    }
}

impl FusedStream for ProgressiveCall {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for ProgressiveCall {
    fn drop(&mut self) {
        if let (false, Some(outbox)) = (self.done, &self.outbox) {
            outbox.release(crate::client::Released::Call(outbox.token));
        }
    }
}

impl std::fmt::Debug for ProgressiveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressiveCall")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

// ---- caller: progressive call invocations ---------------------------------------------

/// Sends the input chunks of a progressive call invocation after the first, from
/// [`Call::chunked`] or [`Call::duplex`]: [`send`](CallSender::send) for each chunk,
/// [`finish`](CallSender::finish) for the last one.
///
/// **Dropping it without [`finish`](CallSender::finish) cancels the call** (CANCEL
/// `killnowait`; the call then fails, usually with `wamp.error.canceled`): an input cut short
/// is never passed off to the callee as complete. Call
/// [`finish`](CallSender::finish) (with an empty payload if need be) to end the input.
///
/// The callee may answer before the last chunk; then [`send`](CallSender::send) fails with
/// [`Error::CallEnded`] and the call's future or stream holds the answer.
///
/// [`Call::chunked`]: crate::Call::chunked
/// [`Call::duplex`]: crate::Call::duplex
pub struct CallSender {
    /// `None` when the call never started: nothing to send or cancel.
    pub(crate) outbox: Option<Outbox>,
    /// `finish` was called: nothing to cancel on drop.
    pub(crate) finished: bool,
}

impl CallSender {
    /// Sends the next chunk (CALL with the call's request ID and `progress: true`); more
    /// must follow. Completes once the client has queued it for the router, so a fast
    /// producer waits for the connection.
    pub async fn send(&mut self, payload: Payload) -> Result<(), Error> {
        self.chunk(payload, false).await
    }

    /// Sends the last chunk (CALL with the call's request ID and no `progress`), ending the
    /// input. The call's result still comes through its future or stream.
    pub async fn finish(mut self, payload: Payload) -> Result<(), Error> {
        self.finished = true;
        self.chunk(payload, true).await
    }

    async fn chunk(&mut self, payload: Payload, last: bool) -> Result<(), Error> {
        let Some(outbox) = &mut self.outbox else {
            return Err(Error::CallEnded);
        };
        // The first CALL goes first.
        outbox.flush().await?;
        let (reply, rx) = oneshot::channel();
        outbox
            .cmd
            .send(Cmd::Chunk {
                token: outbox.token,
                payload,
                last,
                reply,
            })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

impl Drop for CallSender {
    fn drop(&mut self) {
        if let (false, Some(outbox)) = (self.finished, &self.outbox) {
            outbox.release(crate::client::Released::Input(outbox.token));
        }
    }
}

impl std::fmt::Debug for CallSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSender")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

// ---- revocations -----------------------------------------------------------------------

/// A registration or subscription the router ended on its own (registration or
/// subscription revocation), from [`Client::revocations`](crate::Client::revocations).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Revoked {
    /// A registration ended: its handler gets no more invocations (those running finish).
    Registration {
        /// The registration ID ([`Registration::id`](crate::Registration::id)).
        id: RegistrationId,
        /// Why, if the router said.
        reason: Option<String>,
    },
    /// A subscription ended: its [`Subscription`](crate::Subscription) streams end.
    Subscription {
        /// The subscription ID ([`Subscription::id`](crate::Subscription::id)).
        id: SubscriptionId,
        /// Why, if the router said.
        reason: Option<String>,
    },
    /// After a reconnection, the router refused to register `procedure` again (another
    /// callee took an exclusive registration meanwhile, a permission was withdrawn...): its
    /// handler gets no more invocations. (A subscription that cannot be restored ends its
    /// stream with the error.)
    NotRestored {
        /// The procedure (or pattern).
        procedure: nexus_core::Uri,
        /// The router's answer.
        error: Box<crate::WampError>,
    },
    /// This stream fell [`REVOCATION_BUFFER`] revocations behind: `count` were dropped here.
    Missed {
        /// How many.
        count: u64,
    },
}

/// How many revocations may wait for a reader of [`Revocations`] before the newest are
/// dropped (and counted, in a [`Revoked::Missed`]).
pub const REVOCATION_BUFFER: usize = 256;

/// The revocations waiting for one [`Revocations`] stream.
pub(crate) struct RevocationQueue {
    state: Mutex<RevocationState>,
}

#[derive(Default)]
struct RevocationState {
    items: VecDeque<Revoked>,
    missed: u64,
    closed: bool,
    waker: Option<Waker>,
}

impl RevocationQueue {
    pub(crate) fn new() -> Arc<RevocationQueue> {
        Arc::new(RevocationQueue {
            state: Mutex::new(RevocationState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RevocationState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, revoked: Revoked) {
        let mut s = self.lock();
        if s.items.len() >= REVOCATION_BUFFER {
            s.missed += 1;
        } else {
            if s.missed > 0 {
                let count = std::mem::take(&mut s.missed);
                s.items.push_back(Revoked::Missed { count });
            }
            s.items.push_back(revoked);
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    pub(crate) fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

/// The revocations of one client's registrations and subscriptions, as they happen: a
/// stream of [`Revoked`] from [`Client::revocations`](crate::Client::revocations). It ends
/// when the client stops. At most [`REVOCATION_BUFFER`] wait to be read; past that the
/// stream says how many it missed ([`Revoked::Missed`]).
pub struct Revocations {
    pub(crate) queue: Arc<RevocationQueue>,
}

impl Stream for Revocations {
    type Item = Revoked;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Revoked>> {
        let mut s = self.queue.lock();
        if let Some(item) = s.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if s.missed > 0 {
            let count = std::mem::take(&mut s.missed);
            return Poll::Ready(Some(Revoked::Missed { count }));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl FusedStream for Revocations {
    fn is_terminated(&self) -> bool {
        let s = self.queue.lock();
        s.closed && s.items.is_empty() && s.missed == 0
    }
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}
