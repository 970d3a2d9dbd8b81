//! Scenarios of the basic profile: session lifecycle, protocol violations, IDs, broker,
//! dealer and ordering. Section numbers refer to the WAMP basic profile
//! (draft-oberstet-hybi-crossbar-wamp).

use std::collections::HashSet;

use nexus_tokio::nexus_core::message::*;
use nexus_tokio::nexus_core::{
    args, kwargs, Id, PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, Uri,
    Value,
};

use super::peer::{describe, Peer, Target};
use super::{check, Failure, Scenario};
use crate::expect_msg;

/// Declares a scenario without a feature requirement.
macro_rules! s {
    ($group:literal, $name:ident, $rule:literal) => {
        Scenario {
            group: $group,
            name: stringify!($name),
            rule: $rule,
            requires: None,
            needs: None,
            run: |t| Box::pin($name(t)),
        }
    };
}

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        s!("session", hello_gets_welcome, "Sessions: the router answers HELLO with WELCOME, whose Session ID is in [1, 2^53] and whose roles name broker and/or dealer"),
        s!("session", unknown_realm, "Sessions: a HELLO for a realm that does not exist gets ABORT wamp.error.no_such_realm (or, by router policy, a WELCOME)"),
        s!("session", goodbye_is_echoed, "Session closing: GOODBYE must be answered with GOODBYE (conventionally wamp.close.goodbye_and_out; any reason passes)"),
        s!("session", abort_is_not_answered, "Session closing: ABORT is never answered"),
        s!("session", roles_are_required, "Sessions: HELLO.Details.roles must announce at least one role"),
        s!("violations", message_before_hello, "Protocol errors: any message but HELLO before the session is established gets ABORT wamp.error.protocol_violation"),
        s!("violations", second_hello, "Protocol errors: HELLO after the session is established"),
        s!("violations", authenticate_after_welcome, "Protocol errors: AUTHENTICATE after the session is established"),
        s!("violations", welcome_from_client, "Protocol errors: WELCOME received by the router"),
        s!("violations", challenge_from_client, "Protocol errors: CHALLENGE received by the router"),
        s!("violations", published_from_client, "Protocol errors: PUBLISHED received by the router"),
        s!("violations", subscribed_from_client, "Protocol errors: SUBSCRIBED received by the router"),
        s!("violations", event_from_client, "Protocol errors: EVENT received by the router"),
        s!("violations", result_from_client, "Protocol errors: RESULT received by the router"),
        s!("violations", registered_from_client, "Protocol errors: REGISTERED received by the router"),
        s!("violations", invocation_from_client, "Protocol errors: INVOCATION received by the router"),
        s!("violations", error_with_invalid_request_type, "Protocol errors: ERROR whose REQUEST.Type is not one a client may answer"),
        s!("violations", yield_for_unknown_invocation, "Protocol errors: YIELD for an INVOCATION.Request the router never sent"),
        s!("violations", non_sequential_request_id, "IDs / protocol errors: new request IDs must be the previous one plus 1; a jump is a protocol violation"),
        s!("violations", request_id_not_starting_at_one, "IDs: request IDs start at 1"),
        s!("violations", empty_message, "Protocol errors: an empty list is structurally invalid"),
        s!("violations", unknown_message_type, "Protocol errors: an unknown message type code"),
        s!("violations", wrong_element_type, "Protocol errors: an element of the wrong type (CALL with a string Request)"),
        s!("violations", wrong_element_count, "Protocol errors: a message with too few elements"),
        s!("violations", not_a_list, "Protocol errors: a message that is not a list"),
        s!("violations", undecodable_bytes, "Protocol errors: bytes the serializer cannot decode"),
        s!("ids", session_ids_are_random_and_in_range, "IDs: session IDs are drawn randomly from [1, 2^53] (global scope)"),
        s!("ids", publication_ids_are_random_and_in_range, "IDs: publication IDs are drawn randomly from [1, 2^53] (global scope)"),
        s!("ids", invocation_ids_are_sequential, "IDs: the router's request IDs to a callee (INVOCATION) start at 1 and increase by 1"),
        s!("broker", subscribe_and_receive, "Publish & subscribe: SUBSCRIBE gets SUBSCRIBED; a PUBLISH reaches subscribers as EVENT with the same payload"),
        s!("broker", subscription_is_shared, "Publish & subscribe: subscribers of one topic share one subscription ID; re-subscribing returns the existing ID"),
        s!("broker", publisher_is_excluded, "Publish & subscribe: the publisher does not receive its own event by default"),
        s!("broker", acknowledged_publication, "Publish & subscribe: with acknowledge: true the broker answers PUBLISHED with the publication ID of the EVENTs"),
        s!("broker", unacknowledged_publication, "Publish & subscribe: without acknowledge the broker answers nothing"),
        s!("broker", unsubscribe, "Publish & subscribe: UNSUBSCRIBE gets UNSUBSCRIBED and ends the events"),
        s!("broker", unsubscribe_unknown, "Publish & subscribe: UNSUBSCRIBE of a subscription not held gets ERROR wamp.error.no_such_subscription"),
        s!("broker", subscribe_invalid_uri, "URIs: SUBSCRIBE with an invalid topic gets ERROR wamp.error.invalid_uri"),
        s!("broker", publish_invalid_uri, "URIs: an acknowledged PUBLISH with an invalid topic gets ERROR wamp.error.invalid_uri"),
        s!("dealer", call_and_result, "Remote procedure calls: CALL is routed as INVOCATION; YIELD comes back as RESULT with the same payload"),
        s!("dealer", callee_error_is_relayed, "Remote procedure calls: a callee's ERROR reaches the caller with its URI, args and kwargs"),
        s!("dealer", no_such_procedure, "Remote procedure calls: a CALL of an unregistered procedure gets ERROR wamp.error.no_such_procedure"),
        s!("dealer", procedure_already_exists, "Remote procedure calls: REGISTER of a registered procedure gets ERROR wamp.error.procedure_already_exists"),
        s!("dealer", unregister, "Remote procedure calls: UNREGISTER gets UNREGISTERED and the procedure is gone"),
        s!("dealer", unregister_unknown, "Remote procedure calls: UNREGISTER of a registration not held gets ERROR wamp.error.no_such_registration"),
        s!("dealer", callee_leaving_cancels, "Callee leaving: a caller whose callee leaves mid-call gets ERROR wamp.error.canceled"),
        s!("dealer", register_invalid_uri, "URIs: REGISTER with an invalid procedure gets ERROR wamp.error.invalid_uri"),
        s!("ordering", events_in_publication_order, "Ordering guarantees: one publisher's events reach a subscriber in publication order, across topics"),
        s!("ordering", invocations_in_call_order, "Ordering guarantees: one caller's invocations reach a callee in call order"),
    ]
}

