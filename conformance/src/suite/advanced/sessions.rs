//! Session features: the session meta API and the testament meta API.

use nexus_tokio::nexus_core::features as f;
use nexus_tokio::nexus_core::kwargs;

use super::*;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        a!(f::SESSION_META_API, "dealer", session_meta_api_on_both_roles, "Session meta API (§ meta_api_sessions): the feature MUST be announced by both the dealer and the broker"),
        a!(f::SESSION_META_API, "dealer", session_count_and_list, "Session meta API (§ meta_api_sessions): wamp.session.count and wamp.session.list cover the realm's sessions (the caller's included), and with filter_authroles only sessions of those roles (none for an unknown role)"),
        a!(f::SESSION_META_API, "dealer", session_get, "Session meta API (§ meta_api_sessions): wamp.session.get returns {session, authid, authrole, authmethod, authprovider...} of a session (as its WELCOME announced them); an unknown ID gets ERROR wamp.error.no_such_session"),
        a!(f::SESSION_META_API, "broker", session_on_join, "Session meta API (§ meta_api_sessions, events): a session joining publishes wamp.session.on_join with one dict {session, authid, authrole, authmethod, authprovider...}"),
        a!(f::SESSION_META_API, "broker", session_on_leave, "Session meta API (§ meta_api_sessions, events): a session leaving (GOODBYE) or disconnecting publishes wamp.session.on_leave(session, authid, authrole)"),
        a!(f::SESSION_META_API, "dealer", session_kill, "Session meta API (§ meta_api_sessions): wamp.session.kill(session, reason=, message=) closes that session with GOODBYE carrying the reason and Details.message (a router may refuse by authorization: ERROR wamp.error.not_authorized is accepted)"),
        a!(f::SESSION_META_API, "dealer", session_kill_defaults_and_errors, "Session meta API (§ meta_api_sessions): wamp.session.kill of the caller's own session gets wamp.error.no_such_session, an invalid reason wamp.error.invalid_uri (the session survives), and without kwargs the GOODBYE reason is wamp.close.killed, without message (authorization refusals accepted)"),
        a!(f::TESTAMENT_META_API, "dealer", testament_published_on_disconnect, "Testament meta API (§ pubsub_testament): after wamp.session.add_testament(topic, args, kwargs), losing the connection publishes the testament to its topic with its args and kwargs"),
        a!(f::TESTAMENT_META_API, "dealer", testament_published_on_goodbye, "Testament meta API (§ pubsub_testament): a session ending with GOODBYE is destroyed, which publishes its testaments (default scope destroyed)"),
        a!(f::TESTAMENT_META_API, "dealer", testaments_in_order, "Testament meta API (§ pubsub_testament): a session may hold several testaments per scope; they are published in the order they were added"),
        a!(f::TESTAMENT_META_API, "dealer", detached_before_destroyed, "Testament meta API (§ pubsub_testament): without session resumption the detached-scope testaments are published before the destroyed-scope ones"),
        a!(f::TESTAMENT_META_API, "dealer", flush_testaments, "Testament meta API (§ pubsub_testament): wamp.session.flush_testaments (default scope destroyed) removes that scope's testaments only"),
    ]
}

const NOBODY: &str = "com.conformance.nobody";

// ---- session_meta_api -----------------------------------------------------------------------

async fn session_meta_api_on_both_roles(t: Target) -> Result<(), Failure> {
    let peer = Peer::join(&t).await?;
    check(
        announces(&peer, "broker", f::SESSION_META_API),
        "WELCOME.Details.roles.broker.features.session_meta_api as well",
        "announced by the dealer only",
    )
}

