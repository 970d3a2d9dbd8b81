//! Call features: progressive call results and invocations, call timeout, call canceling,
//! caller identification, call trust levels and call re-routing.

use std::time::Duration;

use nexus_tokio::nexus_core::features as f;
use nexus_tokio::nexus_core::kwargs;

use super::*;

pub(super) fn scenarios() -> Vec<Scenario> {
    vec![
        a!(f::PROGRESSIVE_CALL_RESULTS, "dealer", progressive_results_are_forwarded, "Progressive call results (§ rpc_progressive_call_results): with CALL.Options.receive_progress the dealer sets INVOCATION.Details.receive_progress for a callee announcing the feature (and call canceling); each YIELD with progress reaches the caller at once as RESULT with Details.progress, whatever its shape; the final YIELD becomes a RESULT without progress"),
        a!(f::PROGRESSIVE_CALL_RESULTS, "dealer", progressive_results_may_be_empty, "Progressive call results (§ rpc_progressive_call_results): progressive and final results may be empty; an empty progressive YIELD is still forwarded as RESULT with progress, and an empty final YIELD ends the call"),
        a!(f::PROGRESSIVE_CALL_RESULTS, "dealer", progressive_call_ends_in_error, "Progressive call results (§ rpc_progressive_call_results): after progressive results, the call may end in the callee's ERROR, relayed to the caller with its URI and arguments"),
        a!(f::PROGRESSIVE_CALL_RESULTS, "dealer", progressive_caller_leaving_interrupts, "Progressive call results (§ rpc_progressive_call_results, caller leaving): when the caller leaves during a progressive call, the dealer sends the callee INTERRUPT with mode killnowait"),
        a!(f::PROGRESSIVE_CALL_RESULTS, "dealer", progressive_callee_leaving_cancels, "Progressive call results (§ rpc_progressive_call_results, callee leaving): when the callee leaves during a progressive call, the caller gets ERROR wamp.error.canceled"),
        a!(f::PROGRESSIVE_CALL_RESULTS, "dealer", progressive_results_need_canceling, "Progressive call results (§ rpc_progressive_call_results): a dealer supporting progressive call results MUST support call canceling, and announces it"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", invocation_chunks_share_request_id, "Progressive call invocations (§ rpc_progressive_call_invocations): CALLs with one request ID and Options.progress are forwarded as INVOCATIONs sharing one request ID, with Details.progress on all but the last; the callee's YIELD answers the whole call"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", continuation_keeps_id_sequence, "Progressive call invocations (§ rpc_progressive_call_invocations, request IDs): a continuation reuses its call's ID ([CALL 1 progress], [CALL 2], [CALL 1 final] is valid) and new requests go on from the highest ID"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", gap_after_continuation_is_violation, "Progressive call invocations (§ rpc_progressive_call_invocations, request IDs): a new CALL whose ID skips one (1, 1, 3) is a protocol violation"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", continuation_of_completed_call_is_discarded, "Progressive call invocations (§ rpc_progressive_call_invocations, continuations on completed calls): a continuation arriving after the callee ended the call is silently discarded: no reply, no INVOCATION, no violation"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", progressive_invocation_needs_callee_support, "Progressive call invocations (§ rpc_progressive_call_invocations): a progressive CALL to a callee that did not announce the feature gets ERROR wamp.error.feature_not_supported"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", progressive_invocation_caller_leaving, "Progressive call invocations (§ rpc_progressive_call_invocations, caller leaving): when the caller leaves mid-stream, the dealer sends the callee INTERRUPT with mode killnowait"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", progressive_invocation_sticks_to_callee, "Progressive call invocations (§ rpc_progressive_call_invocations, shared registration): the first chunk picks a callee by the invocation policy and every later chunk goes to that same callee (checked when the dealer also announces shared_registration)"),
        a!(f::PROGRESSIVE_CALL_INVOCATIONS, "dealer", progressive_invocations_need_canceling, "Progressive call invocations (§ rpc_progressive_call_invocations): a dealer supporting progressive call invocations MUST also announce call canceling (call_canceling, or call_cancelling as that section spells it)"),
        a!(f::CALL_TIMEOUT, "dealer", dealer_timeout_interrupts_callee, "Call timeout (§ rpc_call_timeout, dealer-initiated): for a callee without call_timeout, a CALL with timeout 200 ms that the callee never answers gets ERROR wamp.error.timeout; the callee (which supports canceling) gets INTERRUPT (mode killnowait); its late YIELD is dropped"),
        a!(f::CALL_TIMEOUT, "dealer", dealer_timeout_skips_without_canceling, "Call timeout (§ rpc_call_timeout, dealer-initiated): for a callee without call_timeout nor call_canceling the implicit mode is skip: the caller gets ERROR wamp.error.timeout, the callee no INTERRUPT, and its late YIELD is dropped"),
        a!(f::CALL_TIMEOUT, "dealer", forward_timeout_or_enforce, "Call timeout (§ rpc_call_timeout, callee-initiated): with REGISTER.Options.forward_timeout the dealer MAY forward INVOCATION.Details.timeout (then equal to the CALL's) and relay the callee's ERROR wamp.error.timeout, or time the call itself; either way the caller gets wamp.error.timeout"),
        a!(f::CALL_TIMEOUT, "dealer", zero_timeout_means_none, "Call timeout (§ rpc_call_timeout): timeout 0 means no timeout (a call answered after 500 ms gets its RESULT), and a call answered before its timeout gets its RESULT"),
        a!(f::CALL_TIMEOUT, "dealer", timeout_restarts_on_progress, "Call timeout (§ rpc_progressive_call_results, timeouts): with progressive results the timeout runs until the first result and between results, not over the whole call (checked when the dealer also announces progressive_call_results)"),
        a!(f::CALL_CANCELING, "dealer", cancel_skip, "Call canceling (§ rpc_call_canceling): mode skip: the caller gets ERROR wamp.error.canceled at once, the callee no INTERRUPT, and the callee's later YIELD is discarded (no RESULT, no protocol violation)"),
        a!(f::CALL_CANCELING, "dealer", cancel_kill, "Call canceling (§ rpc_call_canceling): mode kill: the callee gets INTERRUPT (mode kill when given); the caller gets nothing until the callee answers, then the callee's ERROR"),
        a!(f::CALL_CANCELING, "dealer", cancel_kill_callee_finishes_first, "Call canceling (§ rpc_call_canceling): mode kill: if the callee finishes the invocation rather than the interrupt, the caller gets exactly one answer, RESULT or ERROR (the spec allows either)"),
        a!(f::CALL_CANCELING, "dealer", cancel_killnowait, "Call canceling (§ rpc_call_canceling): mode killnowait: the caller gets ERROR wamp.error.canceled at once, the callee INTERRUPT (mode killnowait when given), and any later answer of the callee is discarded"),
        a!(f::CALL_CANCELING, "dealer", cancel_without_callee_support_is_skip, "Call canceling (§ rpc_call_canceling): when the callee does not announce call_canceling the behaviour is skip, whatever the mode: ERROR at once, no INTERRUPT"),
        a!(f::CALL_CANCELING, "dealer", caller_leaving_interrupts_callee, "Caller leaving (basic profile, with call canceling): when the caller leaves while its call is outstanding and the callee supports canceling, the callee gets INTERRUPT with mode killnowait; its late YIELD is dropped without a protocol violation"),
        a!(f::CALLER_IDENTIFICATION, "dealer", disclose_me_discloses_caller, "Caller identification (§ rpc_caller_identification): with CALL.Options.disclose_me, INVOCATION.Details.caller is the caller's session ID (caller_authid/caller_authrole, when given, are the caller's); the dealer MAY refuse with ERROR wamp.error.option_disallowed.disclose_me"),
        a!(f::CALLER_IDENTIFICATION, "dealer", disclose_caller_discloses_caller, "Caller identification (§ rpc_caller_identification): with REGISTER.Options.disclose_caller, INVOCATION.Details.caller is the caller's session ID even without disclose_me"),
        a!(f::CALL_TRUSTLEVELS, "dealer", call_trustlevel_is_assigned, "Call trust levels (§ rpc_call_trustlevels): a dealer supporting trust levels provides INVOCATION.Details.trustlevel, an integer (0 lowest)"),
        a!(f::CALL_TRUSTLEVELS, "dealer", call_trustlevel_is_stable, "Call trust levels (§ rpc_call_trustlevels): trust levels are assigned per procedure and caller role, so two identical calls of one caller get the same trust level"),
        a!(f::CALL_REROUTE, "dealer", unavailable_single_callee, "Call re-routing (§ rpc_call_rerouting): a callee answering wamp.error.unavailable on a single registration makes the caller get ERROR wamp.error.no_available_callee"),
        a!(f::CALL_REROUTE, "dealer", unavailable_roundrobin_reroutes, "Call re-routing (§ rpc_call_rerouting): on a roundrobin registration the call is re-routed to the next callee, whose answer reaches the caller (checked when the dealer also announces shared_registration)"),
        a!(f::CALL_REROUTE, "dealer", all_callees_unavailable, "Call re-routing (§ rpc_call_rerouting, failure scenario): when every callee answers wamp.error.unavailable the caller gets ERROR wamp.error.no_available_callee (checked when the dealer also announces shared_registration)"),
        a!(f::CALL_REROUTE, "dealer", unavailable_first_reroutes_to_next, "Call re-routing (§ rpc_call_rerouting): with policy first, the call goes on to the registration made after the unavailable one (checked when the dealer also announces shared_registration)"),
        a!(f::CALL_REROUTE, "dealer", unavailable_last_reroutes_to_previous, "Call re-routing (§ rpc_call_rerouting): with policy last, the call goes on to the registration made right before the unavailable one (checked when the dealer also announces shared_registration)"),
    ]
}

