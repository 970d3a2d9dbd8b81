//! Unit tests of what the session decides on the application's behalf: forwarded call
//! timeouts (in virtual time), the authentication handshake with credentials, the router's
//! size limit, and the answers it gives itself.

use std::time::{Duration, Instant};

use super::*;
use crate::auth::client::Credentials;
use crate::message::{
    Challenge, ChallengeExtra, Interrupt, InterruptOptions, InvocationDetails, Registered,
    RouterRoles, WelcomeDetails,
};
use crate::{args, Dict, Serializer};

const RANDOM: [u8; HELLO_RANDOM_LEN] = [7; HELLO_RANDOM_LEN];

/// The ID `n`, typed by what the caller expects (a session, a request...).
fn id<T: TryFrom<u64, Error = crate::IdOutOfRange>>(n: u64) -> T {
    T::try_from(n).unwrap()
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

fn transmitted(s: &mut Session) -> Vec<Message> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn welcome(details: WelcomeDetails) -> Message {
    let roles = RouterRoles {
        broker: Some(Role::default()),
        dealer: Some(Role::with_features([
            features::PROGRESSIVE_CALL_INVOCATIONS,
            features::PROGRESSIVE_CALL_RESULTS,
        ])),
        ..Default::default()
    };
    let mut welcome = Welcome::new(id(77), roles);
    welcome.details.authmethod = details.authmethod;
    welcome.into()
}

/// A joined session with its outputs drained, at virtual time `t0`.
fn joined(t0: Instant) -> Session {
    let mut s = Session::new(SessionConfig::new(uri("realm1")));
    s.join().unwrap();
    s.handle_message(t0, welcome(WelcomeDetails::default()))
        .unwrap();
    transmitted(&mut s);
    events(&mut s);
    s
}

fn register(s: &mut Session, t0: Instant, registration: u64, whole: bool) {
    let procedure = uri("com.example.p");
    let request = if whole {
        s.register_whole(procedure, RegisterOptions::default())
    } else {
        s.register(procedure, RegisterOptions::default())
    }
    .unwrap();
    s.handle_message(
        t0,
        Registered {
            request,
            registration: id(registration),
        }
        .into(),
    )
    .unwrap();
    transmitted(s);
    events(s);
}

fn invocation(request: u64, registration: u64, timeout: Option<u64>) -> Message {
    let mut invocation = Invocation::new(id(request), id(registration));
    invocation.details = InvocationDetails {
        timeout,
        receive_progress: Some(true),
        ..Default::default()
    };
    invocation.into()
}

fn invocation_error(message: &Message) -> (RequestId, &str, Option<&str>) {
    match message {
        Message::Error(e) if e.request_type == RequestType::Invocation => (
            e.request,
            e.error.as_str(),
            e.payload.args().first().and_then(|v| v.as_str()),
        ),
        other => panic!("expected an ERROR for an INVOCATION, got {other:?}"),
    }
}

// ---- forwarded call timeouts -------------------------------------------------------------

#[test]
fn a_forwarded_timeout_is_answered_at_its_deadline() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    register(&mut s, t0, 40, false);
    assert_eq!(s.poll_timeout(), None);
    s.handle_message(t0, invocation(1, 40, Some(200))).unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Invocation { request, .. }] if *request == id(1)
    ));
    let deadline = t0 + Duration::from_millis(200);
    assert_eq!(s.poll_timeout(), Some(deadline));
    // Early: nothing happens.
    s.handle_timeout(deadline - Duration::from_millis(1));
    assert!(transmitted(&mut s).is_empty() && events(&mut s).is_empty());
    s.handle_timeout(deadline);
    let sent = transmitted(&mut s);
    assert_eq!(sent.len(), 1);
    let (request, error, why) = invocation_error(&sent[0]);
    assert_eq!((request, error), (id(1), uri::error::TIMEOUT));
    assert_eq!(
        why,
        Some("the callee did not answer within the invocation's timeout of 200 ms")
    );
    assert_eq!(
        events(&mut s),
        [SessionEvent::InvocationEnded {
            request: id(1),
            error: uri(uri::error::TIMEOUT)
        }]
    );
    assert_eq!(s.poll_timeout(), None);
    // The application's late answer is refused.
    assert_eq!(
        s.yield_result(deadline, id(1), YieldOptions::default(), Payload::default()),
        Err(UsageError::UnknownInvocation { request: id(1) })
    );
}

