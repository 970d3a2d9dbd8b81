//! The application's handles on what outlives one connection: a [`Subscription`]'s bounded
//! event queue (which says where events were missed), a [`Registration`], and the queue of
//! handles let go, which the client task turns into UNSUBSCRIBE or UNREGISTER.
//!
//! Handles are dropped in synchronous code, so they cannot wait for room in a channel;
//! instead each drop adds one entry to [`Releases`], whose length is bounded by the number of
//! handles, and wakes the task.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::channel::{mpsc, oneshot};
use futures::stream::FusedStream;
use futures::task::AtomicWaker;
use futures::{SinkExt, Stream};
use nexus_core::session::LiveId;
use nexus_core::{RegistrationId, SubscriptionId};

use super::{Cmd, Event};
use crate::error::Error;

/// Locks a mutex whose holders never panic; recovers the state if one did.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- handles let go --------------------------------------------------------------------

/// A handle the application let go of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Released {
    /// The last [`Subscription`] of a live entry: UNSUBSCRIBE when no other holds its ID.
    Subscription(LiveId),
    /// A [`Registration`] not detached: UNREGISTER.
    Registration(LiveId),
    /// A call's future or stream, dropped before its end: CANCEL. (After the CALL itself:
    /// the task reads the command queue before this one.)
    Call(u64),
    /// A call's [`CallSender`](crate::CallSender) dropped before its last chunk: CANCEL, as
    /// the input was cut short.
    Input(u64),
}

/// The handles let go since the task last looked.
#[derive(Default)]
pub(crate) struct Releases {
    list: Mutex<Vec<Released>>,
    waker: AtomicWaker,
}

impl Releases {
    pub(crate) fn push(&self, released: Released) {
        lock(&self.list).push(released);
        self.waker.wake();
    }

    /// Takes what was let go, or registers the task to be woken.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Vec<Released>> {
        self.waker.register(cx.waker());
        let mut list = lock(&self.list);
        if list.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(std::mem::take(&mut *list))
        }
    }
}

// ---- subscriptions ---------------------------------------------------------------------

/// Where a [`Subscription`]'s stream may have missed events: an item of the stream, at the
/// position of the gap.
///
/// ```
/// use nexus_driver::Missed;
/// let gap = Missed::Lagged { count: 3 };
/// assert_eq!(gap.to_string(), "3 events were dropped here: the subscriber read too slowly and its queue (ClientConfig::event_buffer) was full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Missed {
    /// The application read too slowly: `count` events that arrived while the queue was full
    /// were dropped here.
    #[error("{count} events were dropped here: the subscriber read too slowly and its queue (ClientConfig::event_buffer) was full")]
    Lagged {
        /// How many.
        count: u64,
    },
    /// The connection to the router was lost here; events published until the client
    /// subscribed again on a new connection were not received. The stream goes on once the
    /// client has reconnected (see [`ClientConfig::reconnect`](crate::ClientConfig::reconnect)),
    /// and ends if it gives up.
    #[error("the connection to the router was lost here: events published until the client subscribed again were not received")]
    Disconnected,
}

/// The bounded queue between the client task and one [`Subscription`].
pub(crate) struct EventQueue {
    state: Mutex<QueueState>,
}