fn receive_progress() -> CallOptions {
    CallOptions {
        receive_progress: Some(true),
        ..Default::default()
    }
}

fn cancel(request: RequestId, mode: CancelMode) -> Cancel {
    Cancel {
        request,
        options: CancelOptions {
            mode: Some(mode),
            ..Default::default()
        },
    }
}

/// Checks an INTERRUPT's mode: absent, or one of `modes`.
fn check_mode(i: &Interrupt, modes: &[CancelMode]) -> Result<(), Failure> {
    check(
        i.options.mode.is_none_or(|m| modes.contains(&m)),
        format!(
            "INTERRUPT with mode {} (or none)",
            modes
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join("/")
        ),
        format!("mode {:?}", i.options.mode.map(CancelMode::as_str)),
    )
}

async fn progressive_call(t: &Target) -> Result<(Peer, Peer, RequestId, Invocation), Failure> {
    let mut callee = Peer::join(t).await?;
    let mut caller = Peer::join(t).await?;
    let procedure = unique(&callee, "progress");
    register(&mut callee, &procedure).await?;
    let request = call(
        &mut caller,
        &procedure,
        receive_progress(),
        args![2010, 2011],
    )
    .await?;
    let inv = expect_invocation(&mut callee).await?;
    Ok((callee, caller, request, inv))
}

