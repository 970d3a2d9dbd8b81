//! Unit tests of the client session: one test (or a few) per rule.

use super::*;
use crate::message::ClientRoles;
use crate::message::{
    Challenge, ChallengeExtra, Event, EventReceived, Interrupt, InterruptOptions,
    InvocationDetails, Published, Registered, ResultDetails, RouterRoles, Subscribed,
    UnregisteredDetails, UnsubscribedDetails,
};
use crate::{args, kwargs, Dict, IdGenerator, MessageError};

/// The start of virtual time: tests add offsets to it by hand.
fn now() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// The ID `n`, typed by what the caller expects (a session, a request...).
fn id<T: TryFrom<u64, Error = crate::IdOutOfRange>>(n: u64) -> T {
    T::try_from(n).unwrap()
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

fn config() -> SessionConfig {
    SessionConfig::new(uri("com.example.realm"))
}

fn transmitted(s: &mut Session) -> Vec<Message> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The single element of `items`.
fn only<T: std::fmt::Debug>(mut items: Vec<T>) -> T {
    assert_eq!(items.len(), 1, "expected exactly one item: {items:?}");
    items.remove(0)
}

fn welcome(session: u64) -> Message {
    welcome_with_dealer(
        session,
        &[features::CALL_CANCELING, features::PROGRESSIVE_CALL_RESULTS],
    )
}

fn welcome_with_dealer(session: u64, dealer: &[&str]) -> Message {
    let roles = RouterRoles {
        broker: Some(Role::with_features([features::SUBSCRIPTION_REVOCATION])),
        dealer: Some(Role::with_features(dealer.iter().copied())),
        ..Default::default()
    };
    Welcome::new(id(session), roles).into()
}

/// A session with the default roles, joined to a router whose dealer announces every
/// feature the session can use.
fn joined_advanced() -> Session {
    let mut s = Session::new(config());
    s.join().unwrap();
    s.handle_message(
        now(),
        welcome_with_dealer(
            77,
            &[
                features::CALL_CANCELING,
                features::PROGRESSIVE_CALL_RESULTS,
                features::PROGRESSIVE_CALL_INVOCATIONS,
                features::PAYLOAD_PASSTHRU_MODE,
            ],
        ),
    )
    .unwrap();
    transmitted(&mut s);
    events(&mut s);
    s
}

/// A session joined with `config`, with its outputs drained.
fn joined_with(config: SessionConfig) -> Session {
    let mut s = Session::new(config);
    s.join().unwrap();
    s.handle_message(now(), welcome(77)).unwrap();
    transmitted(&mut s);
    events(&mut s);
    s
}

fn joined() -> Session {
    joined_with(config())
}

/// Asserts that `message` is a protocol violation: `handle_message` returns the error, the
/// session queued ABORT `wamp.error.protocol_violation` with the error as its message,
/// emitted `ProtocolViolation` and closed.
fn violation(s: &mut Session, message: Message) -> ProtocolError {
    transmitted(s);
    events(s);
    let error = s.handle_message(now(), message).unwrap_err();
    assert_violation_reported(s, &error);
    error
}

fn assert_violation_reported(s: &mut Session, error: &ProtocolError) {
    assert_eq!(s.state(), SessionState::Closed);
    assert!(s.is_closed());
    assert_eq!(s.session_id(), None);
    match transmitted(s).as_slice() {
        [Message::Abort(abort)] => {
            assert_eq!(abort.reason, uri::error::PROTOCOL_VIOLATION);
            assert_eq!(abort.details.message.as_deref(), Some(&*error.to_string()));
        }
        other => panic!("expected one ABORT, got {other:?}"),
    }
    assert_eq!(
        events(s),
        [SessionEvent::ProtocolViolation {
            error: error.clone()
        }]
    );
}

fn subscribe(s: &mut Session, subscription: u64) -> RequestId {
    let request = s
        .subscribe(uri("com.example.topic"), SubscribeOptions::default())
        .unwrap();
    s.handle_message(
        now(),
        Subscribed {
            request,
            subscription: id(subscription),
        }
        .into(),
    )
    .unwrap();
    transmitted(s);
    events(s);
    request
}

fn register(s: &mut Session, registration: u64) -> RequestId {
    let request = s
        .register(uri("com.example.proc"), RegisterOptions::default())
        .unwrap();
    s.handle_message(
        now(),
        Registered {
            request,
            registration: id(registration),
        }
        .into(),
    )
    .unwrap();
    transmitted(s);
    events(s);
    request
}

fn invocation(request: u64, registration: u64, receive_progress: bool) -> Message {
    let mut inv = Invocation::new(id(request), id(registration)).with_args(args!["x"]);
    if receive_progress {
        inv.details.receive_progress = Some(true);
    }
    inv.into()
}

fn call(s: &mut Session, receive_progress: bool) -> RequestId {
    let options = CallOptions {
        receive_progress: receive_progress.then_some(true),
        ..Default::default()
    };
    let request = s
        .call(uri("com.example.proc"), options, Payload::default())
        .unwrap();
    transmitted(s);
    request
}

fn progress_result(request: RequestId) -> Message {
    let mut result = CallResult::new(request).with_args(args![1]);
    result.details.progress = Some(true);
    result.into()
}

fn revoke_subscription(subscription: Option<u64>) -> Message {
    Unsubscribed {
        request: None,
        details: UnsubscribedDetails {
            subscription: subscription.map(id),
            reason: Some("gone".into()),
            ..Default::default()
        },
    }
    .into()
}

fn revoke_registration(registration: Option<u64>) -> Message {
    Unregistered {
        request: None,
        details: UnregisteredDetails {
            registration: registration.map(id),
            reason: Some("gone".into()),
            ..Default::default()
        },
    }
    .into()
}

fn error(request_type: RequestType, request: RequestId, uri: &str) -> Message {
    message::Error::new(request_type, request, uri)
        .with_args(args!["why"])
        .into()
}

// ---- establishing ----------------------------------------------------------------------

#[test]
fn default_roles_announce_the_advanced_rpc_features_the_session_handles() {
    let roles = SessionConfig::default_roles();
    let announced = |role: &Option<Role>| {
        let mut features: Vec<String> = role
            .as_ref()
            .unwrap()
            .features
            .iter()
            .flatten()
            .filter(|(_, on)| on.as_bool() == Some(true))
            .map(|(name, _)| name.clone())
            .collect();
        features.sort();
        features
    };
    let sorted = |features: &[&str]| {
        let mut v: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(
        announced(&roles.caller),
        sorted(&[
            features::CALL_CANCELING,
            features::PROGRESSIVE_CALL_RESULTS,
            features::PROGRESSIVE_CALL_INVOCATIONS,
            features::CALLER_IDENTIFICATION,
            features::SHARDED_REGISTRATION,
            features::PAYLOAD_PASSTHRU_MODE,
        ])
    );
    assert_eq!(
        announced(&roles.callee),
        sorted(&[
            features::CALL_CANCELING,
            features::CALL_CANCELLING,
            features::PROGRESSIVE_CALL_RESULTS,
            features::PROGRESSIVE_CALL_INVOCATIONS,
            features::REGISTRATION_REVOCATION,
            features::CALL_TIMEOUT,
            features::CALLER_IDENTIFICATION,
            features::CALL_TRUSTLEVELS,
            features::PATTERN_BASED_REGISTRATION,
            features::SHARED_REGISTRATION,
            features::SHARDED_REGISTRATION,
            features::PAYLOAD_PASSTHRU_MODE,
            features::CALL_REROUTE,
        ])
    );
    assert_eq!(
        announced(&roles.subscriber),
        sorted(&[
            features::SUBSCRIPTION_REVOCATION,
            features::PATTERN_BASED_SUBSCRIPTION,
            features::PUBLISHER_IDENTIFICATION,
            features::PUBLICATION_TRUSTLEVELS,
            features::SHARDED_SUBSCRIPTION,
            features::PAYLOAD_PASSTHRU_MODE,
        ])
    );
    assert_eq!(
        announced(&roles.publisher),
        sorted(&[
            features::PUBLISHER_EXCLUSION,
            features::PUBLISHER_IDENTIFICATION,
            features::SUBSCRIBER_BLACKWHITE_LISTING,
            features::SHARDED_SUBSCRIPTION,
            features::PAYLOAD_PASSTHRU_MODE,
        ])
    );
}

#[test]
fn a_new_session_is_closed_and_queues_nothing() {
    let mut s = Session::new(config());
    assert_eq!(s.state(), SessionState::Closed);
    assert!(s.is_closed());
    assert_eq!(s.session_id(), None);
    assert!(s.welcome_details().is_none());
    assert!(s.poll_transmit().is_none());
    assert!(s.poll_event().is_none());
}

#[test]
fn join_queues_hello_with_default_roles_and_agent() {
    let mut s = Session::new(config());
    s.join().unwrap();
    assert_eq!(s.state(), SessionState::Establishing);
    let Message::Hello(hello) = only(transmitted(&mut s)) else {
        panic!("expected HELLO");
    };
    assert_eq!(hello.realm, "com.example.realm");
    let roles = hello.details.roles.as_ref().unwrap();
    assert_eq!(roles, &SessionConfig::default_roles());
    assert!(roles
        .publisher
        .as_ref()
        .unwrap()
        .supports(features::PUBLISHER_IDENTIFICATION));
    assert!(roles
        .caller
        .as_ref()
        .unwrap()
        .supports(features::CALL_CANCELING));
    assert!(roles
        .callee
        .as_ref()
        .unwrap()
        .supports(features::REGISTRATION_REVOCATION));
    assert!(roles
        .subscriber
        .as_ref()
        .unwrap()
        .supports(features::SUBSCRIPTION_REVOCATION));
    assert_eq!(
        hello.details.agent.as_deref(),
        Some(concat!("nexus-", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(hello.details.authmethods, None);
    assert_eq!(hello.details.authid, None);
    assert_eq!(hello.details.authextra, None);
    assert!(events(&mut s).is_empty());
}

#[test]
fn join_announces_the_configured_authentication_and_agent() {
    let config = config()
        .with_authid("alice")
        .with_authmethods(["cryptosign", "ticket"])
        .with_authextra(kwargs! { "pubkey" => "00ff" })
        .without_agent();
    let mut s = Session::new(config);
    s.join().unwrap();
    let Some(Message::Hello(hello)) = s.poll_transmit() else {
        panic!("expected HELLO");
    };
    assert_eq!(hello.details.authid.as_deref(), Some("alice"));
    assert_eq!(
        hello.details.authmethods,
        Some(vec!["cryptosign".to_owned(), "ticket".to_owned()])
    );
    assert_eq!(
        hello.details.authextra,
        Some(kwargs! { "pubkey" => "00ff" })
    );
    assert_eq!(hello.details.agent, None);

    let mut s = Session::new(config_with_agent());
    s.join().unwrap();
    let Some(Message::Hello(hello)) = s.poll_transmit() else {
        panic!("expected HELLO");
    };
    assert_eq!(hello.details.agent.as_deref(), Some("my-app/1.0"));
}

fn config_with_agent() -> SessionConfig {
    config().with_agent("my-app/1.0")
}

#[test]
fn join_is_refused_unless_closed_or_without_roles() {
    let mut s = Session::new(config());
    s.join().unwrap();
    transmitted(&mut s);
    assert_eq!(
        s.join(),
        Err(UsageError::NotClosed {
            state: SessionState::Establishing
        })
    );
    assert!(s.poll_transmit().is_none());

    let mut s = joined();
    assert_eq!(
        s.join(),
        Err(UsageError::NotClosed {
            state: SessionState::Established
        })
    );

    let mut s = Session::new(config().with_roles(ClientRoles::default()));
    assert_eq!(s.join(), Err(UsageError::NoRoles));
    assert_eq!(s.state(), SessionState::Closed);
    assert!(s.poll_transmit().is_none());
}

#[test]
fn welcome_establishes_the_session() {
    let mut s = Session::new(config());
    assert!(!s.router_supports("dealer", features::CALL_CANCELING));
    s.join().unwrap();
    assert!(matches!(
        transmitted(&mut s).as_slice(),
        [Message::Hello(_)]
    ));
    s.handle_message(now(), welcome(77)).unwrap();
    assert_eq!(s.state(), SessionState::Established);
    assert_eq!(s.session_id(), Some(id(77)));
    let SessionEvent::Joined { session, details } = only(events(&mut s)) else {
        panic!("expected Joined");
    };
    assert_eq!(session, id(77));
    assert_eq!(Some(&*details), s.welcome_details());
    assert!(s.router_supports("dealer", features::CALL_CANCELING));
    assert!(s.router_supports("broker", features::SUBSCRIPTION_REVOCATION));
    assert!(!s.router_supports("broker", features::CALL_CANCELING));
    assert!(!s.router_supports("callee", features::CALL_CANCELING));
    assert!(!s.router_supports("dealer", "no_such_feature"));
    // WELCOME needs no reply.
    assert!(s.poll_transmit().is_none());
}

#[test]
fn challenge_and_authenticate_until_welcome() {
    let mut s = Session::new(config().with_authmethods(["wampcra", "ticket"]));
    s.join().unwrap();
    transmitted(&mut s);
    let challenge = Challenge {
        auth_method: "ticket".into(),
        extra: ChallengeExtra::default(),
    };
    s.handle_message(now(), challenge.clone().into()).unwrap();
    assert_eq!(s.state(), SessionState::Challenged);
    assert_eq!(events(&mut s), [SessionEvent::Challenge(challenge.clone())]);
    s.authenticate("secret".into(), AuthenticateExtra::default())
        .unwrap();
    assert_eq!(s.state(), SessionState::Establishing);
    assert_eq!(
        transmitted(&mut s),
        [Message::Authenticate(Authenticate {
            signature: "secret".into(),
            extra: AuthenticateExtra::default()
        })]
    );
    // A second round (two-factor authentication).
    let second = Challenge {
        auth_method: "wampcra".into(),
        extra: ChallengeExtra {
            challenge: Some("{}".into()),
            ..Default::default()
        },
    };
    s.handle_message(now(), second.clone().into()).unwrap();
    assert_eq!(events(&mut s), [SessionEvent::Challenge(second)]);
    s.authenticate("sig".into(), AuthenticateExtra::default())
        .unwrap();
    transmitted(&mut s);
    s.handle_message(now(), welcome(5)).unwrap();
    assert_eq!(s.state(), SessionState::Established);
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Joined { .. }]
    ));
}

#[test]
fn authenticate_needs_an_unanswered_challenge() {
    let mut s = Session::new(config().with_authmethods(["ticket"]));
    let closed = s.authenticate("x".into(), AuthenticateExtra::default());
    assert_eq!(
        closed,
        Err(UsageError::NoPendingChallenge {
            state: SessionState::Closed
        })
    );
    s.join().unwrap();
    transmitted(&mut s);
    assert_eq!(
        s.authenticate("x".into(), AuthenticateExtra::default()),
        Err(UsageError::NoPendingChallenge {
            state: SessionState::Establishing
        })
    );
    s.handle_message(
        now(),
        Challenge {
            auth_method: "ticket".into(),
            extra: ChallengeExtra::default(),
        }
        .into(),
    )
    .unwrap();
    s.authenticate("x".into(), AuthenticateExtra::default())
        .unwrap();
    // Answered once only.
    assert!(s
        .authenticate("x".into(), AuthenticateExtra::default())
        .is_err());
    assert_eq!(transmitted(&mut s).len(), 1);
    let mut s = joined();
    assert_eq!(
        s.authenticate("x".into(), AuthenticateExtra::default()),
        Err(UsageError::NoPendingChallenge {
            state: SessionState::Established
        })
    );
}

#[test]
fn a_challenge_for_a_method_not_offered_is_a_violation() {
    let challenge: Message = Challenge {
        auth_method: "wampcra".into(),
        extra: ChallengeExtra::default(),
    }
    .into();
    for methods in [vec![], vec!["ticket"]] {
        let mut s = Session::new(config().with_authmethods(methods.clone()));
        s.join().unwrap();
        transmitted(&mut s);
        let error = violation(&mut s, challenge.clone());
        assert_eq!(
            error,
            ProtocolError::ChallengeMethodNotOffered {
                method: "wampcra".into(),
                offered: methods.iter().map(|m| m.to_string()).collect()
            }
        );
    }
}

#[test]
fn only_authenticate_or_abort_answers_a_challenge() {
    let challenge: Message = Challenge {
        auth_method: "ticket".into(),
        extra: ChallengeExtra::default(),
    }
    .into();
    let challenged = || {
        let mut s = Session::new(config().with_authmethods(["ticket"]));
        s.join().unwrap();
        s.handle_message(now(), challenge.clone()).unwrap();
        transmitted(&mut s);
        events(&mut s);
        s
    };
    for message in [challenge.clone(), welcome(1)] {
        let mut s = challenged();
        let name = message.name();
        assert_eq!(
            violation(&mut s, message),
            ProtocolError::UnexpectedMessage {
                message: name,
                state: SessionState::Challenged
            }
        );
    }
    // ABORT from the router while challenged.
    let mut s = challenged();
    s.handle_message(
        now(),
        Abort::new(uri::error::AUTHENTICATION_FAILED, "timeout").into(),
    )
    .unwrap();
    assert!(s.is_closed());
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Aborted { reason, .. }] if reason == uri::error::AUTHENTICATION_FAILED
    ));
}

