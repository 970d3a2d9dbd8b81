//! The dealer (digest §2.6, §4.1, §4.4, §4.8, §4.9).

use crate::harness::*;
use nexus_core::message::*;
use nexus_core::{args, kwargs, MatchPolicy, RequestId};

fn invocation(m: Message) -> Invocation {
    match m {
        Message::Invocation(i) => i,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn result(m: Message) -> CallResult {
    match m {
        Message::Result(r) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn call_invocation_yield_result() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    let reg = net.register(&mut callee, "com.add");
    let call = net.call(&mut caller, "com.add", args![2, 3]);
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(
        inv.request,
        RequestId::MIN,
        "INVOCATION request IDs start at 1 per callee"
    );
    assert_eq!(inv.registration, reg);
    assert_eq!(inv.payload.args(), &args![2, 3][..]);
    assert!(inv.details.procedure.is_none());
    net.send(
        &callee,
        Yield::new(inv.request)
            .with_args(args![5])
            .with_kwargs(kwargs! { "exact" => true }),
    );
    let res = result(net.recv_one(&caller));
    assert_eq!(res.request, call);
    assert_eq!(res.payload.args(), &args![5][..]);
    assert_eq!(res.payload.kwargs().unwrap()["exact"], true.into());
    // The next invocation to that callee has the next ID.
    net.call(&mut caller, "com.add", args![1, 1]);
    assert_eq!(invocation(net.recv_one(&callee)).request.get(), 2);
}

#[test]
fn callee_error_is_relayed() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.div");
    let call = net.call(&mut caller, "com.div", args![1, 0]);
    let inv = invocation(net.recv_one(&callee));
    net.send(
        &callee,
        Error::new(
            RequestType::Invocation,
            inv.request,
            "com.error.division_by_zero",
        )
        .with_args(args!["nope"])
        .with_kwargs(kwargs! { "a" => 1 }),
    );
    let Message::Error(e) = net.recv_one(&caller) else {
        panic!()
    };
    assert_eq!(e.request_type, RequestType::Call);
    assert_eq!(e.request, call);
    assert_eq!(e.error.as_str(), "com.error.division_by_zero");
    assert_eq!(e.payload.args(), &args!["nope"][..]);
}

#[test]
fn no_such_procedure_and_invalid_uri() {
    let mut net = Net::realm1();
    let mut caller = net.join();
    let call = net.call(&mut caller, "com.nothing", vec![]);
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.no_such_procedure", call, RequestType::Call)
    );
    let call = net.call(&mut caller, "com..bad", vec![]);
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.invalid_uri", call, RequestType::Call)
    );
}

#[test]
fn procedure_already_exists() {
    let mut net = Net::realm1();
    let mut a = net.join();
    let mut b = net.join();
    net.register(&mut a, "com.p");
    let request = b.next();
    net.send(&b, Register::new(request, uri("com.p")));
    assert_eq!(
        error_of(&net.recv_one(&b)),
        (
            "wamp.error.procedure_already_exists",
            request,
            RequestType::Register
        )
    );
    // The same session twice, too.
    let request = a.next();
    net.send(&a, Register::new(request, uri("com.p")));
    assert_eq!(
        error_of(&net.recv_one(&a)).0,
        "wamp.error.procedure_already_exists"
    );
    // And the reserved namespace.
    let request = a.next();
    net.send(&a, Register::new(request, uri("wamp.session.count")));
    assert_eq!(error_of(&net.recv_one(&a)).0, "wamp.error.not_authorized");
}

#[test]
fn unregister() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    let reg = net.register(&mut callee, "com.p");
    let request = callee.next();
    net.send(
        &callee,
        Unregister {
            request,
            registration: reg,
        },
    );
    let Message::Unregistered(u) = net.recv_one(&callee) else {
        panic!()
    };
    assert_eq!(u.request, Some(request));
    let call = net.call(&mut caller, "com.p", vec![]);
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.no_such_procedure", call, RequestType::Call)
    );
    let request = callee.next();
    net.send(
        &callee,
        Unregister {
            request,
            registration: reg,
        },
    );
    assert_eq!(
        error_of(&net.recv_one(&callee)),
        (
            "wamp.error.no_such_registration",
            request,
            RequestType::Unregister
        )
    );
    // Another session may now register it.
    net.register(&mut caller, "com.p");
}