fn uri(s: &str) -> Uri {
    Uri::new_unchecked(s)
}

/// A topic or procedure name unique to this peer (so scenarios never collide).
fn unique(peer: &Peer, what: &str) -> String {
    format!(
        "com.conformance.{what}.s{}",
        peer.session.map_or(0, SessionId::get)
    )
}

// ---- session -------------------------------------------------------------------------------

async fn hello_gets_welcome(t: Target) -> Result<(), Failure> {
    let peer = Peer::join(&t).await?;
    let session = peer.session.unwrap_or(SessionId::MIN);
    check(
        session.get() <= Id::MAX.get(),
        "a session ID in [1, 2^53]",
        session.to_string(),
    )?;
    let roles = peer
        .welcome
        .as_ref()
        .and_then(|w| w.roles.clone())
        .unwrap_or_default();
    check(
        roles.broker.is_some() || roles.dealer.is_some(),
        "WELCOME.Details.roles with broker and/or dealer",
        "neither",
    )
}

async fn unknown_realm(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::connect(&t).await?;
    peer.send(Hello::new(
        uri("com.conformance.no.such.realm.x7q"),
        super::peer::all_roles(),
    ))
    .await?;
    match peer.recv().await? {
        Message::Abort(a) if a.reason == "wamp.error.no_such_realm" => Ok(()),
        Message::Welcome(_) => Ok(()),
        other => Err(Failure::new(
            "ABORT wamp.error.no_such_realm",
            describe(&other),
        )),
    }
}

