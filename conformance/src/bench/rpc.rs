//! The `rpc` scenario: one callee echoing its arguments, N callers with K calls in flight each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nexus_tokio::{Client, Dict, Error, Invocation, Payload, Value};
use tokio::task::JoinSet;

use super::cli::{RpcArgs, Target};
use super::report::{
    latency_histogram, per_sec, ErrorLog, Figures, Latency, LoadGenerator, Parameters, RpcFigures,
    RpcParameters,
};
use super::{close_all, open, open_many, unique_uri, BenchError, Plan};

/// How long calls still in flight at the end may take before they count as errors.
const GRACE: Duration = Duration::from_secs(5);

/// What one caller loop counted.
struct Tally {
    histogram: Histogram<u64>,
    calls: u64,
    errors: ErrorLog,
}

pub(super) async fn run(
    target: &Target,
    args: &RpcArgs,
) -> Result<(Parameters, Figures, LoadGenerator), BenchError> {
    let procedure: Arc<str> = unique_uri("echo").into();
    let callee = open(target).await?;
    callee
        .register(&procedure, |inv: Invocation| async move {
            Ok(Payload::new(inv.args, inv.kwargs))
        })
        .await
        .map_err(|source| BenchError::Register {
            procedure: procedure.to_string(),
            source: Box::new(source),
        })?
        .detach();
    let callers = open_many(target, args.callers).await?;
    let payload = Value::String("x".repeat(args.payload));
    callers[0]
        .call(&*procedure)
        // Values as they are: the benchmark measures the router, not conversions.
        .payload(Payload::new(vec![payload.clone()], Dict::new()))
        .await
        .map_err(|source| BenchError::Call {
            procedure: procedure.to_string(),
            source: Box::new(source),
        })?;

    let plan = Plan::new(&args.timing);
    let mut loops = JoinSet::new();
    for caller in &callers {
        for _ in 0..args.in_flight {
            loops.spawn(call_loop(
                caller.clone(),
                procedure.clone(),
                payload.clone(),
                plan,
            ));
        }
    }
    let load = plan.measure_cpu().await;

    let mut histogram = latency_histogram();
    let mut calls = 0;
    let mut errors = ErrorLog::default();
    let deadline = tokio::time::Instant::from(plan.end) + GRACE;
    loop {
        match tokio::time::timeout_at(deadline, loops.join_next()).await {
            Ok(Some(Ok(tally))) => {
                histogram
                    .add(&tally.histogram)
                    .expect("same histogram bounds");
                calls += tally.calls;
                errors.merge(tally.errors);
            }
            Ok(Some(Err(e))) => errors.push(format!("a caller task failed: {e}")),
            Ok(None) => break,
            Err(_) => {
                // Each loop still running waits for one call.
                for _ in 0..loops.len() {
                    errors.push(format!(
                        "a call was still unanswered {} s after the end of the run",
                        GRACE.as_secs()
                    ));
                }
                loops.abort_all();
                break;
            }
        }
    }
    close_all(&callers).await;
    close_all(std::slice::from_ref(&callee)).await;

    let parameters = Parameters::Rpc(RpcParameters {
        callers: args.callers,
        in_flight: args.in_flight,
        payload_bytes: args.payload,
        duration_secs: args.timing.duration,
        warmup_secs: args.timing.warmup,
    });
    let figures = Figures::Rpc(RpcFigures {
        calls,
        calls_per_sec: per_sec(calls, plan.measured_secs()),
        errors: errors.count,
        error_samples: errors.samples,
        latency_us: Latency::from_histogram(&histogram),
    });
    Ok((parameters, figures, load))
}

/// Calls until the end of the run, one call at a time; counts the calls answered in the
/// measured window and every failure.
async fn call_loop(client: Client, procedure: Arc<str>, payload: Value, plan: Plan) -> Tally {
    let mut tally = Tally {
        histogram: latency_histogram(),
        calls: 0,
        errors: ErrorLog::default(),
    };
    loop {
        let sent = Instant::now();
        if sent >= plan.end {
            break;
        }
        let result = client
            .call(&*procedure)
            // Values as they are: the benchmark measures the router, not conversions.
            .payload(Payload::new(vec![payload.clone()], Dict::new()))
            .await;
        let answered = Instant::now();
        match result {
            Ok(_) => {
                if plan.measured(answered) {
                    let ns = u64::try_from((answered - sent).as_nanos()).unwrap_or(u64::MAX);
                    tally.histogram.saturating_record(ns);
                    tally.calls += 1;
                }
            }
            Err(Error::Closed) => {
                tally.errors.push("the caller's session closed");
                break;
            }
            Err(e) => tally.errors.push(format!("call failed: {e}")),
        }
    }
    tally
}
