//! Registration features: pattern-based, shared and sharded registration, registration
//! revocation and the registration meta API.

use nexus_tokio::nexus_core::features as f;
use nexus_tokio::nexus_core::kwargs;

use super::*;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        a!(f::PATTERN_BASED_REGISTRATION, "dealer", prefix_registration_matches, "Pattern-based registration (§ rpc_pattern_based_registration): a prefix registration of com.myapp.myobject1 receives calls of .myprocedure1, -mysubobject1, .mysubobject1.myprocedure1 and itself, with INVOCATION.Details.procedure the called URI; com.myapp.myobject2 and com.myapp.myobject get wamp.error.no_such_procedure"),
        a!(f::PATTERN_BASED_REGISTRATION, "dealer", wildcard_registration_matches, "Pattern-based registration (§ rpc_pattern_based_registration): a wildcard registration com.myapp..myprocedure1 receives calls of com.myapp.myobject1.myprocedure1 and .myobject2.myprocedure1 (with Details.procedure), not of longer, different or other-root URIs"),
        a!(f::PATTERN_BASED_REGISTRATION, "dealer", exact_beats_prefix_beats_wildcard, "Pattern-based registration (§ rpc_pattern_based_registration, calls matching multiple registrations): a call goes to the exact registration if any, else to a prefix registration, else to a wildcard registration, else wamp.error.no_such_procedure"),
        a!(f::PATTERN_BASED_REGISTRATION, "dealer", longest_prefix_wins, "Pattern-based registration (§ rpc_pattern_based_registration): among prefix registrations the longest match wins (a1.b2.c3 over a1.b2 for a1.b2.c3.d4)"),
        a!(f::PATTERN_BASED_REGISTRATION, "dealer", spec_routing_example, "Pattern-based registration (§ rpc_pattern_based_registration, examples): the spec's seven registrations route each example call as listed (for a1.b2.c33.d4.e5 the spec's example picks wildcard a1.b2.c33..e5, while its string-prefix rule makes prefix a1.b2.c3 match: both are accepted)"),
        a!(f::SHARED_REGISTRATION, "dealer", roundrobin_alternates, "Shared registration (§ rpc_shared_registration): with invoke roundrobin, successive calls go to the callees in turn (two callees: they alternate)"),
        a!(f::SHARED_REGISTRATION, "dealer", first_calls_oldest, "Shared registration (§ rpc_shared_registration, hot stand-by): with invoke first, every call goes to the oldest registration; when it unregisters, to the next oldest"),
        a!(f::SHARED_REGISTRATION, "dealer", last_calls_newest, "Shared registration (§ rpc_shared_registration, hot stand-by): with invoke last, every call goes to the newest registration; when its callee leaves, to the one before"),
        a!(f::SHARED_REGISTRATION, "dealer", mixing_policies_refused, "Shared registration (§ rpc_shared_registration): a REGISTER whose invoke policy differs from the existing registration's (random, or the default single, against roundrobin) fails with ERROR (URI not specified); the same policy is accepted"),
        a!(f::SHARED_REGISTRATION, "dealer", single_refuses_sharing, "Shared registration (§ rpc_shared_registration): while an invoke single registration exists, every other REGISTER of the URI fails, whatever its policy"),
        a!(f::SHARED_REGISTRATION, "dealer", random_reaches_every_callee, "Shared registration (§ rpc_shared_registration, load balancing): with invoke random, the callee is picked at random per call: over 32 calls both of two callees are invoked"),
        a!(f::SHARDED_REGISTRATION, "dealer", partitioned_call_is_routed, "Sharded registration (§ rpc_sharded_registration, a sketch): a CALL with runmode partition carries an rkey; with a single callee registered it reaches that callee and its answer the caller (routing among shards is not specified)"),
        a!(f::REGISTRATION_REVOCATION, "dealer", revoked_callee_gets_unregistered, "Registration revocation (§ rpc_registration_revocation): a registration revoked by the router (here through wamp.registration.remove_callee) is announced to a callee that supports the feature as [UNREGISTERED, 0, {registration}], and is gone (passes without checking when the router offers no way to revoke from outside)"),
        a!(f::REGISTRATION_REVOCATION, "dealer", revocation_is_silent_without_feature, "Registration revocation (§ rpc_registration_revocation): a callee that did not announce registration_revocation gets no UNREGISTERED when its registration is revoked (passes without checking when the router offers no way to revoke from outside)"),
        a!(f::REGISTRATION_META_API, "dealer", registration_list, "Registration meta API (§ meta_api_registrations): wamp.registration.list returns {exact, prefix, wildcard} lists of registration IDs, each registration under its match policy"),
        a!(f::REGISTRATION_META_API, "dealer", registration_lookup_and_match, "Registration meta API (§ meta_api_registrations): wamp.registration.lookup(procedure, options) returns the registration under that match policy or null; wamp.registration.match(procedure) returns the best-matching registration or null"),
        a!(f::REGISTRATION_META_API, "dealer", registration_get, "Registration meta API (§ meta_api_registrations): wamp.registration.get returns {id, created, uri, match, invoke}; an unknown ID gets ERROR wamp.error.no_such_registration"),
        a!(f::REGISTRATION_META_API, "dealer", registration_callees, "Registration meta API (§ meta_api_registrations): wamp.registration.list_callees and count_callees give the callees attached to a registration (two with shared registration); an unknown ID gets ERROR wamp.error.no_such_registration"),
        a!(f::REGISTRATION_META_API, "dealer", registration_on_create_and_on_register, "Registration meta API (§ meta_api_registrations, events): a first REGISTER publishes wamp.registration.on_create(session, {id, uri, match...}), then wamp.registration.on_register(session, id)"),
        a!(f::REGISTRATION_META_API, "dealer", registration_on_unregister_and_on_delete, "Registration meta API (§ meta_api_registrations, events): removing the last callee publishes wamp.registration.on_unregister(session, id), then wamp.registration.on_delete(session, id)"),
    ]
}