#[test]
fn callee_leaving_mid_call_cancels_the_call() {
    for disconnect in [false, true] {
        let mut net = Net::realm1();
        let mut callee = net.join();
        let mut caller = net.join();
        net.register(&mut callee, "com.slow");
        let call = net.call(&mut caller, "com.slow", vec![]);
        net.recv_one(&callee);
        if disconnect {
            net.disconnect(&callee);
        } else {
            net.leave(&callee);
        }
        assert_eq!(
            error_of(&net.recv_one(&caller)),
            ("wamp.error.canceled", call, RequestType::Call)
        );
        net.leave(&caller);
        assert!(net.router.is_idle());
    }
}

#[test]
fn caller_leaving_mid_call_interrupts_a_callee_that_can_be_interrupted() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.slow");
    net.call(&mut caller, "com.slow", vec![]);
    let inv = invocation(net.recv_one(&callee));
    net.disconnect(&caller);
    let Message::Interrupt(i) = net.recv_one(&callee) else {
        panic!()
    };
    assert_eq!(i.request, inv.request);
    assert_eq!(i.options.mode, Some(CancelMode::KillNoWait));
    // The late YIELD is dropped quietly, not a violation.
    net.send(&callee, Yield::new(inv.request));
    assert!(net.recv(&callee).is_empty());
    assert!(!net.is_closed(&callee));
    net.leave(&callee);
    assert!(net.router.is_idle());
}

#[test]
fn caller_leaving_mid_call_drops_the_invocation_of_a_basic_callee() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(basic_roles());
    let mut caller = net.join();
    net.register(&mut callee, "com.slow");
    net.call(&mut caller, "com.slow", vec![]);
    let inv = invocation(net.recv_one(&callee));
    net.leave(&caller);
    assert!(
        net.recv(&callee).is_empty(),
        "no INTERRUPT for a callee without call_canceling"
    );
    net.send(
        &callee,
        Error::new(RequestType::Invocation, inv.request, "com.err"),
    );
    assert!(net.recv(&callee).is_empty());
    assert!(!net.is_closed(&callee));
}

#[test]
fn cancel_modes() {
    for mode in [CancelMode::Skip, CancelMode::Kill, CancelMode::KillNoWait] {
        let mut net = Net::realm1();
        let mut callee = net.join();
        let mut caller = net.join();
        net.register(&mut callee, "com.slow");
        let call = net.call(&mut caller, "com.slow", vec![]);
        let inv = invocation(net.recv_one(&callee));
        net.send(
            &caller,
            Cancel {
                request: call,
                options: CancelOptions {
                    mode: Some(mode),
                    ..Default::default()
                },
            },
        );
        let to_caller = net.recv(&caller);
        let to_callee = net.recv(&callee);
        match mode {
            CancelMode::Skip => {
                assert_eq!(error_of(&to_caller[0]).0, "wamp.error.canceled");
                assert!(to_callee.is_empty());
            }
            CancelMode::Kill => {
                assert!(to_caller.is_empty(), "kill waits for the callee");
                assert!(
                    matches!(&to_callee[..], [Message::Interrupt(i)] if i.options.mode == Some(CancelMode::Kill))
                );
                net.send(
                    &callee,
                    Error::new(RequestType::Invocation, inv.request, "wamp.error.canceled"),
                );
                assert_eq!(
                    error_of(&net.recv_one(&caller)),
                    ("wamp.error.canceled", call, RequestType::Call)
                );
            }
            CancelMode::KillNoWait => {
                assert_eq!(error_of(&to_caller[0]).0, "wamp.error.canceled");
                assert!(
                    matches!(&to_callee[..], [Message::Interrupt(i)] if i.options.mode == Some(CancelMode::KillNoWait))
                );
            }
        }
        // Whatever the callee says now is dropped quietly.
        net.send(&callee, Yield::new(inv.request));
        assert!(net.recv(&caller).is_empty());
        assert!(!net.is_closed(&callee));
        // A CANCEL for a finished call is ignored.
        net.send(
            &caller,
            Cancel {
                request: call,
                options: Default::default(),
            },
        );
        assert!(net.recv(&caller).is_empty());
        net.leave(&callee);
        net.leave(&caller);
        assert!(net.router.is_idle(), "{mode}");
    }
}