async fn goodbye_is_echoed(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    peer.send(Goodbye::new("wamp.close.normal")).await?;
    // The reply is required; its reason wamp.close.goodbye_and_out is only the convention
    // (Autobahn and Crossbar answer wamp.close.normal), so any valid URI passes.
    let g = expect_msg!(peer, "GOODBYE", Message::Goodbye(g) => g);
    check(
        !g.reason.as_str().is_empty(),
        "a GOODBYE reason",
        "an empty one",
    )
}

async fn abort_is_not_answered(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    peer.send(Abort::new("wamp.close.normal", "leaving"))
        .await?;
    match peer.expect_nothing().await {
        Ok(()) => Ok(()),
        // Closing (or resetting) the connection is a fine answer to ABORT.
        Err(f) if f.got.contains("closed") || f.got.contains("transport error") => Ok(()),
        Err(f) => Err(f),
    }
}

async fn roles_are_required(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::connect(&t).await?;
    peer.send(Hello::new(
        Uri::new_unchecked(t.realm.clone()),
        ClientRoles::default(),
    ))
    .await?;
    match peer.recv().await? {
        Message::Abort(_) => Ok(()),
        other => Err(Failure::new("ABORT", describe(&other))),
    }
}

// ---- violations ----------------------------------------------------------------------------

async fn before_hello(t: Target, m: Message) -> Result<(), Failure> {
    let mut peer = Peer::connect(&t).await?;
    peer.send(m).await?;
    peer.expect_violation().await
}

async fn after_welcome(t: Target, m: impl Into<Message>) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    peer.send(m).await?;
    peer.expect_violation().await
}

async fn after_welcome_raw(t: Target, v: Value) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    peer.send_value(v).await?;
    peer.expect_violation().await
}

async fn message_before_hello(t: Target) -> Result<(), Failure> {
    before_hello(
        t,
        Subscribe::new(RequestId::MIN, uri("com.conformance.t")).into(),
    )
    .await
}

async fn second_hello(t: Target) -> Result<(), Failure> {
    let realm = Uri::new_unchecked(t.realm.clone());
    after_welcome(t, Hello::new(realm, super::peer::all_roles())).await
}

async fn authenticate_after_welcome(t: Target) -> Result<(), Failure> {
    after_welcome(t, Authenticate::default()).await
}

async fn welcome_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(t, Welcome::new(SessionId::MIN, RouterRoles::default())).await
}

async fn challenge_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(
        t,
        Challenge {
            auth_method: "ticket".into(),
            extra: Default::default(),
        },
    )
    .await
}

async fn published_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(
        t,
        Message::Published(Published {
            request: RequestId::MIN,
            publication: PublicationId::MIN,
        }),
    )
    .await
}

async fn subscribed_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(
        t,
        Message::Subscribed(Subscribed {
            request: RequestId::MIN,
            subscription: SubscriptionId::MIN,
        }),
    )
    .await
}

async fn event_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(t, Event::new(SubscriptionId::MIN, PublicationId::MIN)).await
}

async fn result_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(t, CallResult::new(RequestId::MIN)).await
}

async fn registered_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(
        t,
        Message::Registered(Registered {
            request: RequestId::MIN,
            registration: RegistrationId::MIN,
        }),
    )
    .await
}

async fn invocation_from_client(t: Target) -> Result<(), Failure> {
    after_welcome(t, Invocation::new(RequestId::MIN, RegistrationId::MIN)).await
}

async fn error_with_invalid_request_type(t: Target) -> Result<(), Failure> {
    // ERROR for a SUBSCRIBE: only routers answer SUBSCRIBE.
    after_welcome(
        t,
        Error::new(
            RequestType::Subscribe,
            RequestId::MIN,
            "com.conformance.error",
        ),
    )
    .await
}

async fn yield_for_unknown_invocation(t: Target) -> Result<(), Failure> {
    after_welcome(
        t,
        Yield::new(RequestId::new(4242).unwrap_or(RequestId::MIN)),
    )
    .await
}

async fn non_sequential_request_id(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let topic = unique(&peer, "seq");
    peer.send(Subscribe::new(RequestId::MIN, uri(&topic)))
        .await?;
    expect_msg!(peer, "SUBSCRIBED", Message::Subscribed(_) => ());
    peer.send(Subscribe::new(
        RequestId::new(3).unwrap_or(RequestId::MIN),
        uri(&format!("{topic}.b")),
    ))
    .await?;
    peer.expect_violation().await
}

