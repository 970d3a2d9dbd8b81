//! The nexusd configuration: command line, TOML file, and their defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use nexus_tokio::nexus_core::router::{
    AuthMode, AuthzMode, Disclosure, HistoryRule, Permission, QueueConfig, RealmConfig,
    RequestIdPolicy, Roles, RouterConfig, SlowSubscriberPolicy, TrustLevels,
};
use nexus_tokio::nexus_core::{Limits, MatchPolicy, Uri, UriRules};
use nexus_tokio::nexus_transports::tls::ClientCertMode;
use nexus_tokio::nexus_transports::{CookieConfig, Endpoint};
use serde::Deserialize;

use crate::auth::{FileAuth, FileCookie};

/// The listeners of a first run: WebSocket and RawSocket on loopback.
pub const DEFAULT_LISTENERS: &[&str] = &["ws://127.0.0.1:8080/ws", "tcp://127.0.0.1:8081"];
/// The realm of a first run.
pub const DEFAULT_REALM: &str = "realm1";

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for nexusd.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (it names the line and the key).
        message: String,
    },
    /// A listener URL is wrong.
    #[error("invalid listener URL {url:?}: {message} (expected ws://, wss://, tcp://, tcps:// or unix://)")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A realm name is not a valid URI.
    #[error("invalid realm name {name:?}: {message}")]
    Realm {
        /// The name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A TLS listener has no certificate.
    #[error("listener {url} uses TLS but no certificate is configured: set [tls] cert and key in the config file")]
    NoCertificate {
        /// The URL.
        url: String,
    },
    /// A realm's `[realm.auth]` is unusable.
    #[error("realm {realm}: [realm.auth]: {message}")]
    Auth {
        /// The realm.
        realm: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid value for {key}: {message}")]
    Value {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing filter).
    pub log_level: Option<String>,
    /// Listener URLs.
    #[serde(default)]
    pub listen: Vec<String>,
    /// Listeners with options (client certificates, cookies).
    #[serde(default)]
    pub listener: Vec<FileListener>,
    /// Realms.
    #[serde(default)]
    pub realm: Vec<FileRealm>,
    /// TLS certificate and key for wss:// and tcps:// listeners.
    pub tls: Option<FileTls>,
    /// Message limits.
    #[serde(default)]
    pub limits: FileLimits,
    /// Slow-peer policy and queue sizes.
    #[serde(default)]
    pub queue: FileQueue,
    /// Router behaviour.
    #[serde(default)]
    pub router: FileRouter,
}

/// A realm in the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRealm {
    /// Its name.
    pub name: String,
    /// Caller identification: `on_request` (default), `never` or `always`.
    pub caller_disclosure: Option<String>,
    /// Publisher identification: `on_request` (default), `never` or `always`.
    pub publisher_disclosure: Option<String>,
    /// Trust levels given to sessions (`trustlevel` in INVOCATION and EVENT details).
    #[serde(default)]
    pub trust: FileTrust,
    /// Topics whose events are kept for `wamp.subscription.get_events`.
    #[serde(default)]
    pub history: Vec<FileHistory>,
    /// The most topics with a retained event.
    pub max_retained: Option<usize>,
    /// `drop` or `disconnect`: overrides `[queue] slow_subscriber` for this realm.
    pub slow_subscriber: Option<String>,
    /// With `slow_subscriber = "disconnect"`: close a session after this many dropped events
    /// instead of at the first.
    pub disconnect_after: Option<u64>,
    /// Built-in authentication (absent: anonymous, as a first run needs).
    pub auth: Option<FileAuth>,
    /// Role-based authorization: `[[realm.role]]`. With none, everything is allowed; with
    /// at least one, each authrole may do only what its permissions grant, and an authrole
    /// that is not listed nothing.
    #[serde(default)]
    pub role: Vec<FileRole>,
}

/// One `[[realm.role]]`: an authrole and its permissions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRole {
    /// The authrole (sessions joining anonymously have `anonymous`).
    pub name: String,
    /// `[[realm.role.permission]]`.
    #[serde(default)]
    pub permission: Vec<FilePermission>,
}

