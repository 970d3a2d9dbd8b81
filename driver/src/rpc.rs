//! The handles of the advanced RPC features: progressive results both ways
//! ([`ProgressiveCall`], [`Progress`]), progressive call invocations ([`CallSender`],
//! [`InvocationStream`]) and revocations ([`Revocations`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use futures::stream::FusedStream;
use futures::{Stream, StreamExt};
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
    pub(crate) cmd: mpsc::UnboundedSender<Cmd>,
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
        cmd: mpsc::UnboundedSender<Cmd>,
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
///                 progress.send(Payload::new(args![n], Default::default()))?;
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

    /// Sends a progressive result (YIELD with `progress: true`).
    ///
    /// Fails with [`Error::Usage`]`(`[`UsageError::ProgressNotRequested`]`)` when the caller
    /// did not ask for progressive results, [`Error::InvocationFinished`] once the invocation
    /// is answered, interrupted or timed out, and [`Error::Closed`] when the session is
    /// gone.
    pub fn send(&self, payload: Payload) -> Result<(), Error> {
        self.send_with(YieldOptions::default(), payload)
    }

    /// Sends a progressive result with YIELD options (for example `ppt_*` keys for a
    /// payload passthru payload); `progress` is set whatever `options` says.
    pub fn send_with(&self, mut options: YieldOptions, payload: Payload) -> Result<(), Error> {
        let request = self.shared.request;
        if !self.shared.receive_progress {
            return Err(Error::Usage(UsageError::ProgressNotRequested { request }));
        }
        options.progress = Some(true);
        let state = self.shared.lock();
        if state.finished {
            return Err(Error::InvocationFinished { request });
        }
        self.shared
            .cmd
            .unbounded_send(Cmd::Progress {
                invocation: request,
                options,
                payload,
            })
            .map_err(|_| Error::Closed)?;
        drop(state);
        Ok(())
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
/// Chunks wait in memory until the handler reads them.
pub struct InvocationStream {
    pub(crate) rx: mpsc::UnboundedReceiver<Payload>,
}

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

// ---- caller: progressive results -------------------------------------------------------

/// Where the client task delivers a call's outcome.
pub(crate) enum CallReply {
    /// [`CallFuture`](crate::CallFuture): the final result only.
    Once(oneshot::Sender<Result<CallResponse, Error>>),
    /// [`ProgressiveCall`]: progressive results, then the final result or error.
    Stream(mpsc::UnboundedSender<Result<CallResponse, Error>>),
}

impl CallReply {
    /// A progressive result; dropped for [`CallReply::Once`].
    pub(crate) fn progress(&self, response: CallResponse) {
        if let CallReply::Stream(tx) = self {
            let _ = tx.unbounded_send(Ok(response));
        }
    }

    /// The final result or error.
    pub(crate) fn finish(self, result: Result<CallResponse, Error>) {
        match self {
            CallReply::Once(tx) => {
                let _ = tx.send(result);
            }
            CallReply::Stream(tx) => {
                let _ = tx.unbounded_send(result);
            }
        }
    }
}

/// A call with progressive results, from [`Call::progress`] or
/// [`Call::duplex`]: a stream of each progressive result (`details.progress ==
/// Some(true)`), then the final result (or an error), then the end.
///
/// Dropping it before the end cancels the call (CANCEL `killnowait` when the router supports
/// call canceling), like dropping a [`CallFuture`](crate::CallFuture). Results wait in
/// memory until read.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use futures::StreamExt;
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
    pub(crate) rx: Result<mpsc::UnboundedReceiver<Result<CallResponse, Error>>, Option<Error>>,
    pub(crate) token: u64,
    pub(crate) cmd: mpsc::UnboundedSender<Cmd>,
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
        let rx = match &mut this.rx {
            Ok(rx) => rx,
            Err(e) => {
                this.done = true;
                return Poll::Ready(Some(Err(e.take().unwrap_or(Error::Closed))));
            }
        };
        match rx.poll_next_unpin(cx) {
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
        if !self.done && self.rx.is_ok() {
            let _ = self.cmd.unbounded_send(Cmd::DropCall { token: self.token });
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
/// [`Call::chunked`] or [`Call::duplex`]: [`send`](CallSender::send) for
/// each chunk, [`finish`](CallSender::finish) for the last one.
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
    pub(crate) token: u64,
    pub(crate) cmd: mpsc::UnboundedSender<Cmd>,
    /// `finish` was called (or the call never started): nothing to cancel on drop.
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
        let (reply, rx) = oneshot::channel();
        self.cmd
            .unbounded_send(Cmd::Chunk {
                token: self.token,
                payload,
                last,
                reply,
            })
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

impl Drop for CallSender {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self
                .cmd
                .unbounded_send(Cmd::AbandonInput { token: self.token });
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
}

/// The revocations of one client's registrations and subscriptions, as they happen: a
/// stream of [`Revoked`] from [`Client::revocations`](crate::Client::revocations). It ends
/// when the session ends. Revocations wait in memory until read.
pub struct Revocations {
    pub(crate) rx: mpsc::UnboundedReceiver<Revoked>,
}

impl Stream for Revocations {
    type Item = Revoked;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Revoked>> {
        self.rx.poll_next_unpin(cx)
    }
}

impl FusedStream for Revocations {
    fn is_terminated(&self) -> bool {
        self.rx.is_terminated()
    }
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}