#[test]
fn abort_from_the_router_closes_in_every_open_state() {
    // While establishing.
    let mut s = Session::new(config());
    s.join().unwrap();
    transmitted(&mut s);
    let abort = Abort::new(uri::error::NO_SUCH_REALM, "no realm").with_args(args![1]);
    s.handle_message(now(), abort.clone().into()).unwrap();
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Aborted {
            reason: abort.reason.clone(),
            details: abort.details.clone(),
            payload: abort.payload.clone()
        }]
    );
    // ABORT is never answered.
    assert!(s.poll_transmit().is_none());

    // While established, with requests outstanding: they get no further events.
    let mut s = joined();
    let request = call(&mut s, false);
    s.handle_message(now(), abort.clone().into()).unwrap();
    assert!(s.is_closed());
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Aborted { .. }]
    ));
    s.handle_message(now(), CallResult::new(request).into())
        .unwrap();
    assert!(s.poll_event().is_none() && s.poll_transmit().is_none());

    // While shutting down.
    let mut s = joined();
    s.leave(uri::close::NORMAL, None).unwrap();
    transmitted(&mut s);
    s.handle_message(now(), abort.into()).unwrap();
    assert!(s.is_closed());
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Aborted { .. }]
    ));
}

// ---- closing ---------------------------------------------------------------------------