#[test]
fn progressive_results_restart_the_timer_and_the_answer_stops_it() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    register(&mut s, t0, 40, false);
    s.handle_message(t0, invocation(1, 40, Some(500))).unwrap();
    events(&mut s);
    let progress = YieldOptions {
        progress: Some(true),
        ..Default::default()
    };
    let t1 = t0 + Duration::from_millis(400);
    s.yield_result(t1, id(1), progress, Payload::default())
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_millis(500)));
    // Past the first deadline, not the restarted one.
    s.handle_timeout(t0 + Duration::from_millis(600));
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Message::Yield(_)]
    ));
    assert!(events(&mut s).is_empty());
    s.yield_result(t1, id(1), YieldOptions::default(), Payload::default())
        .unwrap();
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t1 + Duration::from_secs(10));
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Message::Yield(_)]
    ));
    assert!(events(&mut s).is_empty());
}

#[test]
fn invocations_without_a_timeout_or_with_zero_set_no_deadline() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    register(&mut s, t0, 40, false);
    s.handle_message(t0, invocation(1, 40, None)).unwrap();
    s.handle_message(t0, invocation(2, 40, Some(0))).unwrap();
    assert_eq!(s.poll_timeout(), None);
    // The earliest of several deadlines comes first; the session closing forgets them.
    s.handle_message(t0, invocation(3, 40, Some(300))).unwrap();
    s.handle_message(t0, invocation(4, 40, Some(100))).unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(100)));
    s.handle_transport_closed();
    assert_eq!(s.poll_timeout(), None);
}

// ---- answers the session gives itself ------------------------------------------------------

#[test]
fn a_whole_registration_refuses_input_in_chunks() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    register(&mut s, t0, 40, true);
    let mut first = Invocation::new(id(1), id(40));
    first.details.progress = Some(true);
    s.handle_message(t0, first.into()).unwrap();
    let sent = transmitted(&mut s);
    let (request, error, why) = invocation_error(&sent[0]);
    assert_eq!((request, error), (id(1), uri::error::FEATURE_NOT_SUPPORTED));
    assert!(why.unwrap().contains("registration 40"), "{why:?}");
    assert!(events(&mut s).is_empty());
    // Its later chunks are discarded quietly; an ordinary invocation reaches the application.
    let mut last = Invocation::new(id(1), id(40));
    last.details.progress = None;
    s.handle_message(t0, last.into()).unwrap();
    assert!(transmitted(&mut s).is_empty() && events(&mut s).is_empty());
    s.handle_message(t0, invocation(2, 40, None)).unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Invocation { .. }]
    ));
}

#[test]
fn refusing_an_invocation_answers_no_such_registration() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    register(&mut s, t0, 40, false);
    s.handle_message(t0, invocation(1, 40, Some(100))).unwrap();
    events(&mut s);
    s.refuse_invocation(id(1)).unwrap();
    let sent = transmitted(&mut s);
    let (request, error, _) = invocation_error(&sent[0]);
    assert_eq!((request, error), (id(1), uri::error::NO_SUCH_REGISTRATION));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.refuse_invocation(id(1)),
        Err(UsageError::UnknownInvocation { request: id(1) })
    );
}

#[test]
fn interrupts_can_be_answered_by_the_session() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    s.set_answer_interrupts(true);
    register(&mut s, t0, 40, false);
    s.handle_message(t0, invocation(1, 40, None)).unwrap();
    events(&mut s);
    let interrupt = Interrupt {
        request: id(1),
        options: InterruptOptions::default(),
    };
    s.handle_message(t0, interrupt.clone().into()).unwrap();
    let sent = transmitted(&mut s);
    assert_eq!(sent.len(), 1);
    let (request, error, why) = invocation_error(&sent[0]);
    assert_eq!((request, error, why), (id(1), uri::error::CANCELED, None));
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Interrupt { request, .. }] if *request == id(1)
    ));
    // Answered: a second INTERRUPT is dropped.
    s.handle_message(t0, interrupt.into()).unwrap();
    assert!(transmitted(&mut s).is_empty() && events(&mut s).is_empty());
}