/// Calls `procedure`, which must reach `callee`, and answers; returns the INVOCATION.
async fn route(
    caller: &mut Peer,
    callee: &mut Peer,
    procedure: &str,
) -> Result<Invocation, Failure> {
    let request = call(caller, procedure, CallOptions::default(), args![]).await?;
    let inv = match recv_any(
        &mut [&mut *callee, &mut *caller],
        &format!("INVOCATION of {procedure}"),
    )
    .await?
    {
        (0, Message::Invocation(inv)) => inv,
        (_, other) => {
            return Err(Failure::new(
                format!("INVOCATION of {procedure}"),
                describe(&other),
            ))
        }
    };
    callee.send(Yield::new(inv.request)).await?;
    expect_result(caller, request).await?;
    Ok(inv)
}

/// Checks that `procedure` reached `registration` (and, for a pattern registration, that
/// INVOCATION.Details.procedure names it).
fn check_routed(
    inv: &Invocation,
    procedure: &str,
    registration: RegistrationId,
    pattern: bool,
) -> Result<(), Failure> {
    check(
        inv.registration == registration,
        format!("{procedure} routed to registration {registration}"),
        format!("registration {}", inv.registration),
    )?;
    if pattern {
        check(
            inv.details.procedure.as_ref().map(Uri::as_str) == Some(procedure),
            format!("INVOCATION.Details.procedure {procedure}"),
            format!("{:?}", inv.details.procedure.as_ref().map(Uri::as_str)),
        )?;
    }
    Ok(())
}

async fn unrouted(caller: &mut Peer, procedure: &str) -> Result<(), Failure> {
    let request = call(caller, procedure, CallOptions::default(), args![]).await?;
    expect_error(
        caller,
        RequestType::Call,
        request,
        "wamp.error.no_such_procedure",
    )
    .await
    .map(|_| ())
}

// ---- pattern_based_registration --------------------------------------------------------------

async fn prefix_registration_matches(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let root = unique(&callee, "pfx");
    let pattern = format!("{root}.myobject1");
    let registration = register_with(&mut callee, &pattern, reg_match(MatchPolicy::Prefix)).await?;
    for suffix in [
        ".myprocedure1",
        "-mysubobject1",
        ".mysubobject1.myprocedure1",
        "",
    ] {
        let procedure = format!("{pattern}{suffix}");
        let inv = route(&mut caller, &mut callee, &procedure).await?;
        check_routed(&inv, &procedure, registration, true)?;
    }
    for other in [format!("{root}.myobject2"), format!("{root}.myobject")] {
        unrouted(&mut caller, &other).await?;
    }
    Ok(())
}