#[test]
fn goodbye_from_the_router_is_answered() {
    let mut s = joined();
    let mut goodbye = Goodbye::new(uri::close::SYSTEM_SHUTDOWN);
    goodbye.details.message = Some("maintenance".into());
    s.handle_message(now(), goodbye.clone().into()).unwrap();
    assert!(s.is_closed());
    assert_eq!(s.session_id(), None);
    assert_eq!(
        transmitted(&mut s),
        [Message::Goodbye(Goodbye::new(uri::close::GOODBYE_AND_OUT))]
    );
    let evs = events(&mut s);
    assert_eq!(
        evs,
        [SessionEvent::Left {
            reason: goodbye.reason,
            details: goodbye.details,
            router_initiated: true
        }]
    );
    assert!(evs[0].is_terminal());
}

#[test]
fn leave_sends_goodbye_and_waits_for_the_reply() {
    let mut s = joined();
    let request = call(&mut s, false);
    let subscription = 9;
    subscribe(&mut s, subscription);
    s.leave(uri::close::NORMAL, Some("bye".into())).unwrap();
    assert_eq!(s.state(), SessionState::ShuttingDown);
    assert_eq!(s.session_id(), Some(id(77)));
    let Message::Goodbye(goodbye) = only(transmitted(&mut s)) else {
        panic!("expected GOODBYE");
    };
    assert_eq!(goodbye.reason, uri::close::NORMAL);
    assert_eq!(goodbye.details.message.as_deref(), Some("bye"));
    // Everything but the GOODBYE reply is ignored, even messages a router never sends.
    for message in [
        CallResult::new(request).into(),
        Event::new(id(subscription), id(1)).into(),
        Event::new(id(12345), id(1)).into(),
        welcome(1),
        Message::Hello(Box::default()),
        error(RequestType::Call, id(999), "x.y"),
    ] {
        s.handle_message(now(), message).unwrap();
    }
    assert!(s.poll_event().is_none() && s.poll_transmit().is_none());
    assert_eq!(
        s.leave(uri::close::NORMAL, None),
        Err(UsageError::NotEstablished {
            action: "leave",
            state: SessionState::ShuttingDown
        })
    );
    s.handle_message(now(), Goodbye::new(uri::close::GOODBYE_AND_OUT).into())
        .unwrap();
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s),
        [SessionEvent::Left {
            reason: uri(uri::close::GOODBYE_AND_OUT),
            details: GoodbyeDetails::default(),
            router_initiated: false
        }]
    );
    // The router's GOODBYE was the reply: nothing to answer.
    assert!(s.poll_transmit().is_none());
}

#[test]
fn leave_needs_an_established_session_and_a_valid_reason() {
    let mut s = Session::new(config());
    assert_eq!(
        s.leave(uri::close::NORMAL, None),
        Err(UsageError::NotEstablished {
            action: "leave",
            state: SessionState::Closed
        })
    );
    let mut s = joined();
    let err = s.leave("not a uri", None).unwrap_err();
    assert!(matches!(err, UsageError::InvalidReason { ref reason, .. } if reason == "not a uri"));
    assert!(err.to_string().contains("wamp.close.normal"), "{err}");
    assert_eq!(s.state(), SessionState::Established);
    assert!(s.poll_transmit().is_none());
}

#[test]
fn abort_by_the_application() {
    let mut s = Session::new(config());
    assert_eq!(
        s.abort(uri::error::AUTHENTICATION_FAILED, None),
        Err(UsageError::AlreadyClosed)
    );
    s.join().unwrap();
    transmitted(&mut s);
    assert!(matches!(
        s.abort("bad reason", None),
        Err(UsageError::InvalidReason { .. })
    ));
    assert_eq!(s.state(), SessionState::Establishing);
    s.abort(uri::error::AUTHENTICATION_FAILED, Some("no key".into()))
        .unwrap();
    assert!(s.is_closed());
    let Message::Abort(abort) = only(transmitted(&mut s)) else {
        panic!("expected ABORT");
    };
    assert_eq!(abort.reason, uri::error::AUTHENTICATION_FAILED);
    assert_eq!(abort.details.message.as_deref(), Some("no key"));
    assert!(s.poll_event().is_none());

    let mut s = joined();
    s.abort(uri::close::SYSTEM_SHUTDOWN, None).unwrap();
    assert!(s.is_closed());
    assert_eq!(transmitted(&mut s).len(), 1);
}

#[test]
fn a_closed_session_can_join_again_and_request_ids_restart() {
    let mut s = joined();
    call(&mut s, false);
    call(&mut s, false);
    s.handle_message(now(), Goodbye::new(uri::close::CLOSE_REALM).into())
        .unwrap();
    transmitted(&mut s);
    events(&mut s);
    s.join().unwrap();
    s.handle_message(now(), welcome(78)).unwrap();
    assert_eq!(s.session_id(), Some(id(78)));
    assert_eq!(call(&mut s, false), id(1));
}

#[test]
fn transport_closed_ends_an_open_session() {
    let mut s = joined();
    call(&mut s, false);
    s.call(
        uri("com.example.proc"),
        CallOptions::default(),
        Payload::default(),
    )
    .unwrap();
    s.handle_transport_closed();
    assert!(s.is_closed());
    assert!(s.poll_transmit().is_none(), "unsent messages are dropped");
    let evs = events(&mut s);
    assert_eq!(evs, [SessionEvent::TransportClosed]);
    assert!(evs[0].is_terminal());
    // Closing again, or a closed session, reports nothing.
    s.handle_transport_closed();
    assert!(s.poll_event().is_none());

    let mut s = Session::new(config());
    s.join().unwrap();
    s.handle_transport_closed();
    assert_eq!(events(&mut s), [SessionEvent::TransportClosed]);
}

// ---- requests --------------------------------------------------------------------------

#[test]
fn request_ids_are_sequential_from_one_across_request_types() {
    let mut s = joined();
    let topic = uri("com.example.topic");
    let mut ids = vec![
        s.publish(topic.clone(), PublishOptions::default(), Payload::default())
            .unwrap(),
        s.subscribe(topic.clone(), SubscribeOptions::default())
            .unwrap(),
        s.call(
            uri("com.example.proc"),
            CallOptions::default(),
            Payload::default(),
        )
        .unwrap(),
        s.register(uri("com.example.proc"), RegisterOptions::default())
            .unwrap(),
    ];
    s.handle_message(
        now(),
        Subscribed {
            request: ids[1],
            subscription: id(500),
        }
        .into(),
    )
    .unwrap();
    s.handle_message(
        now(),
        Registered {
            request: ids[3],
            registration: id(600),
        }
        .into(),
    )
    .unwrap();
    ids.push(s.unsubscribe(id(500)).unwrap());
    ids.push(s.unregister(id(600)).unwrap());
    let acknowledged = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    ids.push(s.publish(topic, acknowledged, Payload::default()).unwrap());
    assert_eq!(ids, (1..=7).map(id).collect::<Vec<_>>());
    let sent: Vec<Option<RequestId>> = transmitted(&mut s)
        .iter()
        .map(Message::request_id)
        .collect();
    assert_eq!(sent, (1..=7).map(|n| Some(id(n))).collect::<Vec<_>>());
}

#[test]
fn usage_errors_change_nothing() {
    let mut s = Session::new(config());
    let p = uri("com.example.proc");
    assert_eq!(
        s.call(p.clone(), CallOptions::default(), Payload::default()),
        Err(UsageError::NotEstablished {
            action: "call",
            state: SessionState::Closed
        })
    );
    assert!(s
        .publish(p.clone(), PublishOptions::default(), Payload::default())
        .is_err());
    assert!(s.subscribe(p.clone(), SubscribeOptions::default()).is_err());
    assert!(s.register(p.clone(), RegisterOptions::default()).is_err());
    assert!(s.unsubscribe(id(1)).is_err());
    assert!(s.unregister(id(1)).is_err());
    assert!(s.cancel(id(1), None).is_err());
    assert!(s
        .yield_result(now(), id(1), YieldOptions::default(), Payload::default())
        .is_err());
    assert!(s
        .yield_error(
            id(1),
            p.clone(),
            ErrorDetails::default(),
            Payload::default()
        )
        .is_err());
    assert!(s.poll_transmit().is_none() && s.poll_event().is_none());
    assert_eq!(s.state(), SessionState::Closed);

    // Still nothing allowed while establishing.
    s.join().unwrap();
    transmitted(&mut s);
    assert_eq!(
        s.subscribe(p.clone(), SubscribeOptions::default()),
        Err(UsageError::NotEstablished {
            action: "subscribe",
            state: SessionState::Establishing
        })
    );
    s.handle_message(now(), welcome(1)).unwrap();
    // Failed attempts allocated no request ID.
    assert_eq!(
        s.call(p, CallOptions::default(), Payload::default()),
        Ok(id(1))
    );
}