async fn session_count_and_list(t: Target) -> Result<(), Failure> {
    let mut admin = Peer::join(&t).await?;
    let a = Peer::join(&t).await?;
    let b = Peer::join(&t).await?;
    let ours = [session(&admin).get(), session(&a).get(), session(&b).get()];
    let r = meta(&mut admin, "wamp.session.count", args![], kwargs! {}).await?;
    check(
        first(&r).as_u64().is_some_and(|n| n >= 3),
        "wamp.session.count: at least our 3 sessions",
        format!("{:?}", r.payload.args()),
    )?;
    let r = meta(&mut admin, "wamp.session.list", args![], kwargs! {}).await?;
    let listed = ids(&first(&r)).unwrap_or_default();
    check(
        ours.iter().all(|s| listed.contains(s)),
        format!("wamp.session.list: a list with {ours:?}"),
        format!("{:?}", r.payload.args()),
    )?;
    let nobody = Value::from(vec![NOBODY]);
    let r = meta(
        &mut admin,
        "wamp.session.count",
        args![nobody.clone()],
        kwargs! {},
    )
    .await?;
    check(
        first(&r).as_u64() == Some(0),
        "wamp.session.count([unknown role]): 0",
        format!("{:?}", r.payload.args()),
    )?;
    let r = meta(&mut admin, "wamp.session.list", args![nobody], kwargs! {}).await?;
    check(
        ids(&first(&r)).is_some_and(|l| l.is_empty()),
        "wamp.session.list([unknown role]): []",
        format!("{:?}", r.payload.args()),
    )?;
    if let Some(role) = authrole(&a) {
        let r = meta(
            &mut admin,
            "wamp.session.list",
            args![vec![role.as_str()]],
            kwargs! {},
        )
        .await?;
        let listed = ids(&first(&r)).unwrap_or_default();
        check(
            listed.contains(&session(&a).get()),
            format!("wamp.session.list([{role:?}]): a list with {}", session(&a)),
            format!("{:?}", r.payload.args()),
        )?;
    }
    Ok(())
}

/// Checks session details (as in wamp.session.get and wamp.session.on_join).
fn check_session_details(d: &Value, peer: &Peer, what: &str) -> Result<(), Failure> {
    let strings = ["authid", "authrole", "authmethod", "authprovider"];
    check(
        d["session"].as_u64() == Some(session(peer).get())
            && strings.iter().all(|k| d[*k].as_str().is_some()),
        format!(
            "{what}: {{session: {}, authid, authrole, authmethod, authprovider (strings)}}",
            session(peer)
        ),
        format!("{d:?}"),
    )?;
    let authid = d["authid"].as_str().map(str::to_owned);
    let authrole = d["authrole"].as_str().map(str::to_owned);
    check_identity(peer, what, authid.as_ref(), authrole.as_ref())
}

async fn session_get(t: Target) -> Result<(), Failure> {
    let mut admin = Peer::join(&t).await?;
    let b = Peer::join(&t).await?;
    let r = meta(
        &mut admin,
        "wamp.session.get",
        args![session(&b)],
        kwargs! {},
    )
    .await?;
    check_session_details(&first(&r), &b, "wamp.session.get")?;
    let unknown = SessionId::new(4_503_599_627_370_449).unwrap_or(SessionId::MAX);
    match meta_reply(&mut admin, "wamp.session.get", args![unknown], kwargs! {}).await? {
        Err(e) if e.error == "wamp.error.no_such_session" => Ok(()),
        Err(e) => Err(Failure::new(
            "ERROR wamp.error.no_such_session",
            show_error(&e),
        )),
        Ok(r) => Err(Failure::new(
            "ERROR wamp.error.no_such_session",
            show_result(&r),
        )),
    }
}

async fn session_on_join(t: Target) -> Result<(), Failure> {
    let mut observer = Peer::join(&t).await?;
    subscribe(&mut observer, "wamp.session.on_join").await?;
    let b = Peer::join(&t).await?;
    let id = session(&b).get();
    let e = event_where(
        &mut observer,
        "wamp.session.on_join for the new session",
        100,
        |e| {
            e.payload
                .args()
                .first()
                .is_some_and(|d| d["session"].as_u64() == Some(id))
        },
    )
    .await?;
    check_session_details(&e.payload.args()[0], &b, "wamp.session.on_join")
}

fn check_left(e: &Event, peer: &Peer) -> Result<(), Failure> {
    let args = e.payload.args();
    check(
        args.len() >= 3 && args[1].as_str().is_some() && args[2].as_str().is_some(),
        format!("wamp.session.on_leave({}, authid, authrole)", session(peer)),
        format!("wamp.session.on_leave{args:?}"),
    )?;
    let authid = args[1].as_str().map(str::to_owned);
    let authrole = args[2].as_str().map(str::to_owned);
    check_identity(
        peer,
        "wamp.session.on_leave",
        authid.as_ref(),
        authrole.as_ref(),
    )
}

