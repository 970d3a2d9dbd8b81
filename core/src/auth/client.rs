//! The client side of authentication: [`Credentials`] fill HELLO, answer CHALLENGEs and
//! check the router's WELCOME.
//!
//! A join with credentials goes:
//!
//! 1. [`Credentials::hello`] with [`HELLO_RANDOM_LEN`] fresh random bytes gives HELLO's
//!    `authmethods`, `authid` and `authextra` (cryptosign `pubkey` and router `challenge`,
//!    SCRAM `nonce`); put them in the [`SessionConfig`] ([`HelloAuth::apply`]) and join.
//! 2. For each CHALLENGE, [`Credentials::respond`] gives the AUTHENTICATE signature and
//!    extra (or an [`AuthError`]: abort with `wamp.error.authentication_failed`).
//! 3. On WELCOME, [`Credentials::check_welcome`] checks what the router proved: the SCRAM
//!    server signature, and cryptosign router authentication when a router key was given.
//!    On error, end the session: the router is not who it claims to be.
//!
//! ```
//! use nexus_core::auth::client::{Credentials, HELLO_RANDOM_LEN};
//! use nexus_core::auth::{cra, AuthError};
//! use nexus_core::message::{Challenge, ChallengeExtra};
//!
//! let mut credentials = Credentials::new().authid("joe").wampcra("secret1");
//! let hello = credentials.hello(&[0; HELLO_RANDOM_LEN]).unwrap();
//! assert_eq!(hello.authmethods, ["wampcra"]);
//! assert_eq!(hello.authid.as_deref(), Some("joe"));
//!
//! let challenge = Challenge {
//!     auth_method: "wampcra".into(),
//!     extra: ChallengeExtra { challenge: Some("{\"nonce\": \"x\"}".into()), ..Default::default() },
//! };
//! let (signature, _extra) = credentials.respond(&challenge).unwrap();
//! assert_eq!(signature, cra::sign(b"secret1", "{\"nonce\": \"x\"}"));
//!
//! let ticket = Challenge { auth_method: "ticket".into(), extra: Default::default() };
//! assert!(matches!(credentials.respond(&ticket), Err(AuthError::UnexpectedMethod { .. })));
//! ```

use std::fmt;

use super::cryptosign::{self, PublicKey, SigningKey};
use super::scram::{ChannelBinding, ClientFinal, CostPolicy, ScramClient, ServerVerifier, Variant};
use super::{cra, method, unhex, AuthError, Secret};
use crate::message::{AuthenticateExtra, Challenge, ChallengeExtra, WelcomeDetails};
use crate::session::SessionConfig;
use crate::value::{Dict, Value};

/// How many random bytes [`Credentials::hello`] takes: the first 32 are the cryptosign
/// router-authentication challenge, the next 18 the SCRAM client nonce, the rest is spare.
pub const HELLO_RANDOM_LEN: usize = 64;

/// Cryptosign options beyond the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptosignOptions {
    /// Ask the router to authenticate itself (send `authextra.challenge`) and require its
    /// CHALLENGE to carry a valid signature by this key.
    pub router_key: Option<PublicKey>,
    /// TLS channel binding: the type (`tls-unique`, `tls-exporter`) and the 32-byte channel
    /// ID of the connection (for `tls-unique` as Crossbar computes it, see
    /// [`cryptosign::tls_unique_channel_id`]).
    pub channel_binding: Option<(String, [u8; 32])>,
}

/// SCRAM options beyond the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramOptions {
    /// The dialects offered, in order of preference; the router picks, and the answer
    /// follows its choice. The default is `scram` (Autobahn and Crossbar), then `wamp-scram`
    /// (the specification): Crossbar takes the first method it has configured, but refuses
    /// the whole HELLO (`invalid authmethod`) when it reaches one it does not know, so
    /// `scram` must come first for it.
    pub variants: Vec<Variant>,
    /// The acceptable key derivation costs.
    pub policy: CostPolicy,
    /// TLS channel binding (`wamp-scram` only).
    pub channel_binding: Option<ChannelBinding>,
}