#[test]
fn actions_need_their_announced_role() {
    let roles = ClientRoles {
        caller: Some(Role::default()),
        ..Default::default()
    };
    let mut s = joined_with(config().with_roles(roles));
    let p = uri("com.example.x");
    assert_eq!(
        s.publish(p.clone(), PublishOptions::default(), Payload::default()),
        Err(UsageError::RoleNotAnnounced {
            action: "publish",
            role: "publisher"
        })
    );
    assert_eq!(
        s.subscribe(p.clone(), SubscribeOptions::default()),
        Err(UsageError::RoleNotAnnounced {
            action: "subscribe",
            role: "subscriber"
        })
    );
    assert_eq!(
        s.register(p.clone(), RegisterOptions::default()),
        Err(UsageError::RoleNotAnnounced {
            action: "register",
            role: "callee"
        })
    );
    // The basic caller role announces neither canceling nor progressive results.
    let request = s
        .call(p.clone(), CallOptions::default(), Payload::default())
        .unwrap();
    assert_eq!(
        s.cancel(request, None),
        Err(UsageError::FeatureNotAnnounced {
            action: "cancel",
            role: "caller",
            feature: features::CALL_CANCELING
        })
    );
    let progressive = CallOptions {
        receive_progress: Some(true),
        ..Default::default()
    };
    assert!(matches!(
        s.call(p, progressive, Payload::default()),
        Err(UsageError::FeatureNotAnnounced {
            feature: features::PROGRESSIVE_CALL_RESULTS,
            ..
        })
    ));
    assert_eq!(transmitted(&mut s).len(), 1);
}

// ---- caller ----------------------------------------------------------------------------

#[test]
fn call_and_result() {
    let mut s = joined();
    let options = CallOptions {
        timeout: Some(1000),
        ..Default::default()
    };
    let payload = Payload::new(args![2, 3], kwargs! { "k" => "v" });
    let request = s
        .call(uri("com.example.add"), options.clone(), payload.clone())
        .unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Call(Call {
            request,
            options,
            procedure: uri("com.example.add"),
            payload
        })]
    );
    s.handle_message(now(), CallResult::new(request).with_args(args![5]).into())
        .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Result {
            request,
            details: ResultDetails::default(),
            payload: Payload::new(args![5], Dict::new())
        }]
    );
    // The call is over: a second RESULT is a violation.
    assert_eq!(
        violation(&mut s, CallResult::new(request).into()),
        ProtocolError::UnknownRequest {
            message: "RESULT",
            request
        }
    );
}

#[test]
fn call_error() {
    let mut s = joined();
    let request = call(&mut s, false);
    s.handle_message(
        now(),
        error(RequestType::Call, request, uri::error::NO_SUCH_PROCEDURE),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::CallError {
            request,
            error: uri(uri::error::NO_SUCH_PROCEDURE),
            details: ErrorDetails::default(),
            payload: Payload::new(args!["why"], Dict::new())
        }]
    );
    assert!(matches!(
        violation(&mut s, CallResult::new(request).into()),
        ProtocolError::UnknownRequest { .. }
    ));
}

#[test]
fn progressive_results_keep_the_call_outstanding() {
    let mut s = joined();
    let request = call(&mut s, true);
    s.handle_message(now(), progress_result(request)).unwrap();
    s.handle_message(now(), progress_result(request)).unwrap();
    s.handle_message(now(), CallResult::new(request).into())
        .unwrap();
    let evs = events(&mut s);
    assert_eq!(evs.len(), 3);
    let progress: Vec<Option<bool>> = evs
        .iter()
        .map(|e| match e {
            SessionEvent::Result { details, .. } => details.progress,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(progress, [Some(true), Some(true), None]);
    assert!(matches!(
        violation(&mut s, progress_result(request)),
        ProtocolError::UnknownRequest { .. }
    ));

    // An ERROR also ends a call after progressive results.
    let mut s = joined();
    let request = call(&mut s, true);
    s.handle_message(now(), progress_result(request)).unwrap();
    s.handle_message(
        now(),
        error(RequestType::Call, request, uri::error::CANCELED),
    )
    .unwrap();
    assert_eq!(events(&mut s).len(), 2);
    assert_eq!(
        s.cancel(request, None),
        Err(UsageError::UnknownCall { request })
    );
}

#[test]
fn progressive_results_must_be_requested() {
    let mut s = joined();
    let request = call(&mut s, false);
    assert_eq!(
        violation(&mut s, progress_result(request)),
        ProtocolError::UnrequestedProgress { request }
    );
}

fn chunk(n: i64) -> Payload {
    Payload::new(args![n], Dict::new())
}

fn progressive_options() -> CallOptions {
    CallOptions {
        progress: Some(true),
        ..Default::default()
    }
}

#[test]
fn progressive_call_invocation_chunks_share_the_request_id() {
    let mut s = joined_advanced();
    let options = CallOptions {
        progress: Some(true),
        receive_progress: Some(true),
        timeout: Some(5000),
        disclose_me: Some(true),
        ..Default::default()
    };
    let procedure = uri("com.example.upload");
    let request = s
        .call(procedure.clone(), options.clone(), chunk(1))
        .unwrap();
    s.continue_call(request, chunk(2)).unwrap();
    s.finish_call(request, chunk(3)).unwrap();
    let continuation = |more: bool| CallOptions {
        progress: more.then_some(true),
        ..Default::default()
    };
    assert_eq!(
        transmitted(&mut s),
        [
            // The first chunk carries every option; the others only `progress`.
            Message::Call(Call {
                request,
                options,
                procedure: procedure.clone(),
                payload: chunk(1)
            }),
            Message::Call(Call {
                request,
                options: continuation(true),
                procedure: procedure.clone(),
                payload: chunk(2)
            }),
            Message::Call(Call {
                request,
                options: continuation(false),
                procedure,
                payload: chunk(3)
            }),
        ]
    );
    // After the last chunk: no more chunks, but the call is outstanding.
    assert_eq!(
        s.continue_call(request, chunk(4)),
        Err(UsageError::CallInputFinished { request })
    );
    assert_eq!(
        s.finish_call(request, chunk(4)),
        Err(UsageError::CallInputFinished { request })
    );
    assert!(s.poll_transmit().is_none());
    s.handle_message(now(), progress_result(request)).unwrap();
    s.handle_message(now(), CallResult::new(request).into())
        .unwrap();
    assert_eq!(events(&mut s).len(), 2);
    // The chunks did not consume request IDs.
    let next = s
        .call(uri("com.example.p"), CallOptions::default(), chunk(0))
        .unwrap();
    assert_eq!(next.get(), request.get() + 1);
}

#[test]
fn progressive_call_invocations_need_the_feature_on_both_sides() {
    // The router did not announce it: using it would be a protocol violation.
    let mut s = joined();
    assert_eq!(
        s.call(uri("com.example.p"), progressive_options(), chunk(1)),
        Err(UsageError::RouterFeatureMissing {
            action: "call with CallOptions::progress",
            role: "dealer",
            feature: features::PROGRESSIVE_CALL_INVOCATIONS
        })
    );
    // Our caller role did not announce it.
    let mut roles = SessionConfig::default_roles();
    roles.caller = Some(Role::with_features([features::CALL_CANCELING]));
    let mut s = Session::new(config().with_roles(roles));
    s.join().unwrap();
    s.handle_message(
        now(),
        welcome_with_dealer(1, &[features::PROGRESSIVE_CALL_INVOCATIONS]),
    )
    .unwrap();
    transmitted(&mut s);
    assert!(matches!(
        s.call(uri("com.example.p"), progressive_options(), chunk(1)),
        Err(UsageError::FeatureNotAnnounced {
            role: "caller",
            feature: features::PROGRESSIVE_CALL_INVOCATIONS,
            ..
        })
    ));
    assert!(s.poll_transmit().is_none());
    // No request ID was used.
    let request = s
        .call(uri("com.example.p"), CallOptions::default(), chunk(1))
        .unwrap();
    assert_eq!(request.get(), 1);
}

#[test]
fn chunks_need_an_open_progressive_call() {
    let mut s = joined_advanced();
    // Never made.
    assert_eq!(
        s.continue_call(id(9), chunk(1)),
        Err(UsageError::CallNotOutstanding { request: id(9) })
    );
    // Not a progressive call.
    let plain = call(&mut s, false);
    assert_eq!(
        s.continue_call(plain, chunk(1)),
        Err(UsageError::CallInputFinished { request: plain })
    );
    // The callee answered before the last chunk.
    let early = s
        .call(uri("com.example.p"), progressive_options(), chunk(1))
        .unwrap();
    s.handle_message(now(), CallResult::new(early).into())
        .unwrap();
    assert_eq!(
        s.finish_call(early, chunk(2)),
        Err(UsageError::CallNotOutstanding { request: early })
    );
    // An ERROR ends it too.
    let failed = s
        .call(uri("com.example.p"), progressive_options(), chunk(1))
        .unwrap();
    s.handle_message(
        now(),
        error(RequestType::Call, failed, uri::error::CANCELED),
    )
    .unwrap();
    assert_eq!(
        s.continue_call(failed, chunk(2)),
        Err(UsageError::CallNotOutstanding { request: failed })
    );
    // Canceled.
    let canceled = s
        .call(uri("com.example.p"), progressive_options(), chunk(1))
        .unwrap();
    s.cancel(canceled, Some(CancelMode::Kill)).unwrap();
    transmitted(&mut s);
    assert_eq!(
        s.continue_call(canceled, chunk(2)),
        Err(UsageError::CallCanceled { request: canceled })
    );
    assert!(s.poll_transmit().is_none());
}

#[test]
fn a_partitioned_call_needs_an_rkey() {
    let mut s = joined();
    let partition = CallOptions {
        runmode: Some("partition".into()),
        ..Default::default()
    };
    assert_eq!(
        s.call(uri("com.example.p"), partition.clone(), chunk(1)),
        Err(UsageError::PartitionWithoutRkey)
    );
    assert!(s.poll_transmit().is_none());
    let keyed = CallOptions {
        rkey: Some("customer-7".into()),
        ..partition
    };
    let request = s
        .call(uri("com.example.p"), keyed.clone(), chunk(1))
        .unwrap();
    match only(transmitted(&mut s)) {
        Message::Call(c) => {
            assert_eq!(c.request, request);
            assert_eq!(c.options, keyed);
        }
        other => panic!("{other:?}"),
    }
}

fn passthru(bytes: &'static [u8]) -> Payload {
    Payload::new(
        vec![crate::Value::Bytes(bytes::Bytes::from_static(bytes))],
        Dict::new(),
    )
}

#[test]
fn payload_passthru_calls() {
    let options = CallOptions {
        ppt_scheme: Some("x_custom".into()),
        ppt_serializer: Some("cbor".into()),
        ppt_cipher: Some("xsalsa20poly1305".into()),
        ppt_keyid: Some("k1".into()),
        ..Default::default()
    };
    // The router did not announce it.
    let mut s = joined();
    assert!(matches!(
        s.call(uri("com.example.p"), options.clone(), passthru(b"\x01")),
        Err(UsageError::RouterFeatureMissing {
            feature: features::PAYLOAD_PASSTHRU_MODE,
            ..
        })
    ));
    let mut s = joined_advanced();
    // Anything but one binary argument is refused.
    for payload in [
        chunk(1),
        Payload::default(),
        Payload::new(passthru(b"\x01").args().to_vec(), kwargs! { "k" => 1 }),
    ] {
        assert_eq!(
            s.call(uri("com.example.p"), options.clone(), payload),
            Err(UsageError::PassthruPayloadShape {
                action: "call with ppt_scheme"
            })
        );
    }
    assert!(s.poll_transmit().is_none());
    // The options and the payload pass through untouched.
    let request = s
        .call(uri("com.example.p"), options.clone(), passthru(b"\x01\x02"))
        .unwrap();
    assert_eq!(
        only(transmitted(&mut s)),
        Message::Call(Call {
            request,
            options,
            procedure: uri("com.example.p"),
            payload: passthru(b"\x01\x02")
        })
    );
}

#[test]
fn payload_passthru_answers() {
    let mut s = joined_advanced();
    register(&mut s, 40);
    let mut inv = Invocation::new(id(1), id(40)).with_args(passthru(b"in").args().to_vec());
    inv.details.ppt_scheme = Some("x_custom".into());
    inv.details.ppt_serializer = Some("cbor".into());
    s.handle_message(now(), inv.clone().into()).unwrap();
    s.handle_message(now(), inv_with_id(&inv, 2)).unwrap();
    // The invocation's ppt details reach the application untouched.
    match &events(&mut s)[0] {
        SessionEvent::Invocation {
            details, payload, ..
        } => {
            assert_eq!(details, &inv.details);
            assert_eq!(payload, &inv.payload);
        }
        other => panic!("{other:?}"),
    }
    let options = YieldOptions {
        ppt_scheme: Some("x_custom".into()),
        ppt_serializer: Some("cbor".into()),
        ..Default::default()
    };
    assert_eq!(
        s.yield_result(now(), id(1), options.clone(), chunk(1)),
        Err(UsageError::PassthruPayloadShape {
            action: "yield a result with ppt_scheme"
        })
    );
    s.yield_result(now(), id(1), options.clone(), passthru(b"out"))
        .unwrap();
    let details = ErrorDetails {
        ppt_scheme: Some("x_custom".into()),
        ..Default::default()
    };
    s.yield_error(
        id(2),
        uri("com.example.error"),
        details.clone(),
        passthru(b"why"),
    )
    .unwrap();
    assert_eq!(
        transmitted(&mut s),
        [
            Message::Yield(message::Yield {
                request: id(1),
                options,
                payload: passthru(b"out")
            }),
            Message::Error(message::Error {
                request_type: RequestType::Invocation,
                request: id(2),
                details,
                error: uri("com.example.error"),
                payload: passthru(b"why")
            }),
        ]
    );
}

fn inv_with_id(inv: &Invocation, request: u64) -> Message {
    Invocation {
        request: id(request),
        ..inv.clone()
    }
    .into()
}

#[test]
fn cancel_an_outstanding_call() {
    let mut s = joined();
    let request = call(&mut s, false);
    s.cancel(request, Some(CancelMode::Kill)).unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Cancel(Cancel {
            request,
            options: CancelOptions {
                mode: Some(CancelMode::Kill),
                ..Default::default()
            }
        })]
    );
    assert_eq!(
        s.cancel(request, None),
        Err(UsageError::AlreadyCanceled { request })
    );
    // The call stays outstanding until the dealer answers.
    s.handle_message(
        now(),
        error(RequestType::Call, request, uri::error::CANCELED),
    )
    .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::CallError { error, .. }] if error == uri::error::CANCELED
    ));
    assert_eq!(
        s.cancel(request, None),
        Err(UsageError::UnknownCall { request })
    );
    assert_eq!(
        s.cancel(id(99), None),
        Err(UsageError::UnknownCall { request: id(99) })
    );
    // A subscribe request is not a call.
    let subscribe = s
        .subscribe(uri("com.example.t"), SubscribeOptions::default())
        .unwrap();
    assert_eq!(
        s.cancel(subscribe, None),
        Err(UsageError::UnknownCall { request: subscribe })
    );
    transmitted(&mut s);
    let request = call(&mut s, false);
    s.cancel(request, None).unwrap();
    let Message::Cancel(cancel) = only(transmitted(&mut s)) else {
        panic!("expected CANCEL");
    };
    assert!(cancel.options.is_empty());
}