async fn wildcard_registration_matches(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let root = unique(&callee, "wc");
    let registration = register_with(
        &mut callee,
        &format!("{root}..myprocedure1"),
        reg_match(MatchPolicy::Wildcard),
    )
    .await?;
    for procedure in [
        format!("{root}.myobject1.myprocedure1"),
        format!("{root}.myobject2.myprocedure1"),
    ] {
        let inv = route(&mut caller, &mut callee, &procedure).await?;
        check_routed(&inv, &procedure, registration, true)?;
    }
    for other in [
        format!("{root}.myobject1.myprocedure1.mysubprocedure1"),
        format!("{root}.myobject1.myprocedure2"),
        format!("{root}x.myobject1.myprocedure1"),
    ] {
        unrouted(&mut caller, &other).await?;
    }
    Ok(())
}

async fn exact_beats_prefix_beats_wildcard(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let root = unique(&callee, "prec");
    let exact = register(&mut callee, &format!("{root}.a.b.c")).await?;
    let prefix = register_with(
        &mut callee,
        &format!("{root}.a"),
        reg_match(MatchPolicy::Prefix),
    )
    .await?;
    let wildcard = register_with(
        &mut callee,
        &format!("{root}...c"),
        reg_match(MatchPolicy::Wildcard),
    )
    .await?;
    // root.a.b.c matches all three, root.a.z.c the prefix and the wildcard, root.q.z.c the
    // wildcard only.
    let procedure = format!("{root}.a.b.c");
    let inv = route(&mut caller, &mut callee, &procedure).await?;
    check_routed(&inv, &procedure, exact, false)?;
    let procedure = format!("{root}.a.z.c");
    let inv = route(&mut caller, &mut callee, &procedure).await?;
    check_routed(&inv, &procedure, prefix, true)?;
    let procedure = format!("{root}.q.z.c");
    let inv = route(&mut caller, &mut callee, &procedure).await?;
    check_routed(&inv, &procedure, wildcard, true)?;
    unrouted(&mut caller, &format!("{root}.q.z.d")).await
}

async fn longest_prefix_wins(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let root = unique(&callee, "longest");
    let short = register_with(
        &mut callee,
        &format!("{root}.a1.b2"),
        reg_match(MatchPolicy::Prefix),
    )
    .await?;
    let long = register_with(
        &mut callee,
        &format!("{root}.a1.b2.c3"),
        reg_match(MatchPolicy::Prefix),
    )
    .await?;
    let procedure = format!("{root}.a1.b2.c3.d4");
    let inv = route(&mut caller, &mut callee, &procedure).await?;
    check_routed(&inv, &procedure, long, true)?;
    let procedure = format!("{root}.a1.b2.c4");
    let inv = route(&mut caller, &mut callee, &procedure).await?;
    check_routed(&inv, &procedure, short, true)
}

async fn spec_routing_example(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let root = unique(&callee, "example");
    let registrations = [
        ("a1.b2.c3.d4.e55", MatchPolicy::Exact),
        ("a1.b2.c3", MatchPolicy::Prefix),
        ("a1.b2.c3.d4", MatchPolicy::Prefix),
        ("a1.b2..d4.e5", MatchPolicy::Wildcard),
        ("a1.b2.c33..e5", MatchPolicy::Wildcard),
        ("a1.b2..d4.e5..g7", MatchPolicy::Wildcard),
        ("a1.b2..d4..f6.g7", MatchPolicy::Wildcard),
    ];
    let mut ids = Vec::new();
    for (procedure, policy) in registrations {
        ids.push(
            register_with(
                &mut callee,
                &format!("{root}.{procedure}"),
                reg_match(policy),
            )
            .await?,
        );
    }
    // The call, then the registrations (1-based, as numbered in the spec) it may reach.
    let calls: [(&str, &[usize]); 6] = [
        ("a1.b2.c3.d4.e55", &[1]),
        ("a1.b2.c3.d98.e74", &[2]),
        ("a1.b2.c3.d4.e325", &[3]),
        ("a1.b2.c55.d4.e5", &[4]),
        ("a1.b2.c33.d4.e5", &[5, 2]),
        ("a1.b2.c88.d4.e5.f6.g7", &[6]),
    ];
    for (procedure, expected) in calls {
        let procedure = format!("{root}.{procedure}");
        let inv = route(&mut caller, &mut callee, &procedure).await?;
        let Some(number) = ids
            .iter()
            .position(|&id| id == inv.registration)
            .map(|i| i + 1)
        else {
            return Err(Failure::new(
                format!("{procedure} routed to RPC {expected:?}"),
                format!("registration {}", inv.registration),
            ));
        };
        check(
            expected.contains(&number),
            format!(
                "{procedure} routed to RPC {}",
                expected
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            format!("RPC {number}"),
        )?;
        check_routed(&inv, &procedure, inv.registration, number != 1)?;
    }
    unrouted(&mut caller, &format!("{root}.a2.b2.c2.d2.e2")).await
}

// ---- shared_registration ---------------------------------------------------------------------

/// `n` callees (joined in order); the procedure name is unique to the first.
async fn callees(t: &Target, n: usize) -> Result<(Vec<Peer>, String), Failure> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(Peer::join(t).await?);
    }
    let procedure = unique(&all[0], "shared");
    Ok((all, procedure))
}