async fn request_id_not_starting_at_one(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let topic = unique(&peer, "first");
    peer.send(Subscribe::new(
        RequestId::new(1000).unwrap_or(RequestId::MIN),
        uri(&topic),
    ))
    .await?;
    peer.expect_violation().await
}

async fn empty_message(t: Target) -> Result<(), Failure> {
    after_welcome_raw(t, Value::List(vec![])).await
}

async fn unknown_message_type(t: Target) -> Result<(), Failure> {
    after_welcome_raw(t, Value::List(args![7, {}])).await
}

async fn wrong_element_type(t: Target) -> Result<(), Failure> {
    after_welcome_raw(
        t,
        Value::List(args![48, "one", kwargs! {}, "com.conformance.p"]),
    )
    .await
}

async fn wrong_element_count(t: Target) -> Result<(), Failure> {
    after_welcome_raw(t, Value::List(args![48, 1])).await
}

async fn not_a_list(t: Target) -> Result<(), Failure> {
    after_welcome_raw(t, Value::Dict(kwargs! { "type" => 48 })).await
}

async fn undecodable_bytes(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    // Truncated in every serializer: an unterminated list.
    let bytes = match t.serializer {
        nexus_tokio::Serializer::Json => bytes::Bytes::from_static(b"[48, 1, {"),
        nexus_tokio::Serializer::MsgPack => bytes::Bytes::from_static(b"\x94\x30\x01"),
        nexus_tokio::Serializer::Cbor => bytes::Bytes::from_static(b"\x84\x18\x30\x01"),
    };
    peer.send_bytes(bytes).await?;
    peer.expect_violation().await
}

// ---- ids -----------------------------------------------------------------------------------

async fn session_ids_are_random_and_in_range(t: Target) -> Result<(), Failure> {
    let mut ids = Vec::new();
    for _ in 0..8 {
        let mut peer = Peer::join(&t).await?;
        ids.push(peer.session.unwrap_or(SessionId::MIN).get());
        peer.leave().await?;
    }
    let distinct: HashSet<u64> = ids.iter().copied().collect();
    check(
        distinct.len() == ids.len(),
        "8 distinct session IDs",
        format!("{ids:?}"),
    )?;
    // Eight uniform draws from [1, 2^53] are all above 2^32 with overwhelming probability;
    // sequential or small IDs are not random.
    check(
        ids.iter().all(|&i| i > 1 << 32),
        "IDs drawn from the whole range [1, 2^53]",
        format!("{ids:?}"),
    )
}

async fn publication_ids_are_random_and_in_range(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let topic = unique(&peer, "pubids");
    let mut ids = Vec::new();
    for _ in 0..8 {
        let request = peer.next_id();
        let options = PublishOptions {
            acknowledge: Some(true),
            ..Default::default()
        };
        peer.send(Publish::new(request, uri(&topic)).with_options(options))
            .await?;
        let p = expect_msg!(peer, "PUBLISHED", Message::Published(p) => p);
        check(
            p.request == request,
            format!("PUBLISHED for request {request}"),
            p.request.to_string(),
        )?;
        ids.push(p.publication.get());
    }
    let distinct: HashSet<u64> = ids.iter().copied().collect();
    check(
        distinct.len() == ids.len(),
        "8 distinct publication IDs",
        format!("{ids:?}"),
    )?;
    check(
        ids.iter().all(|&i| i > 1 << 32),
        "IDs drawn from the whole range [1, 2^53]",
        format!("{ids:?}"),
    )
}

async fn invocation_ids_are_sequential(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "seqinv");
    register(&mut callee, &procedure).await?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let request = caller.next_id();
        caller.send(Call::new(request, uri(&procedure))).await?;
        let inv = expect_msg!(callee, "INVOCATION", Message::Invocation(i) => i);
        seen.push(inv.request.get());
        callee.send(Yield::new(inv.request)).await?;
        expect_msg!(caller, "RESULT", Message::Result(_) => ());
    }
    check(
        seen == [1, 2, 3],
        "INVOCATION request IDs 1, 2, 3",
        format!("{seen:?}"),
    )
}

// ---- broker --------------------------------------------------------------------------------