// ---- progressive_call_results ----------------------------------------------------------------

/// Checks that the dealer announces call canceling (in either spelling), as `feature` requires.
async fn dealer_announces_canceling(t: &Target, feature: &str) -> Result<(), Failure> {
    let peer = Peer::join(t).await?;
    check(
        announces(&peer, "dealer", f::CALL_CANCELING)
            || announces(&peer, "dealer", f::CALL_CANCELLING),
        format!("WELCOME.Details.roles.dealer.features.call_canceling with {feature}"),
        "no call_canceling",
    )
}

async fn progressive_results_need_canceling(t: Target) -> Result<(), Failure> {
    dealer_announces_canceling(&t, f::PROGRESSIVE_CALL_RESULTS).await
}

async fn progressive_invocations_need_canceling(t: Target) -> Result<(), Failure> {
    dealer_announces_canceling(&t, f::PROGRESSIVE_CALL_INVOCATIONS).await
}

async fn progressive_results_are_forwarded(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = progressive_call(&t).await?;
    check(
        inv.details.receive_progress == Some(true),
        "INVOCATION.Details.receive_progress = true",
        format!("receive_progress {:?}", inv.details.receive_progress),
    )?;
    callee
        .send(yield_with(inv.request, progress()).with_args(args!["Y2010", 120]))
        .await?;
    // Read before the next YIELD: the dealer forwards each progressive result at once.
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress == Some(true) && r.payload.args() == &args!["Y2010", 120][..],
        "RESULT [\"Y2010\", 120] with progress = true, before the next YIELD",
        show_result(&r),
    )?;
    callee
        .send(
            yield_with(inv.request, progress())
                .with_kwargs(kwargs! { "foo" => 10, "bar" => "partial 1" }),
        )
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress == Some(true)
            && r.payload.kwargs().and_then(|k| k.get("foo")) == Some(&Value::from(10)),
        "RESULT {foo: 10, bar: \"partial 1\"} with progress = true",
        show_result(&r),
    )?;
    callee
        .send(Yield::new(inv.request).with_args(args!["Total", 490]))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress != Some(true) && r.payload.args() == &args!["Total", 490][..],
        "the final RESULT [\"Total\", 490] without progress",
        show_result(&r),
    )
}

async fn progressive_results_may_be_empty(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = progressive_call(&t).await?;
    callee.send(yield_with(inv.request, progress())).await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress == Some(true) && r.payload.is_empty(),
        "an empty RESULT with progress = true",
        show_result(&r),
    )?;
    callee
        .send(yield_with(inv.request, progress()).with_args(args!["a"]))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress == Some(true),
        "RESULT [\"a\"] with progress = true",
        show_result(&r),
    )?;
    callee.send(Yield::new(inv.request)).await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress != Some(true) && r.payload.is_empty(),
        "an empty final RESULT without progress",
        show_result(&r),
    )?;
    caller.expect_nothing().await
}

async fn progressive_call_ends_in_error(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = progressive_call(&t).await?;
    callee
        .send(yield_with(inv.request, progress()).with_args(args!["Y2010", 120]))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress == Some(true),
        "a progressive RESULT",
        show_result(&r),
    )?;
    callee
        .send(
            Error::new(
                RequestType::Invocation,
                inv.request,
                "com.conformance.error.invalid_revenue_year",
            )
            .with_args(args![1830]),
        )
        .await?;
    let e = expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "com.conformance.error.invalid_revenue_year",
    )
    .await?;
    check(
        e.payload.args() == &args![1830][..],
        "ERROR args [1830]",
        format!("{:?}", e.payload.args()),
    )
}

