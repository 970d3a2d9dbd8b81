//! Staying connected across connections: when a client opens its next connection after one
//! fails or ends ([`ReconnectPolicy`], [`Reconnector`]), and what it must restore once it has
//! joined again.
//!
//! WAMP has no rule for reconnecting: a new connection is a new session, with a new session
//! ID, new subscription and registration IDs and none of the old session's state. So the
//! client keeps the list of what the application still holds (its live subscriptions and
//! registrations, with their topics, procedures and options) and, after each join, subscribes
//! and registers each of them again, exactly once. The [`Reconnector`] owns that list and the
//! schedule of connection attempts; the [`Session`](super::Session) of each connection stays
//! as it is. Like the session it reads no clock and draws no entropy of its own: time is a
//! parameter and the jitter comes from a generator seeded by the caller.
//!
//! The life of a client, as the reconnector sees it:
//!
//! ```text
//!   start ─► Connecting{1} ─joined─► Joined ─lost─► Waiting{1} ─timeout─► Connecting{1} ...
//!                │                                      ▲
//!                └─failed─► Waiting{n+1} ─timeout─► Connecting{n+1} ─failed─┘
//!   refused (ABORT of the join), attempts exhausted, no policy, close ─► Stopped
//! ```
//!
//! There is never more than one connection: a [`ReconnectAction::Connect`] is emitted only
//! from `Waiting` (or at [`start`](Reconnector::start)), and the driver reports how that
//! attempt ended before another can begin.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::id::{RegistrationId, SubscriptionId};
use crate::message::{RegisterOptions, SubscribeOptions};
use crate::uri::Uri;

/// How a client retries: exponential backoff with jitter, a maximum delay and an optional
/// limit on consecutive failed attempts.
///
/// The `n`th retry after a failure or a lost connection waits
/// `min(initial_delay × multiplierⁿ⁻¹, max_delay)`, shortened by a random part of up to
/// `jitter` of it (so that many clients cut off at once by a router restart do not all
/// come back at the same instant).
///
/// ```
/// use std::time::Duration;
/// use nexus_core::session::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::new()
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(10);
/// // The third retry waits between 200 and 400 ms (400 ms, less up to half of it).
/// assert_eq!(policy.delay_bounds(3), (Duration::from_millis(200), Duration::from_millis(400)));
/// // Later ones never exceed the maximum.
/// assert_eq!(policy.delay_bounds(30).1, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReconnectPolicy {
    /// The delay before the first retry (default 250 ms).
    pub initial_delay: Duration,
    /// The longest delay between two attempts (default 10 s).
    pub max_delay: Duration,
    /// How much each retry's delay grows over the previous one (default 2; at least 1).
    pub multiplier: f64,
    /// The part of each delay that is random, from 0 (none) to 1 (anything from zero up to
    /// the delay); default 0.5.
    pub jitter: f64,
    /// After this many consecutive failed attempts the client gives up (default: never).
    /// A successful join resets the count.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.5,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The defaults: 250 ms, doubling up to 10 s, half of each delay random, no limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the delay before the first retry.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the longest delay between attempts.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how much each delay grows (values below 1 count as 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the random part of each delay (clamped to 0..=1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Gives up after `attempts` consecutive failed attempts (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The shortest and longest delay before retry `retry` (1 for the first retry).
    pub fn delay_bounds(&self, retry: u32) -> (Duration, Duration) {
        let multiplier = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let max = self.max_delay.as_secs_f64();
        let mut longest = self.initial_delay.as_secs_f64().min(max);
        for _ in 1..retry.max(1) {
            if longest >= max {
                break;
            }
            longest = (longest * multiplier).min(max);
        }
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let longest = Duration::from_secs_f64(longest);
        (longest.mul_f64(1.0 - jitter), longest)
    }

    /// The delay before retry `retry` for a random draw `unit` in `0.0..1.0`.
    fn delay(&self, retry: u32, unit: f64) -> Duration {
        let (shortest, longest) = self.delay_bounds(retry);
        shortest + (longest - shortest).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Where the client stands, as the [`Reconnector`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectState {
    /// Not started.
    Idle,
    /// Attempt `attempt` (1 for the first since the last join) is under way: connecting,
    /// the transport handshake, or joining.
    Connecting {
        /// Which attempt since the last successful join, from 1.
        attempt: u32,
    },
    /// Joined: a session is up.
    Joined,
    /// Waiting until `until` before attempt `attempt`.
    Waiting {
        /// The attempt that comes next.
        attempt: u32,
        /// When it starts.
        until: Instant,
    },
    /// No more attempts (see [`GiveUp`]).
    Stopped,
}

/// Why the client stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The router refused the join (an ABORT: bad credentials, no such realm...): trying
    /// again would be refused again.
    Refused,
    /// The policy's `max_attempts` consecutive attempts failed.
    AttemptsExhausted {
        /// How many.
        attempts: u32,
    },
    /// The client has no reconnect policy and its connection ended.
    NoPolicy,
    /// The application closed the client.
    Closed,
}

/// What the driver must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectAction {
    /// Open a connection and join; report how it went with
    /// [`handle_joined`](Reconnector::handle_joined) or
    /// [`handle_failed`](Reconnector::handle_failed).
    Connect {
        /// Which attempt since the last successful join, from 1.
        attempt: u32,
    },
    /// Waiting for attempt `attempt`, which starts after `delay`.
    Retrying {
        /// The attempt that comes next.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
    },
    /// Stop: no more connections.
    GiveUp(GiveUp),
}