/// One `[[realm.role.permission]]`. For a URI, the permission that applies is the one the
/// dealer's precedence picks: exact, then the longest prefix, then the best wildcard; the
/// actions it does not allow are denied.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePermission {
    /// The URI, or the pattern with `match` (the prefix `""` matches everything).
    pub uri: String,
    /// `exact` (default), `prefix` or `wildcard`.
    #[serde(rename = "match")]
    pub match_policy: Option<String>,
    /// CALL allowed.
    #[serde(default)]
    pub call: bool,
    /// REGISTER allowed.
    #[serde(default)]
    pub register: bool,
    /// PUBLISH allowed.
    #[serde(default)]
    pub publish: bool,
    /// SUBSCRIBE allowed.
    #[serde(default)]
    pub subscribe: bool,
    /// Disclose the caller of these calls to the callee.
    #[serde(default)]
    pub disclose_caller: bool,
    /// Disclose the publisher of these publications to subscribers.
    #[serde(default)]
    pub disclose_publisher: bool,
}

/// One `[[listener]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListener {
    /// The URL, as in `listen`.
    pub url: String,
    /// TLS client certificates: `none` (default), `optional` or `required`.
    pub client_certificates: Option<String>,
    /// The PEM file of the CAs that issue client certificates.
    pub client_ca: Option<PathBuf>,
    /// WebSocket cookie tracking for `cookie` authentication.
    pub cookie: Option<FileCookie>,
}

/// A listener, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSettings {
    /// The URL.
    pub url: String,
    /// Whether TLS clients are asked for certificates.
    pub client_certs: ClientCertMode,
    /// The client CA file (with `client_certs` other than none).
    pub client_ca: Option<PathBuf>,
    /// Cookie tracking.
    pub cookie: Option<CookieConfig>,
}

impl ListenerSettings {
    fn plain(url: &str) -> Self {
        ListenerSettings {
            url: url.to_owned(),
            client_certs: ClientCertMode::None,
            client_ca: None,
            cookie: None,
        }
    }
}

impl FileRealm {
    fn named(name: &str) -> Self {
        FileRealm {
            name: name.to_owned(),
            ..Default::default()
        }
    }
}

/// One `[[realm.history]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHistory {
    /// The topic, or the pattern with `match`.
    pub uri: String,
    /// `exact` (default), `prefix` or `wildcard`.
    #[serde(rename = "match")]
    pub match_policy: Option<String>,
    /// The most events kept.
    pub limit: usize,
}

/// Parses a match policy.
fn match_policy(value: Option<&str>, key: &'static str) -> Result<MatchPolicy, ConfigError> {
    match value {
        None => Ok(MatchPolicy::Exact),
        Some(v) => MatchPolicy::parse(v).ok_or_else(|| ConfigError::Value {
            key,
            message: format!("{v:?} (expected \"exact\", \"prefix\" or \"wildcard\")"),
        }),
    }
}

/// The roles of a realm; `None` when it lists none (everything is allowed).
fn roles(realm: &RealmConfig, specs: Vec<FileRole>) -> Result<Option<Roles>, ConfigError> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut roles = Roles::new();
    for role in specs {
        let bad = |key, message: String| ConfigError::Value {
            key,
            message: format!("realm {}, role {:?}: {message}", realm.name, role.name),
        };
        if role.name.is_empty() {
            return Err(bad("realm.role.name", "a role needs a name".into()));
        }
        if roles.permissions(&role.name).is_some() {
            return Err(bad("realm.role.name", "listed twice".into()));
        }
        let mut permissions: Vec<Permission> = Vec::new();
        for p in &role.permission {
            let policy = match_policy(p.match_policy.as_deref(), "realm.role.permission.match")?;
            let permission = Permission {
                call: p.call,
                register: p.register,
                publish: p.publish,
                subscribe: p.subscribe,
                disclose_caller: p.disclose_caller,
                disclose_publisher: p.disclose_publisher,
                ..Permission::new(p.uri.clone(), policy)
            };
            if let Err(e) = permission.validate(UriRules::Loose) {
                return Err(bad(
                    "realm.role.permission.uri",
                    format!("{e} (match {policy})"),
                ));
            }
            // Only one permission applies to a URI: a second one for the same pattern would
            // be silently ignored, so it is a mistake.
            if permissions
                .iter()
                .any(|q| q.uri == permission.uri && q.policy == policy)
            {
                return Err(bad(
                    "realm.role.permission.uri",
                    format!("{:?} (match {policy}) is listed twice", p.uri),
                ));
            }
            // Permissions add reasons to disclose but cannot override a realm that never
            // discloses: say so instead of ignoring the flag.
            if p.disclose_caller && realm.caller_disclosure == Disclosure::Never {
                return Err(bad(
                    "realm.role.permission.disclose_caller",
                    "has no effect with caller_disclosure = \"never\"".into(),
                ));
            }
            if p.disclose_publisher && realm.publisher_disclosure == Disclosure::Never {
                return Err(bad(
                    "realm.role.permission.disclose_publisher",
                    "has no effect with publisher_disclosure = \"never\"".into(),
                ));
            }
            permissions.push(permission);
        }
        roles.insert(role.name, permissions);
    }
    Ok(Some(roles))
}

