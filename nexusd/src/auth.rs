//! Authentication settings of the config file: `[realm.auth]` with its users, and the
//! listener options `client_certificates`, `client_ca` and `cookie`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use nexus_tokio::nexus_core::auth::cra::Salt;
use nexus_tokio::nexus_core::auth::cryptosign::{PublicKey, SigningKey};
use nexus_tokio::nexus_core::auth::scram::{Kdf, StoredCredential, Variant};
use nexus_tokio::nexus_core::router::{AuthMethod, CraCredential, StaticAuth, StaticUser};
use nexus_tokio::nexus_transports::tls::ClientCertMode;
use nexus_tokio::nexus_transports::CookieConfig;
use serde::Deserialize;

use crate::config::ConfigError;

/// `[realm.auth]`: the realm's built-in authentication.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAuth {
    /// The accepted methods: `anonymous`, `ticket`, `wampcra`, `cryptosign`,
    /// `wamp-scram`, `scram`, `cookie`, `tls`. The client's order picks among them.
    pub methods: Vec<String>,
    /// The role of anonymous sessions (default `anonymous`).
    pub anonymous_role: Option<String>,
    /// The role of TLS client-certificate holders that are not users (default: none, so
    /// only users may authenticate with `tls`).
    pub tls_role: Option<String>,
    /// The router's cryptosign private key (64 hex digits), for clients that ask the router
    /// to authenticate itself.
    pub router_key: Option<String>,
    /// The same, read from a file (the hex seed on its first line).
    pub router_key_file: Option<PathBuf>,
    /// The role WAMP-CRA challenges of unknown users name (default `user`).
    pub mock_role: Option<String>,
    /// The users.
    #[serde(default)]
    pub user: Vec<FileUser>,
}

/// `[[realm.auth.user]]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUser {
    /// The authid.
    pub authid: String,
    /// The role its sessions get.
    pub role: String,
    /// Its ticket.
    pub ticket: Option<String>,
    /// Its WAMP-CRA secret.
    pub wampcra: Option<FileCra>,
    /// Its cryptosign public keys (64 hex digits each).
    #[serde(default)]
    pub cryptosign: Vec<String>,
    /// Its SCRAM credential for the specification's `wamp-scram`.
    pub wamp_scram: Option<FileScram>,
    /// Its SCRAM credential for Autobahn's and Crossbar's `scram`.
    pub scram: Option<FileScram>,
}

impl fmt::Debug for FileUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileUser")
            .field("authid", &self.authid)
            .field("role", &self.role)
            .field("ticket", &self.ticket.as_ref().map(|_| "***"))
            .field("wampcra", &self.wampcra.as_ref().map(|_| "***"))
            .field("cryptosign", &self.cryptosign)
            .field("wamp_scram", &self.wamp_scram.as_ref().map(|_| "***"))
            .field("scram", &self.scram.as_ref().map(|_| "***"))
            .finish()
    }
}

/// `[realm.auth.user.wampcra]`: the secret, or (salted) the derived key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCra {
    /// The shared secret (with `salt`: the password the client derives the key from).
    pub secret: Option<String>,
    /// With `salt`, instead of `secret`: the derived key (base64 of PBKDF2's output, as
    /// autobahn's `derive_key` prints it), so the file need not hold the password.
    pub derived_key: Option<String>,
    /// The salt (a string, used as its UTF-8 bytes).
    pub salt: Option<String>,
    /// PBKDF2 iterations (default 1000).
    pub iterations: Option<u32>,
    /// Derived key length in bytes (default 32).
    pub keylen: Option<u32>,
}

/// `[realm.auth.user.scram]` / `wamp_scram`: a stored credential (`nexusd scram-credential`
/// prints one), never the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileScram {
    /// `argon2id13` (also spelled `argon2id-13`) or `pbkdf2`.
    pub kdf: String,
    /// Iterations (Argon2: passes).
    pub iterations: u32,
    /// Argon2 memory in KiB.
    pub memory: Option<u32>,
    /// The salt, base64.
    pub salt: String,
    /// StoredKey, base64.
    pub stored_key: String,
    /// ServerKey, base64.
    pub server_key: String,
}