#[test]
fn cancel_of_a_basic_callee_is_skip() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(basic_roles());
    let mut caller = net.join();
    net.register(&mut callee, "com.slow");
    let call = net.call(&mut caller, "com.slow", vec![]);
    net.recv_one(&callee);
    net.send(
        &caller,
        Cancel {
            request: call,
            options: CancelOptions {
                mode: Some(CancelMode::Kill),
                ..Default::default()
            },
        },
    );
    assert_eq!(error_of(&net.recv_one(&caller)).0, "wamp.error.canceled");
    assert!(net.recv(&callee).is_empty());
}

#[test]
fn progressive_results() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.stream");
    let call = net.call_with(
        &mut caller,
        "com.stream",
        CallOptions {
            receive_progress: Some(true),
            ..Default::default()
        },
        vec![],
    );
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.details.receive_progress, Some(true));
    for i in 0..3 {
        let y = Yield {
            request: inv.request,
            options: YieldOptions {
                progress: Some(true),
                ..Default::default()
            },
            payload: Payload::new(args![i], Default::default()),
        };
        net.send(&callee, y);
        let r = result(net.recv_one(&caller));
        assert_eq!(r.request, call);
        assert_eq!(r.details.progress, Some(true));
        assert_eq!(r.payload.args(), &args![i][..]);
    }
    net.send(&callee, Yield::new(inv.request).with_args(args!["done"]));
    let r = result(net.recv_one(&caller));
    assert_eq!(r.details.progress, None);
    assert!(net.router.session_count() == 2);
    net.leave(&callee);
    net.leave(&caller);
    assert!(net.router.is_idle());
}

#[test]
fn progress_is_not_forwarded_to_callers_that_did_not_ask_or_callees_that_cannot() {
    let mut net = Net::realm1();
    let mut callee = net.join_with(basic_roles());
    let mut caller = net.join();
    net.register(&mut callee, "com.stream");
    net.call_with(
        &mut caller,
        "com.stream",
        CallOptions {
            receive_progress: Some(true),
            ..Default::default()
        },
        vec![],
    );
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(
        inv.details.receive_progress, None,
        "a callee without call_canceling gets no progress"
    );
    let progress = Yield {
        request: inv.request,
        options: YieldOptions {
            progress: Some(true),
            ..Default::default()
        },
        payload: Payload::default(),
    };
    net.send(&callee, progress);
    assert!(net.recv(&caller).is_empty());
    net.send(&callee, Yield::new(inv.request));
    assert_eq!(result(net.recv_one(&caller)).details.progress, None);
}

#[test]
fn shared_registration_round_robin_and_mixed_policies() {
    let mut net = Net::realm1();
    let mut a = net.join();
    let mut b = net.join();
    let mut c = net.join();
    let mut caller = net.join();
    let rr = RegisterOptions {
        invoke: Some(InvokePolicy::RoundRobin),
        ..Default::default()
    };
    let r1 = net.register_with(&mut a, "com.shared", rr.clone());
    let r2 = net.register_with(&mut b, "com.shared", rr);
    assert_eq!(r1, r2);
    let request = c.next();
    net.send(
        &c,
        Register {
            request,
            options: RegisterOptions {
                invoke: Some(InvokePolicy::First),
                ..Default::default()
            },
            procedure: uri("com.shared"),
        },
    );
    assert_eq!(
        error_of(&net.recv_one(&c)).0,
        "wamp.error.procedure_already_exists"
    );
    let mut who = Vec::new();
    for _ in 0..4 {
        net.call(&mut caller, "com.shared", vec![]);
        who.push((!net.recv(&a).is_empty(), !net.recv(&b).is_empty()));
    }
    assert_eq!(
        who,
        [(true, false), (false, true), (true, false), (false, true)]
    );
}