async fn progressive_caller_leaving_interrupts(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = progressive_call(&t).await?;
    callee
        .send(yield_with(inv.request, progress()).with_args(args![1]))
        .await?;
    expect_result(&mut caller, request).await?;
    caller.drop_connection().await;
    let i = expect_interrupt(&mut callee, inv.request).await?;
    check(
        i.options.mode == Some(CancelMode::KillNoWait),
        "INTERRUPT with mode killnowait",
        format!("mode {:?}", i.options.mode.map(CancelMode::as_str)),
    )
}

async fn progressive_callee_leaving_cancels(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = progressive_call(&t).await?;
    callee
        .send(yield_with(inv.request, progress()).with_args(args![1]))
        .await?;
    expect_result(&mut caller, request).await?;
    callee.drop_connection().await;
    expect_error_in(&mut caller, RequestType::Call, request, CANCELED)
        .await
        .map(|_| ())
}

// ---- progressive_call_invocations ------------------------------------------------------------

/// A callee announcing progressive call invocations and call canceling, in both spellings
/// the spec uses.
fn streaming_callee() -> ClientRoles {
    roles_adding(&[("callee", f::CALL_CANCELLING)])
}

/// Sends one chunk of a progressive call (`last`: the final one, without progress).
async fn chunk(
    caller: &mut Peer,
    request: RequestId,
    procedure: &str,
    last: bool,
    arg: i64,
) -> Result<(), Failure> {
    let options = CallOptions {
        progress: (!last).then_some(true),
        ..Default::default()
    };
    caller
        .send(
            Call::new(request, uri(procedure))
                .with_options(options)
                .with_args(args![arg]),
        )
        .await
}

/// Checks a chunk's INVOCATION: request ID, progress flag and argument.
fn check_chunk(inv: &Invocation, request: RequestId, last: bool, arg: i64) -> Result<(), Failure> {
    let progress_ok = if last {
        inv.details.progress != Some(true)
    } else {
        inv.details.progress == Some(true)
    };
    check(
        inv.request == request && progress_ok && inv.payload.args() == &args![arg][..],
        format!(
            "INVOCATION {request} [{arg}] {}",
            if last {
                "without progress"
            } else {
                "with progress = true"
            }
        ),
        format!(
            "INVOCATION {} {:?} progress {:?}",
            inv.request,
            inv.payload.args(),
            inv.details.progress
        ),
    )
}

async fn invocation_chunks_share_request_id(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, streaming_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "upload");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    chunk(&mut caller, request, &procedure, false, 1).await?;
    let first = expect_invocation(&mut callee).await?;
    check_chunk(&first, first.request, false, 1)?;
    chunk(&mut caller, request, &procedure, false, 2).await?;
    let inv = expect_invocation(&mut callee).await?;
    check_chunk(&inv, first.request, false, 2)?;
    chunk(&mut caller, request, &procedure, true, 3).await?;
    let inv = expect_invocation(&mut callee).await?;
    check_chunk(&inv, first.request, true, 3)?;
    callee
        .send(Yield::new(first.request).with_args(args![6]))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.payload.args() == &args![6][..],
        "RESULT [6]",
        show_result(&r),
    )
}

async fn continuation_keeps_id_sequence(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, streaming_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    let streamed = unique(&callee, "foo");
    let plain = unique(&callee, "bar");
    register(&mut callee, &streamed).await?;
    let plain_registration = register(&mut callee, &plain).await?;
    let first = caller.next_id();
    chunk(&mut caller, first, &streamed, false, 1).await?;
    let streaming = expect_invocation(&mut callee).await?;
    check_chunk(&streaming, streaming.request, false, 1)?;
    let second = call(&mut caller, &plain, CallOptions::default(), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    check(
        inv.registration == plain_registration,
        format!("INVOCATION of {plain}"),
        format!("INVOCATION of registration {}", inv.registration),
    )?;
    callee.send(Yield::new(inv.request)).await?;
    expect_result(&mut caller, second).await?;
    chunk(&mut caller, first, &streamed, true, 2).await?;
    let inv = expect_invocation(&mut callee).await?;
    check_chunk(&inv, streaming.request, true, 2)?;
    callee.send(Yield::new(inv.request)).await?;
    expect_result(&mut caller, first).await?;
    // The next new request goes on from the highest ID.
    complete_call(&mut caller, &mut callee, &plain, CallOptions::default())
        .await
        .map(|_| ())
}

async fn gap_after_continuation_is_violation(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, streaming_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "gap");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    chunk(&mut caller, request, &procedure, false, 1).await?;
    expect_invocation(&mut callee).await?;
    chunk(&mut caller, request, &procedure, false, 2).await?;
    expect_invocation(&mut callee).await?;
    let gap = RequestId::new(request.get() + 2).unwrap_or(RequestId::MAX);
    caller.send(Call::new(gap, uri(&procedure))).await?;
    caller.expect_violation().await
}

