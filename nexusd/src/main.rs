//! nexusd: the stand-alone nexus WAMP router.
//!
//! With no arguments it serves realm `realm1` to anonymous clients on
//! `ws://127.0.0.1:8080/ws` and `tcp://127.0.0.1:8081`. See `nexusd --help`.

mod auth;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use nexus_tokio::nexus_core::auth::scram::{Kdf, Variant};
use nexus_tokio::nexus_transports::tls::{self, ClientCertMode};
use nexus_tokio::{ListenOptions, RouterBuilder};

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the stored SCRAM credential of a password (read from standard input) as the
    /// TOML table of a user in [realm.auth]; the password itself is never stored.
    ScramCredential {
        /// `scram` (Autobahn and Crossbar) or `wamp-scram` (the WAMP specification).
        #[arg(long, default_value = "scram")]
        method: String,
        /// `argon2id13` or `pbkdf2`.
        #[arg(long, default_value = "argon2id13")]
        kdf: String,
        /// Iterations (Argon2 passes). Default: 4096 for Argon2 (Autobahn's and Crossbar's
        /// default), 600000 for PBKDF2.
        #[arg(long)]
        iterations: Option<u32>,
        /// Argon2 memory in KiB.
        #[arg(long, default_value_t = 512)]
        memory: u32,
    },
}

/// `nexusd scram-credential`.
fn scram_credential(method: &str, kdf: &str, iterations: Option<u32>, memory: u32) -> ExitCode {
    let variant = match Variant::from_authmethod(method) {
        Some(v) => v,
        None => {
            eprintln!("nexusd: --method {method:?}: expected \"scram\" or \"wamp-scram\"");
            return ExitCode::from(2);
        }
    };
    let kdf = match kdf {
        "argon2id13" | "argon2id-13" => Kdf::Argon2id13 {
            iterations: iterations.unwrap_or(4096),
            memory,
        },
        "pbkdf2" => Kdf::Pbkdf2 {
            iterations: iterations.unwrap_or(600_000),
        },
        other => {
            eprintln!("nexusd: --kdf {other:?}: expected \"argon2id13\" or \"pbkdf2\"");
            return ExitCode::from(2);
        }
    };
    let mut password = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut password) {
        eprintln!("nexusd: cannot read the password from standard input: {e}");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let mut salt = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut salt) {
        eprintln!("nexusd: no operating-system randomness for the salt: {e}");
        return ExitCode::FAILURE;
    }
    match auth::scram_credential(variant, kdf, password, &salt) {
        Ok(toml) => {
            print!("{toml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nexusd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::ScramCredential {
        method,
        kdf,
        iterations,
        memory,
    }) = &cli.command
    {
        return scram_credential(method, kdf, *iterations, *memory);
    }
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
    let tls_error = |e: tls::TlsError| nexus_tokio::Error::Config {
        what: "TLS",
        problem: e.to_string(),
    };
    let goodbye = settings.router.goodbye_timeout;
    let realms: Vec<String> = settings
        .router
        .realms
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    // Build every TLS configuration before listening, so a bad file stops start-up.
    let mut listeners = Vec::new();
    for listener in &settings.listen {
        let tls = match (&settings.tls, listener.client_certs, &listener.client_ca) {
            (None, ..) => None,
            (Some(files), ClientCertMode::None, _) | (Some(files), _, None) => {
                Some(tls::server_config_from_files(&files.cert, &files.key).map_err(tls_error)?)
            }
            (Some(files), mode, Some(ca)) => Some(
                tls::server_config_from_files_with_client_auth(&files.cert, &files.key, ca, mode)
                    .map_err(tls_error)?,
            ),
        };
        let options = ListenOptions {
            tls,
            cookie: listener.cookie.clone(),
        };
        listeners.push((listener.url.clone(), options));
    }
    let router = nexus_tokio::start(
        RouterBuilder::with_config(settings.router)
            .limits(settings.limits)
            .keepalive(settings.keepalive),
    );
    for (url, options) in listeners {
        let bound = router.listen_with(&url, options).await?;
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