#[test]
fn pattern_registrations_carry_the_procedure() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    let prefix = net.register_with(
        &mut callee,
        "com.myapp",
        RegisterOptions {
            match_policy: Some(MatchPolicy::Prefix),
            ..Default::default()
        },
    );
    let wildcard = net.register_with(
        &mut callee,
        "com..update",
        RegisterOptions {
            match_policy: Some(MatchPolicy::Wildcard),
            ..Default::default()
        },
    );
    net.call(&mut caller, "com.myapp.user.get", vec![]);
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.registration, prefix);
    assert_eq!(
        inv.details.procedure.unwrap().as_str(),
        "com.myapp.user.get"
    );
    net.call(&mut caller, "com.other.update", vec![]);
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.registration, wildcard);
    assert_eq!(inv.details.procedure.unwrap().as_str(), "com.other.update");
    // Exact wins over the prefix.
    let exact = net.register(&mut callee, "com.myapp.user.get");
    net.call(&mut caller, "com.myapp.user.get", vec![]);
    assert_eq!(invocation(net.recv_one(&callee)).registration, exact);
}

#[test]
fn invocations_arrive_in_call_order() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.a");
    net.register(&mut callee, "com.b");
    for i in 0..10u32 {
        net.call(
            &mut caller,
            if i % 2 == 0 { "com.a" } else { "com.b" },
            args![i],
        );
    }
    let got: Vec<u64> = net
        .recv(&callee)
        .into_iter()
        .map(|m| invocation(m).payload.args()[0].as_u64().unwrap())
        .collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn caller_identification_on_request() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.who");
    // Not asked: nothing disclosed.
    net.call(&mut caller, "com.who", vec![]);
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.details.caller, None);
    assert_eq!(inv.details.caller_authid, None);
    // The caller asks.
    let options = CallOptions {
        disclose_me: Some(true),
        ..Default::default()
    };
    net.call_with(&mut caller, "com.who", options, vec![]);
    let inv = invocation(net.recv_one(&callee));
    assert_eq!(inv.details.caller, caller.session);
    assert_eq!(inv.details.caller_authrole.as_deref(), Some("anonymous"));
    assert!(inv.details.caller_authid.is_some());
    // The callee asks, for every call.
    let mut other = net.join();
    net.register_with(
        &mut other,
        "com.who2",
        RegisterOptions {
            disclose_caller: Some(true),
            ..Default::default()
        },
    );
    net.call(&mut caller, "com.who2", vec![]);
    assert_eq!(
        invocation(net.recv_one(&other)).details.caller,
        caller.session
    );
}

#[test]
fn caller_disclosure_policies() {
    use nexus_core::router::{Disclosure, RealmConfig, RouterConfig};
    for (policy, asked, disclosed) in [
        (Disclosure::Never, false, false),
        (Disclosure::Always, false, true),
    ] {
        let mut realm = RealmConfig::new(uri("realm1"));
        realm.caller_disclosure = policy;
        let mut net = Net::new(RouterConfig {
            realms: vec![realm],
            ..RouterConfig::default()
        });
        let mut callee = net.join();
        let mut caller = net.join();
        net.register(&mut callee, "com.who");
        let options = CallOptions {
            disclose_me: asked.then_some(true),
            ..Default::default()
        };
        net.call_with(&mut caller, "com.who", options, vec![]);
        let inv = invocation(net.recv_one(&callee));
        assert_eq!(inv.details.caller.is_some(), disclosed, "{policy:?}");
        if policy == Disclosure::Never {
            // Asking is refused outright.
            let options = CallOptions {
                disclose_me: Some(true),
                ..Default::default()
            };
            let call = net.call_with(&mut caller, "com.who", options, vec![]);
            assert_eq!(
                error_of(&net.recv_one(&caller)),
                (
                    "wamp.error.option_disallowed.disclose_me",
                    call,
                    RequestType::Call
                )
            );
            assert!(net.recv(&callee).is_empty());
        }
    }
}