async fn continuation_of_completed_call_is_discarded(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, streaming_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "done");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    chunk(&mut caller, request, &procedure, false, 1).await?;
    let inv = expect_invocation(&mut callee).await?;
    callee
        .send(Error::new(
            RequestType::Invocation,
            inv.request,
            "com.conformance.error.stop",
        ))
        .await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "com.conformance.error.stop",
    )
    .await?;
    chunk(&mut caller, request, &procedure, false, 2).await?;
    caller.expect_nothing().await?;
    callee.expect_nothing().await?;
    // The caller's session goes on.
    complete_call(&mut caller, &mut callee, &procedure, CallOptions::default())
        .await
        .map(|_| ())
}

async fn progressive_invocation_needs_callee_support(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, roles_without(&[f::PROGRESSIVE_CALL_INVOCATIONS])).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "nostream");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    chunk(&mut caller, request, &procedure, false, 1).await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "wamp.error.feature_not_supported",
    )
    .await?;
    callee.expect_nothing().await
}

async fn progressive_invocation_caller_leaving(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, streaming_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "stream");
    register(&mut callee, &procedure).await?;
    let request = caller.next_id();
    chunk(&mut caller, request, &procedure, false, 1).await?;
    let inv = expect_invocation(&mut callee).await?;
    caller.drop_connection().await;
    let i = expect_interrupt(&mut callee, inv.request).await?;
    check(
        i.options.mode == Some(CancelMode::KillNoWait),
        "INTERRUPT with mode killnowait",
        format!("mode {:?}", i.options.mode.map(CancelMode::as_str)),
    )
}

async fn progressive_invocation_sticks_to_callee(t: Target) -> Result<(), Failure> {
    let mut a = Peer::join_with(&t, streaming_callee()).await?;
    let mut b = Peer::join_with(&t, streaming_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    if !announces(&a, "dealer", f::SHARED_REGISTRATION) {
        return Ok(());
    }
    let procedure = unique(&a, "sticky");
    register_with(&mut a, &procedure, reg_invoke(InvokePolicy::RoundRobin)).await?;
    register_with(&mut b, &procedure, reg_invoke(InvokePolicy::RoundRobin)).await?;
    let request = caller.next_id();
    chunk(&mut caller, request, &procedure, false, 1).await?;
    let (index, first) = invocation_at_any(&mut [&mut a, &mut b]).await?;
    chunk(&mut caller, request, &procedure, false, 2).await?;
    chunk(&mut caller, request, &procedure, true, 3).await?;
    let (chosen, other) = if index == 0 {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let inv = expect_invocation(chosen).await?;
    check_chunk(&inv, first.request, false, 2)?;
    let inv = expect_invocation(chosen).await?;
    check_chunk(&inv, first.request, true, 3)?;
    other.expect_nothing().await?;
    chosen.send(Yield::new(first.request)).await?;
    expect_result(&mut caller, request).await.map(|_| ())
}

// ---- call_timeout ---------------------------------------------------------------------------

fn timeout_ms(ms: u64) -> CallOptions {
    CallOptions {
        timeout: Some(ms),
        ..Default::default()
    }
}

async fn dealer_timeout_interrupts_callee(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, roles_without(&[f::CALL_TIMEOUT])).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "slow");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, timeout_ms(200), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "wamp.error.timeout",
    )
    .await?;
    let i = expect_interrupt(&mut callee, inv.request).await?;
    check_mode(&i, &[CancelMode::KillNoWait])?;
    callee
        .send(Yield::new(inv.request).with_args(args!["late"]))
        .await?;
    caller.expect_nothing().await?;
    callee.expect_nothing().await
}

async fn dealer_timeout_skips_without_canceling(t: Target) -> Result<(), Failure> {
    let roles = roles_without(&[f::CALL_TIMEOUT, f::CALL_CANCELING, f::CALL_CANCELLING]);
    let mut callee = Peer::join_with(&t, roles).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "slowskip");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, timeout_ms(200), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "wamp.error.timeout",
    )
    .await?;
    callee.expect_nothing().await?;
    callee
        .send(Yield::new(inv.request).with_args(args!["late"]))
        .await?;
    caller.expect_nothing().await?;
    callee.expect_nothing().await
}

async fn forward_timeout_or_enforce(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "fwdtimeout");
    let options = RegisterOptions {
        forward_timeout: Some(true),
        ..Default::default()
    };
    register_with(&mut callee, &procedure, options).await?;
    let request = call(&mut caller, &procedure, timeout_ms(300), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    if let Some(ms) = inv.details.timeout {
        check(
            ms == 300,
            "INVOCATION.Details.timeout 300 (the CALL's)",
            ms.to_string(),
        )?;
        callee
            .send(Error::new(
                RequestType::Invocation,
                inv.request,
                "wamp.error.timeout",
            ))
            .await?;
    }
    expect_error(
        &mut caller,
        RequestType::Call,
        request,
        "wamp.error.timeout",
    )
    .await
    .map(|_| ())
}