// ---- publisher -------------------------------------------------------------------------

#[test]
fn acknowledged_publish() {
    let mut s = joined();
    let options = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    let request = s
        .publish(uri("com.example.t"), options.clone(), Payload::default())
        .unwrap();
    let Message::Publish(publish) = only(transmitted(&mut s)) else {
        panic!("expected PUBLISH");
    };
    assert_eq!(publish.options, options);
    s.handle_message(
        now(),
        Published {
            request,
            publication: id(31),
        }
        .into(),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Published {
            request,
            publication: id(31)
        }]
    );

    let request = s
        .publish(uri("com.example.t"), options, Payload::default())
        .unwrap();
    s.handle_message(
        now(),
        error(RequestType::Publish, request, uri::error::NOT_AUTHORIZED),
    )
    .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::PublishError { request: r, error, .. }]
            if *r == request && error == uri::error::NOT_AUTHORIZED
    ));
}

#[test]
fn an_unacknowledged_publish_gets_no_reply() {
    let mut s = joined();
    let request = s
        .publish(
            uri("com.example.t"),
            PublishOptions::default(),
            Payload::default(),
        )
        .unwrap();
    assert_eq!(
        violation(
            &mut s,
            Published {
                request,
                publication: id(31)
            }
            .into()
        ),
        ProtocolError::UnknownRequest {
            message: "PUBLISHED",
            request
        }
    );
    let mut s = joined();
    let request = s
        .publish(
            uri("com.example.t"),
            PublishOptions::default(),
            Payload::default(),
        )
        .unwrap();
    assert!(matches!(
        violation(&mut s, error(RequestType::Publish, request, "x.y")),
        ProtocolError::UnknownRequest {
            message: "ERROR",
            ..
        }
    ));
}

// ---- subscriber ------------------------------------------------------------------------

#[test]
fn subscribe_receive_events_and_unsubscribe() {
    let mut s = joined();
    let options = SubscribeOptions {
        match_policy: Some(crate::MatchPolicy::Prefix),
        ..Default::default()
    };
    let request = s.subscribe(uri("com.example"), options.clone()).unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Subscribe(Subscribe {
            request,
            options,
            topic: uri("com.example")
        })]
    );
    s.handle_message(
        now(),
        Subscribed {
            request,
            subscription: id(9),
        }
        .into(),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Subscribed {
            request,
            subscription: id(9)
        }]
    );
    let event = Event::new(id(9), id(1000)).with_args(args!["hi"]);
    s.handle_message(now(), event.clone().into()).unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Event {
            subscription: id(9),
            publication: id(1000),
            details: event.details.clone(),
            payload: event.payload.clone()
        }]
    );

    let unsubscribe = s.unsubscribe(id(9)).unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Unsubscribe(Unsubscribe {
            request: unsubscribe,
            subscription: id(9)
        })]
    );
    assert_eq!(
        s.unsubscribe(id(9)),
        Err(UsageError::AlreadyUnsubscribing {
            subscription: id(9),
            request: unsubscribe
        })
    );
    // Events published before the router processed UNSUBSCRIBE are delivered.
    s.handle_message(now(), event.clone().into()).unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Event { .. }]
    ));
    s.handle_message(
        now(),
        Unsubscribed {
            request: Some(unsubscribe),
            details: UnsubscribedDetails::default(),
        }
        .into(),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Unsubscribed {
            request: unsubscribe,
            subscription: id(9)
        }]
    );
    assert_eq!(
        s.unsubscribe(id(9)),
        Err(UsageError::UnknownSubscription {
            subscription: id(9)
        })
    );
    // After UNSUBSCRIBED, an event for it is a violation.
    assert_eq!(
        violation(&mut s, event.into()),
        ProtocolError::UnknownSubscription {
            subscription: id(9)
        }
    );
}