/// Parses a disclosure policy.
fn disclosure(value: Option<&str>, key: &'static str) -> Result<Disclosure, ConfigError> {
    match value {
        None | Some("on_request") => Ok(Disclosure::OnRequest),
        Some("never") => Ok(Disclosure::Never),
        Some("always") => Ok(Disclosure::Always),
        Some(other) => Err(ConfigError::Value {
            key,
            message: format!("{other:?} (expected \"on_request\", \"never\" or \"always\")"),
        }),
    }
}

/// Parses a slow-subscriber policy.
fn slow_subscriber(
    value: Option<&str>,
    after: Option<u64>,
    key: &'static str,
) -> Result<Option<SlowSubscriberPolicy>, ConfigError> {
    Ok(match (value, after) {
        (None, None) => None,
        (Some("drop"), None) => Some(SlowSubscriberPolicy::Drop),
        (Some("disconnect"), None) => Some(SlowSubscriberPolicy::Disconnect),
        (Some("disconnect"), Some(n)) => Some(SlowSubscriberPolicy::DisconnectAfter(n.max(1))),
        (Some("drop") | None, Some(_)) => {
            return Err(ConfigError::Value {
                key,
                message: "disconnect_after needs slow_subscriber = \"disconnect\"".into(),
            })
        }
        (Some(other), _) => {
            return Err(ConfigError::Value {
                key,
                message: format!("{other:?} (expected \"drop\" or \"disconnect\")"),
            })
        }
    })
}

/// One realm's configuration.
fn realm_config(spec: FileRealm) -> Result<RealmConfig, ConfigError> {
    let uri = Uri::parse(spec.name.clone()).map_err(|e| ConfigError::Realm {
        name: spec.name.clone(),
        message: e.to_string(),
    })?;
    let mut realm = RealmConfig::new(uri);
    realm.caller_disclosure =
        disclosure(spec.caller_disclosure.as_deref(), "realm.caller_disclosure")?;
    realm.publisher_disclosure = disclosure(
        spec.publisher_disclosure.as_deref(),
        "realm.publisher_disclosure",
    )?;
    let trust = spec.trust;
    for t in trust.transport.keys() {
        if !["ws", "wss", "tcp", "tcps", "unix"].contains(&t.as_str()) {
            return Err(ConfigError::Value {
                key: "realm.trust.transport",
                message: format!("{t:?} (expected ws, wss, tcp, tcps or unix)"),
            });
        }
    }
    realm.trust = TrustLevels {
        default: trust.default.unwrap_or(0),
        by_authrole: trust.authrole,
        by_transport: trust.transport,
    };
    for h in spec.history {
        let policy = match_policy(h.match_policy.as_deref(), "realm.history.match")?;
        let uri = Uri::parse(h.uri.clone()).map_err(|e| ConfigError::Value {
            key: "realm.history.uri",
            message: format!("{:?}: {e}", h.uri),
        })?;
        realm.history.push(HistoryRule {
            uri,
            policy,
            limit: h.limit,
        });
    }
    if let Some(n) = spec.max_retained {
        realm.max_retained = n;
    }
    realm.slow_subscriber = slow_subscriber(
        spec.slow_subscriber.as_deref(),
        spec.disconnect_after,
        "realm.slow_subscriber",
    )?;
    if let Some(auth) = &spec.auth {
        realm.auth = AuthMode::Static(Arc::new(crate::auth::static_auth(&spec.name, auth)?));
    }
    if let Some(roles) = roles(&realm, spec.role)? {
        realm.authz = AuthzMode::Roles(roles);
    }
    Ok(realm)
}

/// A realm's trust levels: `[realm.trust]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTrust {
    /// The level of sessions no rule matches (0 when absent).
    pub default: Option<u64>,
    /// Levels by authrole, e.g. `authrole = { backend = 5 }` (they win over transports).
    #[serde(default)]
    pub authrole: std::collections::BTreeMap<String, u64>,
    /// Levels by transport: `ws`, `wss`, `tcp`, `tcps`, `unix`.
    #[serde(default)]
    pub transport: std::collections::BTreeMap<String, u64>,
}

/// TLS files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Largest message in bytes.
    pub max_message_size: Option<usize>,
    /// Deepest nesting of lists and dicts.
    pub max_depth: Option<usize>,
    /// Most elements in one list or dict.
    pub max_collection_len: Option<usize>,
}