async fn session_on_leave(t: Target) -> Result<(), Failure> {
    let mut observer = Peer::join(&t).await?;
    subscribe(&mut observer, "wamp.session.on_leave").await?;
    let mut b = Peer::join(&t).await?;
    let c = Peer::join(&t).await?;
    let left = |id: SessionId| {
        move |e: &Event| e.payload.args().first().and_then(Value::as_u64) == Some(id.get())
    };
    b.leave().await?;
    let e = event_where(
        &mut observer,
        "wamp.session.on_leave for the session that left",
        100,
        left(session(&b)),
    )
    .await?;
    check_left(&e, &b)?;
    let c_id = session(&c);
    let c_identity = (authid(&c), authrole(&c));
    c.drop_connection().await;
    let e = event_where(
        &mut observer,
        "wamp.session.on_leave for the session that disconnected",
        100,
        left(c_id),
    )
    .await?;
    let args = e.payload.args();
    check(
        args.len() >= 3
            && c_identity
                .0
                .as_deref()
                .is_none_or(|a| args[1].as_str() == Some(a))
            && c_identity
                .1
                .as_deref()
                .is_none_or(|r| args[2].as_str() == Some(r)),
        format!("wamp.session.on_leave({c_id}, authid, authrole)"),
        format!("wamp.session.on_leave{args:?}"),
    )
}

const AUTHORIZATION_REFUSED: &[&str] = &[
    "wamp.error.not_authorized",
    "wamp.error.authorization_failed",
    "wamp.error.authorization_denied",
];

/// Calls wamp.session.kill; `None` when the router refuses by authorization.
async fn kill(
    admin: &mut Peer,
    target: SessionId,
    options: Dict,
) -> Result<Option<Result<CallResult, Error>>, Failure> {
    match meta_reply(admin, "wamp.session.kill", args![target], options).await? {
        Err(e) if AUTHORIZATION_REFUSED.iter().any(|u| e.error == *u) => Ok(None),
        reply => Ok(Some(reply)),
    }
}

async fn expect_killed(
    peer: &mut Peer,
    reason: &str,
    message: Option<&str>,
) -> Result<(), Failure> {
    let g = want!(peer, format!("GOODBYE {reason}"), Message::Goodbye(g) => g);
    check(
        g.reason == reason && g.details.message.as_deref() == message,
        format!("GOODBYE {reason} with Details.message {message:?}"),
        format!(
            "GOODBYE {} with Details.message {:?}",
            g.reason, g.details.message
        ),
    )
}

async fn session_kill(t: Target) -> Result<(), Failure> {
    let mut admin = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let options = kwargs! { "reason" => "com.conformance.kicked", "message" => "bye" };
    match kill(&mut admin, session(&b), options).await? {
        None => Ok(()),
        Some(Ok(_)) => expect_killed(&mut b, "com.conformance.kicked", Some("bye")).await,
        Some(Err(e)) => Err(Failure::new("RESULT of wamp.session.kill", show_error(&e))),
    }
}

async fn session_kill_defaults_and_errors(t: Target) -> Result<(), Failure> {
    let mut admin = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let own = session(&admin);
    match kill(&mut admin, own, kwargs! {}).await? {
        None => return Ok(()),
        Some(Err(e)) if e.error == "wamp.error.no_such_session" => {}
        Some(Err(e)) => {
            return Err(Failure::new(
                "killing oneself: ERROR wamp.error.no_such_session",
                show_error(&e),
            ))
        }
        Some(Ok(r)) => {
            return Err(Failure::new(
                "killing oneself: ERROR wamp.error.no_such_session",
                show_result(&r),
            ))
        }
    }
    let bad = kwargs! { "reason" => "com.conformance..bad uri" };
    match kill(&mut admin, session(&b), bad).await? {
        None => return Ok(()),
        Some(Err(e)) if e.error == "wamp.error.invalid_uri" => {}
        Some(Err(e)) => {
            return Err(Failure::new(
                "an invalid reason: ERROR wamp.error.invalid_uri",
                show_error(&e),
            ))
        }
        Some(Ok(r)) => {
            return Err(Failure::new(
                "an invalid reason: ERROR wamp.error.invalid_uri",
                show_result(&r),
            ))
        }
    }
    b.expect_nothing().await?;
    match kill(&mut admin, session(&b), kwargs! {}).await? {
        None => Ok(()),
        Some(Ok(_)) => expect_killed(&mut b, "wamp.close.killed", None).await,
        Some(Err(e)) => Err(Failure::new("RESULT of wamp.session.kill", show_error(&e))),
    }
}

