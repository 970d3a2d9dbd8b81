//! Where a client stands, as a stream for the application ([`Client::state`](crate::Client::state)):
//! connecting, joined, disconnected, retrying, stopped.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::stream::FusedStream;
use futures::Stream;
use nexus_core::message::WelcomeDetails;
use nexus_core::SessionId;

use crate::error::Error;

/// A step in a client's life, from [`Client::state`](crate::Client::state).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientState {
    /// Connection attempt `attempt` (1 for the first since the last join) is under way.
    Connecting {
        /// Which attempt.
        attempt: u32,
    },
    /// Joined: a session is up (after the first connection, every registration and
    /// subscription the application holds is being restored).
    Joined {
        /// The new session's ID.
        session: SessionId,
        /// The router's WELCOME details.
        details: Arc<WelcomeDetails>,
    },
    /// The connection was lost, or an attempt failed, for `reason`.
    Disconnected {
        /// What happened.
        reason: Arc<Error>,
    },
    /// Waiting `delay` before attempt `attempt` (see
    /// [`ClientConfig::reconnect`](crate::ClientConfig::reconnect)).
    Retrying {
        /// The attempt that comes next.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
    },
    /// The client stopped for good: closed by the application, or it gave up (a refused
    /// join, the attempts exhausted, no reconnect policy). The stream ends after this.
    Stopped {
        /// Why: [`Error::Closed`] when the application closed it.
        reason: Arc<Error>,
    },
}

/// How many states a slow reader of [`ClientStates`] may fall behind before the oldest are
/// dropped (the latest state is always kept).
const STATE_BACKLOG: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Queue {
    items: VecDeque<ClientState>,
    ended: bool,
    waker: Option<Waker>,
}

/// Everyone watching a client's state.
pub(crate) struct StateWatchers {
    inner: Mutex<Watchers>,
}

struct Watchers {
    current: ClientState,
    list: Vec<Arc<Mutex<Queue>>>,
}

impl StateWatchers {
    pub(crate) fn new() -> StateWatchers {
        StateWatchers {
            inner: Mutex::new(Watchers {
                current: ClientState::Connecting { attempt: 1 },
                list: Vec::new(),
            }),
        }
    }

    /// A new stream, starting with the current state.
    pub(crate) fn watch(&self) -> ClientStates {
        let mut w = lock(&self.inner);
        let ended = matches!(w.current, ClientState::Stopped { .. });
        let queue = Arc::new(Mutex::new(Queue {
            items: VecDeque::from([w.current.clone()]),
            ended,
            waker: None,
        }));
        if !ended {
            w.list.push(queue.clone());
        }
        ClientStates { queue }
    }

    /// Every watcher sees `state` next.
    pub(crate) fn set(&self, state: ClientState) {
        let mut w = lock(&self.inner);
        let ended = matches!(state, ClientState::Stopped { .. });
        w.list.retain(|q| Arc::strong_count(q) > 1);
        for q in &w.list {
            let mut q = lock(q);
            if q.items.len() >= STATE_BACKLOG {
                q.items.pop_front();
            }
            q.items.push_back(state.clone());
            q.ended = ended;
            if let Some(w) = q.waker.take() {
                w.wake();
            }
        }
        if ended {
            w.list.clear();
        }
        w.current = state;
    }

    pub(crate) fn current(&self) -> ClientState {
        lock(&self.inner).current.clone()
    }
}

/// The states of a client as they change, from [`Client::state`](crate::Client::state): the
/// current state first, then each change. It ends after [`ClientState::Stopped`]. A reader
/// that falls far behind loses the oldest states, never the latest.
///
/// ```no_run
/// # async fn run(client: nexus_driver::Client) {
/// use futures::StreamExt;
/// use nexus_driver::ClientState;
///
/// let mut states = client.state();
/// while let Some(state) = states.next().await {
///     match state {
///         ClientState::Joined { session, .. } => println!("joined as session {session}"),
///         ClientState::Disconnected { reason } => println!("lost the router: {reason}"),
///         ClientState::Retrying { attempt, delay } => println!("attempt {attempt} in {delay:?}"),
///         other => println!("{other:?}"),
///     }
/// }
/// # }
/// ```
pub struct ClientStates {
    queue: Arc<Mutex<Queue>>,
}

impl Stream for ClientStates {
    type Item = ClientState;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientState>> {
        let mut q = lock(&self.queue);
        if let Some(state) = q.items.pop_front() {
            return Poll::Ready(Some(state));
        }
        if q.ended {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl FusedStream for ClientStates {
    fn is_terminated(&self) -> bool {
        let q = lock(&self.queue);
        q.ended && q.items.is_empty()
    }
}

impl std::fmt::Debug for ClientStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStates").finish_non_exhaustive()
    }
}
