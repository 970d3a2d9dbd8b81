//! `wamp-conformance`: spec scenarios run against any router from outside, grouped by spec
//! section, with a report per group.
//!
//! Each scenario names the rule it checks. A scenario of an advanced-profile feature runs only
//! when the router announces that feature in WELCOME; otherwise it is reported as "not
//! announced", distinct from pass and fail. A scenario that needs the router configured in a
//! way WELCOME cannot tell (the `authorization` group: URIs denied to the suite's sessions)
//! runs only when a command-line option says how; otherwise it is "not configured". Every
//! wait has a timeout, so a scenario that hangs fails instead of hanging the tool.

mod advanced;
mod authorization;
mod basic;
pub mod peer;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use nexus_tokio::nexus_core::message::{Message, WelcomeDetails};
use serde::Serialize;

pub use peer::{Peer, Target};

/// What a scenario expected and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What the rule requires.
    pub expected: String,
    /// What the router did.
    pub got: String,
}

impl Failure {
    /// A failure: `expected`, but `got`.
    pub fn new(expected: impl Into<String>, got: impl Into<String>) -> Failure {
        Failure {
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// The scenario could not even be set up (connection refused...).
    pub fn setup(problem: impl Into<String>) -> Failure {
        Failure::new("the scenario to run", problem)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, got {}", self.expected, self.got)
    }
}

/// Fails unless `condition` holds.
pub fn check(
    condition: bool,
    expected: impl Into<String>,
    got: impl Into<String>,
) -> Result<(), Failure> {
    if condition {
        Ok(())
    } else {
        Err(Failure::new(expected, got))
    }
}

/// The future a scenario returns.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>;

/// The feature a scenario needs the router to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Requires {
    /// `broker` or `dealer`.
    pub role: &'static str,
    /// The feature flag.
    pub feature: &'static str,
}

/// Router configuration a scenario needs that WELCOME cannot announce; the suite learns of
/// it from an option of `wamp-conformance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Needs {
    /// `--authz-denied-prefix`: a URI prefix under which the router denies the suite's
    /// sessions (which join anonymously) every action ([`Target::authz_denied_prefix`]).
    AuthzDeniedPrefix,
}

impl Needs {
    /// The option of `wamp-conformance` that provides it.
    pub fn option(self) -> &'static str {
        match self {
            Needs::AuthzDeniedPrefix => "--authz-denied-prefix",
        }
    }

    /// Whether the target provides it.
    pub fn met(self, target: &Target) -> bool {
        match self {
            Needs::AuthzDeniedPrefix => target.authz_denied_prefix.is_some(),
        }
    }
}

/// One scenario.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// The group (spec section) it belongs to.
    pub group: &'static str,
    /// Its name.
    pub name: &'static str,
    /// The rule it checks, with its place in the spec.
    pub rule: &'static str,
    /// The announced feature it needs, if any.
    pub requires: Option<Requires>,
    /// The router configuration it needs, if any.
    pub needs: Option<Needs>,
    /// Runs it.
    pub run: fn(Target) -> ScenarioFuture,
}

/// A scenario's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The router follows the rule.
    Pass,
    /// It does not.
    Fail(Failure),
    /// The router does not announce the feature; the scenario did not run.
    NotAnnounced {
        /// The feature.
        feature: String,
    },
    /// The suite was not told how the router is configured for it (a command-line option);
    /// the scenario did not run.
    NotConfigured {
        /// The option that would tell it.
        option: String,
    },
}

/// A scenario and its outcome, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The group.
    pub group: &'static str,
    /// The scenario.
    pub name: &'static str,
    /// The rule.
    pub rule: &'static str,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The router URL.
    pub url: String,
    /// The realm.
    pub realm: String,
    /// The serializer.
    pub serializer: String,
    /// The router's `agent`, as announced.
    pub agent: Option<String>,
    /// Every scenario, in order.
    pub rows: Vec<Row>,
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// Scenarios not run because their feature is not announced or the router
    /// configuration they need was not given.
    pub skipped: usize,
}

/// Every scenario of the suite, in report order.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = basic::scenarios();
    all.extend(advanced::scenarios());
    all.extend(authorization::scenarios());
    all
}

/// Reads what the router announces, from one session.
pub async fn probe(target: &Target) -> Result<WelcomeDetails, Failure> {
    let mut peer = Peer::join(target).await?;
    let welcome = peer.welcome.take().unwrap_or_default();
    let _ = peer.leave().await;
    Ok(welcome)
}

fn announced(welcome: &WelcomeDetails, requires: &Requires) -> bool {
    let Some(roles) = &welcome.roles else {
        return false;
    };
    let role = match requires.role {
        "broker" => &roles.broker,
        _ => &roles.dealer,
    };
    role.as_ref().is_some_and(|r| r.supports(requires.feature))
}