// ---- testament_meta_api ---------------------------------------------------------------------

/// Calls wamp.session.add_testament(topic, [arg], {}) with the given scope (default when
/// `None`).
async fn add_testament(
    peer: &mut Peer,
    topic: &str,
    arg: &str,
    scope: Option<&str>,
) -> Result<(), Failure> {
    let options = scope.map(|s| kwargs! { "scope" => s }).unwrap_or_default();
    let arguments = args![
        topic,
        Value::from(args![arg]),
        kwargs! { "my_name" => "app1" }
    ];
    meta(peer, "wamp.session.add_testament", arguments, options)
        .await
        .map(|_| ())
}

/// A subscriber of a testament topic, and the session that will leave.
async fn testament_setup(t: &Target) -> Result<(Peer, Peer, String), Failure> {
    let mut sub = Peer::join(t).await?;
    let dying = Peer::join(t).await?;
    let topic = unique(&sub, "testament");
    subscribe(&mut sub, &topic).await?;
    Ok((sub, dying, topic))
}

async fn testament_published_on_disconnect(t: Target) -> Result<(), Failure> {
    let (mut sub, mut dying, topic) = testament_setup(&t).await?;
    add_testament(&mut dying, &topic, "Seeya!", None).await?;
    dying.drop_connection().await;
    let e = expect_event_arg(&mut sub, "Seeya!", "the subscriber").await?;
    check(
        e.payload.kwargs().and_then(|k| k.get("my_name")) == Some(&Value::from("app1")),
        "the testament's kwargs {my_name: \"app1\"}",
        show_event(&e),
    )
}

async fn testament_published_on_goodbye(t: Target) -> Result<(), Failure> {
    let (mut sub, mut dying, topic) = testament_setup(&t).await?;
    add_testament(&mut dying, &topic, "Seeya!", None).await?;
    dying.leave().await?;
    expect_event_arg(&mut sub, "Seeya!", "the subscriber")
        .await
        .map(|_| ())
}

async fn testaments_in_order(t: Target) -> Result<(), Failure> {
    let (mut sub, mut dying, topic) = testament_setup(&t).await?;
    for arg in ["first", "second", "third"] {
        add_testament(&mut dying, &topic, arg, Some("destroyed")).await?;
    }
    dying.drop_connection().await;
    for arg in ["first", "second", "third"] {
        expect_event_arg(
            &mut sub,
            arg,
            "the subscriber (testaments in the order added)",
        )
        .await?;
    }
    Ok(())
}

async fn detached_before_destroyed(t: Target) -> Result<(), Failure> {
    let (mut sub, mut dying, topic) = testament_setup(&t).await?;
    add_testament(&mut dying, &topic, "destroyed", Some("destroyed")).await?;
    add_testament(&mut dying, &topic, "detached", Some("detached")).await?;
    dying.drop_connection().await;
    expect_event_arg(
        &mut sub,
        "detached",
        "the subscriber (detached scope first)",
    )
    .await?;
    expect_event_arg(&mut sub, "destroyed", "the subscriber")
        .await
        .map(|_| ())
}

async fn flush_testaments(t: Target) -> Result<(), Failure> {
    let (mut sub, mut dying, topic) = testament_setup(&t).await?;
    add_testament(&mut dying, &topic, "flushed", Some("destroyed")).await?;
    add_testament(&mut dying, &topic, "kept", Some("detached")).await?;
    meta(
        &mut dying,
        "wamp.session.flush_testaments",
        args![],
        kwargs! {},
    )
    .await?;
    dying.drop_connection().await;
    expect_event_arg(&mut sub, "kept", "the subscriber (the detached testament)").await?;
    sub.expect_nothing().await
}