#[test]
fn subscribe_error() {
    let mut s = joined();
    let request = s
        .subscribe(uri("com.example.t"), SubscribeOptions::default())
        .unwrap();
    s.handle_message(
        now(),
        error(RequestType::Subscribe, request, uri::error::NOT_AUTHORIZED),
    )
    .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::SubscribeError { request: r, .. }] if *r == request
    ));
    assert!(matches!(
        violation(
            &mut s,
            Subscribed {
                request,
                subscription: id(1)
            }
            .into()
        ),
        ProtocolError::UnknownRequest { .. }
    ));
}

#[test]
fn an_event_for_an_unknown_subscription_is_a_violation() {
    let mut s = joined();
    // Not even while the SUBSCRIBE is outstanding: SUBSCRIBED comes first.
    s.subscribe(uri("com.example.t"), SubscribeOptions::default())
        .unwrap();
    assert_eq!(
        violation(&mut s, Event::new(id(4), id(5)).into()),
        ProtocolError::UnknownSubscription {
            subscription: id(4)
        }
    );
}

#[test]
fn unsubscribe_errors_keep_or_forget_the_subscription() {
    let mut s = joined();
    subscribe(&mut s, 9);
    let request = s.unsubscribe(id(9)).unwrap();
    s.handle_message(
        now(),
        error(
            RequestType::Unsubscribe,
            request,
            uri::error::NOT_AUTHORIZED,
        ),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::UnsubscribeError {
            request,
            subscription: id(9),
            error: uri(uri::error::NOT_AUTHORIZED),
            details: ErrorDetails::default(),
            payload: Payload::new(args!["why"], Dict::new())
        }]
    );
    // Still held: events arrive and we can try again.
    s.handle_message(now(), Event::new(id(9), id(1)).into())
        .unwrap();
    let request = s.unsubscribe(id(9)).unwrap();
    s.handle_message(
        now(),
        error(
            RequestType::Unsubscribe,
            request,
            uri::error::NO_SUCH_SUBSCRIPTION,
        ),
    )
    .unwrap();
    assert_eq!(
        s.unsubscribe(id(9)),
        Err(UsageError::UnknownSubscription {
            subscription: id(9)
        })
    );
}

#[test]
fn subscription_revocation() {
    let mut s = joined();
    subscribe(&mut s, 9);
    s.handle_message(now(), revoke_subscription(Some(9)))
        .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::SubscriptionRevoked {
            subscription: id(9),
            reason: Some("gone".into())
        }]
    );
    assert!(s.unsubscribe(id(9)).is_err());
    // A revocation for a subscription not held is dropped quietly.
    s.handle_message(now(), revoke_subscription(Some(9)))
        .unwrap();
    assert!(s.poll_event().is_none());
    assert!(matches!(
        violation(&mut s, Event::new(id(9), id(1)).into()),
        ProtocolError::UnknownSubscription { .. }
    ));

    // Revocation racing our UNSUBSCRIBE: both are reported.
    let mut s = joined();
    subscribe(&mut s, 9);
    let request = s.unsubscribe(id(9)).unwrap();
    s.handle_message(now(), revoke_subscription(Some(9)))
        .unwrap();
    s.handle_message(
        now(),
        error(
            RequestType::Unsubscribe,
            request,
            uri::error::NO_SUCH_SUBSCRIPTION,
        ),
    )
    .unwrap();
    let evs = events(&mut s);
    assert!(matches!(
        evs.as_slice(),
        [
            SessionEvent::SubscriptionRevoked { .. },
            SessionEvent::UnsubscribeError { .. }
        ]
    ));
}

#[test]
fn a_revocation_must_name_what_it_revokes() {
    let mut s = joined();
    assert_eq!(
        violation(&mut s, revoke_subscription(None)),
        ProtocolError::RevocationWithoutId {
            message: "UNSUBSCRIBED",
            key: "subscription"
        }
    );
    let mut s = joined();
    assert_eq!(
        violation(&mut s, revoke_registration(None)),
        ProtocolError::RevocationWithoutId {
            message: "UNREGISTERED",
            key: "registration"
        }
    );
}

#[test]
fn a_shared_subscription_id_is_held_once() {
    let mut s = joined();
    subscribe(&mut s, 9);
    subscribe(&mut s, 9);
    let request = s.unsubscribe(id(9)).unwrap();
    s.handle_message(
        now(),
        Unsubscribed {
            request: Some(request),
            details: UnsubscribedDetails::default(),
        }
        .into(),
    )
    .unwrap();
    assert!(s.unsubscribe(id(9)).is_err());
}

// ---- callee ----------------------------------------------------------------------------

#[test]
fn register_invocation_yield_and_unregister() {
    let mut s = joined();
    let options = RegisterOptions {
        invoke: Some(message::InvokePolicy::RoundRobin),
        ..Default::default()
    };
    let request = s
        .register(uri("com.example.proc"), options.clone())
        .unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Register(Register {
            request,
            options,
            procedure: uri("com.example.proc")
        })]
    );
    s.handle_message(
        now(),
        Registered {
            request,
            registration: id(40),
        }
        .into(),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Registered {
            request,
            registration: id(40)
        }]
    );

    s.handle_message(now(), invocation(1, 40, false)).unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Invocation {
            request: id(1),
            registration: id(40),
            details: InvocationDetails::default(),
            payload: Payload::new(args!["x"], Dict::new())
        }]
    );
    s.yield_result(
        now(),
        id(1),
        YieldOptions::default(),
        Payload::new(args![1], Dict::new()),
    )
    .unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Yield(message::Yield {
            request: id(1),
            options: YieldOptions::default(),
            payload: Payload::new(args![1], Dict::new())
        })]
    );
    // Answered once only.
    assert_eq!(
        s.yield_result(now(), id(1), YieldOptions::default(), Payload::default()),
        Err(UsageError::UnknownInvocation { request: id(1) })
    );
    assert_eq!(
        s.yield_error(
            id(1),
            uri("x.y"),
            ErrorDetails::default(),
            Payload::default()
        ),
        Err(UsageError::UnknownInvocation { request: id(1) })
    );

    let unregister = s.unregister(id(40)).unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Unregister(Unregister {
            request: unregister,
            registration: id(40)
        })]
    );
    assert_eq!(
        s.unregister(id(40)),
        Err(UsageError::AlreadyUnregistering {
            registration: id(40),
            request: unregister
        })
    );
    // Invocations racing the UNREGISTER are delivered and must be answered.
    s.handle_message(now(), invocation(2, 40, false)).unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Invocation { .. }]
    ));
    s.handle_message(
        now(),
        Unregistered {
            request: Some(unregister),
            details: UnregisteredDetails::default(),
        }
        .into(),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Unregistered {
            request: unregister,
            registration: id(40)
        }]
    );
    s.yield_error(
        id(2),
        uri(uri::error::CANCELED),
        ErrorDetails::default(),
        Payload::default(),
    )
    .unwrap();
    assert_eq!(
        transmitted(&mut s),
        [Message::Error(message::Error::new(
            RequestType::Invocation,
            id(2),
            uri::error::CANCELED
        ))]
    );
    assert_eq!(
        s.unregister(id(40)),
        Err(UsageError::UnknownRegistration {
            registration: id(40)
        })
    );
    assert_eq!(
        violation(&mut s, invocation(3, 40, false)),
        ProtocolError::UnknownRegistration {
            registration: id(40)
        }
    );
}

#[test]
fn register_and_unregister_errors() {
    let mut s = joined();
    let request = s
        .register(uri("com.example.proc"), RegisterOptions::default())
        .unwrap();
    s.handle_message(
        now(),
        error(
            RequestType::Register,
            request,
            uri::error::PROCEDURE_ALREADY_EXISTS,
        ),
    )
    .unwrap();
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::RegisterError { request: r, error, .. }]
            if *r == request && error == uri::error::PROCEDURE_ALREADY_EXISTS
    ));

    register(&mut s, 40);
    let request = s.unregister(id(40)).unwrap();
    s.handle_message(
        now(),
        error(RequestType::Unregister, request, uri::error::NOT_AUTHORIZED),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::UnregisterError {
            request,
            registration: id(40),
            error: uri(uri::error::NOT_AUTHORIZED),
            details: ErrorDetails::default(),
            payload: Payload::new(args!["why"], Dict::new())
        }]
    );
    // Still held.
    s.handle_message(now(), invocation(1, 40, false)).unwrap();
    let request = s.unregister(id(40)).unwrap();
    s.handle_message(
        now(),
        error(
            RequestType::Unregister,
            request,
            uri::error::NO_SUCH_REGISTRATION,
        ),
    )
    .unwrap();
    assert!(s.unregister(id(40)).is_err());
}

#[test]
fn registration_revocation() {
    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation(1, 40, false)).unwrap();
    events(&mut s);
    s.handle_message(now(), revoke_registration(Some(40)))
        .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::RegistrationRevoked {
            registration: id(40),
            reason: Some("gone".into())
        }]
    );
    assert!(s.unregister(id(40)).is_err());
    // An invocation received before the revocation can still be answered.
    s.yield_result(now(), id(1), YieldOptions::default(), Payload::default())
        .unwrap();
    s.handle_message(now(), revoke_registration(Some(40)))
        .unwrap();
    assert!(s.poll_event().is_none());
    assert!(matches!(
        violation(&mut s, invocation(2, 40, false)),
        ProtocolError::UnknownRegistration { .. }
    ));
}