// ---- the router's size limit ---------------------------------------------------------------

fn limited(t0: Instant, serializer: Serializer, batched: bool) -> Session {
    let mut s = joined(t0);
    s.set_send_limit(Some(SendLimit {
        serializer,
        batched,
        max_size: 2048,
    }));
    s
}

fn big() -> Payload {
    Payload::new(args!["x".repeat(4096)], Dict::new())
}

#[test]
fn requests_too_large_fail_locally_and_take_no_request_id() {
    let t0 = Instant::now();
    for serializer in Serializer::ALL {
        for batched in [false, true] {
            let mut s = limited(t0, serializer, batched);
            let refused = s.call(uri("com.example.p"), CallOptions::default(), big());
            assert!(
                matches!(refused, Err(UsageError::PayloadTooLarge { message: "CALL", size, limit: 2048 }) if size > 4096),
                "{refused:?}"
            );
            let refused = s.publish(uri("com.example.t"), PublishOptions::default(), big());
            assert!(matches!(
                refused,
                Err(UsageError::PayloadTooLarge {
                    message: "PUBLISH",
                    ..
                })
            ));
            assert!(transmitted(&mut s).is_empty());
            // Small ones go, with the first request ID.
            let small = Payload::new(args!["x".repeat(1500)], Dict::new());
            assert_eq!(
                s.call(uri("com.example.p"), CallOptions::default(), small),
                Ok(id(1))
            );
        }
    }
}

#[test]
fn a_chunk_too_large_is_refused_and_the_call_goes_on() {
    let t0 = Instant::now();
    let mut s = limited(t0, Serializer::Json, false);
    let options = CallOptions {
        progress: Some(true),
        ..Default::default()
    };
    let call = s
        .call(uri("com.example.p"), options, Payload::default())
        .unwrap();
    transmitted(&mut s);
    assert!(matches!(
        s.finish_call(call, big()),
        Err(UsageError::PayloadTooLarge { .. })
    ));
    assert!(transmitted(&mut s).is_empty());
    s.finish_call(call, Payload::default()).unwrap();
    assert_eq!(transmitted(&mut s).len(), 1);
}

#[test]
fn answers_too_large_become_payload_size_exceeded() {
    let t0 = Instant::now();
    let mut s = limited(t0, Serializer::MsgPack, false);
    register(&mut s, t0, 40, false);
    s.handle_message(t0, invocation(1, 40, Some(1000))).unwrap();
    s.handle_message(t0, invocation(2, 40, None)).unwrap();
    events(&mut s);
    // A progressive result too large ends the invocation.
    let progress = YieldOptions {
        progress: Some(true),
        ..Default::default()
    };
    s.yield_result(t0, id(1), progress, big()).unwrap();
    // A final one too large is replaced.
    s.yield_result(t0, id(2), YieldOptions::default(), big())
        .unwrap();
    let sent = transmitted(&mut s);
    assert_eq!(sent.len(), 2);
    for (message, request) in sent.iter().zip([1, 2]) {
        let (r, error, why) = invocation_error(message);
        assert_eq!((r, error), (id(request), uri::error::PAYLOAD_SIZE_EXCEEDED));
        assert!(
            why.unwrap().ends_with("the router accepts at most 2048"),
            "{why:?}"
        );
    }
    assert_eq!(
        events(&mut s),
        [1, 2].map(|r| SessionEvent::InvocationEnded {
            request: id(r),
            error: uri(uri::error::PAYLOAD_SIZE_EXCEEDED)
        })
    );
    assert_eq!(s.poll_timeout(), None);
}

// ---- authentication with credentials -------------------------------------------------------

fn hello_details(s: &mut Session) -> HelloDetails {
    match transmitted(s).as_slice() {
        [Message::Hello(hello)] => hello.details.clone(),
        other => panic!("expected HELLO, got {other:?}"),
    }
}