/// Calls `procedure`, answers at whichever callee is invoked, and returns its index.
async fn shared_call(
    caller: &mut Peer,
    callees: &mut [Peer],
    procedure: &str,
) -> Result<usize, Failure> {
    let request = call(caller, procedure, CallOptions::default(), args![]).await?;
    let (index, inv) = {
        let mut all: Vec<&mut Peer> = callees.iter_mut().collect();
        invocation_at_any(&mut all).await?
    };
    callees[index].send(Yield::new(inv.request)).await?;
    expect_result(caller, request).await?;
    Ok(index)
}

async fn roundrobin_alternates(t: Target) -> Result<(), Failure> {
    let (mut all, procedure) = callees(&t, 2).await?;
    let mut caller = Peer::join(&t).await?;
    for callee in &mut all {
        register_with(callee, &procedure, reg_invoke(InvokePolicy::RoundRobin)).await?;
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(shared_call(&mut caller, &mut all, &procedure).await?);
    }
    check(
        seen.windows(2).all(|w| w[0] != w[1]),
        "the two callees in turn",
        format!("callees {seen:?}"),
    )
}

async fn first_calls_oldest(t: Target) -> Result<(), Failure> {
    let (mut all, procedure) = callees(&t, 3).await?;
    let mut caller = Peer::join(&t).await?;
    let mut registrations = Vec::new();
    for callee in &mut all {
        registrations
            .push(register_with(callee, &procedure, reg_invoke(InvokePolicy::First)).await?);
    }
    for _ in 0..3 {
        let index = shared_call(&mut caller, &mut all, &procedure).await?;
        check(
            index == 0,
            "every call at the oldest callee (1)",
            format!("callee {}", index + 1),
        )?;
    }
    let request = all[0].next_id();
    all[0]
        .send(Unregister {
            request,
            registration: registrations[0],
        })
        .await?;
    want!(all[0], "UNREGISTERED", Message::Unregistered(_) => ());
    let index = shared_call(&mut caller, &mut all, &procedure).await?;
    check(
        index == 1,
        "the call at the next oldest callee (2)",
        format!("callee {}", index + 1),
    )
}

async fn last_calls_newest(t: Target) -> Result<(), Failure> {
    let (mut all, procedure) = callees(&t, 3).await?;
    let mut caller = Peer::join(&t).await?;
    for callee in &mut all {
        register_with(callee, &procedure, reg_invoke(InvokePolicy::Last)).await?;
    }
    for _ in 0..3 {
        let index = shared_call(&mut caller, &mut all, &procedure).await?;
        check(
            index == 2,
            "every call at the newest callee (3)",
            format!("callee {}", index + 1),
        )?;
    }
    if let Some(mut newest) = all.pop() {
        newest.leave().await?;
    }
    let index = shared_call(&mut caller, &mut all, &procedure).await?;
    check(
        index == 1,
        "the call at the callee registered before it (2)",
        format!("callee {}", index + 1),
    )
}

async fn refused(
    peer: &mut Peer,
    procedure: &str,
    options: RegisterOptions,
) -> Result<(), Failure> {
    let request = peer.next_id();
    peer.send(Register {
        request,
        options,
        procedure: uri(procedure),
    })
    .await?;
    expect_error_in(peer, RequestType::Register, request, &[])
        .await
        .map(|_| ())
}

