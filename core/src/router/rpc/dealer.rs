//! The dealer: registrations, the choice of callee, and the invocations in flight.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::id::{IdGenerator, RegistrationId, RequestId, SessionId};
use crate::message::{InvokePolicy, Message};
use crate::router::connection::ConnectionId;
use crate::router::shard::shard_score;
use crate::router::uri_index::{Pattern, UriIndex};
use crate::uri::{MatchPolicy, Uri};

/// One registration: a procedure (or pattern), its match and invocation policies, and its
/// callees in registration order.
#[derive(Debug)]
pub(crate) struct Registration {
    pub uri: Uri,
    pub policy: MatchPolicy,
    pub invoke: InvokePolicy,
    pub callees: Vec<ConnectionId>,
    /// Callees that registered with `disclose_caller`: callers are disclosed to them.
    pub disclose_caller: Vec<ConnectionId>,
    /// Callees that registered with `forward_timeout`: they enforce call timeouts.
    pub forward_timeout: Vec<ConnectionId>,
    /// When the registration was created (for the meta API).
    pub created: Instant,
    /// The next callee for `roundrobin`.
    next: usize,
}

impl Pattern for Registration {
    type Id = RegistrationId;
    fn uri(&self) -> &Uri {
        &self.uri
    }
    fn policy(&self) -> MatchPolicy {
        self.policy
    }
}

impl Registration {
    fn set_flags(&mut self, callee: ConnectionId, flags: CalleeFlags) {
        if flags.disclose_caller {
            self.disclose_caller.push(callee);
        }
        if flags.forward_timeout {
            self.forward_timeout.push(callee);
        }
    }
}

/// An invocation in flight, keyed by (callee, INVOCATION request ID).
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub caller: ConnectionId,
    pub call: RequestId,
    /// The registration invoked (continuation INVOCATIONs name it again).
    pub registration: RegistrationId,
    /// While the caller is still sending chunks of a progressive invocation: the procedure
    /// its continuations must name.
    pub stream: Option<Uri>,
    /// The caller accepts progressive results.
    pub receive_progress: bool,
    /// The call's timeout (CALL.Options.timeout), enforced by the dealer.
    pub timeout: Option<Duration>,
    /// When the timeout fires (restarted by each progressive result).
    pub deadline: Option<Instant>,
    /// Call re-routing: what to send to another callee if this one answers
    /// `wamp.error.unavailable` (only for callees that announced `call_reroute`).
    pub reroute: Option<Box<Reroute>>,
}

/// A call that can be re-routed: the INVOCATION sent (its payload and the details every
/// callee gets), what the caller asked for that depends on the callee (disclosure, a
/// timeout a callee may enforce, progressive results), and the callees that refused it.
#[derive(Debug, Clone)]
pub(crate) struct Reroute {
    pub invocation: Arc<Message>,
    pub tried: Vec<ConnectionId>,
    pub asked: Asked,
}

/// What a caller asked for whose outcome depends on the callee.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    /// Disclosure (`disclose_me`, or its role's permission).
    pub disclose: bool,
    /// CALL.Options.timeout in milliseconds, when set.
    pub timeout_ms: Option<u64>,
    /// CALL.Options.receive_progress.
    pub progress: bool,
}

/// What a call gets from one callee: progressive results, a timeout it enforces itself, the
/// caller disclosed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CalleeTerms {
    pub receive_progress: bool,
    pub forward_timeout: bool,
    pub disclose: bool,
}

/// What one callee asked for when registering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CalleeFlags {
    /// `disclose_caller`.
    pub disclose_caller: bool,
    /// `forward_timeout`.
    pub forward_timeout: bool,
}

/// Why a REGISTER is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegisterRefused {
    /// The procedure is registered with `single`, or with another invocation policy, or the
    /// session already holds it.
    AlreadyExists,
}

#[derive(Debug, Default)]
pub(crate) struct Dealer {
    pub registrations: UriIndex<Registration>,
    pub in_flight: HashMap<(ConnectionId, RequestId), InFlight>,
    /// Deadlines of calls with a timeout: (deadline, callee, invocation).
    call_timers: BTreeSet<(Instant, ConnectionId, RequestId)>,
}