#[test]
fn credentials_need_random_bytes_and_fill_hello() {
    let mut s = Session::new(SessionConfig::new(uri("realm1")).with_authmethods(["x-custom"]));
    s.set_credentials(Credentials::new().authid("joe").ticket("secret"));
    assert_eq!(s.join(), Err(UsageError::RandomRequired));
    s.join_with_random(&RANDOM).unwrap();
    let details = hello_details(&mut s);
    assert_eq!(
        details.authmethods.unwrap(),
        ["ticket".to_owned(), "x-custom".to_owned()]
    );
    assert_eq!(details.authid.as_deref(), Some("joe"));

    // Credentials that cannot make a HELLO: nothing is queued.
    let mut s = Session::new(SessionConfig::new(uri("realm1")));
    s.set_credentials(Credentials::new().ticket("no authid"));
    assert!(matches!(
        s.join_with_random(&RANDOM),
        Err(UsageError::Credentials(_))
    ));
    assert!(s.is_closed() && !s.has_transmit());
}

#[test]
fn transport_methods_go_first() {
    let mut s = Session::new(SessionConfig::new(uri("realm1")));
    s.set_transport_authmethods(["cookie"]);
    s.join().unwrap();
    assert_eq!(
        hello_details(&mut s).authmethods.unwrap(),
        ["cookie", "anonymous"]
    );
    let mut s = Session::new(SessionConfig::new(uri("realm1")).with_authmethods(["tls"]));
    s.set_transport_authmethods(["cookie", "tls"]);
    s.set_credentials(Credentials::new().authid("joe").ticket("t"));
    s.join_with_random(&RANDOM).unwrap();
    assert_eq!(
        hello_details(&mut s).authmethods.unwrap(),
        ["cookie", "tls", "ticket"]
    );
}

#[test]
fn challenges_for_the_credentials_are_answered_at_once() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(uri("realm1")).with_authmethods(["x-custom"]));
    s.set_credentials(Credentials::new().authid("joe").wampcra("secret1"));
    s.join_with_random(&RANDOM).unwrap();
    transmitted(&mut s);
    let challenge = Challenge {
        auth_method: "wampcra".into(),
        extra: ChallengeExtra {
            challenge: Some("{\"nonce\": \"x\"}".into()),
            ..Default::default()
        },
    };
    s.handle_message(t0, challenge.into()).unwrap();
    match transmitted(&mut s).as_slice() {
        [Message::Authenticate(a)] => {
            assert_eq!(
                a.signature,
                crate::auth::cra::sign(b"secret1", "{\"nonce\": \"x\"}")
            )
        }
        other => panic!("expected AUTHENTICATE, got {other:?}"),
    }
    assert!(events(&mut s).is_empty());
    assert_eq!(s.state(), SessionState::Establishing);
    // A method the credentials do not handle goes to the application.
    let custom = Challenge {
        auth_method: "x-custom".into(),
        extra: ChallengeExtra::default(),
    };
    s.handle_message(t0, custom.clone().into()).unwrap();
    assert_eq!(events(&mut s), [SessionEvent::Challenge(custom)]);
    s.authenticate("mine".into(), AuthenticateExtra::default())
        .unwrap();
    transmitted(&mut s);
    s.handle_message(t0, welcome(WelcomeDetails::default()))
        .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Joined { .. }]
    ));
}

fn assert_authentication_failed(s: &mut Session) {
    assert!(s.is_closed());
    match transmitted(s).as_slice() {
        [Message::Abort(abort)] => assert_eq!(abort.reason, uri::error::AUTHENTICATION_FAILED),
        other => panic!("expected ABORT, got {other:?}"),
    }
    match events(s).as_slice() {
        [event @ SessionEvent::AuthenticationFailed { error }] => {
            assert!(event.is_terminal());
            let _ = error.to_string();
        }
        other => panic!("expected AuthenticationFailed, got {other:?}"),
    }
}