impl Default for ScramOptions {
    fn default() -> Self {
        ScramOptions {
            variants: vec![Variant::Autobahn, Variant::Spec],
            policy: CostPolicy::default(),
            channel_binding: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Method {
    Anonymous,
    Ticket(Secret),
    WampCra(Secret),
    Cryptosign(Box<(SigningKey, CryptosignOptions)>),
    Scram(Secret, ScramOptions),
}

impl Method {
    fn authmethods(&self) -> Vec<&'static str> {
        match self {
            Method::Anonymous => vec![method::ANONYMOUS],
            Method::Ticket(_) => vec![method::TICKET],
            Method::WampCra(_) => vec![method::WAMPCRA],
            Method::Cryptosign(..) => vec![method::CRYPTOSIGN],
            Method::Scram(_, options) => options.variants.iter().map(|v| v.authmethod()).collect(),
        }
    }
}

/// The state of one join.
#[derive(Debug, Clone, Default)]
struct Join {
    /// The router-authentication challenge sent in HELLO.
    router_challenge: Option<[u8; 32]>,
    /// One SCRAM client per variant offered (they share the nonce).
    scram: Vec<ScramClient>,
    /// The server signature to expect in WELCOME, once a SCRAM CHALLENGE was answered.
    verifier: Option<ServerVerifier>,
    /// Whether the router proved its cryptosign key.
    router_authenticated: bool,
    /// Whether `hello` ran.
    started: bool,
}

/// What a client authenticates with: any number of methods, offered in the order added,
/// and one authid for all of them.
///
/// Secrets are never shown: `Debug` lists the methods only.
///
/// ```
/// use nexus_core::auth::client::Credentials;
/// use nexus_core::auth::cryptosign::SigningKey;
///
/// let credentials = Credentials::new()
///     .authid("alice")
///     .cryptosign(SigningKey::from_seed(&[1; 32]))
///     .scram("correct horse")
///     .anonymous();
/// assert_eq!(credentials.authmethods(), ["cryptosign", "scram", "wamp-scram", "anonymous"]);
/// assert!(!format!("{credentials:?}").contains("horse"));
/// ```
#[derive(Clone, Default)]
pub struct Credentials {
    authid: Option<String>,
    methods: Vec<Method>,
    join: Join,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("authid", &self.authid)
            .field("authmethods", &self.authmethods())
            .finish_non_exhaustive()
    }
}

/// The authentication part of HELLO.Details.
#[derive(Debug, Clone, PartialEq)]
pub struct HelloAuth {
    /// `authmethods`, in order of preference.
    pub authmethods: Vec<String>,
    /// `authid`.
    pub authid: Option<String>,
    /// `authextra`: cryptosign `pubkey` (and `challenge`, `channel_binding`), SCRAM
    /// `nonce` (and `channel_binding`).
    pub authextra: Dict,
}

impl HelloAuth {
    /// Puts the fields into a session configuration: `authmethods` go first, followed by
    /// those already configured (methods the application answers itself); `authextra`
    /// entries are added to those configured; `authid` replaces the configured one when set.
    ///
    /// ```
    /// use nexus_core::auth::client::{Credentials, HELLO_RANDOM_LEN};
    /// use nexus_core::session::SessionConfig;
    /// use nexus_core::Uri;
    ///
    /// let mut config = SessionConfig::new(Uri::parse("realm1").unwrap()).with_authmethods(["x-custom"]);
    /// let hello = Credentials::new().authid("joe").ticket("t").hello(&[0; HELLO_RANDOM_LEN]).unwrap();
    /// hello.apply(&mut config);
    /// assert_eq!(config.authmethods, ["ticket", "x-custom"]);
    /// assert_eq!(config.authid.as_deref(), Some("joe"));
    /// ```
    pub fn apply(self, config: &mut SessionConfig) {
        let mut methods = self.authmethods;
        for m in config.authmethods.drain(..) {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        config.authmethods = methods;
        if self.authid.is_some() {
            config.authid = self.authid;
        }
        for (k, v) in self.authextra {
            config.authextra.insert(k, v);
        }
    }
}

fn required<'a>(
    method: &'static str,
    field: &'static str,
    value: &'a Option<String>,
) -> Result<&'a str, AuthError> {
    value
        .as_deref()
        .ok_or(AuthError::MissingField { method, field })
}