async fn subscribe(peer: &mut Peer, topic: &str) -> Result<SubscriptionId, Failure> {
    let request = peer.next_id();
    peer.send(Subscribe::new(request, uri(topic))).await?;
    let s = expect_msg!(peer, "SUBSCRIBED", Message::Subscribed(s) => s);
    check(
        s.request == request,
        format!("SUBSCRIBED for request {request}"),
        s.request.to_string(),
    )?;
    Ok(s.subscription)
}

async fn subscribe_and_receive(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut publisher = Peer::join(&t).await?;
    let topic = unique(&sub, "news");
    let subscription = subscribe(&mut sub, &topic).await?;
    let payload = args![1, -2, 2.5, "ünïcode", true, Value::Null, vec![1, 2]];
    let request = publisher.next_id();
    publisher
        .send(
            Publish::new(request, uri(&topic))
                .with_args(payload.clone())
                .with_kwargs(kwargs! { "k" => "v" }),
        )
        .await?;
    let e = expect_msg!(sub, "EVENT", Message::Event(e) => e);
    check(
        e.subscription == subscription,
        format!("EVENT for subscription {subscription}"),
        e.subscription.to_string(),
    )?;
    check(
        e.payload.args() == &payload[..],
        format!("args {payload:?}"),
        format!("{:?}", e.payload.args()),
    )?;
    check(
        e.payload.kwargs().and_then(|k| k.get("k")) == Some(&Value::from("v")),
        "kwargs {k: v}",
        format!("{:?}", e.payload.kwargs()),
    )
}

async fn subscription_is_shared(t: Target) -> Result<(), Failure> {
    let mut a = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let topic = unique(&a, "shared");
    let sa = subscribe(&mut a, &topic).await?;
    let sb = subscribe(&mut b, &topic).await?;
    check(
        sa == sb,
        "the same subscription ID for both subscribers",
        format!("{sa} and {sb}"),
    )?;
    let again = subscribe(&mut a, &topic).await?;
    check(
        again == sa,
        "the existing subscription ID on re-subscribe",
        format!("{sa} then {again}"),
    )
}

async fn publisher_is_excluded(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let topic = unique(&p, "self");
    subscribe(&mut p, &topic).await?;
    let request = p.next_id();
    p.send(Publish::new(request, uri(&topic))).await?;
    p.expect_nothing().await
}

async fn acknowledged_publication(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let topic = unique(&sub, "ack");
    subscribe(&mut sub, &topic).await?;
    let request = p.next_id();
    let options = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    p.send(Publish::new(request, uri(&topic)).with_options(options))
        .await?;
    let published = expect_msg!(p, "PUBLISHED", Message::Published(x) => x);
    let e = expect_msg!(sub, "EVENT", Message::Event(e) => e);
    check(
        e.publication == published.publication,
        format!("EVENT publication {}", published.publication),
        e.publication.to_string(),
    )
}

async fn unacknowledged_publication(t: Target) -> Result<(), Failure> {
    let mut p = Peer::join(&t).await?;
    let topic = unique(&p, "noack");
    let request = p.next_id();
    p.send(Publish::new(request, uri(&topic))).await?;
    p.expect_nothing().await
}

async fn unsubscribe(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let topic = unique(&sub, "unsub");
    let subscription = subscribe(&mut sub, &topic).await?;
    let request = sub.next_id();
    sub.send(Unsubscribe {
        request,
        subscription,
    })
    .await?;
    let u = expect_msg!(sub, "UNSUBSCRIBED", Message::Unsubscribed(u) => u);
    check(
        u.request == Some(request),
        format!("UNSUBSCRIBED for request {request}"),
        format!("{:?}", u.request),
    )?;
    let request = p.next_id();
    p.send(Publish::new(request, uri(&topic))).await?;
    sub.expect_nothing().await
}

async fn unsubscribe_unknown(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let request = peer.next_id();
    peer.send(Unsubscribe {
        request,
        subscription: SubscriptionId::new(4_242_424_242).unwrap_or(SubscriptionId::MIN),
    })
    .await?;
    expect_error(
        &mut peer,
        RequestType::Unsubscribe,
        request,
        "wamp.error.no_such_subscription",
    )
    .await
}