/// A listener's `cookie = { ... }`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCookie {
    /// The cookie's name (default `cbtid`).
    pub name: Option<String>,
    /// Its lifetime in seconds (default one day).
    pub max_age_secs: Option<u64>,
}

impl FileCookie {
    pub fn config(&self) -> Result<CookieConfig, ConfigError> {
        let mut config = CookieConfig::default();
        if let Some(name) = &self.name {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid {
                return Err(ConfigError::Value {
                    key: "listener.cookie.name",
                    message: format!("{name:?} is not a valid cookie name (letters, digits, and !#$%&'*+-.^_`|~)"),
                });
            }
            config.name = name.clone();
        }
        if let Some(secs) = self.max_age_secs {
            if secs == 0 {
                return Err(ConfigError::Value {
                    key: "listener.cookie.max_age_secs",
                    message: "0: a cookie must live at least a second".into(),
                });
            }
            config.max_age = Duration::from_secs(secs);
        }
        Ok(config)
    }
}

/// Parses `client_certificates`.
pub fn client_cert_mode(value: Option<&str>) -> Result<ClientCertMode, ConfigError> {
    match value {
        None | Some("none") => Ok(ClientCertMode::None),
        Some("optional") => Ok(ClientCertMode::Optional),
        Some("required") => Ok(ClientCertMode::Required),
        Some(other) => Err(ConfigError::Value {
            key: "listener.client_certificates",
            message: format!("{other:?} (expected \"none\", \"optional\" or \"required\")"),
        }),
    }
}

fn auth_error(realm: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Auth {
        realm: realm.to_owned(),
        message: message.into(),
    }
}

fn b64(realm: &str, what: &str, text: &str) -> Result<Vec<u8>, ConfigError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| auth_error(realm, format!("{what} is not base64: {e}")))
}

fn key32(realm: &str, what: &str, text: &str) -> Result<[u8; 32], ConfigError> {
    b64(realm, what, text)?
        .try_into()
        .map_err(|_| auth_error(realm, format!("{what} must be 32 bytes")))
}

impl FileScram {
    fn credential(&self, realm: &str, authid: &str) -> Result<StoredCredential, ConfigError> {
        let what = |field: &str| format!("user {authid:?}: scram {field}");
        let kdf = match self.kdf.as_str() {
            "argon2id13" | "argon2id-13" => Kdf::Argon2id13 {
                iterations: self.iterations,
                memory: self.memory.ok_or_else(|| {
                    auth_error(
                        realm,
                        format!("{}: argon2id13 needs `memory` (KiB)", what("kdf")),
                    )
                })?,
            },
            "pbkdf2" => Kdf::Pbkdf2 {
                iterations: self.iterations,
            },
            other => {
                return Err(auth_error(
                    realm,
                    format!(
                        "{}: {other:?} (expected \"argon2id13\" or \"pbkdf2\")",
                        what("kdf")
                    ),
                ))
            }
        };
        Ok(StoredCredential {
            kdf,
            salt: b64(realm, &what("salt"), &self.salt)?,
            stored_key: key32(realm, &what("stored_key"), &self.stored_key)?,
            server_key: key32(realm, &what("server_key"), &self.server_key)?,
        })
    }
}