/// How a connection attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection, the transport handshake or the join failed in a way that may pass
    /// (refused connection, timeout, a dropped link): try again.
    Transient,
    /// The router refused the join with ABORT: stop.
    Refused,
}

/// A subscription or registration the application holds, by the client's own handle
/// number, stable across connections (the router's IDs change with each session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LiveId(pub u64);

impl std::fmt::Display for LiveId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a live entry asks of the router: the request that restores it.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveRequest {
    /// SUBSCRIBE again.
    Subscribe {
        /// The topic (or pattern).
        topic: Uri,
        /// The options it was made with.
        options: SubscribeOptions,
    },
    /// REGISTER again.
    Register {
        /// The procedure (or pattern).
        procedure: Uri,
        /// The options it was made with.
        options: RegisterOptions,
        /// Registered with [`Session::register_whole`](super::Session::register_whole)
        /// (its handler takes no input in chunks).
        whole: bool,
    },
}

/// The router's ID of a live entry in the current session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bound {
    /// A subscription.
    Subscription(SubscriptionId),
    /// A registration.
    Registration(RegistrationId),
}

/// A live entry to restore after a join.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    /// The application's handle.
    pub live: LiveId,
    /// The request to send.
    pub request: LiveRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    /// Held in the current session under this ID.
    Bound(Bound),
    /// Its restoring request is in flight on the current connection.
    Restoring,
    /// No connection holds it: restored at the next join.
    Unbound,
}

#[derive(Debug, Clone)]
struct Entry {
    request: LiveRequest,
    binding: Binding,
    /// The application let go while its restoring request was in flight: the reply's ID is
    /// released, and the entry forgotten, when it comes.
    released: bool,
}

/// What to do with a router ID the application no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Nothing: another handle still holds the same ID, or no session holds it.
    Keep,
    /// Send UNSUBSCRIBE or UNREGISTER for this ID.
    Send(Bound),
}

/// The outcome of a restoring request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The entry is held again.
    Held,
    /// The application let go meanwhile: release the ID as said.
    Released(Release),
    /// Not restoring (an unknown handle, or a reply from an earlier connection): ignore it.
    Unknown,
}