async fn mixing_policies_refused(t: Target) -> Result<(), Failure> {
    let (mut all, procedure) = callees(&t, 3).await?;
    register_with(
        &mut all[0],
        &procedure,
        reg_invoke(InvokePolicy::RoundRobin),
    )
    .await?;
    refused(&mut all[1], &procedure, reg_invoke(InvokePolicy::Random)).await?;
    refused(&mut all[1], &procedure, RegisterOptions::default()).await?;
    register_with(
        &mut all[2],
        &procedure,
        reg_invoke(InvokePolicy::RoundRobin),
    )
    .await
    .map(|_| ())
}

async fn single_refuses_sharing(t: Target) -> Result<(), Failure> {
    let (mut all, procedure) = callees(&t, 2).await?;
    register_with(&mut all[0], &procedure, reg_invoke(InvokePolicy::Single)).await?;
    refused(
        &mut all[1],
        &procedure,
        reg_invoke(InvokePolicy::RoundRobin),
    )
    .await?;
    refused(&mut all[1], &procedure, reg_invoke(InvokePolicy::Single)).await
}

async fn random_reaches_every_callee(t: Target) -> Result<(), Failure> {
    let (mut all, procedure) = callees(&t, 2).await?;
    let mut caller = Peer::join(&t).await?;
    for callee in &mut all {
        register_with(callee, &procedure, reg_invoke(InvokePolicy::Random)).await?;
    }
    let mut counts = [0usize; 2];
    for _ in 0..32 {
        counts[shared_call(&mut caller, &mut all, &procedure).await?] += 1;
    }
    check(
        counts.iter().all(|&n| n > 0),
        "both callees invoked over 32 calls",
        format!("calls per callee {counts:?}"),
    )
}

// ---- sharded_registration --------------------------------------------------------------------

async fn partitioned_call_is_routed(t: Target) -> Result<(), Failure> {
    let roles = roles_adding(&[
        ("caller", f::SHARDED_REGISTRATION),
        ("callee", f::SHARDED_REGISTRATION),
    ]);
    let mut callee = Peer::join_with(&t, roles.clone()).await?;
    let mut caller = Peer::join_with(&t, roles).await?;
    let procedure = unique(&callee, "sharded");
    register(&mut callee, &procedure).await?;
    let options = CallOptions {
        runmode: Some("partition".into()),
        rkey: Some("sn239019".into()),
        ..Default::default()
    };
    let request = call(&mut caller, &procedure, options, args![]).await?;
    let inv = match recv_any(
        &mut [&mut callee, &mut caller],
        &format!("INVOCATION of {procedure}"),
    )
    .await?
    {
        (0, Message::Invocation(inv)) => inv,
        (_, other) => {
            return Err(Failure::new(
                format!("INVOCATION of {procedure}"),
                describe(&other),
            ))
        }
    };
    callee
        .send(Yield::new(inv.request).with_args(args!["shard"]))
        .await?;
    expect_result(&mut caller, request).await.map(|_| ())
}

// ---- registration_revocation -----------------------------------------------------------------

const REMOVE_CALLEE: &str = "wamp.registration.remove_callee";

async fn revoked_callee_gets_unregistered(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let procedure = unique(&callee, "revoked");
    let registration = register(&mut callee, &procedure).await?;
    if !revoke(
        &mut admin,
        REMOVE_CALLEE,
        registration.id(),
        session(&callee),
    )
    .await?
    {
        return Ok(());
    }
    let u = want!(callee, "UNREGISTERED [67, 0, {registration}]", Message::Unregistered(u) => u);
    check(
        u.request.is_none() && u.details.registration == Some(registration),
        format!("[UNREGISTERED, 0, {{registration: {registration}}}]"),
        format!(
            "UNREGISTERED {:?} {:?}",
            u.request.map(RequestId::get),
            u.details
        ),
    )?;
    unrouted(&mut admin, &procedure).await
}

async fn revocation_is_silent_without_feature(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, roles_without(&[f::REGISTRATION_REVOCATION])).await?;
    let mut admin = Peer::join(&t).await?;
    let procedure = unique(&callee, "silently");
    let registration = register(&mut callee, &procedure).await?;
    if !revoke(
        &mut admin,
        REMOVE_CALLEE,
        registration.id(),
        session(&callee),
    )
    .await?
    {
        return Ok(());
    }
    callee.expect_nothing().await?;
    unrouted(&mut admin, &procedure).await
}