fn small(method: &'static str, field: &'static str, value: Option<u64>) -> Result<u32, AuthError> {
    let value = value.ok_or(AuthError::MissingField { method, field })?;
    u32::try_from(value).map_err(|_| AuthError::InvalidField {
        method,
        field,
        reason: format!("{value} is out of range"),
    })
}

impl Credentials {
    /// No credentials yet (an empty HELLO offer: the router decides, usually anonymous).
    pub fn new() -> Self {
        Credentials::default()
    }

    /// The authid to announce (required by ticket, WAMP-CRA and SCRAM; optional for
    /// cryptosign, where the router may find it from the public key).
    pub fn authid(mut self, authid: impl Into<String>) -> Self {
        self.authid = Some(authid.into());
        self
    }

    /// Offers `anonymous` (no CHALLENGE follows).
    pub fn anonymous(mut self) -> Self {
        self.methods.push(Method::Anonymous);
        self
    }

    /// Offers ticket authentication with `ticket`.
    pub fn ticket(mut self, ticket: impl Into<Secret>) -> Self {
        self.methods.push(Method::Ticket(ticket.into()));
        self
    }

    /// Offers WAMP-CRA with `secret` (plain or salted: the router's CHALLENGE says which).
    pub fn wampcra(mut self, secret: impl Into<Secret>) -> Self {
        self.methods.push(Method::WampCra(secret.into()));
        self
    }

    /// Offers cryptosign with `key`.
    pub fn cryptosign(self, key: SigningKey) -> Self {
        self.cryptosign_with(key, CryptosignOptions::default())
    }

    /// Offers cryptosign with `key` and options (router authentication, channel binding).
    ///
    /// ```
    /// use nexus_core::auth::client::{CryptosignOptions, Credentials, HELLO_RANDOM_LEN};
    /// use nexus_core::auth::cryptosign::SigningKey;
    ///
    /// let router_key = SigningKey::from_seed(&[2; 32]).public_key();
    /// let mut credentials = Credentials::new().cryptosign_with(
    ///     SigningKey::from_seed(&[1; 32]),
    ///     CryptosignOptions { router_key: Some(router_key), ..Default::default() },
    /// );
    /// let hello = credentials.hello(&[0x42; HELLO_RANDOM_LEN]).unwrap();
    /// assert_eq!(hello.authextra["challenge"], "42".repeat(32).as_str().into());
    /// ```
    pub fn cryptosign_with(mut self, key: SigningKey, options: CryptosignOptions) -> Self {
        self.methods
            .push(Method::Cryptosign(Box::new((key, options))));
        self
    }

    /// Offers SCRAM with `password`, both dialects (`scram`, then `wamp-scram`: see
    /// [`ScramOptions::variants`]), with the default [`CostPolicy`].
    pub fn scram(self, password: impl Into<Secret>) -> Self {
        self.scram_with(password, ScramOptions::default())
    }

    /// Offers SCRAM with `password` and options (dialects, cost policy, channel binding).
    pub fn scram_with(mut self, password: impl Into<Secret>, options: ScramOptions) -> Self {
        self.methods.push(Method::Scram(password.into(), options));
        self
    }

    /// Whether no method was added.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    /// The authmethods offered, in order.
    pub fn authmethods(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.methods.iter().flat_map(Method::authmethods) {
            if !out.iter().any(|o| o == m) {
                out.push(m.to_owned());
            }
        }
        out
    }

    /// Whether these credentials answer CHALLENGEs for `authmethod`.
    pub fn handles(&self, authmethod: &str) -> bool {
        authmethod != method::ANONYMOUS && self.authmethods().iter().any(|m| m == authmethod)
    }