/// The reconnection state machine: the schedule of connection attempts and the list of
/// what to restore (WAMP has no reconnection rule: each connection is a new session with new
/// IDs, so a client subscribes and registers again after each join).
///
/// ```text
///   start ─► Connecting{1} ─joined─► Joined ─lost─► Waiting{1} ─timeout─► Connecting{1} ...
///                │                                      ▲
///                └─failed─► Waiting{n+1} ─timeout─► Connecting{n+1} ─failed─┘
///   refused (ABORT of the join), attempts exhausted, no policy, close ─► Stopped
/// ```
///
/// It never asks for two connections at once: a [`ReconnectAction::Connect`] comes only at
/// [`start`](Reconnector::start) or out of `Waiting`, after the driver reported how the
/// previous attempt ended. Time is a parameter and the jitter comes from a generator seeded
/// by the caller.
///
/// ```
/// use std::time::{Duration, Instant};
/// use nexus_core::session::{
///     Bound, Failure, LiveRequest, ReconnectAction, ReconnectPolicy, Reconnector, Restored,
/// };
/// use nexus_core::{SubscriptionId, Uri};
///
/// let policy = ReconnectPolicy::new().initial_delay(Duration::from_millis(100)).jitter(0.0);
/// let mut r = Reconnector::new(Some(policy), [7; 32]);
/// let t0 = Instant::now();
/// r.start();
/// assert_eq!(r.poll_action(), Some(ReconnectAction::Connect { attempt: 1 }));
/// // The router is not up yet: retry after 100 ms.
/// r.handle_failed(t0, Failure::Transient);
/// assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(100)));
/// r.handle_timeout(t0 + Duration::from_millis(100));
/// assert_eq!(r.poll_action(), Some(ReconnectAction::Retrying { attempt: 2, delay: Duration::from_millis(100) }));
/// assert_eq!(r.poll_action(), Some(ReconnectAction::Connect { attempt: 2 }));
/// assert!(r.handle_joined().is_empty());
///
/// // The application subscribes; the connection drops; after the next join the
/// // subscription is the one thing to restore.
/// let topic = Uri::parse("com.example.news")?;
/// let live = r.add(
///     LiveRequest::Subscribe { topic, options: Default::default() },
///     Bound::Subscription(SubscriptionId::new(5).unwrap()),
/// );
/// r.handle_lost(t0 + Duration::from_secs(1));
/// r.handle_timeout(t0 + Duration::from_secs(2));
/// let restore = r.handle_joined();
/// assert_eq!(restore.len(), 1);
/// assert_eq!(restore[0].live, live);
/// let new_id = Bound::Subscription(SubscriptionId::new(9).unwrap());
/// assert_eq!(r.handle_restored(live, new_id), Restored::Held);
/// assert_eq!(r.bound(live), Some(new_id));
/// # Ok::<(), nexus_core::UriError>(())
/// ```
#[derive(Debug)]
pub struct Reconnector {
    policy: Option<ReconnectPolicy>,
    state: ReconnectState,
    /// Delays taken since the last join: the backoff's exponent.
    retries: u32,
    rng: ChaCha8Rng,
    actions: VecDeque<ReconnectAction>,
    live: BTreeMap<LiveId, Entry>,
    /// The live entries by the ID the current session holds them under (several handles
    /// can share one subscription), for delivering events and releasing IDs.
    holders: BTreeMap<Bound, BTreeSet<LiveId>>,
    next_live: u64,
}

impl Reconnector {
    /// A reconnector with `policy` (`None`: one connection, no retries) whose jitter is
    /// drawn from a generator seeded with `seed`.
    pub fn new(policy: Option<ReconnectPolicy>, seed: [u8; 32]) -> Reconnector {
        Reconnector {
            policy,
            state: ReconnectState::Idle,
            retries: 0,
            rng: ChaCha8Rng::from_seed(seed),
            actions: VecDeque::new(),
            live: BTreeMap::new(),
            holders: BTreeMap::new(),
            next_live: 1,
        }
    }

    /// The policy, if the client reconnects.
    pub fn policy(&self) -> Option<&ReconnectPolicy> {
        self.policy.as_ref()
    }

    /// Where the client stands.
    pub fn state(&self) -> ReconnectState {
        self.state
    }

    /// Whether a session is up.
    pub fn is_joined(&self) -> bool {
        self.state == ReconnectState::Joined
    }

    /// Whether the client has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.state == ReconnectState::Stopped
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<ReconnectAction> {
        self.actions.pop_front()
    }

