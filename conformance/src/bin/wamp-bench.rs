//! wamp-bench: a load generator for any WAMP v2 router. See `wamp-bench --help` and the
//! `nexus_conformance::bench` module.

use std::process::ExitCode;

use nexus_conformance::bench::{self, BenchError, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse_checked(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wamp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), BenchError> {
    let target = match cli.target() {
        Ok(t) => t,
        Err(e) => e.exit(),
    };
    // One worker per core: the generator must not be the bottleneck.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(bench::sys::cores())
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    let report = runtime.block_on(bench::run(&target, &cli.scenario))?;
    // Sessions are closed; stop whatever the clients left behind without waiting for it.
    runtime.shutdown_background();
    // The table ends with the saturation warning when wamp-bench used over 90% of its cores.
    print!("{}", report.to_table());
    if let Some(path) = &cli.json {
        std::fs::write(path, report.to_json() + "\n").map_err(|source| BenchError::WriteJson {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}