#[test]
fn progressive_yields_need_receive_progress() {
    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation(1, 40, true)).unwrap();
    s.handle_message(now(), invocation(2, 40, false)).unwrap();
    events(&mut s);
    let progress = YieldOptions {
        progress: Some(true),
        ..Default::default()
    };
    s.yield_result(now(), id(1), progress.clone(), Payload::default())
        .unwrap();
    s.yield_result(now(), id(1), progress.clone(), Payload::default())
        .unwrap();
    s.yield_result(now(), id(1), YieldOptions::default(), Payload::default())
        .unwrap();
    assert_eq!(transmitted(&mut s).len(), 3);
    assert!(s
        .yield_result(now(), id(1), YieldOptions::default(), Payload::default())
        .is_err());
    assert_eq!(
        s.yield_result(now(), id(2), progress, Payload::default()),
        Err(UsageError::ProgressNotRequested { request: id(2) })
    );
    assert!(s.poll_transmit().is_none());
    // Still open.
    s.yield_result(now(), id(2), YieldOptions::default(), Payload::default())
        .unwrap();
}

#[test]
fn yield_for_an_unknown_invocation_is_a_usage_error() {
    let mut s = joined();
    assert_eq!(
        s.yield_result(now(), id(5), YieldOptions::default(), Payload::default()),
        Err(UsageError::UnknownInvocation { request: id(5) })
    );
    assert!(s.poll_transmit().is_none());
}

#[test]
fn invocation_ids_must_not_repeat_while_open() {
    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation(1, 40, false)).unwrap();
    assert_eq!(
        violation(&mut s, invocation(1, 40, false)),
        ProtocolError::DuplicateInvocation { request: id(1) }
    );
}

/// An INVOCATION chunk: `more` sets `details.progress`.
fn invocation_chunk(request: u64, registration: u64, n: i64, more: bool) -> Message {
    let mut inv = Invocation::new(id(request), id(registration)).with_args(args![n]);
    inv.details.progress = more.then_some(true);
    inv.into()
}

#[test]
fn progressive_invocations_need_the_callee_feature() {
    let mut roles = SessionConfig::default_roles();
    roles.callee = Some(Role::with_features([features::CALL_CANCELING]));
    let mut s = joined_with(config().with_roles(roles));
    register(&mut s, 40);
    assert_eq!(
        violation(&mut s, invocation_chunk(1, 40, 1, true)),
        ProtocolError::ProgressiveInvocation { request: id(1) }
    );
}

#[test]
fn progressive_invocation_continuations() {
    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation_chunk(1, 40, 1, true))
        .unwrap();
    s.handle_message(now(), invocation(2, 40, false)).unwrap();
    s.handle_message(now(), invocation_chunk(1, 40, 2, true))
        .unwrap();
    s.handle_message(now(), invocation_chunk(1, 40, 3, false))
        .unwrap();
    let evs = events(&mut s);
    assert_eq!(evs.len(), 4, "{evs:?}");
    assert!(matches!(
        &evs[0],
        SessionEvent::Invocation { request, details, payload, .. }
            if *request == id(1) && details.progress == Some(true) && payload.args() == args![1]
    ));
    assert!(matches!(&evs[1], SessionEvent::Invocation { request, .. } if *request == id(2)));
    let chunks: Vec<(Option<bool>, Vec<crate::Value>)> = evs[2..]
        .iter()
        .map(|e| match e {
            SessionEvent::InvocationChunk {
                request,
                registration,
                details,
                payload,
            } => {
                assert_eq!((*request, *registration), (id(1), id(40)));
                (details.progress, payload.args().to_vec())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(chunks, [(Some(true), args![2]), (None, args![3])]);
    // Its input is complete: another INVOCATION with that ID while it is open is a
    // violation again.
    assert_eq!(
        violation(&mut s, invocation_chunk(1, 40, 4, false)),
        ProtocolError::DuplicateInvocation { request: id(1) }
    );
}

#[test]
fn late_continuations_are_discarded() {
    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation_chunk(1, 40, 1, true))
        .unwrap();
    events(&mut s);
    // Answered before the last chunk.
    s.yield_result(now(), id(1), YieldOptions::default(), chunk(0))
        .unwrap();
    transmitted(&mut s);
    s.handle_message(now(), invocation_chunk(1, 40, 2, true))
        .unwrap();
    s.handle_message(now(), invocation_chunk(1, 40, 3, false))
        .unwrap();
    assert!(events(&mut s).is_empty());
    assert!(s.poll_transmit().is_none());
    assert_eq!(s.state(), SessionState::Established);
    // The same after an error answer, even once the registration is gone.
    s.handle_message(now(), invocation_chunk(2, 40, 1, true))
        .unwrap();
    events(&mut s);
    s.yield_error(
        id(2),
        uri(uri::error::CANCELED),
        ErrorDetails::default(),
        Payload::default(),
    )
    .unwrap();
    s.handle_message(now(), revoke_registration(Some(40)))
        .unwrap();
    events(&mut s);
    s.handle_message(now(), invocation_chunk(2, 40, 2, false))
        .unwrap();
    assert!(events(&mut s).is_empty());
    assert_eq!(s.state(), SessionState::Established);
}

#[test]
fn a_continuation_must_name_the_registration_of_its_first_chunk() {
    let mut s = joined();
    register(&mut s, 40);
    register(&mut s, 41);
    s.handle_message(now(), invocation_chunk(1, 40, 1, true))
        .unwrap();
    assert_eq!(
        violation(&mut s, invocation_chunk(1, 41, 2, false)),
        ProtocolError::ContinuationRegistrationMismatch {
            request: id(1),
            registration: id(41),
            expected: id(40)
        }
    );
}

#[test]
fn interrupts() {
    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation(1, 40, false)).unwrap();
    events(&mut s);
    let options = InterruptOptions {
        mode: Some(CancelMode::KillNoWait),
        ..Default::default()
    };
    s.handle_message(
        now(),
        Interrupt {
            request: id(1),
            options: options.clone(),
        }
        .into(),
    )
    .unwrap();
    assert_eq!(
        events(&mut s),
        [SessionEvent::Interrupt {
            request: id(1),
            options: options.clone()
        }]
    );
    // The invocation stays open until answered.
    s.yield_error(
        id(1),
        uri(uri::error::CANCELED),
        ErrorDetails::default(),
        Payload::default(),
    )
    .unwrap();
    // An INTERRUPT crossing our answer, or for an invocation never seen, is dropped.
    for request in [1, 77] {
        s.handle_message(
            now(),
            Interrupt {
                request: id(request),
                options: options.clone(),
            }
            .into(),
        )
        .unwrap();
    }
    assert!(s.poll_event().is_none());
    assert_eq!(s.state(), SessionState::Established);
}

// ---- protocol violations ---------------------------------------------------------------

fn client_only_messages() -> Vec<Message> {
    let p = uri("com.example.p");
    vec![
        Message::Hello(Box::default()),
        Authenticate::default().into(),
        Publish::new(id(1), p.clone()).into(),
        Subscribe::new(id(1), p.clone()).into(),
        Unsubscribe {
            request: id(1),
            subscription: id(1),
        }
        .into(),
        Call::new(id(1), p.clone()).into(),
        Cancel {
            request: id(1),
            options: CancelOptions::default(),
        }
        .into(),
        Register::new(id(1), p).into(),
        Unregister {
            request: id(1),
            registration: id(1),
        }
        .into(),
        message::Yield::new(id(1)).into(),
        EventReceived { publication: id(1) }.into(),
    ]
}

#[test]
fn client_only_messages_are_violations_in_every_open_state() {
    for message in client_only_messages() {
        let name = message.name();
        let mut s = Session::new(config());
        s.join().unwrap();
        transmitted(&mut s);
        assert_eq!(
            violation(&mut s, message.clone()),
            ProtocolError::ClientOnlyMessage { message: name }
        );
        let mut s = joined();
        assert_eq!(
            violation(&mut s, message),
            ProtocolError::ClientOnlyMessage { message: name }
        );
    }
}

#[test]
fn session_messages_before_welcome_are_violations() {
    let r = id(1);
    let before_welcome: Vec<Message> = vec![
        Goodbye::new(uri::close::NORMAL).into(),
        error(RequestType::Call, r, "x.y"),
        Published {
            request: r,
            publication: id(r.get()),
        }
        .into(),
        Subscribed {
            request: r,
            subscription: id(r.get()),
        }
        .into(),
        Unsubscribed {
            request: Some(r),
            details: UnsubscribedDetails::default(),
        }
        .into(),
        Event::new(id(r.get()), id(r.get())).into(),
        CallResult::new(r).into(),
        Registered {
            request: r,
            registration: id(r.get()),
        }
        .into(),
        Unregistered {
            request: Some(r),
            details: UnregisteredDetails::default(),
        }
        .into(),
        Invocation::new(r, id(r.get())).into(),
        Interrupt {
            request: r,
            options: InterruptOptions::default(),
        }
        .into(),
    ];
    for message in before_welcome {
        let name = message.name();
        let mut s = Session::new(config());
        s.join().unwrap();
        transmitted(&mut s);
        assert_eq!(
            violation(&mut s, message),
            ProtocolError::UnexpectedMessage {
                message: name,
                state: SessionState::Establishing
            }
        );
    }
}

#[test]
fn welcome_or_challenge_after_welcome_are_violations() {
    let challenge: Message = Challenge {
        auth_method: "ticket".into(),
        extra: ChallengeExtra::default(),
    }
    .into();
    for message in [welcome(78), challenge] {
        let name = message.name();
        let mut s = joined_with(config().with_authmethods(["ticket"]));
        assert_eq!(
            violation(&mut s, message),
            ProtocolError::UnexpectedMessage {
                message: name,
                state: SessionState::Established
            }
        );
    }
}

