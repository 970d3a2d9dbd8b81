//! The reconnection state machine under random drops, refusals, ABORTs, restores and
//! revocations, in virtual time: never two connections at once, every delay within the
//! policy's bounds, everything live restored exactly once after each join, nothing let go
//! ever restored, and IDs released exactly when their last holder goes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::reconnect::*;
use crate::id::{RegistrationId, SubscriptionId};
use crate::uri::Uri;

#[derive(Debug, Clone)]
enum Op {
    /// The attempt under way fails (`true`: the router refused the join with ABORT).
    Fail(bool),
    Join,
    Lose,
    /// Virtual time passes, in milliseconds.
    Advance(u64),
    /// The application subscribes (or registers) to one of a few names.
    Add {
        registration: bool,
        name: u8,
    },
    /// The application lets go of one of its handles (by position).
    Remove(usize),
    /// The router answers one restoring request (by position): held or refused.
    Answer {
        index: usize,
        refused: bool,
    },
    /// The router revokes one of the IDs the session holds (by position).
    Revoke(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Fail(false)),
        1 => Just(Op::Fail(true)),
        3 => Just(Op::Join),
        2 => Just(Op::Lose),
        4 => (0u64..3_000).prop_map(Op::Advance),
        4 => (any::<bool>(), 0u8..3).prop_map(|(registration, name)| Op::Add { registration, name }),
        2 => (0usize..8).prop_map(Op::Remove),
        4 => (0usize..8, prop::bool::weighted(0.1)).prop_map(|(index, refused)| Op::Answer { index, refused }),
        1 => (0usize..8).prop_map(Op::Revoke),
        1 => Just(Op::Close),
    ]
}

fn policy() -> impl Strategy<Value = ReconnectPolicy> {
    (
        1u64..500,
        500u64..5_000,
        1.0f64..3.0,
        0.0f64..=1.0,
        prop::option::of(1u32..6),
    )
        .prop_map(|(initial, max, multiplier, jitter, attempts)| {
            let mut p = ReconnectPolicy::new()
                .initial_delay(Duration::from_millis(initial))
                .max_delay(Duration::from_millis(max))
                .multiplier(multiplier)
                .jitter(jitter);
            if let Some(a) = attempts {
                p = p.max_attempts(a);
            }
            p
        })
}

/// The router's ID for a name in one session: the same name gives the same ID (so handles
/// share it), and each session numbers anew.
fn router_id(request: &LiveRequest, session: u64) -> Bound {
    let (name, registration) = match request {
        LiveRequest::Subscribe { topic, .. } => (topic.as_str().to_owned(), false),
        LiveRequest::Register { procedure, .. } => (procedure.as_str().to_owned(), true),
    };
    let n = name.bytes().last().unwrap_or(b'0') as u64 - b'0' as u64 + 1 + session * 10;
    if registration {
        Bound::Registration(RegistrationId::new(n).unwrap())
    } else {
        Bound::Subscription(SubscriptionId::new(n).unwrap())
    }
}

