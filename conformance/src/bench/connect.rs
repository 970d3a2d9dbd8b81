//! The `connect` scenario: opens and joins C idle sessions as fast as possible.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use nexus_tokio::Client;

use super::cli::{ConnectArgs, Target};
use super::error::hint;
use super::report::{
    latency_histogram, per_sec, ConnectFigures, ConnectParameters, ErrorLog, Figures, Latency,
    LoadGenerator, Parameters,
};
use super::{client_config, close_all, open, sys, BenchError};

pub(super) async fn run(
    target: &Target,
    args: &ConnectArgs,
) -> Result<(Parameters, Figures, LoadGenerator), BenchError> {
    // The router is there and accepts us; then its memory before the load.
    let probe = open(target).await?;
    close_all(std::slice::from_ref(&probe)).await;
    drop(probe);
    let rss_before = args.router_pid.map(sys::resident_bytes).transpose()?;

    let config = Arc::new(client_config(target));
    let url: Arc<str> = target.url.as_str().into();
    let meter = sys::CpuMeter::start();
    let started = Instant::now();
    let mut opening = futures::stream::iter(0..args.sessions)
        .map(|_| {
            let config = (*config).clone();
            let url = url.clone();
            // Each session opens on its own task: the handshakes run on every core.
            tokio::spawn(async move {
                let begun = Instant::now();
                let result = nexus_tokio::connect(&url, config).await;
                (result, begun.elapsed())
            })
        })
        .buffer_unordered(args.parallel as usize);
    let mut sessions: Vec<Client> = Vec::with_capacity(args.sessions as usize);
    let mut histogram = latency_histogram();
    let mut errors = ErrorLog::default();
    let mut last_join = started;
    while let Some(joined) = opening.next().await {
        match joined {
            Ok((Ok(client), took)) => {
                last_join = Instant::now();
                histogram.saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                sessions.push(client);
            }
            Ok((Err(e), _)) => errors.push(format!("cannot open a session: {e}{}", hint(&e))),
            Err(e) => errors.push(format!("a connecting task failed: {e}")),
        }
    }
    let elapsed = (last_join - started).as_secs_f64();
    let load = meter.stop();
    let rss_after = args.router_pid.map(sys::resident_bytes).transpose()?;
    close_all(&sessions).await;

    let opened = sessions.len() as u64;
    let per_session = match (rss_before, rss_after) {
        (Some(b), Some(a)) if opened > 0 => Some((a as f64 - b as f64) / opened as f64),
        _ => None,
    };
    let parameters = Parameters::Connect(ConnectParameters {
        sessions: args.sessions,
        parallel: args.parallel,
        router_pid: args.router_pid,
    });
    let figures = Figures::Connect(ConnectFigures {
        opened,
        sessions_per_sec: per_sec(opened, elapsed),
        errors: errors.count,
        error_samples: errors.samples,
        join_latency_us: Latency::from_histogram(&histogram),
        router_rss_before_bytes: rss_before,
        router_rss_after_bytes: rss_after,
        router_bytes_per_session: per_session,
    });
    Ok((parameters, figures, load))
}