// ---- registration_meta_api ------------------------------------------------------------------

const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";

/// An ID no router hands out to the suite.
fn unknown_id() -> RegistrationId {
    RegistrationId::new(4_503_599_627_370_449).unwrap_or(RegistrationId::MAX)
}

fn is_null(r: &CallResult) -> bool {
    first(r).is_null()
}

fn check_id(r: &CallResult, expected: RegistrationId, what: &str) -> Result<(), Failure> {
    check(
        first(r).as_u64() == Some(expected.get()),
        format!("{what}: {expected}"),
        format!("{:?}", r.payload.args()),
    )
}

fn check_null(r: &CallResult, what: &str) -> Result<(), Failure> {
    check(
        is_null(r),
        format!("{what}: null"),
        format!("{:?}", r.payload.args()),
    )
}

/// Registers `root.exact` and, when the dealer supports patterns, `root.pfx` (prefix) and
/// `root..wc` (wildcard).
async fn three_registrations(
    callee: &mut Peer,
    root: &str,
) -> Result<
    (
        RegistrationId,
        Option<RegistrationId>,
        Option<RegistrationId>,
    ),
    Failure,
> {
    let exact = register(callee, &format!("{root}.exact")).await?;
    if !announces(callee, "dealer", f::PATTERN_BASED_REGISTRATION) {
        return Ok((exact, None, None));
    }
    let prefix = register_with(
        callee,
        &format!("{root}.pfx"),
        reg_match(MatchPolicy::Prefix),
    )
    .await?;
    let wildcard = register_with(
        callee,
        &format!("{root}..wc"),
        reg_match(MatchPolicy::Wildcard),
    )
    .await?;
    Ok((exact, Some(prefix), Some(wildcard)))
}

async fn registration_list(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let root = unique(&callee, "rlist");
    let (exact, prefix, wildcard) = three_registrations(&mut callee, &root).await?;
    let r = meta(&mut admin, "wamp.registration.list", args![], kwargs! {}).await?;
    let lists = first(&r);
    for (policy, id) in [
        ("exact", Some(exact)),
        ("prefix", prefix),
        ("wildcard", wildcard),
    ] {
        let Some(id) = id else { continue };
        let listed = ids(&lists[policy]);
        check(
            listed.as_ref().is_some_and(|l| l.contains(&id.get())),
            format!("registration {id} in the {policy} list"),
            format!("{lists:?}"),
        )?;
    }
    for policy in ["prefix", "wildcard"] {
        check(
            ids(&lists[policy]).is_none_or(|l| !l.contains(&exact.get())),
            format!("the exact registration {exact} only in the exact list"),
            format!("{lists:?}"),
        )?;
    }
    Ok(())
}

async fn registration_lookup_and_match(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let root = unique(&callee, "rlookup");
    let (exact, prefix, wildcard) = three_registrations(&mut callee, &root).await?;
    let lookup = "wamp.registration.lookup";
    let matching = "wamp.registration.match";
    let r = meta(
        &mut admin,
        lookup,
        args![format!("{root}.exact")],
        kwargs! {},
    )
    .await?;
    check_id(&r, exact, "lookup of the exact registration")?;
    let r = meta(
        &mut admin,
        lookup,
        args![format!("{root}.none")],
        kwargs! {},
    )
    .await?;
    check_null(&r, "lookup of an unregistered URI")?;
    let r = meta(
        &mut admin,
        matching,
        args![format!("{root}.exact")],
        kwargs! {},
    )
    .await?;
    check_id(&r, exact, "match of the exact URI")?;
    let r = meta(
        &mut admin,
        matching,
        args![format!("{root}.none")],
        kwargs! {},
    )
    .await?;
    check_null(&r, "match of an unregistered URI")?;
    if let (Some(prefix), Some(wildcard)) = (prefix, wildcard) {
        let r = meta(
            &mut admin,
            lookup,
            args![format!("{root}.pfx"), kwargs! { "match" => "prefix" }],
            kwargs! {},
        )
        .await?;
        check_id(&r, prefix, "lookup with match prefix")?;
        let r = meta(
            &mut admin,
            lookup,
            args![format!("{root}..wc"), kwargs! { "match" => "wildcard" }],
            kwargs! {},
        )
        .await?;
        check_id(&r, wildcard, "lookup with match wildcard")?;
        let r = meta(&mut admin, lookup, args![format!("{root}.pfx")], kwargs! {}).await?;
        check_null(&r, "lookup of a prefix pattern under the exact policy")?;
        let r = meta(
            &mut admin,
            matching,
            args![format!("{root}.pfx.x")],
            kwargs! {},
        )
        .await?;
        check_id(&r, prefix, "match of a URI under the prefix")?;
        let r = meta(
            &mut admin,
            matching,
            args![format!("{root}.y.wc")],
            kwargs! {},
        )
        .await?;
        check_id(&r, wildcard, "match of a URI under the wildcard")?;
    }
    Ok(())
}

