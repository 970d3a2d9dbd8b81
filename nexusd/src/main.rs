//! nexusd: the stand-alone nexus WAMP router.
//!
//! With no arguments it serves realm `realm1` to anonymous clients on
//! `ws://127.0.0.1:8080/ws` and `tcp://127.0.0.1:8081`. See `nexusd --help`.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nexus_tokio::RouterBuilder;

/// nexusd: a WAMP v2 router (WebSocket and RawSocket; JSON, MessagePack and CBOR).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Listen on this URL (repeatable): ws://HOST:PORT/PATH, wss://..., tcp://HOST:PORT,
    /// tcps://..., unix:///PATH. Port 0 picks a free port. Default: ws://127.0.0.1:8080/ws
    /// and tcp://127.0.0.1:8081.
    #[arg(long = "listen", value_name = "URL")]
    listen: Vec<String>,
    /// Serve this realm (repeatable). Default: realm1.
    #[arg(long = "realm", value_name = "NAME")]
    realm: Vec<String>,
    /// A TOML config file (listeners, realms, TLS, limits, slow-peer policy, log level).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or a tracing filter.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::settings(
        cli.config.as_deref(),
        &cli.listen,
        &cli.realm,
        cli.log_level.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nexusd: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nexusd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nexusd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: config::Settings) -> Result<(), nexus_tokio::Error> {
    let tls = match &settings.tls {
        Some(files) => Some(
            nexus_tokio::nexus_transports::tls::server_config_from_files(&files.cert, &files.key)
                .map_err(|e| nexus_tokio::Error::Config(format!("TLS: {e}")))?,
        ),
        None => None,
    };
    let goodbye = settings.router.goodbye_timeout;
    let realms: Vec<String> = settings
        .router
        .realms
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    let router = nexus_tokio::start(
        RouterBuilder::with_config(settings.router)
            .limits(settings.limits)
            .keepalive(settings.keepalive),
    );
    for url in &settings.listen {
        let bound = router.listen(url, tls.clone()).await?;
        // The line scripts wait for; the bound URL has the real port.
        println!("listening on {bound}");
    }
    tracing::info!("serving realms {}", realms.join(", "));
    wait_for_signal().await;
    tracing::info!("shutting down: saying GOODBYE to every session");
    // Sessions get the GOODBYE timeout to answer; then whatever is left is closed.
    let _ = tokio::time::timeout(goodbye + Duration::from_secs(1), router.shutdown()).await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