/// `[queue]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileQueue {
    /// Messages queued per connection before events are dropped.
    pub capacity: Option<usize>,
    /// Messages queued per connection before it is closed.
    pub hard_limit: Option<usize>,
    /// Bytes queued per connection before events are dropped.
    pub capacity_bytes: Option<usize>,
    /// Bytes queued per connection before it is closed.
    pub hard_limit_bytes: Option<usize>,
    /// `drop` or `disconnect`.
    pub slow_subscriber: Option<String>,
    /// With `slow_subscriber = "disconnect"`: close a connection after this many dropped
    /// events instead of at the first.
    pub disconnect_after: Option<u64>,
}

/// `[router]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRouter {
    /// Create realms clients ask for.
    pub auto_create_realms: Option<bool>,
    /// Seconds a client has to send HELLO.
    pub handshake_timeout_secs: Option<u64>,
    /// `strict` or `lenient`.
    pub request_ids: Option<String>,
    /// `loose` or `strict`.
    pub uri_rules: Option<String>,
    /// Keep-alive ping interval in seconds (0 disables it).
    pub keepalive_secs: Option<u64>,
    /// Seconds sessions get to answer GOODBYE at shutdown.
    pub shutdown_timeout_secs: Option<u64>,
}

/// Everything nexusd needs to run.
#[derive(Debug)]
pub struct Settings {
    /// The log filter.
    pub log_level: String,
    /// Listeners, as given.
    pub listen: Vec<ListenerSettings>,
    /// TLS files.
    pub tls: Option<FileTls>,
    /// The router configuration.
    pub router: RouterConfig,
    /// Decoding limits.
    pub limits: Limits,
    /// Keep-alive interval.
    pub keepalive: Option<Duration>,
}