async fn registration_get(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let root = unique(&callee, "rget");
    let (exact, prefix, _) = three_registrations(&mut callee, &root).await?;
    let (id, procedure, policy) = match prefix {
        Some(p) => (p, format!("{root}.pfx"), "prefix"),
        None => (exact, format!("{root}.exact"), "exact"),
    };
    let r = meta(&mut admin, "wamp.registration.get", args![id], kwargs! {}).await?;
    let d = first(&r);
    check(
        d["id"].as_u64() == Some(id.get())
            && d["uri"].as_str() == Some(procedure.as_str())
            && d["match"].as_str() == Some(policy)
            && d["created"].as_str().is_some()
            && (d["invoke"].is_null() || d["invoke"].as_str() == Some("single")),
        format!(
            "{{id: {id}, created: <string>, uri: {procedure}, match: {policy}, invoke: single}}"
        ),
        format!("{d:?}"),
    )?;
    match meta_reply(
        &mut admin,
        "wamp.registration.get",
        args![unknown_id()],
        kwargs! {},
    )
    .await?
    {
        Err(e) if e.error == NO_SUCH_REGISTRATION => Ok(()),
        Err(e) => Err(Failure::new(
            format!("ERROR {NO_SUCH_REGISTRATION}"),
            show_error(&e),
        )),
        Ok(r) => Err(Failure::new(
            format!("ERROR {NO_SUCH_REGISTRATION}"),
            show_result(&r),
        )),
    }
}

async fn registration_callees(t: Target) -> Result<(), Failure> {
    let mut a = Peer::join(&t).await?;
    let mut b = Peer::join(&t).await?;
    let mut admin = Peer::join(&t).await?;
    let procedure = unique(&a, "rcallees");
    let shared = announces(&a, "dealer", f::SHARED_REGISTRATION);
    let mut expected = vec![session(&a).get()];
    let registration = if shared {
        let first = register_with(&mut a, &procedure, reg_invoke(InvokePolicy::RoundRobin)).await?;
        let second =
            register_with(&mut b, &procedure, reg_invoke(InvokePolicy::RoundRobin)).await?;
        check(
            first == second,
            "one registration shared by both callees",
            format!("{first} and {second}"),
        )?;
        expected.push(session(&b).get());
        first
    } else {
        register(&mut a, &procedure).await?
    };
    let r = meta(
        &mut admin,
        "wamp.registration.list_callees",
        args![registration],
        kwargs! {},
    )
    .await?;
    let listed = ids(&first(&r)).unwrap_or_default();
    check(
        expected.iter().all(|s| listed.contains(s)) && listed.len() == expected.len(),
        format!("callees {expected:?}"),
        format!("{:?}", r.payload.args()),
    )?;
    let r = meta(
        &mut admin,
        "wamp.registration.count_callees",
        args![registration],
        kwargs! {},
    )
    .await?;
    check(
        first(&r).as_u64() == Some(expected.len() as u64),
        format!("count {}", expected.len()),
        format!("{:?}", r.payload.args()),
    )?;
    for procedure in [
        "wamp.registration.list_callees",
        "wamp.registration.count_callees",
    ] {
        match meta_reply(&mut admin, procedure, args![unknown_id()], kwargs! {}).await? {
            Err(e) if e.error == NO_SUCH_REGISTRATION => {}
            Err(e) => {
                return Err(Failure::new(
                    format!("{procedure}: ERROR {NO_SUCH_REGISTRATION}"),
                    show_error(&e),
                ))
            }
            Ok(r) => {
                return Err(Failure::new(
                    format!("{procedure}: ERROR {NO_SUCH_REGISTRATION}"),
                    show_result(&r),
                ))
            }
        }
    }
    Ok(())
}