/// Runs `scenarios` (those whose group or name contains `filter`, when given) against the
/// target, one after the other, each within `scenario_timeout`.
pub async fn run(
    target: &Target,
    scenarios: &[Scenario],
    filter: Option<&str>,
    scenario_timeout: Duration,
) -> Result<Report, Failure> {
    let welcome = probe(target).await?;
    let mut rows = Vec::new();
    for s in scenarios {
        if let Some(f) = filter {
            if !s.group.contains(f) && !s.name.contains(f) {
                continue;
            }
        }
        let outcome = match (&s.requires, s.needs) {
            (Some(r), _) if !announced(&welcome, r) => Outcome::NotAnnounced {
                feature: format!("{}.{}", r.role, r.feature),
            },
            (_, Some(n)) if !n.met(target) => Outcome::NotConfigured {
                option: n.option().to_owned(),
            },
            _ => match tokio::time::timeout(scenario_timeout, (s.run)(target.clone())).await {
                Ok(Ok(())) => Outcome::Pass,
                Ok(Err(f)) => Outcome::Fail(f),
                Err(_) => Outcome::Fail(Failure::new(
                    format!("the scenario to finish within {scenario_timeout:?}"),
                    "it hung",
                )),
            },
        };
        rows.push(Row {
            group: s.group,
            name: s.name,
            rule: s.rule,
            outcome,
        });
    }
    let count = |f: fn(&Outcome) -> bool| rows.iter().filter(|r| f(&r.outcome)).count();
    Ok(Report {
        url: target.url.clone(),
        realm: target.realm.clone(),
        serializer: target.serializer.name().to_owned(),
        agent: welcome.agent.clone(),
        passed: count(|o| matches!(o, Outcome::Pass)),
        failed: count(|o| matches!(o, Outcome::Fail(_))),
        skipped: count(|o| {
            matches!(
                o,
                Outcome::NotAnnounced { .. } | Outcome::NotConfigured { .. }
            )
        }),
        rows,
    })
}

impl Report {
    /// The report as Markdown tables, one per group, and the closing count line.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# wamp-conformance: {} (realm {}, {}{})\n",
            self.url,
            self.realm,
            self.serializer,
            self.agent
                .as_deref()
                .map(|a| format!(", agent {a}"))
                .unwrap_or_default()
        );
        let mut group = "";
        for row in &self.rows {
            if row.group != group {
                group = row.group;
                let in_group: Vec<&Row> = self.rows.iter().filter(|r| r.group == group).collect();
                let p = in_group
                    .iter()
                    .filter(|r| r.outcome == Outcome::Pass)
                    .count();
                let f = in_group
                    .iter()
                    .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
                    .count();
                let c = in_group
                    .iter()
                    .filter(|r| matches!(r.outcome, Outcome::NotConfigured { .. }))
                    .count();
                let n = in_group.len() - p - f - c;
                let skipped = if c > 0 {
                    format!("{c} not configured")
                } else {
                    format!("{n} not announced")
                };
                out.push_str(&format!(
                    "\n## {group} ({p} passed, {f} failed, {skipped})\n\n| result | scenario | rule | details |\n|---|---|---|---|\n"
                ));
            }
            let (result, details) = match &row.outcome {
                Outcome::Pass => ("pass", String::new()),
                Outcome::Fail(f) => ("FAIL", f.to_string()),
                Outcome::NotAnnounced { feature } => ("not announced", feature.clone()),
                Outcome::NotConfigured { option } => {
                    ("not configured", format!("run with {option}"))
                }
            };
            out.push_str(&format!(
                "| {result} | {} | {} | {} |\n",
                row.name,
                row.rule,
                details.replace('|', "\\|")
            ));
        }
        out.push_str(&format!(
            "\n{} passed, {} failed, {} skipped\n",
            self.passed, self.failed, self.skipped
        ));
        out
    }
}

/// Expects a message matching `$pat` from `$peer`, binding what `$pat` binds; fails with
/// `$expected` otherwise.
#[macro_export]
macro_rules! expect_msg {
    ($peer:expr, $expected:expr, $pat:pat => $out:expr) => {
        match $peer.recv().await? {
            $pat => $out,
            other => {
                return Err($crate::suite::Failure::new(
                    $expected,
                    $crate::suite::peer::describe(&other),
                ))
            }
        }
    };
}

/// Unwraps a `Message` variant, or fails.
pub fn unexpected(expected: &str, m: &Message) -> Failure {
    Failure::new(expected, peer::describe(m))
}