async fn zero_timeout_means_none(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, roles_without(&[f::CALL_TIMEOUT])).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "notimeout");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, timeout_ms(0), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    callee
        .send(Yield::new(inv.request).with_args(args!["slow"]))
        .await?;
    expect_result(&mut caller, request).await?;
    let request = call(&mut caller, &procedure, timeout_ms(5000), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    callee
        .send(Yield::new(inv.request).with_args(args!["fast"]))
        .await?;
    expect_result(&mut caller, request).await.map(|_| ())
}

async fn timeout_restarts_on_progress(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, roles_without(&[f::CALL_TIMEOUT])).await?;
    let mut caller = Peer::join(&t).await?;
    if !announces(&caller, "dealer", f::PROGRESSIVE_CALL_RESULTS) {
        return Ok(());
    }
    let procedure = unique(&callee, "ticking");
    register(&mut callee, &procedure).await?;
    let options = CallOptions {
        timeout: Some(600),
        receive_progress: Some(true),
        ..Default::default()
    };
    let request = call(&mut caller, &procedure, options, args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    // Four answers 300 ms apart: 1.2 s in all, never 600 ms without a result.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        callee
            .send(yield_with(inv.request, progress()).with_args(args![i]))
            .await?;
        let r = expect_result(&mut caller, request).await?;
        check(
            r.details.progress == Some(true),
            format!("progressive RESULT [{i}]"),
            show_result(&r),
        )?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    callee
        .send(Yield::new(inv.request).with_args(args!["end"]))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.details.progress != Some(true),
        "the final RESULT",
        show_result(&r),
    )
}

// ---- call_canceling -------------------------------------------------------------------------

async fn pending_call(
    t: &Target,
    callee_roles: ClientRoles,
) -> Result<(Peer, Peer, RequestId, Invocation), Failure> {
    let mut callee = Peer::join_with(t, callee_roles).await?;
    let mut caller = Peer::join(t).await?;
    let procedure = unique(&callee, "cancelme");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, CallOptions::default(), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    Ok((callee, caller, request, inv))
}

async fn cancel_skip(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = pending_call(&t, all_roles()).await?;
    caller.send(cancel(request, CancelMode::Skip)).await?;
    expect_error_in(&mut caller, RequestType::Call, request, CANCELED).await?;
    callee.expect_nothing().await?;
    callee
        .send(Yield::new(inv.request).with_args(args!["late"]))
        .await?;
    caller.expect_nothing().await?;
    callee.expect_nothing().await
}

async fn cancel_kill(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = pending_call(&t, all_roles()).await?;
    caller.send(cancel(request, CancelMode::Kill)).await?;
    let i = expect_interrupt(&mut callee, inv.request).await?;
    check_mode(&i, &[CancelMode::Kill])?;
    caller.expect_nothing().await?;
    callee
        .send(Error::new(
            RequestType::Invocation,
            inv.request,
            "wamp.error.canceled",
        ))
        .await?;
    expect_error_in(&mut caller, RequestType::Call, request, CANCELED)
        .await
        .map(|_| ())
}

async fn cancel_kill_callee_finishes_first(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = pending_call(&t, all_roles()).await?;
    caller.send(cancel(request, CancelMode::Kill)).await?;
    expect_interrupt(&mut callee, inv.request).await?;
    callee
        .send(Yield::new(inv.request).with_args(args!["done"]))
        .await?;
    match caller
        .next_or(&format!("RESULT or ERROR for CALL {request}"))
        .await?
    {
        Message::Result(r) if r.request == request => {}
        Message::Error(e) if e.request == request && e.request_type == RequestType::Call => {}
        other => {
            return Err(Failure::new(
                format!("RESULT or ERROR for CALL {request}"),
                describe(&other),
            ))
        }
    }
    caller.expect_nothing().await
}

async fn cancel_killnowait(t: Target) -> Result<(), Failure> {
    let (mut callee, mut caller, request, inv) = pending_call(&t, all_roles()).await?;
    caller.send(cancel(request, CancelMode::KillNoWait)).await?;
    expect_error_in(&mut caller, RequestType::Call, request, CANCELED).await?;
    let i = expect_interrupt(&mut callee, inv.request).await?;
    check_mode(&i, &[CancelMode::KillNoWait])?;
    callee
        .send(Error::new(
            RequestType::Invocation,
            inv.request,
            "wamp.error.canceled",
        ))
        .await?;
    caller.expect_nothing().await?;
    callee.expect_nothing().await
}