    /// Starts a join: resets the per-join state and returns HELLO's authentication fields.
    /// `random` must be fresh random bytes (from the operating system) for every join.
    ///
    /// Fails when a method needs an authid and none is set (ticket, WAMP-CRA, SCRAM), or
    /// when the authid or password is not valid SASLprep input (SCRAM).
    pub fn hello(&mut self, random: &[u8; HELLO_RANDOM_LEN]) -> Result<HelloAuth, AuthError> {
        let mut join = Join {
            started: true,
            ..Join::default()
        };
        let mut authextra = Dict::new();
        for m in &self.methods {
            match m {
                Method::Anonymous => {}
                Method::Ticket(_) | Method::WampCra(_) => {
                    if self.authid.is_none() {
                        return Err(AuthError::InvalidParameter {
                            method: m.authmethods()[0],
                            reason: "an authid is required".into(),
                        });
                    }
                }
                Method::Cryptosign(boxed) => {
                    let (key, options) = &**boxed;
                    authextra.insert("pubkey".into(), Value::from(key.public_key().to_hex()));
                    if options.router_key.is_some() {
                        let mut challenge = [0u8; 32];
                        challenge.copy_from_slice(&random[..32]);
                        authextra.insert(
                            "challenge".into(),
                            Value::from(cryptosign::challenge_hex(&challenge)),
                        );
                        join.router_challenge = Some(challenge);
                    }
                    if let Some((kind, _)) = &options.channel_binding {
                        authextra.insert("channel_binding".into(), Value::from(kind.clone()));
                    }
                }
                Method::Scram(password, options) => {
                    let authid = self.authid.as_deref().ok_or(AuthError::InvalidParameter {
                        method: method::WAMP_SCRAM,
                        reason: "an authid is required".into(),
                    })?;
                    for &variant in &options.variants {
                        let mut client =
                            ScramClient::new(variant, authid, password.expose(), &random[32..50])?
                                .with_policy(options.policy);
                        if let Some(binding) = &options.channel_binding {
                            client = client.with_channel_binding(binding.clone());
                        }
                        for (k, v) in client.hello_authextra() {
                            authextra.insert(k, v);
                        }
                        join.scram.push(client);
                    }
                }
            }
        }
        self.join = join;
        Ok(HelloAuth {
            authmethods: self.authmethods(),
            authid: self.authid.clone(),
            authextra,
        })
    }

    /// Answers a CHALLENGE: the AUTHENTICATE signature and extra.
    ///
    /// Fails (and the session should then abort with `wamp.error.authentication_failed`)
    /// when the challenge is for a method these credentials do not offer, lacks a field or
    /// has a malformed one, carries a SCRAM nonce that does not extend ours or cost
    /// parameters outside the policy, uses another channel binding than requested, or (with
    /// a router key) does not prove the router's identity.
    pub fn respond(
        &mut self,
        challenge: &Challenge,
    ) -> Result<(String, AuthenticateExtra), AuthError> {
        if !self.join.started {
            return Err(AuthError::OutOfOrder("respond() before hello()"));
        }
        let authmethod = challenge.auth_method.as_str();
        let extra = &challenge.extra;
        let unexpected = || AuthError::UnexpectedMethod {
            method: authmethod.to_owned(),
            offered: self.authmethods(),
        };
        let found = self
            .methods
            .iter()
            .find(|m| m.authmethods().contains(&authmethod) && !matches!(m, Method::Anonymous))
            .ok_or_else(unexpected)?;
        match found {
            Method::Anonymous => Err(unexpected()),
            Method::Ticket(ticket) => {
                Ok((ticket.expose().to_owned(), AuthenticateExtra::default()))
            }
            Method::WampCra(secret) => {
                let text = required(method::WAMPCRA, "challenge", &extra.challenge)?;
                let salt = match &extra.salt {
                    None => None,
                    Some(salt) => Some(cra::Salt {
                        salt: salt.clone(),
                        iterations: small(method::WAMPCRA, "iterations", extra.iterations)?,
                        keylen: small(method::WAMPCRA, "keylen", extra.keylen)?,
                    }),
                };
                let key = cra::signing_key(secret.expose(), salt.as_ref())?;
                Ok((
                    cra::sign(key.expose().as_bytes(), text),
                    AuthenticateExtra::default(),
                ))
            }
            Method::Cryptosign(boxed) => {
                let (key, options) = &**boxed;
                let requested = options
                    .channel_binding
                    .as_ref()
                    .map(|(kind, _)| kind.as_str());
                let actual = extra.channel_binding.as_deref();
                if requested != actual {
                    return Err(AuthError::ChannelBindingMismatch {
                        method: method::CRYPTOSIGN,
                        requested: requested.map(str::to_owned),
                        actual: actual.map(str::to_owned),
                    });
                }
                let channel_id = options.channel_binding.as_ref().map(|(_, id)| *id);
                if let (Some(router_key), Some(ours)) =
                    (&options.router_key, &self.join.router_challenge)
                {
                    verify_router(router_key, ours, channel_id, extra)?;
                    self.join.router_authenticated = true;
                }
                let text = required(method::CRYPTOSIGN, "challenge", &extra.challenge)?;
                let signature = key.sign_challenge(text, channel_id.as_ref())?;
                Ok((signature, AuthenticateExtra::default()))
            }
            Method::Scram(..) => {
                let variant = Variant::from_authmethod(authmethod).ok_or_else(unexpected)?;
                let client = self
                    .join
                    .scram
                    .iter()
                    .find(|c| c.variant() == variant)
                    .ok_or(AuthError::OutOfOrder(
                        "no SCRAM exchange was started by hello()",
                    ))?;
                let ClientFinal {
                    proof,
                    extra,
                    verifier,
                } = client.respond(&challenge.extra)?;
                self.join.verifier = Some(verifier);
                Ok((proof, extra))
            }
        }
    }