/// Builds the settings from the command line's values and the optional config file; the
/// command line wins.
pub fn settings(
    config_file: Option<&Path>,
    listen: &[String],
    realms: &[String],
    log_level: Option<&str>,
) -> Result<Settings, ConfigError> {
    let file = match config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        }
        None => FileConfig::default(),
    };
    let listen: Vec<ListenerSettings> = if !listen.is_empty() {
        listen.iter().map(|u| ListenerSettings::plain(u)).collect()
    } else if !file.listen.is_empty() || !file.listener.is_empty() {
        let mut all: Vec<ListenerSettings> = file
            .listen
            .iter()
            .map(|u| ListenerSettings::plain(u))
            .collect();
        for l in &file.listener {
            all.push(ListenerSettings {
                url: l.url.clone(),
                client_certs: crate::auth::client_cert_mode(l.client_certificates.as_deref())?,
                client_ca: l.client_ca.clone(),
                cookie: l.cookie.as_ref().map(FileCookie::config).transpose()?,
            });
        }
        all
    } else {
        DEFAULT_LISTENERS
            .iter()
            .map(|u| ListenerSettings::plain(u))
            .collect()
    };
    for listener in &listen {
        let url = &listener.url;
        let endpoint = Endpoint::parse(url).map_err(|e| ConfigError::Url {
            url: url.clone(),
            message: e.to_string(),
        })?;
        if endpoint.is_tls() && file.tls.is_none() {
            return Err(ConfigError::NoCertificate { url: url.clone() });
        }
        if listener.client_certs != ClientCertMode::None {
            if !endpoint.is_tls() {
                return Err(ConfigError::Value {
                    key: "listener.client_certificates",
                    message: format!("{url} is not a TLS listener (use wss:// or tcps://)"),
                });
            }
            if listener.client_ca.is_none() {
                return Err(ConfigError::Value {
                    key: "listener.client_ca",
                    message: format!(
                        "{url} asks for client certificates: set client_ca to the PEM file of the CAs that issue them"
                    ),
                });
            }
        }
        if listener.cookie.is_some() && !endpoint.is_websocket() {
            return Err(ConfigError::Value {
                key: "listener.cookie",
                message: format!("{url}: cookies need a WebSocket listener (ws:// or wss://)"),
            });
        }
    }
    let realm_specs: Vec<FileRealm> = if !realms.is_empty() {
        realms.iter().map(|r| FileRealm::named(r)).collect()
    } else if !file.realm.is_empty() {
        file.realm.clone()
    } else {
        vec![FileRealm::named(DEFAULT_REALM)]
    };
    let mut router = RouterConfig::default();
    for spec in realm_specs {
        router.realms.push(realm_config(spec)?);
    }
    let r = &file.router;
    if let Some(v) = r.auto_create_realms {
        router.auto_create_realms = v;
    }
    if let Some(v) = r.handshake_timeout_secs {
        router.handshake_timeout = Duration::from_secs(v.max(1));
    }
    if let Some(v) = r.shutdown_timeout_secs {
        router.goodbye_timeout = Duration::from_secs(v);
    }
    router.request_ids = match r.request_ids.as_deref() {
        None | Some("strict") => RequestIdPolicy::Strict,
        Some("lenient") => RequestIdPolicy::Lenient,
        Some(other) => {
            return Err(ConfigError::Value {
                key: "router.request_ids",
                message: format!("{other:?} (expected \"strict\" or \"lenient\")"),
            })
        }
    };
    router.uri_rules = match r.uri_rules.as_deref() {
        None | Some("loose") => UriRules::Loose,
        Some("strict") => UriRules::Strict,
        Some(other) => {
            return Err(ConfigError::Value {
                key: "router.uri_rules",
                message: format!("{other:?} (expected \"loose\" or \"strict\")"),
            })
        }
    };
    let q = &file.queue;
    let mut queue = QueueConfig::default();
    if let Some(v) = q.capacity {
        queue.capacity = v;
    }
    if let Some(v) = q.hard_limit {
        queue.hard_limit = v;
    }
    if let Some(v) = q.capacity_bytes {
        queue.capacity_bytes = v;
    }
    if let Some(v) = q.hard_limit_bytes {
        queue.hard_limit_bytes = v;
    }
    if queue.capacity == 0 || queue.hard_limit < queue.capacity {
        return Err(ConfigError::Value {
            key: "queue",
            message: format!(
                "capacity {} and hard_limit {}: capacity must be at least 1 and hard_limit at least capacity",
                queue.capacity, queue.hard_limit
            ),
        });
    }
    if queue.capacity_bytes == 0 || queue.hard_limit_bytes < queue.capacity_bytes {
        return Err(ConfigError::Value {
            key: "queue",
            message: format!(
                "capacity_bytes {} and hard_limit_bytes {}: capacity_bytes must be at least 1 and hard_limit_bytes at least capacity_bytes",
                queue.capacity_bytes, queue.hard_limit_bytes
            ),
        });
    }
    queue.slow_subscriber = slow_subscriber(
        q.slow_subscriber.as_deref(),
        q.disconnect_after,
        "queue.slow_subscriber",
    )?
    .unwrap_or_default();
    router.queue = queue;
    let mut limits = Limits::default();
    if let Some(v) = file.limits.max_message_size {
        limits.max_message_size = v;
    }
    if let Some(v) = file.limits.max_depth {
        limits.max_depth = v;
    }
    if let Some(v) = file.limits.max_collection_len {
        limits.max_collection_len = v;
    }
    let keepalive = match r.keepalive_secs {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(Duration::from_secs(30)),
    };
    Ok(Settings {
        log_level: log_level
            .map(str::to_owned)
            .or(file.log_level)
            .unwrap_or_else(|| "info".to_owned()),
        listen,
        tls: file.tls,
        router,
        limits,
        keepalive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn urls(s: &Settings) -> Vec<&str> {
        s.listen.iter().map(|l| l.url.as_str()).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_serve_realm1_on_loopback() {
        let s = settings(None, &[], &[], None).unwrap();
        assert_eq!(urls(&s), DEFAULT_LISTENERS);
        assert_eq!(s.router.realms.len(), 1);
        assert_eq!(s.router.realms[0].name.as_str(), "realm1");
        assert_eq!(s.log_level, "info");
        assert!(!s.router.auto_create_realms);
        // Open: anonymous clients may do everything.
        assert_eq!(s.router.realms[0].authz, AuthzMode::AllowAll);
    }

    fn realm_roles(s: &Settings) -> &Roles {
        match &s.router.realms[0].authz {
            AuthzMode::Roles(roles) => roles,
            other => panic!("expected roles, got {other:?}"),
        }
    }

    #[test]
    fn roles_and_permissions() {
        use nexus_tokio::nexus_core::router::AuthzAction::*;
        let f = file(
            r#"
            [[realm]]
            name = "realm1"
            [[realm.role]]
            name = "anonymous"
            [[realm.role.permission]]
            uri = "com.app."
            match = "prefix"
            call = true
            subscribe = true
            [[realm.role.permission]]
            uri = "com.app.secret"
            [[realm.role.permission]]
            uri = "com..status"
            match = "wildcard"
            publish = true
            disclose_publisher = true
            [[realm.role]]
            name = "nobody"
            "#,
        );
        let s = settings(Some(f.path()), &[], &[], None).unwrap();
        let roles = realm_roles(&s);
        let exact = MatchPolicy::Exact;
        assert!(roles.allows("anonymous", Call, "com.app.x", exact));
        assert!(roles.allows("anonymous", Subscribe, "com.app.", MatchPolicy::Prefix));
        assert!(!roles.allows("anonymous", Register, "com.app.x", exact));
        assert!(!roles.allows("anonymous", Call, "com.app.secret", exact));
        assert!(roles.allows("anonymous", Publish, "com.x.status", exact));
        let p = roles
            .permission("anonymous", "com.x.status", exact)
            .unwrap();
        assert!(p.disclose_publisher && !p.disclose_caller);
        assert_eq!(roles.permissions("nobody"), Some(&[][..]));
        assert!(!roles.allows("guest", Subscribe, "com.app.x", exact));
    }

    #[test]
    fn the_locked_down_example_is_valid() {
        use nexus_tokio::nexus_core::router::AuthzAction::*;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/locked-down.toml");
        let s = settings(Some(&path), &[], &[], None).unwrap();
        assert!(
            s.listen.iter().all(|l| l.url.contains("127.0.0.1")),
            "{:?}",
            s.listen
        );
        let roles = realm_roles(&s);
        let names: Vec<&str> = roles.names().collect();
        assert_eq!(names, ["admin", "anonymous", "backend"]);
        let exact = MatchPolicy::Exact;
        assert!(roles.allows("anonymous", Call, "com.example.public.time", exact));
        assert!(!roles.allows("anonymous", Call, "com.example.public.debug", exact));
        assert!(!roles.allows("anonymous", Publish, "com.example.public.time", exact));
        assert!(roles.allows("anonymous", Subscribe, "com.example.billing.status", exact));
        assert!(!roles.allows("anonymous", Call, "wamp.session.list", exact));
        let feedback = roles.permission("anonymous", "com.example.public.feedback", exact);
        assert!(feedback.is_some_and(|p| p.disclose_caller));
        assert!(roles.allows("backend", Register, "com.example.billing.charge", exact));
        assert!(roles.allows("backend", Call, "wamp.session.list", exact));
        assert!(!roles.allows("backend", Call, "wamp.session.kill_all", exact));
        assert!(roles.allows("admin", Call, "wamp.session.kill_all", exact));
    }

    #[test]
    fn bad_roles_are_clear_errors() {
        let permission = |body: &str| {
            format!(
                "[[realm]]\nname = \"realm1\"\n{body}\n[[realm.role]]\nname = \"r\"\n[[realm.role.permission]]\n"
            )
        };
        for (body, rest, mentions) in [
            (
                "",
                "uri = \"com.a\"\nmatch = \"glob\"",
                "realm.role.permission.match",
            ),
            ("", "uri = \"com..a\"", "realm.role.permission.uri"),
            ("", "uri = \"\"", "realm.role.permission.uri"),
            (
                "",
                "uri = \"com.a\"\ncall = true\n[[realm.role.permission]]\nuri = \"com.a\"",
                "listed twice",
            ),
            ("", "uri = \"com.a\"\nkill = true", "kill"),
            (
                "caller_disclosure = \"never\"",
                "uri = \"com.a\"\ndisclose_caller = true",
                "caller_disclosure",
            ),
            (
                "publisher_disclosure = \"never\"",
                "uri = \"com.a\"\ndisclose_publisher = true",
                "publisher_disclosure",
            ),
        ] {
            let f = file(&format!("{}{rest}\n", permission(body)));
            let e = settings(Some(f.path()), &[], &[], None).unwrap_err();
            assert!(e.to_string().contains(mentions), "{rest}: {e}");
        }
        let f = file("[[realm]]\nname = \"realm1\"\n[[realm.role]]\nname = \"r\"\n[[realm.role]]\nname = \"r\"\n");
        let e = settings(Some(f.path()), &[], &[], None).unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
    }

    #[test]
    fn command_line_overrides_the_file() {
        let f = file(
            r#"
            log_level = "debug"
            listen = ["tcp://127.0.0.1:9000"]
            [[realm]]
            name = "from.file"
            caller_disclosure = "never"
            publisher_disclosure = "always"
            max_retained = 7
            slow_subscriber = "disconnect"
            disconnect_after = 100
            [[realm.history]]
            uri = "com.app"
            match = "prefix"
            limit = 50
            [realm.trust]
            default = 1
            authrole = { backend = 5 }
            transport = { unix = 3 }
            [queue]
            capacity = 10
            hard_limit = 20
            capacity_bytes = 1000000
            hard_limit_bytes = 2000000
            slow_subscriber = "disconnect"
            [router]
            request_ids = "lenient"
            keepalive_secs = 0
            [limits]
            max_message_size = 1024
            "#,
        );
        let s = settings(Some(f.path()), &[], &[], None).unwrap();
        assert_eq!(urls(&s), ["tcp://127.0.0.1:9000"]);
        assert_eq!(s.router.realms[0].name.as_str(), "from.file");
        assert_eq!(s.router.realms[0].caller_disclosure, Disclosure::Never);
        let realm = &s.router.realms[0];
        assert_eq!(realm.publisher_disclosure, Disclosure::Always);
        assert_eq!(realm.max_retained, 7);
        assert_eq!(
            realm.slow_subscriber,
            Some(SlowSubscriberPolicy::DisconnectAfter(100))
        );
        assert_eq!(realm.history.len(), 1);
        assert_eq!(realm.history[0].policy, MatchPolicy::Prefix);
        assert_eq!(realm.history[0].limit, 50);
        let trust = &s.router.realms[0].trust;
        assert_eq!(trust.level("backend", Some("ws")), 5);
        assert_eq!(trust.level("anonymous", Some("unix")), 3);
        assert_eq!(trust.level("anonymous", Some("tcp")), 1);
        assert_eq!(s.router.queue.capacity, 10);
        assert_eq!(s.router.queue.capacity_bytes, 1_000_000);
        assert_eq!(s.router.queue.hard_limit_bytes, 2_000_000);
        assert_eq!(
            s.router.queue.slow_subscriber,
            SlowSubscriberPolicy::Disconnect
        );
        assert_eq!(s.router.request_ids, RequestIdPolicy::Lenient);
        assert_eq!(s.limits.max_message_size, 1024);
        assert_eq!(s.keepalive, None);
        assert_eq!(s.log_level, "debug");
        let s = settings(
            Some(f.path()),
            &["ws://127.0.0.1:0/ws".into()],
            &["a.b".into(), "c".into()],
            Some("warn"),
        )
        .unwrap();
        assert_eq!(urls(&s), ["ws://127.0.0.1:0/ws"]);
        assert_eq!(s.router.realms.len(), 2);
        assert_eq!(s.log_level, "warn");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = settings(None, &["http://127.0.0.1:80".into()], &[], None).unwrap_err();
        assert!(e.to_string().contains("http://127.0.0.1:80"), "{e}");
        let e = settings(None, &["wss://127.0.0.1:8443/ws".into()], &[], None).unwrap_err();
        assert!(matches!(e, ConfigError::NoCertificate { .. }), "{e}");
        let e = settings(None, &[], &["bad realm".into()], None).unwrap_err();
        assert!(e.to_string().contains("bad realm"), "{e}");
        let e = settings(Some(Path::new("/nonexistent/nexusd.toml")), &[], &[], None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/nexusd.toml"), "{e}");
        let f = file("listen = [\"ws://127.0.0.1:1/ws\"]\nunknown_key = 1\n");
        let e = settings(Some(f.path()), &[], &[], None).unwrap_err();
        assert!(e.to_string().contains("unknown_key"), "{e}");
        let f = file("[queue]\nslow_subscriber = \"sometimes\"\n");
        let e = settings(Some(f.path()), &[], &[], None).unwrap_err();
        assert!(e.to_string().contains("queue.slow_subscriber"), "{e}");
        let f = file("[queue]\ncapacity = 10\nhard_limit = 5\n");
        assert!(settings(Some(f.path()), &[], &[], None).is_err());
        let f = file("[queue]\ncapacity_bytes = 1000\nhard_limit_bytes = 10\n");
        let e = settings(Some(f.path()), &[], &[], None).unwrap_err();
        assert!(e.to_string().contains("hard_limit_bytes"), "{e}");
    }

    #[test]
    fn realm_auth_and_listener_options() {
        let scram = crate::auth::scram_credential(
            nexus_tokio::nexus_core::auth::scram::Variant::Autobahn,
            nexus_tokio::nexus_core::auth::scram::Kdf::Pbkdf2 { iterations: 4096 },
            "pw",
            &[1; 16],
        )
        .unwrap();
        let f = file(&format!(
            r#"
            [tls]
            cert = "cert.pem"
            key = "key.pem"
            [[listener]]
            url = "wss://127.0.0.1:8443/ws"
            client_certificates = "optional"
            client_ca = "ca.pem"
            cookie = {{ name = "sid", max_age_secs = 60 }}
            [[realm]]
            name = "app"
            [realm.auth]
            methods = ["ticket", "wampcra", "cryptosign", "scram", "tls", "cookie"]
            tls_role = "device"
            router_key = "{seed}"
            [[realm.auth.user]]
            authid = "alice"
            role = "admin"
            ticket = "t0p-s3cr3t"
            cryptosign = ["{pubkey}"]
            [realm.auth.user.wampcra]
            secret = "L3L1YUE8Txlw"
            salt = "salt123"
            {scram}
            "#,
            seed = "11".repeat(32),
            pubkey = nexus_tokio::nexus_core::auth::cryptosign::SigningKey::from_seed(&[1; 32])
                .public_key()
                .to_hex(),
        ));
        let s = settings(Some(f.path()), &[], &[], None).unwrap();
        let l = &s.listen[0];
        assert_eq!(l.client_certs, ClientCertMode::Optional);
        assert_eq!(l.cookie.as_ref().unwrap().name, "sid");
        assert_eq!(l.cookie.as_ref().unwrap().max_age, Duration::from_secs(60));
        let AuthMode::Static(auth) = &s.router.realms[0].auth else {
            panic!("static auth expected")
        };
        assert_eq!(auth.users().count(), 1);
        // Secrets never show in Debug output of the settings or the file.
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("t0p-s3cr3t") && !debug.contains("L3L1YUE8Txlw"),
            "{debug}"
        );

        // The default stays open.
        let s = settings(None, &[], &[], None).unwrap();
        assert_eq!(s.router.realms[0].auth, AuthMode::Anonymous);
    }

    #[test]
    fn auth_errors_name_the_realm_and_the_problem() {
        for (text, needle) in [
            ("[[realm]]\nname = \"a\"\n[realm.auth]\nmethods = [\"password\"]\n", "password"),
            ("[[realm]]\nname = \"a\"\n[realm.auth]\nmethods = []\n", "empty"),
            (
                "[[realm]]\nname = \"a\"\n[realm.auth]\nmethods = [\"cryptosign\"]\n[[realm.auth.user]]\nauthid = \"x\"\nrole = \"r\"\ncryptosign = [\"zz\"]\n",
                "cryptosign key",
            ),
            (
                "[[realm]]\nname = \"a\"\n[realm.auth]\nmethods = [\"scram\"]\n[[realm.auth.user]]\nauthid = \"x\"\nrole = \"r\"\n[realm.auth.user.scram]\nkdf = \"argon2id13\"\niterations = 1\nsalt = \"AA==\"\nstored_key = \"AA==\"\nserver_key = \"AA==\"\n",
                "memory",
            ),
            (
                "[[realm]]\nname = \"a\"\n[realm.auth]\nmethods = [\"wampcra\"]\n[[realm.auth.user]]\nauthid = \"x\"\nrole = \"r\"\n[realm.auth.user.wampcra]\nderived_key = \"abc\"\n",
                "salt",
            ),
            ("[[listener]]\nurl = \"ws://127.0.0.1:1/ws\"\nclient_certificates = \"required\"\n", "not a TLS listener"),
            ("[[listener]]\nurl = \"tcp://127.0.0.1:1\"\ncookie = {}\n", "WebSocket"),
            ("[[listener]]\nurl = \"ws://127.0.0.1:1/ws\"\ncookie = { name = \"a b\" }\n", "cookie name"),
        ] {
            let f = file(text);
            let e = settings(Some(f.path()), &[], &[], None).unwrap_err();
            assert!(e.to_string().contains(needle), "{e} (expected {needle:?})");
        }
    }

    #[test]
    fn the_secure_example_is_valid() {
        let text = include_str!("../examples/secure.toml");
        let key = file(&"22".repeat(32));
        let text = text.replace(
            "/etc/nexusd/router-cryptosign.key",
            &key.path().display().to_string(),
        );
        let f = file(&text);
        let s = settings(Some(f.path()), &[], &[], None).unwrap();
        assert_eq!(s.listen.len(), 3);
        assert_eq!(s.listen[1].client_certs, ClientCertMode::Required);
        assert!(s.listen[0].cookie.is_some());
        let AuthMode::Static(app) = &s.router.realms[0].auth else {
            panic!()
        };
        assert_eq!(app.users().count(), 4);
        assert!(matches!(s.router.realms[1].auth, AuthMode::Static(_)));
        for realm in &s.router.realms {
            assert!(matches!(realm.authz, AuthzMode::Roles(_)), "{}", realm.name);
        }
    }
}