async fn subscribe_invalid_uri(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let request = peer.next_id();
    peer.send(Subscribe::new(request, uri("com.conformance..bad uri")))
        .await?;
    expect_error(
        &mut peer,
        RequestType::Subscribe,
        request,
        "wamp.error.invalid_uri",
    )
    .await
}

async fn publish_invalid_uri(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let request = peer.next_id();
    let options = PublishOptions {
        acknowledge: Some(true),
        ..Default::default()
    };
    peer.send(Publish::new(request, uri("com.conformance..bad uri")).with_options(options))
        .await?;
    expect_error(
        &mut peer,
        RequestType::Publish,
        request,
        "wamp.error.invalid_uri",
    )
    .await
}

async fn expect_error(
    peer: &mut Peer,
    kind: RequestType,
    request: RequestId,
    error: &str,
) -> Result<(), Failure> {
    let expected = format!("ERROR {error} for {} {request}", kind.code());
    let e = expect_msg!(peer, expected.clone(), Message::Error(e) => e);
    check(
        e.request_type == kind && e.request == request && e.error == error,
        expected,
        format!(
            "ERROR {} for {} {}",
            e.error,
            e.request_type.code(),
            e.request
        ),
    )
}

// ---- dealer --------------------------------------------------------------------------------

async fn register(peer: &mut Peer, procedure: &str) -> Result<RegistrationId, Failure> {
    let request = peer.next_id();
    peer.send(Register::new(request, uri(procedure))).await?;
    let r = expect_msg!(peer, "REGISTERED", Message::Registered(r) => r);
    check(
        r.request == request,
        format!("REGISTERED for request {request}"),
        r.request.to_string(),
    )?;
    Ok(r.registration)
}

async fn call_and_result(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "add");
    let registration = register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    let payload = args![2, -3, "x", 1.25, vec![Value::Null], kwargs! { "n" => 1 }];
    caller
        .send(Call::new(request, uri(&procedure)).with_args(payload.clone()))
        .await?;
    let inv = expect_msg!(callee, "INVOCATION", Message::Invocation(i) => i);
    check(
        inv.registration == registration,
        format!("registration {registration}"),
        inv.registration.to_string(),
    )?;
    check(
        inv.payload.args() == &payload[..],
        format!("args {payload:?}"),
        format!("{:?}", inv.payload.args()),
    )?;
    callee
        .send(
            Yield::new(inv.request)
                .with_args(args!["done"])
                .with_kwargs(kwargs! { "sum" => -1 }),
        )
        .await?;
    let r = expect_msg!(caller, "RESULT", Message::Result(r) => r);
    check(
        r.request == request,
        format!("RESULT for CALL {request}"),
        r.request.to_string(),
    )?;
    check(
        r.payload.args() == &args!["done"][..],
        "args [\"done\"]",
        format!("{:?}", r.payload.args()),
    )?;
    check(
        r.payload.kwargs().and_then(|k| k.get("sum")) == Some(&Value::from(-1)),
        "kwargs {sum: -1}",
        format!("{:?}", r.payload.kwargs()),
    )
}

async fn callee_error_is_relayed(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "fail");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    caller.send(Call::new(request, uri(&procedure))).await?;
    let inv = expect_msg!(callee, "INVOCATION", Message::Invocation(i) => i);
    callee
        .send(
            Error::new(
                RequestType::Invocation,
                inv.request,
                "com.conformance.error.failed",
            )
            .with_args(args!["why", 7])
            .with_kwargs(kwargs! { "detail" => "x" }),
        )
        .await?;
    let e = expect_msg!(caller, "ERROR", Message::Error(e) => e);
    check(
        e.request_type == RequestType::Call
            && e.request == request
            && e.error == "com.conformance.error.failed",
        format!("ERROR com.conformance.error.failed for CALL {request}"),
        describe(&Message::Error(e.clone())),
    )?;
    check(
        e.payload.args() == &args!["why", 7][..],
        "args [\"why\", 7]",
        format!("{:?}", e.payload.args()),
    )
}

async fn no_such_procedure(t: Target) -> Result<(), Failure> {
    let mut caller = Peer::join(&t).await?;
    let request = caller.next_id();
    let procedure = unique(&caller, "nobody");
    caller.send(Call::new(request, uri(&procedure))).await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "wamp.error.no_such_procedure",
    )
    .await
}