fn request(registration: bool, name: u8) -> LiveRequest {
    let uri = Uri::parse(format!("com.example.n{name}")).unwrap();
    if registration {
        LiveRequest::Register {
            procedure: uri,
            options: Default::default(),
            whole: true,
        }
    } else {
        LiveRequest::Subscribe {
            topic: uri,
            options: Default::default(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn reconnect_invariants(
        policy in policy(),
        seed in any::<[u8; 32]>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut r = Reconnector::new(Some(policy.clone()), seed);
        let t0 = Instant::now();
        let mut now = t0;
        // The model.
        let mut connection_open = false; // an attempt under way or a session up
        let mut joined = false;
        let mut stopped = false;
        let mut session = 0u64;
        let mut retries = 0u32;
        let mut failures_in_a_row = 0u32;
        // Live handles and what the session holds them under (None: waiting for a join or
        // for its restore).
        let mut live: BTreeMap<LiveId, (LiveRequest, Option<Bound>)> = BTreeMap::new();
        // Restoring requests in flight on this connection.
        let mut restoring: Vec<(LiveId, LiveRequest)> = Vec::new();

        r.start();
        let check_actions = |r: &mut Reconnector,
                             now: Instant,
                             connection_open: &mut bool,
                             stopped: &mut bool,
                             retries: &mut u32|
         -> Result<(), TestCaseError> {
            while let Some(action) = r.poll_action() {
                match action {
                    ReconnectAction::Connect { .. } => {
                        prop_assert!(!*connection_open, "two connections at once");
                        prop_assert!(!*stopped, "a connection after giving up");
                        *connection_open = true;
                    }
                    ReconnectAction::Retrying { delay, .. } => {
                        *retries += 1;
                        let (lo, hi) = policy.delay_bounds(*retries);
                        prop_assert!(delay >= lo && delay <= hi, "{delay:?} outside {lo:?}..={hi:?} for retry {}", retries);
                        prop_assert!(delay <= policy.max_delay);
                        prop_assert_eq!(r.poll_timeout(), Some(now + delay));
                    }
                    ReconnectAction::GiveUp(_) => {
                        prop_assert!(!*stopped, "gave up twice");
                        *stopped = true;
                    }
                }
            }
            Ok(())
        };
        check_actions(&mut r, now, &mut connection_open, &mut stopped, &mut retries)?;

        for op in ops {
            match op {
                Op::Fail(refused) => {
                    let attempt = match r.state() {
                        ReconnectState::Connecting { attempt } => attempt,
                        _ => continue,
                    };
                    r.handle_failed(now, if refused { Failure::Refused } else { Failure::Transient });
                    connection_open = false;
                    failures_in_a_row += 1;
                    let exhausted = policy.max_attempts.is_some_and(|m| attempt >= m);
                    prop_assert_eq!(attempt, failures_in_a_row, "attempts count the failures since the last join");
                    prop_assert_eq!(r.is_stopped(), refused || exhausted);
                }
                Op::Join => {
                    if !matches!(r.state(), ReconnectState::Connecting { .. }) {
                        continue;
                    }
                    session += 1;
                    joined = true;
                    retries = 0;
                    failures_in_a_row = 0;
                    let restore = r.handle_joined();
                    // Exactly the live handles, each once.
                    let got: Vec<LiveId> = restore.iter().map(|x| x.live).collect();
                    let unique: BTreeSet<LiveId> = got.iter().copied().collect();
                    prop_assert_eq!(got.len(), unique.len(), "a handle restored twice");
                    let expected: BTreeSet<LiveId> = live.keys().copied().collect();
                    prop_assert_eq!(unique, expected);
                    for x in &restore {
                        prop_assert_eq!(&x.request, &live[&x.live].0);
                    }
                    restoring = restore.into_iter().map(|x| (x.live, x.request)).collect();
                }
                Op::Lose => {
                    if !joined {
                        continue;
                    }
                    r.handle_lost(now);
                    joined = false;
                    connection_open = false;
                    restoring.clear();
                    for (_, bound) in live.values_mut() {
                        *bound = None;
                    }
                }
                Op::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    r.handle_timeout(now);
                }
                Op::Add { registration, name } => {
                    if !joined {
                        continue;
                    }
                    let request = request(registration, name);
                    let bound = router_id(&request, session);
                    let id = r.add(request.clone(), bound);
                    live.insert(id, (request, Some(bound)));
                }
                Op::Remove(index) => {
                    let Some(&id) = live.keys().nth(index % live.len().max(1)) else {
                        continue;
                    };
                    let (_, bound) = live.remove(&id).unwrap();
                    let release = r.remove(id);
                    match bound {
                        Some(b) => {
                            let others = live.values().any(|(_, o)| *o == Some(b));
                            let expected = if others { Release::Keep } else { Release::Send(b) };
                            prop_assert_eq!(release, expected);
                        }
                        None => prop_assert_eq!(release, Release::Keep),
                    }
                    prop_assert!(!r.contains(id));
                }
                Op::Answer { index, refused } => {
                    if restoring.is_empty() {
                        continue;
                    }
                    let (id, request) = restoring.remove(index % restoring.len());
                    if refused {
                        let told = r.handle_restore_refused(id);
                        prop_assert_eq!(told, live.remove(&id).is_some());
                    } else {
                        let bound = router_id(&request, session);
                        let outcome = r.handle_restored(id, bound);
                        match live.get_mut(&id) {
                            Some(entry) => {
                                prop_assert_eq!(outcome, Restored::Held);
                                entry.1 = Some(bound);
                                prop_assert_eq!(r.bound(id), Some(bound));
                            }
                            None => {
                                // Let go during the restore: release unless another holds it.
                                let others = live.values().any(|(_, o)| *o == Some(bound));
                                let expected = if others { Release::Keep } else { Release::Send(bound) };
                                prop_assert_eq!(outcome, Restored::Released(expected));
                            }
                        }
                    }
                }
                Op::Revoke(index) => {
                    let held: BTreeSet<Bound> = live.values().filter_map(|(_, b)| *b).collect();
                    let Some(&bound) = held.iter().nth(index % held.len().max(1)) else {
                        continue;
                    };
                    let gone: BTreeSet<LiveId> = r.handle_revoked(bound).into_iter().collect();
                    let expected: BTreeSet<LiveId> = live
                        .iter()
                        .filter(|(_, (_, b))| *b == Some(bound))
                        .map(|(id, _)| *id)
                        .collect();
                    prop_assert_eq!(&gone, &expected);
                    live.retain(|id, _| !gone.contains(id));
                }
                Op::Close => {
                    r.close();
                    if !stopped {
                        joined = false;
                        connection_open = false;
                        restoring.clear();
                        for (_, bound) in live.values_mut() {
                            *bound = None;
                        }
                    }
                }
            }
            check_actions(&mut r, now, &mut connection_open, &mut stopped, &mut retries)?;
            // The reconnector and the model agree on what is live and what is held.
            prop_assert_eq!(r.len(), live.len());
            for (id, (_, bound)) in &live {
                prop_assert!(r.contains(*id));
                prop_assert_eq!(r.bound(*id), *bound);
            }
            prop_assert_eq!(r.is_joined(), joined && !stopped);
        }
    }
}

#[test]
fn delays_grow_to_the_maximum_and_jitter_only_shortens() {
    let policy = ReconnectPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(1_000))
        .multiplier(2.0)
        .jitter(0.25);
    let highs: Vec<u128> = (1..=6)
        .map(|n| policy.delay_bounds(n).1.as_millis())
        .collect();
    assert_eq!(highs, [100, 200, 400, 800, 1_000, 1_000]);
    assert_eq!(
        policy.delay_bounds(2),
        (Duration::from_millis(150), Duration::from_millis(200))
    );
}

#[test]
fn a_refused_join_stops_at_once_even_with_attempts_left() {
    let mut r = Reconnector::new(Some(ReconnectPolicy::new()), [1; 32]);
    r.start();
    assert_eq!(
        r.poll_action(),
        Some(ReconnectAction::Connect { attempt: 1 })
    );
    r.handle_failed(Instant::now(), Failure::Refused);
    assert_eq!(
        r.poll_action(),
        Some(ReconnectAction::GiveUp(GiveUp::Refused))
    );
    assert_eq!(r.poll_action(), None);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn without_a_policy_the_first_loss_is_the_end() {
    let mut r = Reconnector::new(None, [1; 32]);
    r.start();
    let _ = r.poll_action();
    r.handle_joined();
    r.handle_lost(Instant::now());
    assert_eq!(
        r.poll_action(),
        Some(ReconnectAction::GiveUp(GiveUp::NoPolicy))
    );
    assert!(r.is_stopped());
}

#[test]
fn attempts_are_limited_by_consecutive_failures() {
    let policy = ReconnectPolicy::new()
        .initial_delay(Duration::from_millis(10))
        .max_attempts(3);
    let mut r = Reconnector::new(Some(policy), [2; 32]);
    let mut now = Instant::now();
    r.start();
    let mut connects = 0;
    loop {
        match r.poll_action() {
            Some(ReconnectAction::Connect { attempt }) => {
                connects += 1;
                assert_eq!(attempt, connects);
                r.handle_failed(now, Failure::Transient);
            }
            Some(ReconnectAction::Retrying { .. }) => {
                now += Duration::from_secs(1);
                r.handle_timeout(now);
            }
            Some(ReconnectAction::GiveUp(reason)) => {
                assert_eq!(reason, GiveUp::AttemptsExhausted { attempts: 3 });
                break;
            }
            None => panic!("stalled in {:?}", r.state()),
        }
    }
    assert_eq!(connects, 3);
}