#[test]
fn a_challenge_the_credentials_cannot_answer_aborts() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(uri("realm1")));
    s.set_credentials(Credentials::new().authid("joe").wampcra("secret1"));
    s.join_with_random(&RANDOM).unwrap();
    transmitted(&mut s);
    // WAMP-CRA without the challenge text.
    let challenge = Challenge {
        auth_method: "wampcra".into(),
        extra: ChallengeExtra::default(),
    };
    s.handle_message(t0, challenge.into()).unwrap();
    assert_authentication_failed(&mut s);
}

#[test]
fn a_welcome_that_proves_nothing_aborts() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(uri("realm1")));
    s.set_credentials(Credentials::new().authid("joe").scram("pencil"));
    s.join_with_random(&RANDOM).unwrap();
    transmitted(&mut s);
    // A router claiming SCRAM without the exchange.
    let details = WelcomeDetails {
        authmethod: Some("scram".into()),
        ..Default::default()
    };
    s.handle_message(t0, welcome(details)).unwrap();
    assert_authentication_failed(&mut s);
}

#[test]
fn an_abandoned_call_is_canceled_only_where_the_router_can() {
    let t0 = Instant::now();
    // The dealer of `joined` does not announce call_canceling.
    let mut s = joined(t0);
    let call = s
        .call(
            uri("com.example.p"),
            CallOptions::default(),
            Payload::default(),
        )
        .unwrap();
    transmitted(&mut s);
    assert!(!s.abandon_call(call));
    assert!(transmitted(&mut s).is_empty());

    let mut s = Session::new(SessionConfig::new(uri("realm1")));
    s.join().unwrap();
    let roles = RouterRoles {
        dealer: Some(Role::with_features([features::CALL_CANCELING])),
        ..Default::default()
    };
    s.handle_message(t0, Welcome::new(id(1), roles).into())
        .unwrap();
    let call = s
        .call(
            uri("com.example.p"),
            CallOptions::default(),
            Payload::default(),
        )
        .unwrap();
    transmitted(&mut s);
    assert!(s.abandon_call(call));
    match transmitted(&mut s).as_slice() {
        [Message::Cancel(cancel)] => {
            assert_eq!(cancel.request, call);
            assert_eq!(cancel.options.mode, Some(CancelMode::KillNoWait));
        }
        other => panic!("expected CANCEL, got {other:?}"),
    }
    // Once is enough.
    assert!(!s.abandon_call(call));
}

#[test]
fn a_refused_answer_becomes_invalid_argument() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    register(&mut s, t0, 40, false);
    s.handle_message(t0, invocation(1, 40, None)).unwrap();
    events(&mut s);
    // A passthru answer whose payload is not one binary argument.
    let options = YieldOptions {
        ppt_scheme: Some("x_custom".into()),
        ..Default::default()
    };
    let refusal = s
        .yield_result(t0, id(1), options, Payload::default())
        .unwrap_err();
    s.answer_refused(id(1), &refusal).unwrap();
    let sent = transmitted(&mut s);
    let (request, error, why) = invocation_error(&sent[0]);
    assert_eq!((request, error), (id(1), uri::error::INVALID_ARGUMENT));
    assert_eq!(
        why.map(str::to_owned),
        Some(format!("the callee's answer was refused: {refusal}"))
    );
}

#[test]
fn a_challenge_nobody_answers_is_declined() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::new(uri("realm1")).with_authmethods(["x-custom"]));
    assert_eq!(
        s.decline_challenge("no"),
        Err(UsageError::NoPendingChallenge {
            state: SessionState::Closed
        })
    );
    s.join().unwrap();
    transmitted(&mut s);
    let challenge = Challenge {
        auth_method: "x-custom".into(),
        extra: ChallengeExtra::default(),
    };
    s.handle_message(t0, challenge.into()).unwrap();
    events(&mut s);
    s.decline_challenge("no way to answer").unwrap();
    assert!(s.is_closed());
    match transmitted(&mut s).as_slice() {
        [Message::Abort(abort)] => {
            assert_eq!(abort.reason, uri::error::AUTHENTICATION_FAILED);
            assert_eq!(abort.details.message.as_deref(), Some("no way to answer"));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(events(&mut s).is_empty());
}