async fn cancel_without_callee_support_is_skip(t: Target) -> Result<(), Failure> {
    let roles = roles_without(&[f::CALL_CANCELING, f::CALL_CANCELLING]);
    let (mut callee, mut caller, request, inv) = pending_call(&t, roles).await?;
    caller.send(cancel(request, CancelMode::Kill)).await?;
    expect_error_in(&mut caller, RequestType::Call, request, CANCELED).await?;
    callee.expect_nothing().await?;
    callee
        .send(Yield::new(inv.request).with_args(args!["late"]))
        .await?;
    caller.expect_nothing().await?;
    callee.expect_nothing().await
}

async fn caller_leaving_interrupts_callee(t: Target) -> Result<(), Failure> {
    let (mut callee, caller, _, inv) = pending_call(&t, all_roles()).await?;
    caller.drop_connection().await;
    let i = expect_interrupt(&mut callee, inv.request).await?;
    check(
        i.options.mode == Some(CancelMode::KillNoWait),
        "INTERRUPT with mode killnowait",
        format!("mode {:?}", i.options.mode.map(CancelMode::as_str)),
    )?;
    callee
        .send(Yield::new(inv.request).with_args(args!["late"]))
        .await?;
    callee.expect_nothing().await
}

// ---- caller_identification ------------------------------------------------------------------

fn check_caller(inv: &Invocation, caller: &Peer) -> Result<(), Failure> {
    let expected = session(caller);
    check(
        inv.details.caller == Some(expected),
        format!("INVOCATION.Details.caller {expected}"),
        format!("{:?}", inv.details.caller.map(SessionId::get)),
    )?;
    check_identity(
        caller,
        "INVOCATION.Details.caller_*: the caller's",
        inv.details.caller_authid.as_ref(),
        inv.details.caller_authrole.as_ref(),
    )
}

async fn disclose_me_discloses_caller(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "whocalls");
    register(&mut callee, &procedure).await?;
    let options = CallOptions {
        disclose_me: Some(true),
        ..Default::default()
    };
    let request = call(&mut caller, &procedure, options, args![]).await?;
    match recv_any(
        &mut [&mut callee, &mut caller],
        "INVOCATION with Details.caller, or ERROR wamp.error.option_disallowed.disclose_me",
    )
    .await?
    {
        (0, Message::Invocation(inv)) => {
            check_caller(&inv, &caller)?;
            callee.send(Yield::new(inv.request)).await?;
            expect_result(&mut caller, request).await.map(|_| ())
        }
        (1, Message::Error(e))
            if e.request == request
                && (e.error == "wamp.error.option_disallowed.disclose_me"
                    || e.error == "wamp.error.disclose_me.not_allowed") =>
        {
            callee.expect_nothing().await
        }
        (_, other) => Err(Failure::new(
            "INVOCATION with Details.caller, or ERROR wamp.error.option_disallowed.disclose_me",
            describe(&other),
        )),
    }
}

async fn disclose_caller_discloses_caller(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "disclosing");
    let options = RegisterOptions {
        disclose_caller: Some(true),
        ..Default::default()
    };
    register_with(&mut callee, &procedure, options).await?;
    let inv = complete_call(&mut caller, &mut callee, &procedure, CallOptions::default()).await?;
    check_caller(&inv, &caller)
}

// ---- call_trustlevels -----------------------------------------------------------------------

async fn call_trustlevel_is_assigned(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "trusted");
    register(&mut callee, &procedure).await?;
    let inv = complete_call(&mut caller, &mut callee, &procedure, CallOptions::default()).await?;
    // The decoder already refuses a trustlevel that is not a non-negative integer.
    check(
        inv.details.trustlevel.is_some(),
        "INVOCATION.Details.trustlevel (an integer)",
        "no trustlevel",
    )
}

async fn call_trustlevel_is_stable(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join(&t).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "trusted2");
    register(&mut callee, &procedure).await?;
    let first = complete_call(&mut caller, &mut callee, &procedure, CallOptions::default()).await?;
    let second =
        complete_call(&mut caller, &mut callee, &procedure, CallOptions::default()).await?;
    check(
        first.details.trustlevel == second.details.trustlevel,
        "the same trustlevel for both calls",
        format!(
            "{:?} then {:?}",
            first.details.trustlevel, second.details.trustlevel
        ),
    )
}

// ---- call_reroute ---------------------------------------------------------------------------

const UNAVAILABLE: &str = "wamp.error.unavailable";
const NO_AVAILABLE_CALLEE: &str = "wamp.error.no_available_callee";

fn rerouting_callee() -> ClientRoles {
    roles_adding(&[("callee", f::CALL_REROUTE)])
}

async fn unavailable(callee: &mut Peer, inv: &Invocation) -> Result<(), Failure> {
    callee
        .send(Error::new(
            RequestType::Invocation,
            inv.request,
            UNAVAILABLE,
        ))
        .await
}

