//! Why a benchmark could not run.

use std::path::PathBuf;

/// A setup failure: wamp-bench exits non-zero with this message.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The first session could not be opened.
    #[error("cannot open a session on {url} (realm {realm}): {source}{}; check that the router is running, that the URL is right (ws://HOST:PORT/PATH for WebSocket, tcp://HOST:PORT for RawSocket), that it serves realm {realm} to anonymous clients and that it speaks {serializer}", hint(source))]
    Connect {
        /// The router's URL.
        url: String,
        /// The realm.
        realm: String,
        /// The serializer name.
        serializer: &'static str,
        /// What failed.
        source: Box<nexus_tokio::Error>,
    },
    /// A stalled subscriber could not be set up.
    #[error("cannot set up a stalled subscriber on {url}: {what}")]
    Stalled {
        /// The router's URL.
        url: String,
        /// What failed.
        what: String,
    },
    /// REGISTER was refused.
    #[error("cannot register the benchmark procedure {procedure}: {source}; the router must let anonymous sessions register")]
    Register {
        /// The procedure.
        procedure: String,
        /// What failed.
        source: Box<nexus_tokio::Error>,
    },
    /// SUBSCRIBE was refused.
    #[error("cannot subscribe to the benchmark topic {topic}: {source}; the router must let anonymous sessions subscribe")]
    Subscribe {
        /// The topic.
        topic: String,
        /// What failed.
        source: Box<nexus_tokio::Error>,
    },
    /// A probe CALL failed.
    #[error(
        "a first call to {procedure} failed: {source}; the router must let anonymous sessions call"
    )]
    Call {
        /// The procedure.
        procedure: String,
        /// What failed.
        source: Box<nexus_tokio::Error>,
    },
    /// A probe PUBLISH (acknowledged) failed.
    #[error("a first acknowledged publish to {topic} failed: {source}; the router must let anonymous sessions publish")]
    Publish {
        /// The topic.
        topic: String,
        /// What failed.
        source: Box<nexus_tokio::Error>,
    },
    /// /proc/PID/status could not be read.
    #[error("cannot read the router's memory from {path}: {source}; --router-pid must be the process ID of a router running on this machine")]
    RouterMemory {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// /proc/PID/status has no VmRSS line (a kernel thread or a zombie).
    #[error("{path} has no VmRSS line; --router-pid must be the process ID of a running router")]
    NoVmRss {
        /// The file.
        path: PathBuf,
    },
    /// The JSON report could not be written.
    #[error("cannot write the JSON report to {path}: {source}")]
    WriteJson {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// An extra hint for errors whose cause is local rather than the router's.
pub(crate) fn hint(e: &nexus_tokio::Error) -> &'static str {
    let text = e.to_string();
    if text.contains("Too many open files") || text.contains("os error 24") {
        " (out of file descriptors: raise the limit with `ulimit -n`)"
    } else {
        ""
    }
}