impl Dealer {
    // One argument per REGISTER field the dealer keeps; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        ids: &mut IdGenerator,
        callee: ConnectionId,
        uri: Uri,
        policy: MatchPolicy,
        invoke: InvokePolicy,
        flags: CalleeFlags,
        now: Instant,
    ) -> Result<RegistrationId, RegisterRefused> {
        if let Some(id) = self.registrations.find(policy, &uri) {
            let reg = self
                .registrations
                .get_mut(&id)
                .expect("index and registrations agree");
            if invoke == InvokePolicy::Single
                || reg.invoke != invoke
                || reg.callees.contains(&callee)
            {
                return Err(RegisterRefused::AlreadyExists);
            }
            reg.callees.push(callee);
            reg.set_flags(callee, flags);
            return Ok(id);
        }
        let mut reg = Registration {
            uri,
            policy,
            invoke,
            callees: vec![callee],
            disclose_caller: Vec::new(),
            forward_timeout: Vec::new(),
            created: now,
            next: 0,
        };
        reg.set_flags(callee, flags);
        Ok(self.registrations.insert(ids, reg))
    }

    /// Removes `callee` from `registration`, deleting it with its last callee. Returns
    /// `None` when the callee did not hold it, else whether the registration was deleted.
    pub fn unregister(
        &mut self,
        callee: ConnectionId,
        registration: RegistrationId,
    ) -> Option<bool> {
        let reg = self.registrations.get_mut(&registration)?;
        let pos = reg.callees.iter().position(|c| *c == callee)?;
        reg.callees.remove(pos);
        reg.disclose_caller.retain(|c| *c != callee);
        reg.forward_timeout.retain(|c| *c != callee);
        if reg.next > pos {
            reg.next -= 1;
        }
        if !reg.callees.is_empty() {
            return Some(false);
        }
        self.registrations.remove(registration);
        Some(true)
    }

    /// The registration of exactly `uri` under `policy` (not the best match for a call).
    pub fn find(&self, policy: MatchPolicy, uri: &Uri) -> Option<RegistrationId> {
        self.registrations.find(policy, uri)
    }

    /// The registration a call to `procedure` goes to, with the spec's precedence (see
    /// [`UriIndex::best_match`]).
    pub fn lookup(&self, procedure: &Uri) -> Option<RegistrationId> {
        self.registrations.best_match(procedure)
    }

    /// Records an invocation in flight (and its timeout).
    pub fn insert_in_flight(
        &mut self,
        callee: ConnectionId,
        invocation: RequestId,
        call: InFlight,
    ) {
        if let Some(d) = call.deadline {
            self.call_timers.insert((d, callee, invocation));
        }
        self.in_flight.insert((callee, invocation), call);
    }

    /// Forgets an invocation in flight (and its timeout).
    pub fn remove_in_flight(
        &mut self,
        callee: ConnectionId,
        invocation: RequestId,
    ) -> Option<InFlight> {
        let call = self.in_flight.remove(&(callee, invocation))?;
        if let Some(d) = call.deadline {
            self.call_timers.remove(&(d, callee, invocation));
        }
        Some(call)
    }

    /// Restarts a call's timeout (a progressive result arrived): the timeout runs until the
    /// first result and between results.
    pub fn restart_timeout(&mut self, callee: ConnectionId, invocation: RequestId, now: Instant) {
        let Some(call) = self.in_flight.get_mut(&(callee, invocation)) else {
            return;
        };
        if let (Some(timeout), Some(old)) = (call.timeout, call.deadline) {
            self.call_timers.remove(&(old, callee, invocation));
            let deadline = now + timeout;
            call.deadline = Some(deadline);
            self.call_timers.insert((deadline, callee, invocation));
        }
    }

    /// The earliest call timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.call_timers.first().map(|(d, _, _)| *d)
    }

    /// Takes the calls whose timeout passed by `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<(ConnectionId, RequestId)> {
        let mut out = Vec::new();
        while let Some(&(d, callee, invocation)) = self.call_timers.first() {
            if d > now {
                break;
            }
            self.call_timers.pop_first();
            out.push((callee, invocation));
        }
        out
    }

    /// Picks the callee for one call under the registration's invocation policy.
    pub fn pick_callee(
        &mut self,
        registration: RegistrationId,
        rng: &mut IdGenerator,
    ) -> Option<ConnectionId> {
        let reg = self.registrations.get_mut(&registration)?;
        let n = reg.callees.len();
        if n == 0 {
            return None;
        }
        let index = match reg.invoke {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => n - 1,
            InvokePolicy::RoundRobin => {
                let i = reg.next % n;
                reg.next = (i + 1) % n;
                i
            }
            InvokePolicy::Random => (rng.next_u64() % n as u64) as usize,
        };
        Some(reg.callees[index])
    }

    /// Picks the next callee for a call the callees in `tried` refused as unavailable (call
    /// re-routing, digest §4.5): none for `single`; the next in turn for `roundrobin`;
    /// another at random for `random`; the registration made after the refused one for
    /// `first`, the one made before it for `last`.
    pub fn pick_reroute(
        &mut self,
        registration: RegistrationId,
        tried: &[ConnectionId],
        rng: &mut IdGenerator,
    ) -> Option<ConnectionId> {
        let reg = self.registrations.get_mut(&registration)?;
        let mut candidates = reg.callees.iter().copied().filter(|c| !tried.contains(c));
        match reg.invoke {
            InvokePolicy::Single => None,
            InvokePolicy::First => candidates.next(),
            InvokePolicy::Last => candidates.next_back(),
            InvokePolicy::Random => {
                let candidates: Vec<_> = candidates.collect();
                let n = candidates.len() as u64;
                (n > 0).then(|| candidates[(rng.next_u64() % n) as usize])
            }
            InvokePolicy::RoundRobin => {
                let n = reg.callees.len();
                (0..n).find_map(|_| {
                    let i = reg.next % n;
                    reg.next = (i + 1) % n;
                    Some(reg.callees[i]).filter(|c| !tried.contains(c))
                })
            }
        }
    }

    /// Picks the callee owning the shard of `rkey` (sharded registration, `runmode:
    /// "partition"`), by rendezvous hashing over the callees' session IDs: the callee with
    /// the highest [`shard_score`] wins. A key stays with its callee for as long as that
    /// callee is registered; when callees come or go, only the keys they win or held move.
    pub fn pick_shard(
        &self,
        registration: RegistrationId,
        rkey: &str,
        session_of: impl Fn(ConnectionId) -> Option<SessionId>,
    ) -> Option<ConnectionId> {
        let reg = self.registrations.get(&registration)?;
        reg.callees
            .iter()
            .filter_map(|c| session_of(*c).map(|s| (shard_score(rkey, s), *c)))
            .max_by_key(|(score, _)| *score)
            .map(|(_, c)| c)
    }

    pub fn is_empty(&self) -> bool {
        self.registrations.is_empty() && self.in_flight.is_empty() && self.call_timers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::config::QueueConfig;
    use crate::router::connection::Connections;

    fn conn_ids<const N: usize>() -> [ConnectionId; N] {
        let mut conns = Connections::new(QueueConfig::default());
        std::array::from_fn(|_| conns.insert(None, None))
    }

    fn uri(s: &str) -> Uri {
        Uri::new_unchecked(s)
    }

    fn wildcard_precedence(a: &Uri, b: &Uri) -> std::cmp::Ordering {
        crate::uri::wildcard_precedence(a.as_str(), b.as_str())
    }

    #[test]
    fn wildcard_precedence_follows_the_spec_examples() {
        assert_eq!(
            wildcard_precedence(&uri("a1.b2..d4"), &uri("a1...d4")),
            std::cmp::Ordering::Greater
        );
        assert_eq!(
            wildcard_precedence(&uri("a1.b2..d4.e5..g7"), &uri("a1.b2..d4..f6.g7")),
            std::cmp::Ordering::Greater
        );
    }

    #[test]
    fn lookup_prefers_exact_then_longest_prefix_then_wildcard() {
        let mut d = Dealer::default();
        let mut ids = IdGenerator::from_seed(1);
        let [c] = conn_ids();
        let p1 = d
            .register(
                &mut ids,
                c,
                uri("a.b"),
                MatchPolicy::Prefix,
                InvokePolicy::Single,
                CalleeFlags::default(),
                Instant::now(),
            )
            .unwrap();
        let p2 = d
            .register(
                &mut ids,
                c,
                uri("a.b.c"),
                MatchPolicy::Prefix,
                InvokePolicy::Single,
                CalleeFlags::default(),
                Instant::now(),
            )
            .unwrap();
        let w = d
            .register(
                &mut ids,
                c,
                uri("a..c.d"),
                MatchPolicy::Wildcard,
                InvokePolicy::Single,
                CalleeFlags::default(),
                Instant::now(),
            )
            .unwrap();
        let e = d
            .register(
                &mut ids,
                c,
                uri("a.b.c.d"),
                MatchPolicy::Exact,
                InvokePolicy::Single,
                CalleeFlags::default(),
                Instant::now(),
            )
            .unwrap();
        assert_eq!(d.lookup(&uri("a.b.c.d")), Some(e));
        assert_eq!(d.lookup(&uri("a.b.c.x")), Some(p2));
        assert_eq!(d.lookup(&uri("a.bx")), Some(p1));
        assert_eq!(d.lookup(&uri("a.x.c.d")), Some(w));
        assert_eq!(d.lookup(&uri("z")), None);
    }

    #[test]
    fn shared_registration_policies() {
        let mut d = Dealer::default();
        let mut ids = IdGenerator::from_seed(1);
        let [a, b] = conn_ids();
        let r = d
            .register(
                &mut ids,
                a,
                uri("p"),
                MatchPolicy::Exact,
                InvokePolicy::RoundRobin,
                CalleeFlags::default(),
                Instant::now(),
            )
            .unwrap();
        assert_eq!(
            d.register(
                &mut ids,
                b,
                uri("p"),
                MatchPolicy::Exact,
                InvokePolicy::Random,
                CalleeFlags::default(),
                Instant::now()
            ),
            Err(RegisterRefused::AlreadyExists)
        );
        assert_eq!(
            d.register(
                &mut ids,
                b,
                uri("p"),
                MatchPolicy::Exact,
                InvokePolicy::RoundRobin,
                CalleeFlags::default(),
                Instant::now()
            ),
            Ok(r)
        );
        let picks: Vec<_> = (0..4)
            .map(|_| d.pick_callee(r, &mut ids).unwrap())
            .collect();
        assert_eq!(picks, [a, b, a, b]);
        assert_eq!(d.unregister(a, r), Some(false));
        assert_eq!(d.pick_callee(r, &mut ids), Some(b));
        assert_eq!(d.unregister(b, r), Some(true));
        assert!(d.is_empty());
    }
}