/// Builds a realm's [`StaticAuth`] from `[realm.auth]`.
pub fn static_auth(realm: &str, spec: &FileAuth) -> Result<StaticAuth, ConfigError> {
    let mut methods = Vec::new();
    for name in &spec.methods {
        let method = AuthMethod::parse(name).ok_or_else(|| {
            auth_error(
                realm,
                format!(
                    "unknown method {name:?} (expected one of {})",
                    AuthMethod::ALL.map(|m| m.as_str()).join(", ")
                ),
            )
        })?;
        methods.push(method);
    }
    if methods.is_empty() {
        return Err(auth_error(
            realm,
            "`methods` is empty: list at least one (\"anonymous\" for an open realm)",
        ));
    }
    let mut auth = StaticAuth::new(methods);
    if let Some(role) = &spec.anonymous_role {
        auth = auth.anonymous_role(role.clone());
    }
    if let Some(role) = &spec.tls_role {
        auth = auth.tls_role(role.clone());
    }
    if let Some(role) = &spec.mock_role {
        auth = auth.mock_role(role.clone());
    }
    let key_text = match (&spec.router_key, &spec.router_key_file) {
        (Some(_), Some(_)) => {
            return Err(auth_error(
                realm,
                "give router_key or router_key_file, not both",
            ))
        }
        (Some(k), None) => Some(k.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    auth_error(
                        realm,
                        format!("cannot read router_key_file {}: {e}", path.display()),
                    )
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        (None, None) => None,
    };
    if let Some(text) = key_text {
        let key = SigningKey::from_hex(&text)
            .map_err(|e| auth_error(realm, format!("router_key: {e}")))?;
        auth = auth.router_key(key);
    }
    for user in &spec.user {
        let authid = &user.authid;
        let mut u = StaticUser::new(user.role.clone());
        if let Some(ticket) = &user.ticket {
            if ticket.is_empty() {
                return Err(auth_error(
                    realm,
                    format!("user {authid:?}: the ticket is empty"),
                ));
            }
            u = u.ticket(ticket.as_str());
        }
        if let Some(cra) = &user.wampcra {
            let salt = cra.salt.as_ref().map(|salt| Salt {
                salt: salt.clone(),
                iterations: cra.iterations.unwrap_or(1000),
                keylen: cra.keylen.unwrap_or(32),
            });
            let credential = match (&cra.secret, &cra.derived_key, salt) {
                (Some(secret), None, None) => CraCredential::plain(secret.as_str()),
                (Some(secret), None, Some(salt)) => CraCredential::salted(secret, salt)
                    .map_err(|e| auth_error(realm, format!("user {authid:?}: wampcra: {e}")))?,
                (None, Some(key), Some(salt)) => {
                    CraCredential::from_derived_key(key.as_str(), salt)
                }
                (None, Some(_), None) => {
                    return Err(auth_error(
                        realm,
                        format!(
                        "user {authid:?}: wampcra derived_key needs the salt it was derived with"
                    ),
                    ))
                }
                _ => {
                    return Err(auth_error(
                        realm,
                        format!(
                            "user {authid:?}: wampcra needs exactly one of secret and derived_key"
                        ),
                    ))
                }
            };
            u = u.wampcra(credential);
        }
        for key in &user.cryptosign {
            let key = PublicKey::from_hex(key.trim())
                .map_err(|e| auth_error(realm, format!("user {authid:?}: cryptosign key: {e}")))?;
            u = u.cryptosign(key);
        }
        if let Some(s) = &user.wamp_scram {
            u = u.scram(Variant::Spec, s.credential(realm, authid)?);
        }
        if let Some(s) = &user.scram {
            u = u.scram(Variant::Autobahn, s.credential(realm, authid)?);
        }
        auth = auth
            .user(authid.clone(), u)
            .map_err(|e| auth_error(realm, e.to_string()))?;
    }
    Ok(auth)
}

/// `nexusd scram-credential`: the TOML of a stored credential for `password`.
pub fn scram_credential(
    variant: Variant,
    kdf: Kdf,
    password: &str,
    salt: &[u8],
) -> Result<String, String> {
    let c = StoredCredential::derive(variant, password, salt, kdf).map_err(|e| e.to_string())?;
    let b = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let table = match variant {
        Variant::Spec => "wamp_scram",
        Variant::Autobahn => "scram",
    };
    let mut out = format!(
        "[realm.auth.user.{table}]\nkdf = \"{}\"\niterations = {}\n",
        match kdf {
            Kdf::Argon2id13 { .. } => "argon2id13",
            Kdf::Pbkdf2 { .. } => "pbkdf2",
        },
        kdf.iterations()
    );
    if let Some(memory) = kdf.memory() {
        out.push_str(&format!("memory = {memory}\n"));
    }
    out.push_str(&format!(
        "salt = \"{}\"\nstored_key = \"{}\"\nserver_key = \"{}\"\n",
        b(&c.salt),
        b(&c.stored_key),
        b(&c.server_key)
    ));
    Ok(out)
}