#[test]
fn replies_must_match_the_kind_of_request() {
    // (reply, kind of the outstanding request it wrongly answers)
    type Reply = fn(RequestId) -> Message;
    let mismatches: Vec<(Reply, &str)> = vec![
        (
            |r| {
                Subscribed {
                    request: r,
                    subscription: id(r.get()),
                }
                .into()
            },
            "SUBSCRIBED",
        ),
        (
            |r| {
                Published {
                    request: r,
                    publication: id(r.get()),
                }
                .into()
            },
            "PUBLISHED",
        ),
        (
            |r| {
                Registered {
                    request: r,
                    registration: id(r.get()),
                }
                .into()
            },
            "REGISTERED",
        ),
        (
            |r| {
                Unsubscribed {
                    request: Some(r),
                    details: UnsubscribedDetails::default(),
                }
                .into()
            },
            "UNSUBSCRIBED",
        ),
        (
            |r| {
                Unregistered {
                    request: Some(r),
                    details: UnregisteredDetails::default(),
                }
                .into()
            },
            "UNREGISTERED",
        ),
    ];
    for (reply, name) in mismatches {
        let mut s = joined();
        let request = call(&mut s, false);
        assert_eq!(
            violation(&mut s, reply(request)),
            ProtocolError::MismatchedReply {
                message: name,
                request,
                outstanding: "CALL"
            }
        );
        // And for a request that does not exist.
        let mut s = joined();
        assert_eq!(
            violation(&mut s, reply(id(5))),
            ProtocolError::UnknownRequest {
                message: name,
                request: id(5)
            }
        );
    }
    let mut s = joined();
    let request = s
        .subscribe(uri("com.example.t"), SubscribeOptions::default())
        .unwrap();
    assert_eq!(
        violation(&mut s, CallResult::new(request).into()),
        ProtocolError::MismatchedReply {
            message: "RESULT",
            request,
            outstanding: "SUBSCRIBE"
        }
    );
}

#[test]
fn errors_must_match_the_kind_of_request() {
    let mut s = joined();
    let request = call(&mut s, false);
    let err = violation(&mut s, error(RequestType::Subscribe, request, "x.y"));
    assert_eq!(
        err,
        ProtocolError::MismatchedError {
            request_type: "SUBSCRIBE",
            request,
            outstanding: "CALL"
        }
    );
    assert_eq!(
        err.to_string(),
        "the router sent ERROR with REQUEST.Type SUBSCRIBE for request 1, which is a CALL"
    );

    let mut s = joined();
    assert_eq!(
        violation(&mut s, error(RequestType::Register, id(3), "x.y")),
        ProtocolError::UnknownRequest {
            message: "ERROR",
            request: id(3)
        }
    );

    let mut s = joined();
    register(&mut s, 40);
    s.handle_message(now(), invocation(1, 40, false)).unwrap();
    assert_eq!(
        violation(&mut s, error(RequestType::Invocation, id(1), "x.y")),
        ProtocolError::ErrorForInvocation { request: id(1) }
    );
}

#[test]
fn after_a_violation_everything_is_forgotten_and_ignored() {
    let mut s = joined();
    let request = call(&mut s, false);
    subscribe(&mut s, 9);
    register(&mut s, 40);
    violation(&mut s, welcome(1));
    for message in [
        CallResult::new(request).into(),
        Event::new(id(9), id(1)).into(),
        invocation(1, 40, false),
        welcome(2),
    ] {
        assert_eq!(s.handle_message(now(), message), Ok(()));
    }
    assert!(s.poll_event().is_none() && s.poll_transmit().is_none());
    assert!(matches!(
        s.call(uri("a.b"), CallOptions::default(), Payload::default()),
        Err(UsageError::NotEstablished { .. })
    ));
}

#[test]
fn decode_errors_are_violations() {
    let decode_error = DecodeError::Message(MessageError::UnknownType(99));
    let mut s = joined();
    s.handle_decode_error(&decode_error);
    let error = ProtocolError::Undecodable(decode_error.clone());
    assert_violation_reported(&mut s, &error);
    assert_eq!(
        error.to_string(),
        "the router sent a message that could not be decoded: unknown message type 99"
    );
    // Also while shutting down; not once closed.
    let mut s = joined();
    s.leave(uri::close::NORMAL, None).unwrap();
    transmitted(&mut s);
    s.handle_decode_error(&decode_error);
    assert_violation_reported(&mut s, &error);
    s.handle_decode_error(&decode_error);
    assert!(s.poll_event().is_none() && s.poll_transmit().is_none());
}

#[test]
fn terminal_events() {
    assert!(SessionEvent::TransportClosed.is_terminal());
    assert!(!SessionEvent::Published {
        request: id(1),
        publication: id(1)
    }
    .is_terminal());
}

#[test]
fn error_messages_are_actionable() {
    let e = UsageError::NotEstablished {
        action: "call",
        state: SessionState::Closed,
    };
    assert_eq!(
        e.to_string(),
        "cannot call: the session is closed, not established; join() and wait for SessionEvent::Joined"
    );
    let e = ProtocolError::UnexpectedMessage {
        message: "RESULT",
        state: SessionState::Establishing,
    };
    assert_eq!(
        e.to_string(),
        "the router sent RESULT while the session was establishing"
    );
}

/// Feeds long pseudo-random sequences of router messages (with IDs from a small range, so
/// that some match) interleaved with application actions: the session must never panic,
/// and every violation must leave it closed.
#[test]
fn nothing_the_router_sends_panics_the_session() {
    let mut rng = IdGenerator::from_seed(2024);
    let mut pick = move |n: u64| rng.next_u64() % n;
    let mut established_inputs = 0;
    for round in 0..200 {
        let mut s = Session::new(config().with_authmethods(["ticket"]));
        s.join().unwrap();
        if round % 2 == 0 {
            s.handle_message(now(), welcome(1)).unwrap();
        }
        for _ in 0..200 {
            if s.is_closed() && pick(2) == 0 {
                s.join().unwrap();
                if pick(4) != 0 {
                    s.handle_message(now(), welcome(1)).unwrap();
                }
            }
            let small: RequestId = id(1 + pick(4));
            let other = 1 + pick(4);
            let message: Message = match pick(22) {
                0 => welcome(small.get()),
                1 => Challenge {
                    auth_method: if pick(2) == 0 { "ticket" } else { "x" }.into(),
                    extra: ChallengeExtra::default(),
                }
                .into(),
                2 => Abort::new(uri::error::NOT_AUTHORIZED, "no").into(),
                3 => Goodbye::new(uri::close::NORMAL).into(),
                4 => error(
                    [
                        RequestType::Publish,
                        RequestType::Subscribe,
                        RequestType::Unsubscribe,
                        RequestType::Call,
                        RequestType::Register,
                        RequestType::Unregister,
                        RequestType::Invocation,
                    ][pick(7) as usize],
                    small,
                    "x.y",
                ),
                5 => Published {
                    request: small,
                    publication: id(other),
                }
                .into(),
                6 => Subscribed {
                    request: small,
                    subscription: id(other),
                }
                .into(),
                7 => Unsubscribed {
                    request: (pick(2) == 0).then_some(small),
                    details: UnsubscribedDetails {
                        subscription: (pick(2) == 0).then_some(id(other)),
                        ..Default::default()
                    },
                }
                .into(),
                8 => Event::new(id(small.get()), id(other)).into(),
                9 => {
                    let mut r = CallResult::new(small);
                    r.details.progress = (pick(2) == 0).then_some(true);
                    r.into()
                }
                10 => Registered {
                    request: small,
                    registration: id(other),
                }
                .into(),
                11 => Unregistered {
                    request: (pick(2) == 0).then_some(small),
                    details: UnregisteredDetails {
                        registration: (pick(2) == 0).then_some(id(other)),
                        ..Default::default()
                    },
                }
                .into(),
                12 => invocation(small.get(), other, pick(2) == 0),
                13 => Interrupt {
                    request: small,
                    options: InterruptOptions::default(),
                }
                .into(),
                14 => client_only_messages()[pick(11) as usize].clone(),
                // Application actions, whose errors are fine.
                15 => {
                    let _ = s.call(uri("a.b"), CallOptions::default(), Payload::default());
                    continue;
                }
                16 => {
                    let _ = s.subscribe(uri("a.b"), SubscribeOptions::default());
                    let _ = s.unsubscribe(id(other));
                    continue;
                }
                17 => {
                    let _ = s.register(uri("a.b"), RegisterOptions::default());
                    let _ = s.unregister(id(other));
                    continue;
                }
                18 => {
                    let _ =
                        s.yield_result(now(), small, YieldOptions::default(), Payload::default());
                    let _ = s.cancel(small, None);
                    continue;
                }
                19 => {
                    let _ = s.authenticate("t".into(), AuthenticateExtra::default());
                    continue;
                }
                20 => {
                    if s.is_closed() {
                        let _ = s.join();
                    } else if pick(4) == 0 {
                        let _ = s.leave(uri::close::NORMAL, None);
                    }
                    continue;
                }
                _ => {
                    s.handle_transport_closed();
                    continue;
                }
            };
            if s.state() == SessionState::Established {
                established_inputs += 1;
            }
            if s.handle_message(now(), message).is_err() {
                assert!(s.is_closed());
            }
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
        }
    }
    // The sequences reach deep into established sessions, not only their opening.
    assert!(established_inputs > 2000, "{established_inputs}");
}