    /// When the next attempt starts, while waiting for it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ReconnectState::Waiting { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Starts the first attempt. Does nothing unless idle.
    pub fn start(&mut self) {
        if self.state == ReconnectState::Idle {
            self.connect(1);
        }
    }

    /// Starts the next attempt once its time has come; may be called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let ReconnectState::Waiting { attempt, until } = self.state {
            if now >= until {
                self.connect(attempt);
            }
        }
    }

    /// The attempt under way joined. Returns what to restore: every live entry, once each,
    /// in the order the application made them; report each outcome with
    /// [`handle_restored`](Reconnector::handle_restored) or
    /// [`handle_restore_refused`](Reconnector::handle_restore_refused). Ignored (nothing to
    /// restore) unless an attempt is under way.
    pub fn handle_joined(&mut self) -> Vec<Restore> {
        if !matches!(self.state, ReconnectState::Connecting { .. }) {
            return Vec::new();
        }
        self.state = ReconnectState::Joined;
        self.retries = 0;
        let mut restore = Vec::new();
        for (live, entry) in &mut self.live {
            if entry.binding == Binding::Unbound {
                entry.binding = Binding::Restoring;
                restore.push(Restore {
                    live: *live,
                    request: entry.request.clone(),
                });
            }
        }
        restore
    }

    /// The attempt under way failed. Ignored unless an attempt is under way.
    pub fn handle_failed(&mut self, now: Instant, failure: Failure) {
        let ReconnectState::Connecting { attempt } = self.state else {
            return;
        };
        let give_up = match (&self.policy, failure) {
            (_, Failure::Refused) => Some(GiveUp::Refused),
            (None, _) => Some(GiveUp::NoPolicy),
            (Some(policy), Failure::Transient) => match policy.max_attempts {
                Some(max) if attempt >= max => {
                    Some(GiveUp::AttemptsExhausted { attempts: attempt })
                }
                _ => None,
            },
        };
        match give_up {
            Some(reason) => self.stop(reason),
            None => self.wait(now, attempt + 1),
        }
    }

    /// The joined session's connection ended (not by [`close`](Reconnector::close)): every
    /// live entry waits for the next join. Ignored unless joined.
    pub fn handle_lost(&mut self, now: Instant) {
        if self.state != ReconnectState::Joined {
            return;
        }
        self.unbind_all();
        if self.policy.is_none() {
            self.stop(GiveUp::NoPolicy);
        } else {
            self.wait(now, 1);
        }
    }

    /// The application closes the client: no more attempts.
    pub fn close(&mut self) {
        if self.state != ReconnectState::Stopped {
            self.stop(GiveUp::Closed);
        }
    }

    /// The application made a subscription or registration, which the current session
    /// holds as `bound`; from now on it is restored after every join until
    /// [`remove`](Reconnector::remove)d.
    pub fn add(&mut self, request: LiveRequest, bound: Bound) -> LiveId {
        let live = LiveId(self.next_live);
        self.next_live += 1;
        self.live.insert(
            live,
            Entry {
                request,
                binding: Binding::Unbound,
                released: false,
            },
        );
        if self.is_joined() {
            self.bind(live, bound);
        }
        live
    }

    /// The router's ID for `live` in the current session, while it holds it.
    pub fn bound(&self, live: LiveId) -> Option<Bound> {
        match self.live.get(&live)?.binding {
            Binding::Bound(bound) => Some(bound),
            _ => None,
        }
    }

    /// Whether `live` is still held (by the current session, or to be restored).
    pub fn contains(&self, live: LiveId) -> bool {
        self.live.get(&live).is_some_and(|e| !e.released)
    }

    /// How many entries are live.
    pub fn len(&self) -> usize {
        self.live.values().filter(|e| !e.released).count()
    }

    /// Whether nothing is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live entries the current session holds under `bound`.
    pub fn holders(&self, bound: Bound) -> impl Iterator<Item = LiveId> + '_ {
        self.holders.get(&bound).into_iter().flatten().copied()
    }

    /// What `live` asks of the router.
    pub fn request(&self, live: LiveId) -> Option<&LiveRequest> {
        self.live.get(&live).map(|e| &e.request)
    }

    /// The application let go of `live`: it is no longer restored, and its ID is released
    /// when no other handle holds it.
    pub fn remove(&mut self, live: LiveId) -> Release {
        let Some(entry) = self.live.get_mut(&live) else {
            return Release::Keep;
        };
        match entry.binding {
            Binding::Bound(bound) => {
                self.unbind(live);
                self.live.remove(&live);
                self.release(bound)
            }
            Binding::Restoring => {
                entry.released = true;
                Release::Keep
            }
            Binding::Unbound => {
                self.live.remove(&live);
                Release::Keep
            }
        }
    }

    /// A restoring request succeeded with `bound`.
    pub fn handle_restored(&mut self, live: LiveId, bound: Bound) -> Restored {
        let Some(entry) = self.live.get(&live) else {
            return Restored::Unknown;
        };
        if entry.binding != Binding::Restoring || !self.is_joined() {
            return Restored::Unknown;
        }
        if entry.released {
            self.live.remove(&live);
            return Restored::Released(self.release(bound));
        }
        self.bind(live, bound);
        Restored::Held
    }

    /// A restoring request was refused by the router (an exclusive registration taken by
    /// another callee meanwhile, a permission withdrawn...): the entry is gone. Returns
    /// whether the application still held it (and should be told).
    pub fn handle_restore_refused(&mut self, live: LiveId) -> bool {
        match self.live.get(&live) {
            Some(entry) if entry.binding == Binding::Restoring => {
                let told = !entry.released;
                self.live.remove(&live);
                told
            }
            _ => false,
        }
    }

    /// The router ended `bound` on its own (a revocation): the entries holding it are gone;
    /// returns them.
    pub fn handle_revoked(&mut self, bound: Bound) -> Vec<LiveId> {
        let gone: Vec<LiveId> = self.holders.remove(&bound).into_iter().flatten().collect();
        for live in &gone {
            self.live.remove(live);
        }
        gone
    }

    fn bind(&mut self, live: LiveId, bound: Bound) {
        if let Some(entry) = self.live.get_mut(&live) {
            entry.binding = Binding::Bound(bound);
            self.holders.entry(bound).or_default().insert(live);
        }
    }

    fn unbind(&mut self, live: LiveId) {
        let Some(entry) = self.live.get_mut(&live) else {
            return;
        };
        if let Binding::Bound(bound) = entry.binding {
            if let Some(set) = self.holders.get_mut(&bound) {
                set.remove(&live);
                if set.is_empty() {
                    self.holders.remove(&bound);
                }
            }
        }
        entry.binding = Binding::Unbound;
    }

    /// No session holds anything: every entry waits for the next join, and those let go
    /// during a restore that never finished are forgotten.
    fn unbind_all(&mut self) {
        self.holders.clear();
        self.live.retain(|_, entry| {
            entry.binding = Binding::Unbound;
            !entry.released
        });
    }

    /// Whether to send UNSUBSCRIBE/UNREGISTER for `bound`, now that one holder is gone.
    fn release(&self, bound: Bound) -> Release {
        if self.is_joined() && !self.holders.contains_key(&bound) {
            Release::Send(bound)
        } else {
            Release::Keep
        }
    }

    fn connect(&mut self, attempt: u32) {
        self.state = ReconnectState::Connecting { attempt };
        self.actions.push_back(ReconnectAction::Connect { attempt });
    }

    fn wait(&mut self, now: Instant, attempt: u32) {
        let Some(policy) = &self.policy else {
            self.stop(GiveUp::NoPolicy);
            return;
        };
        self.retries = self.retries.saturating_add(1);
        let delay = policy.delay(self.retries, self.rng.random::<f64>());
        self.state = ReconnectState::Waiting {
            attempt,
            until: now + delay,
        };
        self.actions
            .push_back(ReconnectAction::Retrying { attempt, delay });
    }

    fn stop(&mut self, reason: GiveUp) {
        self.state = ReconnectState::Stopped;
        self.actions.push_back(ReconnectAction::GiveUp(reason));
        self.unbind_all();
    }
}