struct QueueState {
    /// Events, and the gaps between them.
    items: VecDeque<Result<Event, Missed>>,
    /// Events queued (gaps not counted).
    events: usize,
    capacity: usize,
    /// Events dropped since the last one queued: reported before the next, or when the
    /// queue runs dry.
    missed: u64,
    /// No more items: the subscription ended.
    closed: bool,
    /// Why it ended, if not by the application (yielded once, before the end).
    end: Option<Error>,
    waker: Option<Waker>,
    /// The router's ID for it in the current session.
    current: Option<SubscriptionId>,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize, current: SubscriptionId) -> Arc<EventQueue> {
        Arc::new(EventQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                events: 0,
                capacity: capacity.max(1),
                missed: 0,
                closed: false,
                end: None,
                waker: None,
                current: Some(current),
            }),
        })
    }

    /// Queues an event, or counts it as missed when the queue is full (the newest is dropped,
    /// so the gap is reported where it is).
    pub(crate) fn push(&self, event: Event) {
        let mut s = lock(&self.state);
        if s.closed {
            return;
        }
        if s.events >= s.capacity {
            s.missed += 1;
            return;
        }
        s.flush_missed();
        s.items.push_back(Ok(event));
        s.events += 1;
        s.wake();
    }

    /// Marks a gap.
    pub(crate) fn gap(&self, missed: Missed) {
        let mut s = lock(&self.state);
        if s.closed {
            return;
        }
        s.flush_missed();
        s.items.push_back(Err(missed));
        s.wake();
    }

    /// Sets the router's ID (none while disconnected).
    pub(crate) fn set_current(&self, current: Option<SubscriptionId>) {
        lock(&self.state).current = current;
    }

    /// Ends the stream after what is queued, with `end` as its last item if given.
    pub(crate) fn close(&self, end: Option<Error>) {
        let mut s = lock(&self.state);
        if s.closed {
            return;
        }
        s.closed = true;
        s.current = None;
        s.end = end;
        s.wake();
    }

    fn current(&self) -> Option<SubscriptionId> {
        lock(&self.state).current
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<SubscriptionItem>> {
        let mut s = lock(&self.state);
        if let Some(item) = s.items.pop_front() {
            if item.is_ok() {
                s.events -= 1;
            }
            return Poll::Ready(Some(item.map_err(SubscriptionError::Missed)));
        }
        if s.missed > 0 {
            let count = std::mem::take(&mut s.missed);
            return Poll::Ready(Some(Err(SubscriptionError::Missed(Missed::Lagged {
                count,
            }))));
        }
        if s.closed {
            return Poll::Ready(s.end.take().map(|e| Err(SubscriptionError::Ended(e))));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_terminated(&self) -> bool {
        let s = lock(&self.state);
        s.closed && s.items.is_empty() && s.missed == 0 && s.end.is_none()
    }
}

impl QueueState {
    fn flush_missed(&mut self) {
        if self.missed > 0 {
            let count = std::mem::take(&mut self.missed);
            self.items.push_back(Err(Missed::Lagged { count }));
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// What a [`Subscription`] stream yields besides events.
///
/// ```
/// use nexus_driver::{Error, Missed, SubscriptionError};
///
/// let gap = SubscriptionError::Missed(Missed::Disconnected);
/// // Through `?` it becomes an Error; a gap is usually handled in place instead.
/// assert!(matches!(Error::from(gap), Error::Missed(Missed::Disconnected)));
/// let end = SubscriptionError::Ended(Error::Revoked { reason: Some("maintenance".into()) });
/// assert_eq!(end.to_string(), "the subscription ended: the router revoked it: maintenance");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// Events may have been missed here; the stream goes on.
    #[error(transparent)]
    Missed(Missed),
    /// The subscription ended without the application ending it: the router revoked it,
    /// refused to restore it after a reconnection, or the client gave up reconnecting. The
    /// stream ends after this item.
    #[error("the subscription ended: {0}")]
    Ended(Error),
}

/// An item of a [`Subscription`] stream.
pub type SubscriptionItem = Result<Event, SubscriptionError>;

/// A subscription: a stream of events, in order, with the places where events may have been
/// missed ([`SubscriptionError::Missed`]: the application read too slowly, or the connection
/// was lost and restored). Its queue holds at most
/// [`ClientConfig::event_buffer`](crate::ClientConfig::event_buffer) events.
///
/// It lasts across reconnections: after a new join the client subscribes again and the
/// stream goes on. **Dropping it unsubscribes at once** (UNSUBSCRIBE is sent when no other
/// `Subscription` of this client holds the same router subscription);
/// [`unsubscribe`](Subscription::unsubscribe) does the same and waits for the router's
/// answer. The stream ends when the router revokes the subscription, when the client gives
/// up reconnecting, or when the client closes.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use futures::StreamExt;
/// use nexus_driver::SubscriptionError;
///
/// let mut news = client.subscribe("com.example.news").await?;
/// while let Some(item) = news.next().await {
///     match item {
///         Ok(event) => println!("{:?}", event.args),
///         Err(SubscriptionError::Missed(gap)) => eprintln!("gap: {gap}"),
///         Err(SubscriptionError::Ended(e)) => return Err(e),
///         Err(e) => eprintln!("{e}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Subscription {
    pub(crate) hold: Hold,
    pub(crate) queue: Arc<EventQueue>,
}

/// What a [`Subscription`] and a [`Registration`] share: which live entry the handle holds,
/// and how it lets go (at once on drop, through the release queue; or waiting for the
/// router's answer, through the command queue).
pub(crate) struct Hold {
    released: Released,
    releases: Arc<Releases>,
    cmd: mpsc::Sender<Cmd>,
    /// Let go already, or detached: nothing for the drop to do.
    done: bool,
}

impl Hold {
    pub(crate) fn new(released: Released, releases: Arc<Releases>, cmd: mpsc::Sender<Cmd>) -> Hold {
        Hold {
            released,
            releases,
            cmd,
            done: false,
        }
    }

    /// Lets go and waits for the router's answer.
    async fn release(mut self) -> Result<(), Error> {
        self.done = true;
        let (reply, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Release {
                released: self.released,
                reply,
            })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.done {
            self.releases.push(self.released);
        }
    }
}

impl Subscription {
    /// The router's ID for this subscription in the current session; `None` while the client
    /// is disconnected or after the subscription ended.
    pub fn id(&self) -> Option<SubscriptionId> {
        self.queue.current()
    }

    /// Unsubscribes and waits for the router's answer (UNSUBSCRIBED, or nothing to do when
    /// another handle holds the same subscription or the client is disconnected).
    pub async fn unsubscribe(self) -> Result<(), Error> {
        self.hold.release().await
    }
}

impl Stream for Subscription {
    type Item = SubscriptionItem;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SubscriptionItem>> {
        self.queue.poll_next(cx)
    }
}

impl FusedStream for Subscription {
    fn is_terminated(&self) -> bool {
        self.queue.is_terminated()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

// ---- registrations ---------------------------------------------------------------------

/// What a [`Registration`] and the client task share.
pub(crate) struct RegistrationShared {
    pub(crate) current: Mutex<Option<RegistrationId>>,
}

impl RegistrationShared {
    pub(crate) fn new(current: RegistrationId) -> Arc<RegistrationShared> {
        Arc::new(RegistrationShared {
            current: Mutex::new(Some(current)),
        })
    }

    pub(crate) fn set(&self, current: Option<RegistrationId>) {
        *lock(&self.current) = current;
    }
}

/// A registered procedure. It lasts across reconnections: after a new join the client
/// registers it again with the same handler.
///
/// **Dropping it unregisters the procedure** (UNREGISTER at once), so keep it for as long
/// as the procedure should be served, or [`detach`](Registration::detach) it to serve until
/// the client closes. [`unregister`](Registration::unregister) also waits for the router's
/// answer.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) -> Result<(), nexus_driver::Error> {
/// use nexus_core::{args, Payload};
/// use nexus_driver::Invocation;
///
/// let add = client
///     .register("com.example.add", |inv: Invocation| async move {
///         let sum: i64 = inv.args.iter().filter_map(|v| v.as_i64()).sum();
///         Ok(Payload::new(args![sum], Default::default()))
///     })
///     .await?;
/// // ... serve until done, then:
/// add.unregister().await?;
/// # Ok(()) }
/// ```
#[must_use = "dropping a Registration unregisters the procedure: keep it, or call detach()"]
pub struct Registration {
    pub(crate) hold: Hold,
    pub(crate) shared: Arc<RegistrationShared>,
}

impl Registration {
    /// The router's ID for this registration in the current session; `None` while the client
    /// is disconnected or after the registration ended.
    pub fn id(&self) -> Option<RegistrationId> {
        *lock(&self.shared.current)
    }

    /// Keeps the procedure registered (and restored after reconnections) until the client
    /// closes or the router revokes it, without a handle.
    pub fn detach(mut self) {
        self.hold.done = true;
    }

    /// Unregisters and waits for the router's answer (nothing to wait for while the client
    /// is disconnected).
    pub async fn unregister(self) -> Result<(), Error> {
        self.hold.release().await
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}