async fn procedure_already_exists(t: Target) -> Result<(), Failure> {
    let mut a = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let procedure = unique(&a, "taken");
    register(&mut a, &procedure).await?;
    let request = b.next_id();
    b.send(Register::new(request, uri(&procedure))).await?;
    expect_error(
        &mut b,
        RequestType::Register,
        request,
        "wamp.error.procedure_already_exists",
    )
    .await
}

async fn unregister(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "gone");
    let registration = register(&mut callee, &procedure).await?;
    let request = callee.next_id();
    callee
        .send(Unregister {
            request,
            registration,
        })
        .await?;
    let u = expect_msg!(callee, "UNREGISTERED", Message::Unregistered(u) => u);
    check(
        u.request == Some(request),
        format!("UNREGISTERED for request {request}"),
        format!("{:?}", u.request),
    )?;
    let call = caller.next_id();
    caller.send(Call::new(call, uri(&procedure))).await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        call,
        "wamp.error.no_such_procedure",
    )
    .await
}

async fn unregister_unknown(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let request = peer.next_id();
    peer.send(Unregister {
        request,
        registration: RegistrationId::new(4_242_424_242).unwrap_or(RegistrationId::MIN),
    })
    .await?;
    expect_error(
        &mut peer,
        RequestType::Unregister,
        request,
        "wamp.error.no_such_registration",
    )
    .await
}

async fn callee_leaving_cancels(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "leaver");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    caller.send(Call::new(request, uri(&procedure))).await?;
    expect_msg!(callee, "INVOCATION", Message::Invocation(_) => ());
    callee.drop_connection().await;
    let e = expect_msg!(caller, "ERROR", Message::Error(e) => e);
    check(
        e.request == request
            && (e.error == "wamp.error.canceled" || e.error == "wamp.error.cancelled"),
        format!("ERROR wamp.error.canceled for CALL {request}"),
        describe(&Message::Error(e.clone())),
    )
}

async fn register_invalid_uri(t: Target) -> Result<(), Failure> {
    let mut peer = Peer::join(&t).await?;
    let request = peer.next_id();
    peer.send(Register::new(request, uri("com.conformance..bad uri")))
        .await?;
    expect_error(
        &mut peer,
        RequestType::Register,
        request,
        "wamp.error.invalid_uri",
    )
    .await
}

// ---- ordering ------------------------------------------------------------------------------

async fn events_in_publication_order(t: Target) -> Result<(), Failure> {
    let mut sub = Peer::join(&t).await?;
    let mut p = Peer::join(&t).await?;
    let a = unique(&sub, "order.a");
    let b = unique(&sub, "order.b");
    subscribe(&mut sub, &a).await?;
    subscribe(&mut sub, &b).await?;
    for i in 0..20u32 {
        let request = p.next_id();
        let topic = if i % 3 == 0 { &a } else { &b };
        p.send(Publish::new(request, uri(topic)).with_args(args![i]))
            .await?;
    }
    let mut got = Vec::new();
    for _ in 0..20 {
        let e = expect_msg!(sub, "EVENT", Message::Event(e) => e);
        got.push(
            e.payload
                .args()
                .first()
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
        );
    }
    check(
        got == (0..20).collect::<Vec<_>>(),
        "events 0..19 in order",
        format!("{got:?}"),
    )
}

async fn invocations_in_call_order(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let a = unique(&callee, "corder.a");
    let b = unique(&callee, "corder.b");
    register(&mut callee, &a).await?;
    register(&mut callee, &b).await?;
    for i in 0..10u32 {
        let request = caller.next_id();
        let procedure = if i % 2 == 0 { &a } else { &b };
        caller
            .send(Call::new(request, uri(procedure)).with_args(args![i]))
            .await?;
    }
    let mut got = Vec::new();
    for _ in 0..10 {
        let inv = expect_msg!(callee, "INVOCATION", Message::Invocation(i) => i);
        got.push(
            inv.payload
                .args()
                .first()
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
        );
        callee.send(Yield::new(inv.request)).await?;
    }
    check(
        got == (0..10).collect::<Vec<_>>(),
        "invocations 0..9 in call order",
        format!("{got:?}"),
    )
}