    /// Checks the router's WELCOME: after a SCRAM exchange, the server signature; with a
    /// cryptosign router key, that the router did prove its key. Also refuses a WELCOME that
    /// claims SCRAM (or cryptosign with a router key) without the exchange having happened.
    ///
    /// ```
    /// use nexus_core::auth::client::{Credentials, HELLO_RANDOM_LEN};
    /// use nexus_core::message::WelcomeDetails;
    ///
    /// let mut credentials = Credentials::new().authid("joe").scram("pw");
    /// credentials.hello(&[1; HELLO_RANDOM_LEN]).unwrap();
    /// // A router that claims SCRAM without having run it is not trusted.
    /// let welcome = WelcomeDetails { authmethod: Some("scram".into()), ..Default::default() };
    /// assert!(credentials.check_welcome(&welcome).is_err());
    /// ```
    pub fn check_welcome(&mut self, details: &WelcomeDetails) -> Result<(), AuthError> {
        let authmethod = details.authmethod.as_deref().unwrap_or_default();
        if let Some(verifier) = &self.join.verifier {
            let empty = Dict::new();
            return verifier.verify(details.authextra.as_ref().unwrap_or(&empty));
        }
        if let Some(variant) = Variant::from_authmethod(authmethod) {
            if self.handles(authmethod) {
                return Err(AuthError::RouterNotAuthenticated {
                    method: variant.authmethod(),
                    reason: "WELCOME without a SCRAM exchange",
                });
            }
        }
        if authmethod == method::CRYPTOSIGN && !self.join.router_authenticated {
            let wanted = self
                .methods
                .iter()
                .any(|m| matches!(m, Method::Cryptosign(b) if b.1.router_key.is_some()));
            if wanted {
                return Err(AuthError::RouterNotAuthenticated {
                    method: method::CRYPTOSIGN,
                    reason: "WELCOME without router authentication",
                });
            }
        }
        Ok(())
    }
}

/// Checks the router's answer to our router-authentication challenge.
fn verify_router(
    router_key: &PublicKey,
    ours: &[u8; 32],
    channel_id: Option<[u8; 32]>,
    extra: &ChallengeExtra,
) -> Result<(), AuthError> {
    let not = |reason| AuthError::RouterNotAuthenticated {
        method: method::CRYPTOSIGN,
        reason,
    };
    let pubkey = extra
        .pubkey
        .as_deref()
        .ok_or_else(|| not("the CHALLENGE has no router pubkey"))?;
    let pubkey = unhex::<32>(method::CRYPTOSIGN, "pubkey", pubkey)?;
    if pubkey != router_key.to_bytes() {
        return Err(not("the router's pubkey is not the trusted router key"));
    }
    let signature = extra
        .signature
        .as_deref()
        .ok_or_else(|| not("the CHALLENGE has no router signature"))?;
    cryptosign::verify(router_key, ours, channel_id, signature)
        .map_err(|_| not("the router's signature is invalid"))
}