async fn unavailable_single_callee(t: Target) -> Result<(), Failure> {
    let mut callee = Peer::join_with(&t, rerouting_callee()).await?;
    let mut caller = Peer::join(&t).await?;
    let procedure = unique(&callee, "busy");
    register(&mut callee, &procedure).await?;
    let request = call(&mut caller, &procedure, CallOptions::default(), args![]).await?;
    let inv = expect_invocation(&mut callee).await?;
    unavailable(&mut callee, &inv).await?;
    expect_error(&mut caller, RequestType::Call, request, NO_AVAILABLE_CALLEE)
        .await
        .map(|_| ())
}

/// `n` callees sharing one procedure under `policy`, registered in order; `None` when the
/// dealer does not announce shared registration.
async fn shared_callees(
    t: &Target,
    n: usize,
    policy: InvokePolicy,
) -> Result<Option<(Vec<Peer>, String)>, Failure> {
    let mut callees = Vec::new();
    for _ in 0..n {
        callees.push(Peer::join_with(t, rerouting_callee()).await?);
    }
    if !announces(&callees[0], "dealer", f::SHARED_REGISTRATION) {
        return Ok(None);
    }
    let procedure = unique(&callees[0], "reroute");
    for callee in &mut callees {
        register_with(callee, &procedure, reg_invoke(policy)).await?;
    }
    Ok(Some((callees, procedure)))
}

async fn unavailable_roundrobin_reroutes(t: Target) -> Result<(), Failure> {
    let Some((mut callees, procedure)) = shared_callees(&t, 2, InvokePolicy::RoundRobin).await?
    else {
        return Ok(());
    };
    let mut caller = Peer::join(&t).await?;
    let request = call(&mut caller, &procedure, CallOptions::default(), args![]).await?;
    let [a, b] = callees.as_mut_slice() else {
        return Err(Failure::setup("two callees"));
    };
    let (first, inv) = invocation_at_any(&mut [&mut *a, &mut *b]).await?;
    let (busy, other) = if first == 0 { (a, b) } else { (b, a) };
    unavailable(busy, &inv).await?;
    let inv = expect_invocation(other).await?;
    other
        .send(Yield::new(inv.request).with_args(args!["rerouted"]))
        .await?;
    let r = expect_result(&mut caller, request).await?;
    check(
        r.payload.args() == &args!["rerouted"][..],
        "RESULT [\"rerouted\"] from the other callee",
        show_result(&r),
    )
}

async fn all_callees_unavailable(t: Target) -> Result<(), Failure> {
    let Some((mut callees, procedure)) = shared_callees(&t, 2, InvokePolicy::RoundRobin).await?
    else {
        return Ok(());
    };
    let mut caller = Peer::join(&t).await?;
    let request = call(&mut caller, &procedure, CallOptions::default(), args![]).await?;
    let [a, b] = callees.as_mut_slice() else {
        return Err(Failure::setup("two callees"));
    };
    let (first, inv) = invocation_at_any(&mut [&mut *a, &mut *b]).await?;
    let (busy, other) = if first == 0 { (a, b) } else { (b, a) };
    unavailable(busy, &inv).await?;
    let inv = expect_invocation(other).await?;
    unavailable(other, &inv).await?;
    expect_error(&mut caller, RequestType::Call, request, NO_AVAILABLE_CALLEE)
        .await
        .map(|_| ())
}

/// With three callees under `policy`: the call goes to `first`, which is unavailable, then to
/// `then`.
async fn reroute_in_order(
    t: Target,
    policy: InvokePolicy,
    first: usize,
    then: usize,
) -> Result<(), Failure> {
    let Some((mut callees, procedure)) = shared_callees(&t, 3, policy).await? else {
        return Ok(());
    };
    let mut caller = Peer::join(&t).await?;
    let request = call(&mut caller, &procedure, CallOptions::default(), args![]).await?;
    let mut all: Vec<&mut Peer> = callees.iter_mut().collect();
    let (index, inv) = invocation_at_any(&mut all).await?;
    check(
        index == first,
        format!(
            "the call at callee {} (registration order, policy {policy})",
            first + 1
        ),
        format!("callee {}", index + 1),
    )?;
    unavailable(all[index], &inv).await?;
    let (index, inv) = invocation_at_any(&mut all).await?;
    check(
        index == then,
        format!("the re-routed call at callee {}", then + 1),
        format!("callee {}", index + 1),
    )?;
    all[index].send(Yield::new(inv.request)).await?;
    expect_result(&mut caller, request).await.map(|_| ())
}

async fn unavailable_first_reroutes_to_next(t: Target) -> Result<(), Failure> {
    reroute_in_order(t, InvokePolicy::First, 0, 1).await
}

async fn unavailable_last_reroutes_to_previous(t: Target) -> Result<(), Failure> {
    reroute_in_order(t, InvokePolicy::Last, 2, 1).await
}