/// Checks a meta event's `(session, id)` arguments.
fn check_session_and_id(
    e: &Event,
    topic: &str,
    session: SessionId,
    id: RegistrationId,
) -> Result<(), Failure> {
    let args = e.payload.args();
    check(
        args.first().and_then(Value::as_u64) == Some(session.get())
            && args.get(1).and_then(Value::as_u64) == Some(id.get()),
        format!("{topic}({session}, {id})"),
        format!("{topic}{args:?}"),
    )
}

async fn registration_on_create_and_on_register(t: Target) -> Result<(), Failure> {
    let mut observer = Peer::join(&t).await?;
    let mut callee = Peer::join(&t).await?;
    let on_create = subscribe(&mut observer, "wamp.registration.on_create").await?;
    let on_register = subscribe(&mut observer, "wamp.registration.on_register").await?;
    let procedure = unique(&callee, "rcreated");
    let registration = register(&mut callee, &procedure).await?;
    let is_created = |e: &Event| {
        e.subscription == on_create
            && e.payload
                .args()
                .get(1)
                .is_some_and(|d| d["uri"].as_str() == Some(procedure.as_str()))
    };
    let is_registered = |e: &Event| {
        e.subscription == on_register
            && e.payload.args().get(1).and_then(Value::as_u64) == Some(registration.get())
    };
    let created = event_where(
        &mut observer,
        "wamp.registration.on_create for the new registration",
        100,
        |e| is_created(e) || is_registered(e),
    )
    .await?;
    check(
        is_created(&created),
        "wamp.registration.on_create before wamp.registration.on_register",
        "wamp.registration.on_register first",
    )?;
    let args = created.payload.args();
    let details = args.get(1).cloned().unwrap_or_default();
    check(
        args.first().and_then(Value::as_u64) == Some(session(&callee).get())
            && details["id"].as_u64() == Some(registration.get())
            && details["match"].as_str() == Some("exact"),
        format!("wamp.registration.on_create({}, {{id: {registration}, uri: {procedure}, match: exact...}})", session(&callee)),
        format!("{args:?}"),
    )?;
    let registered = event_where(
        &mut observer,
        "wamp.registration.on_register after on_create",
        100,
        is_registered,
    )
    .await?;
    check_session_and_id(
        &registered,
        "wamp.registration.on_register",
        session(&callee),
        registration,
    )
}

async fn registration_on_unregister_and_on_delete(t: Target) -> Result<(), Failure> {
    let mut observer = Peer::join(&t).await?;
    let mut callee = Peer::join(&t).await?;
    let on_unregister = subscribe(&mut observer, "wamp.registration.on_unregister").await?;
    let on_delete = subscribe(&mut observer, "wamp.registration.on_delete").await?;
    let procedure = unique(&callee, "rdeleted");
    let registration = register(&mut callee, &procedure).await?;
    let request = callee.next_id();
    callee
        .send(Unregister {
            request,
            registration,
        })
        .await?;
    want!(callee, "UNREGISTERED", Message::Unregistered(_) => ());
    let ours =
        |e: &Event| e.payload.args().get(1).and_then(Value::as_u64) == Some(registration.get());
    let unregistered = event_where(
        &mut observer,
        "wamp.registration.on_unregister for the registration",
        100,
        |e| (e.subscription == on_unregister || e.subscription == on_delete) && ours(e),
    )
    .await?;
    check(
        unregistered.subscription == on_unregister,
        "wamp.registration.on_unregister before wamp.registration.on_delete",
        "wamp.registration.on_delete first",
    )?;
    check_session_and_id(
        &unregistered,
        "wamp.registration.on_unregister",
        session(&callee),
        registration,
    )?;
    let deleted = event_where(
        &mut observer,
        "wamp.registration.on_delete for the registration",
        100,
        |e| e.subscription == on_delete && ours(e),
    )
    .await?;
    check_session_and_id(
        &deleted,
        "wamp.registration.on_delete",
        session(&callee),
        registration,
    )
}