fn timeout(ms: u64) -> CallOptions {
    CallOptions {
        timeout: Some(ms),
        ..Default::default()
    }
}

#[test]
fn call_timeout_is_enforced_by_the_dealer() {
    for interruptible in [true, false] {
        let mut net = Net::realm1();
        let mut callee = if interruptible {
            net.join()
        } else {
            net.join_with(basic_roles())
        };
        let mut caller = net.join();
        net.register(&mut callee, "com.slow");
        let call = net.call_with(&mut caller, "com.slow", timeout(100), vec![]);
        let inv = invocation(net.recv_one(&callee));
        assert_eq!(net.router.poll_timeout(), Some(net.now + duration(100)));
        net.advance(duration(99));
        assert!(net.recv(&caller).is_empty());
        net.advance(duration(1));
        assert_eq!(
            error_of(&net.recv_one(&caller)),
            ("wamp.error.timeout", call, RequestType::Call)
        );
        let to_callee = net.recv(&callee);
        if interruptible {
            assert!(
                matches!(&to_callee[..], [Message::Interrupt(i)] if i.request == inv.request && i.options.mode == Some(CancelMode::KillNoWait)),
                "{to_callee:?}"
            );
        } else {
            assert!(
                to_callee.is_empty(),
                "skip: no INTERRUPT for a callee without call_canceling"
            );
        }
        // The late answer goes nowhere, quietly.
        net.send(&callee, Yield::new(inv.request));
        assert!(net.recv(&caller).is_empty());
        assert!(!net.is_closed(&callee));
        assert_eq!(net.router.poll_timeout(), None);
        net.leave(&caller);
        net.leave(&callee);
        assert!(net.router.is_idle());
    }
}

#[test]
fn answered_calls_and_zero_timeouts_do_not_time_out() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.p");
    net.call_with(&mut caller, "com.p", timeout(0), vec![]);
    assert_eq!(net.router.poll_timeout(), None, "0 means no timeout");
    let inv = invocation(net.recv_one(&callee));
    net.advance(duration(60_000));
    net.send(&callee, Yield::new(inv.request));
    assert!(matches!(net.recv_one(&caller), Message::Result(_)));
    net.call_with(&mut caller, "com.p", timeout(100), vec![]);
    let inv = invocation(net.recv_one(&callee));
    net.send(&callee, Yield::new(inv.request));
    assert!(matches!(net.recv_one(&caller), Message::Result(_)));
    assert_eq!(
        net.router.poll_timeout(),
        None,
        "the timer went with the answer"
    );
    net.advance(duration(1_000));
    assert!(net.recv(&caller).is_empty());
}

#[test]
fn progressive_results_restart_the_timeout() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.stream");
    let options = CallOptions {
        receive_progress: Some(true),
        timeout: Some(100),
        ..Default::default()
    };
    let call = net.call_with(&mut caller, "com.stream", options, vec![]);
    let inv = invocation(net.recv_one(&callee));
    for _ in 0..3 {
        net.advance(duration(80));
        let progress = Yield {
            request: inv.request,
            options: YieldOptions {
                progress: Some(true),
                ..Default::default()
            },
            payload: Payload::default(),
        };
        net.send(&callee, progress);
        assert!(
            matches!(net.recv_one(&caller), Message::Result(r) if r.details.progress == Some(true))
        );
    }
    // 240 ms in total, but never 100 ms without a result.
    net.advance(duration(100));
    assert_eq!(
        error_of(&net.recv_one(&caller)),
        ("wamp.error.timeout", call, RequestType::Call)
    );
}

#[test]
fn a_caller_leaving_clears_its_call_timers() {
    let mut net = Net::realm1();
    let mut callee = net.join();
    let mut caller = net.join();
    net.register(&mut callee, "com.p");
    net.call_with(&mut caller, "com.p", timeout(100), vec![]);
    net.recv_one(&callee);
    net.disconnect(&caller);
    assert_eq!(net.router.poll_timeout(), None);
    assert!(matches!(net.recv_one(&callee), Message::Interrupt(_)));
    net.leave(&callee);
    assert!(net.router.is_idle());
}
