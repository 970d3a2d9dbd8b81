//! The built-in ("static") authentication provider: users configured per realm, evaluated
//! by the router itself, synchronously, with no I/O.
//!
//! The cryptography is in [`crate::auth`]; this module decides which method a client gets,
//! keeps what a CHALLENGE committed to until the AUTHENTICATE, and turns the outcome into a
//! WELCOME identity or an ABORT that says nothing about what was wrong. How a method is
//! chosen is documented on [`StaticAuth`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::transport::{ChannelBindingKind, TransportAuth};
use super::Identity;
use crate::auth::cra::{self, CraChallenge, Salt};
use crate::auth::cryptosign::{self, PublicKey, SigningKey};
use crate::auth::scram::{Kdf, ScramServer, StoredCredential, Variant};
use crate::auth::{method, ticket, AuthError, Secret};
use crate::id::SessionId;
use crate::message::{Authenticate, ChallengeExtra, Hello};
use crate::uri::{self, Uri};
use crate::value::{Dict, Value};

/// The `authprovider` of sessions this provider authenticates.
pub const PROVIDER: &str = "static";

/// The message of every authentication failure: it must not say what was wrong.
const FAILED: &str = "authentication failed";

/// An authentication method of the built-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethod {
    /// `anonymous`: no credentials.
    Anonymous,
    /// `ticket`: a shared secret sent in clear (use TLS).
    Ticket,
    /// `wampcra`: HMAC challenge-response with a shared secret, optionally salted.
    WampCra,
    /// `cryptosign`: Ed25519 signature of a challenge.
    Cryptosign,
    /// `wamp-scram`: SCRAM as the WAMP specification defines it.
    WampScram,
    /// `scram`: SCRAM as Autobahn and Crossbar implement it.
    Scram,
    /// `cookie`: a WebSocket cookie bound earlier to an identity.
    Cookie,
    /// `tls`: a verified TLS client certificate.
    Tls,
}

impl AuthMethod {
    /// Every method.
    pub const ALL: [AuthMethod; 8] = [
        AuthMethod::Anonymous,
        AuthMethod::Ticket,
        AuthMethod::WampCra,
        AuthMethod::Cryptosign,
        AuthMethod::WampScram,
        AuthMethod::Scram,
        AuthMethod::Cookie,
        AuthMethod::Tls,
    ];

    /// The `authmethod` string.
    ///
    /// ```
    /// use nexus_core::router::AuthMethod;
    /// assert_eq!(AuthMethod::WampCra.as_str(), "wampcra");
    /// assert_eq!(AuthMethod::parse("wamp-scram"), Some(AuthMethod::WampScram));
    /// assert_eq!(AuthMethod::parse("password"), None);
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Anonymous => method::ANONYMOUS,
            AuthMethod::Ticket => method::TICKET,
            AuthMethod::WampCra => method::WAMPCRA,
            AuthMethod::Cryptosign => method::CRYPTOSIGN,
            AuthMethod::WampScram => method::WAMP_SCRAM,
            AuthMethod::Scram => method::SCRAM,
            AuthMethod::Cookie => "cookie",
            AuthMethod::Tls => "tls",
        }
    }

    /// The method named by an `authmethod` string.
    pub fn parse(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the method exchanges CHALLENGE and AUTHENTICATE.
    pub fn challenges(self) -> bool {
        !matches!(
            self,
            AuthMethod::Anonymous | AuthMethod::Cookie | AuthMethod::Tls
        )
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WAMP-CRA credential: the HMAC key, and the salt parameters the CHALLENGE announces
/// when the key was derived from a password.
#[derive(Clone)]
pub struct CraCredential {
    key: Secret,
    salt: Option<Salt>,
}

impl CraCredential {
    /// An unsalted credential: the client signs with `secret` itself.
    pub fn plain(secret: impl Into<Secret>) -> Self {
        CraCredential {
            key: secret.into(),
            salt: None,
        }
    }

    /// A salted credential: the router announces `salt` and the client derives the key
    /// from `secret` with PBKDF2 (done here once; slow by design).
    ///
    /// ```
    /// use nexus_core::auth::cra::Salt;
    /// use nexus_core::router::CraCredential;
    ///
    /// let salt = Salt { salt: "salt123".into(), iterations: 1000, keylen: 32 };
    /// let c = CraCredential::salted("L3L1YUE8Txlw", salt).unwrap();
    /// assert!(c.is_salted());
    /// assert!(!format!("{c:?}").contains("L3L1"));
    /// ```
    pub fn salted(secret: &str, salt: Salt) -> Result<Self, StaticAuthError> {
        let key = cra::signing_key(secret, Some(&salt)).map_err(StaticAuthError::Credential)?;
        Ok(CraCredential {
            key,
            salt: Some(salt),
        })
    }

    /// A salted credential from the already derived key (the base64 text of the PBKDF2
    /// output, as [`cra::derive_key`] returns it), so the configuration need not hold the
    /// password.
    pub fn from_derived_key(key: impl Into<Secret>, salt: Salt) -> Self {
        CraCredential {
            key: key.into(),
            salt: Some(salt),
        }
    }

    /// Whether the CHALLENGE carries salt parameters.
    pub fn is_salted(&self) -> bool {
        self.salt.is_some()
    }
}

impl fmt::Debug for CraCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CraCredential")
            .field("key", &self.key)
            .field("salt", &self.salt)
            .finish()
    }
}

/// One user of a [`StaticAuth`] realm: its role and its credentials, one per method (any
/// may be absent).
///
/// ```
/// use nexus_core::router::StaticUser;
///
/// let user = StaticUser::new("admin").ticket("s3cr3t");
/// assert_eq!(user.role(), "admin");
/// assert!(!format!("{user:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Debug)]
pub struct StaticUser {
    role: String,
    ticket: Option<Secret>,
    wampcra: Option<CraCredential>,
    cryptosign: Vec<PublicKey>,
    wamp_scram: Option<StoredCredential>,
    scram: Option<StoredCredential>,
}

impl StaticUser {
    /// A user with `role` and no credentials yet.
    pub fn new(role: impl Into<String>) -> Self {
        StaticUser {
            role: role.into(),
            ticket: None,
            wampcra: None,
            cryptosign: Vec::new(),
            wamp_scram: None,
            scram: None,
        }
    }

    /// The role the user's sessions get.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Sets the user's ticket.
    pub fn ticket(mut self, ticket: impl Into<Secret>) -> Self {
        self.ticket = Some(ticket.into());
        self
    }

    /// Sets the user's WAMP-CRA credential.
    pub fn wampcra(mut self, credential: CraCredential) -> Self {
        self.wampcra = Some(credential);
        self
    }

    /// Adds a cryptosign public key (a user may have several, e.g. one per device).
    pub fn cryptosign(mut self, key: PublicKey) -> Self {
        self.cryptosign.push(key);
        self
    }

    /// Sets the user's SCRAM credential for `variant` (`wamp-scram` or Autobahn's
    /// `scram`): the two derive different keys from the same password.
    pub fn scram(mut self, variant: Variant, credential: StoredCredential) -> Self {
        match variant {
            Variant::Spec => self.wamp_scram = Some(credential),
            Variant::Autobahn => self.scram = Some(credential),
        }
        self
    }

    fn scram_for(&self, variant: Variant) -> Option<&StoredCredential> {
        match variant {
            Variant::Spec => self.wamp_scram.as_ref(),
            Variant::Autobahn => self.scram.as_ref(),
        }
    }

    fn has(&self, method: AuthMethod) -> bool {
        match method {
            AuthMethod::Ticket => self.ticket.is_some(),
            AuthMethod::WampCra => self.wampcra.is_some(),
            AuthMethod::Cryptosign => !self.cryptosign.is_empty(),
            AuthMethod::WampScram => self.wamp_scram.is_some(),
            AuthMethod::Scram => self.scram.is_some(),
            AuthMethod::Anonymous | AuthMethod::Cookie | AuthMethod::Tls => true,
        }
    }
}

/// Why a [`StaticAuth`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaticAuthError {
    /// Two users share a cryptosign key, so a client without an authid is ambiguous.
    #[error("the cryptosign public key {key} is registered for both {first:?} and {second:?}: give each user its own keys")]
    SharedKey {
        /// The key (hex).
        key: String,
        /// The first user.
        first: String,
        /// The second user.
        second: String,
    },
    /// A credential could not be derived or parsed.
    #[error("invalid credential: {0}")]
    Credential(#[source] AuthError),
    /// A user has an empty authid or role.
    #[error("user {0:?}: the authid and the role must not be empty")]
    EmptyName(String),
}

/// A realm's built-in authentication: which methods it accepts and its users. Evaluated by
/// the router itself ([`AuthMode::Static`](super::AuthMode::Static)), synchronously, with
/// no I/O.
///
/// # Method selection
///
/// The client's `authmethods` (default `["anonymous"]`) are tried in the client's order,
/// skipping those the realm does not accept. A method is *usable* when:
///
/// | method | usable when |
/// |---|---|
/// | `anonymous` | always (authid: random, authrole: [`StaticAuth::anonymous_role`]) |
/// | `cookie` | the connection's cookie is bound to an identity in this realm and not expired |
/// | `tls` | the connection has a verified client certificate whose authid (CN, else first DNS name) matches HELLO's `authid` if given, and a role: the user's, else [`StaticAuth::tls_role`] |
/// | `ticket`, `wampcra` | HELLO has an `authid` naming a user with that credential |
/// | `cryptosign` | HELLO has `authextra.pubkey`, registered to the user named by `authid` (or, without `authid`, to any user) |
/// | `wamp-scram`, `scram` | HELLO has `authid` and `authextra.nonce`, and the user has a credential for that variant |
///
/// The first usable method wins. If none is, and the client offered a challenge method the
/// realm accepts whose HELLO fields are present, the router sends a *mock* CHALLENGE for the
/// first of them (for SCRAM with a salt that is stable per authid) and the AUTHENTICATE
/// then fails like a wrong secret would: unknown users, and users who lack the offered
/// method, look like known users with a wrong secret. Only when nothing offered fits the
/// realm does the client get ABORT `wamp.error.no_matching_auth_method`.
///
/// # Failures
///
/// Every failure of a challenge method (wrong secret, unknown user, malformed signature,
/// hex or base64, wrong nonce, missing channel binding) is ABORT
/// `wamp.error.authentication_failed` with the same message, `authentication failed`.
/// Secrets are compared in constant time, and `Debug` never shows them.
///
/// ```
/// use nexus_core::router::{AuthMethod, StaticAuth, StaticUser};
///
/// let auth = StaticAuth::new([AuthMethod::Ticket, AuthMethod::Anonymous])
///     .user("alice", StaticUser::new("admin").ticket("s3cr3t"))
///     .unwrap()
///     .anonymous_role("guest");
/// assert!(auth.accepts(AuthMethod::Ticket));
/// assert!(!auth.accepts(AuthMethod::WampCra));
/// assert_eq!(auth.users().count(), 1);
/// ```
#[derive(Clone)]
pub struct StaticAuth {
    methods: Vec<AuthMethod>,
    users: BTreeMap<String, StaticUser>,
    by_pubkey: HashMap<[u8; 32], String>,
    anonymous_role: String,
    tls_role: Option<String>,
    router_key: Option<SigningKey>,
    mock_role: String,
}

impl StaticAuth {
    /// A realm accepting `methods` (the order does not matter: the client's decides), with
    /// no users yet.
    pub fn new(methods: impl IntoIterator<Item = AuthMethod>) -> Self {
        let mut list: Vec<AuthMethod> = Vec::new();
        for m in methods {
            if !list.contains(&m) {
                list.push(m);
            }
        }
        StaticAuth {
            methods: list,
            users: BTreeMap::new(),
            by_pubkey: HashMap::new(),
            anonymous_role: "anonymous".into(),
            tls_role: None,
            router_key: None,
            mock_role: "user".into(),
        }
    }

    /// Adds (or replaces) a user.
    pub fn user(
        mut self,
        authid: impl Into<String>,
        user: StaticUser,
    ) -> Result<Self, StaticAuthError> {
        let authid = authid.into();
        if authid.is_empty() || user.role.is_empty() {
            return Err(StaticAuthError::EmptyName(authid));
        }
        self.by_pubkey.retain(|_, owner| *owner != authid);
        for key in &user.cryptosign {
            let bytes = key.to_bytes();
            if let Some(first) = self.by_pubkey.get(&bytes) {
                return Err(StaticAuthError::SharedKey {
                    key: key.to_hex(),
                    first: first.clone(),
                    second: authid,
                });
            }
            self.by_pubkey.insert(bytes, authid.clone());
        }
        self.users.insert(authid, user);
        Ok(self)
    }

    /// The role of anonymous sessions (default `anonymous`).
    pub fn anonymous_role(mut self, role: impl Into<String>) -> Self {
        self.anonymous_role = role.into();
        self
    }

    /// The role of TLS client-certificate holders who are not users (default: none, so
    /// only users can authenticate with `tls`).
    pub fn tls_role(mut self, role: impl Into<String>) -> Self {
        self.tls_role = Some(role.into());
        self
    }

    /// The router's cryptosign key, for clients that ask the router to authenticate itself
    /// (`authextra.challenge` in HELLO): the CHALLENGE then carries the router's `pubkey`
    /// and its `signature` of the client's challenge.
    pub fn router_key(mut self, key: SigningKey) -> Self {
        self.router_key = Some(key);
        self
    }

    /// The authrole a WAMP-CRA mock challenge names for unknown users (default `user`):
    /// make it your most common role, so the challenge looks like a real one.
    pub fn mock_role(mut self, role: impl Into<String>) -> Self {
        self.mock_role = role.into();
        self
    }

    /// Whether the realm accepts `method`.
    pub fn accepts(&self, method: AuthMethod) -> bool {
        self.methods.contains(&method)
    }

    /// The methods the realm accepts.
    pub fn methods(&self) -> &[AuthMethod] {
        &self.methods
    }

    /// The users, by authid.
    pub fn users(&self) -> impl Iterator<Item = (&str, &StaticUser)> {
        self.users.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The salt parameters of mock WAMP-CRA challenges: those of the first salted user,
    /// so that unknown users look like the (typically uniformly configured) real ones.
    fn mock_cra_salt(&self, authid: &str, entropy: &AuthEntropy) -> Option<Salt> {
        let template = self
            .users
            .values()
            .find_map(|u| u.wampcra.as_ref().and_then(|c| c.salt.clone()))?;
        let digest = entropy.keyed(b"nexus wampcra mock salt\0", authid.as_bytes());
        Some(Salt {
            salt: hex::encode(&digest[..8]),
            ..template
        })
    }

    /// The KDF of mock SCRAM challenges: that of the first user with a credential of the
    /// variant, else Argon2id with Autobahn's and Crossbar's defaults.
    fn mock_kdf(&self, variant: Variant) -> Kdf {
        self.users
            .values()
            .find_map(|u| u.scram_for(variant).map(|c| c.kdf))
            .unwrap_or(Kdf::Argon2id13 {
                iterations: 4096,
                memory: 512,
            })
    }
}

impl fmt::Debug for StaticAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticAuth")
            .field("methods", &self.methods)
            .field("users", &self.users)
            .field("anonymous_role", &self.anonymous_role)
            .field("tls_role", &self.tls_role)
            .field("router_key", &self.router_key)
            .finish_non_exhaustive()
    }
}

/// The randomness of authentication: a ChaCha20 CSPRNG the driver seeds with 32 bytes of OS
/// entropy, and a key drawn from it for the stable per-authid values of mock challenges.
pub(crate) struct AuthEntropy {
    rng: ChaCha20Rng,
    mock_key: [u8; 32],
}

impl AuthEntropy {
    pub fn new(seed: [u8; 32]) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut mock_key = [0u8; 32];
        rng.fill_bytes(&mut mock_key);
        AuthEntropy { rng, mock_key }
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        out
    }

    /// A value stable for the router's lifetime, unpredictable to clients.
    fn keyed(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let mut input = Vec::with_capacity(label.len() + data.len());
        input.extend_from_slice(label);
        input.extend_from_slice(data);
        super::digest::keyed_digest(&self.mock_key, &input)
    }

    /// A fresh key for the driver's [`CookieStore`](crate::router::CookieStore).
    pub fn cookie_key(&mut self) -> [u8; 32] {
        self.bytes()
    }
}

/// What a CHALLENGE committed to, kept until the AUTHENTICATE.
pub(crate) struct Pending {
    /// The identity welcomed on success; `None` for a mock challenge (always fails).
    identity: Option<Identity>,
    /// The session ID the WELCOME must carry (WAMP-CRA announces it in the challenge).
    pub session: Option<SessionId>,
    check: Check,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("mock", &self.identity.is_none())
            .finish_non_exhaustive()
    }
}

enum Check {
    Ticket(Option<Secret>),
    Cra {
        key: Secret,
        challenge: String,
    },
    Cryptosign(Box<CryptosignCheck>),
    Scram {
        server: Box<ScramServer>,
        channel_data: Option<[u8; 32]>,
    },
}

/// A cryptosign challenge: the key that must sign (`None` for a mock), the challenge sent
/// and the channel it is bound to.
struct CryptosignCheck {
    key: Option<PublicKey>,
    challenge: [u8; 32],
    channel_id: Option<[u8; 32]>,
}

/// What the router does with a HELLO or AUTHENTICATE.
pub(crate) enum Outcome {
    Welcome(Identity),
    /// Welcome anonymously with this role (the router draws the authid).
    Anonymous(String),
    Challenge {
        method: &'static str,
        extra: ChallengeExtra,
        pending: Box<Pending>,
    },
    Deny {
        reason: &'static str,
        message: String,
    },
}

impl Outcome {
    fn failed() -> Outcome {
        Outcome::Deny {
            reason: uri::error::AUTHENTICATION_FAILED,
            message: FAILED.into(),
        }
    }
}

/// What the router knows when a HELLO arrives.
pub(crate) struct HelloContext<'a> {
    pub realm: &'a Uri,
    pub hello: &'a Hello,
    pub transport: &'a TransportAuth,
    pub now: Instant,
    /// The wall-clock time in Unix milliseconds, for WAMP-CRA's timestamp.
    pub unix_millis: u64,
    /// A fresh, unused session ID, announced by WAMP-CRA challenges.
    pub session: SessionId,
}

fn authextra_str<'a>(hello: &'a Hello, key: &str) -> Option<&'a str> {
    match hello.details.authextra.as_ref()?.get(key)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

impl StaticAuth {
    /// Chooses the method for a HELLO and answers it.
    pub(crate) fn on_hello(
        &self,
        ctx: &HelloContext<'_>,
        entropy: Option<&mut AuthEntropy>,
    ) -> Outcome {
        let offered: Vec<AuthMethod> = match ctx.hello.details.authmethods.as_deref() {
            None | Some([]) => vec![AuthMethod::Anonymous],
            Some(names) => names.iter().filter_map(|n| AuthMethod::parse(n)).collect(),
        };
        let candidates: Vec<AuthMethod> =
            offered
                .into_iter()
                .filter(|m| self.accepts(*m))
                .fold(Vec::new(), |mut v, m| {
                    if !v.contains(&m) {
                        v.push(m);
                    }
                    v
                });
        let authid = ctx
            .hello
            .details
            .authid
            .as_deref()
            .filter(|a| !a.is_empty());
        let mut entropy = entropy;
        for &m in &candidates {
            if let Some(outcome) = self.immediate(m, ctx, authid) {
                return outcome;
            }
            if let Some(user) = self.principal(m, ctx.hello, authid) {
                return match entropy.as_deref_mut() {
                    Some(e) => self.challenge(m, ctx, Some(user), e),
                    None => unavailable(),
                };
            }
        }
        // Nothing real fits: a mock challenge for the first offered method whose HELLO
        // fields are there, so unknown users look like known ones with a wrong secret.
        for &m in candidates.iter().filter(|m| m.challenges()) {
            if hello_fields_present(m, ctx.hello, authid) {
                return match entropy {
                    Some(e) => self.challenge(m, ctx, None, e),
                    None => unavailable(),
                };
            }
        }
        no_match(ctx.realm)
    }

    /// `anonymous`, `cookie` and `tls`, when usable.
    fn immediate(
        &self,
        m: AuthMethod,
        ctx: &HelloContext<'_>,
        authid: Option<&str>,
    ) -> Option<Outcome> {
        match m {
            AuthMethod::Anonymous => Some(Outcome::Anonymous(self.anonymous_role.clone())),
            AuthMethod::Cookie => {
                let remembered = ctx.transport.cookie.as_ref()?.remembered.as_ref()?;
                if remembered.realm != *ctx.realm || remembered.expires <= ctx.now {
                    return None;
                }
                if authid.is_some_and(|a| a != remembered.identity.authid) {
                    return None;
                }
                Some(Outcome::Welcome(Identity {
                    authid: remembered.identity.authid.clone(),
                    authrole: remembered.identity.authrole.clone(),
                    authmethod: AuthMethod::Cookie.as_str().into(),
                    authprovider: PROVIDER.into(),
                    authextra: Dict::new(),
                }))
            }
            AuthMethod::Tls => {
                let cert = ctx.transport.client_cert.as_ref()?;
                let cert_authid = cert.authid()?;
                if authid.is_some_and(|a| a != cert_authid) {
                    return None;
                }
                let role = match self.users.get(cert_authid) {
                    Some(user) => user.role.clone(),
                    None => self.tls_role.clone()?,
                };
                Some(Outcome::Welcome(Identity {
                    authid: cert_authid.to_owned(),
                    authrole: role,
                    authmethod: AuthMethod::Tls.as_str().into(),
                    authprovider: PROVIDER.into(),
                    authextra: Dict::new(),
                }))
            }
            _ => None,
        }
    }

    /// The user a challenge method authenticates, if the HELLO names one that has it.
    fn principal(
        &self,
        m: AuthMethod,
        hello: &Hello,
        authid: Option<&str>,
    ) -> Option<(&str, &StaticUser)> {
        if !hello_fields_present(m, hello, authid) {
            return None;
        }
        let authid = match (m, authid) {
            (AuthMethod::Cryptosign, None) => {
                let key = PublicKey::from_hex(authextra_str(hello, "pubkey")?).ok()?;
                self.by_pubkey.get(&key.to_bytes())?.as_str()
            }
            (_, a) => a?,
        };
        let (authid, user) = self.users.get_key_value(authid)?;
        if !user.has(m) {
            return None;
        }
        if m == AuthMethod::Cryptosign {
            let key = PublicKey::from_hex(authextra_str(hello, "pubkey")?).ok()?;
            if !user.cryptosign.contains(&key) {
                return None;
            }
        }
        Some((authid.as_str(), user))
    }

    /// Builds the CHALLENGE of `m` for `user`, or a mock one when `user` is `None`.
    fn challenge(
        &self,
        m: AuthMethod,
        ctx: &HelloContext<'_>,
        user: Option<(&str, &StaticUser)>,
        entropy: &mut AuthEntropy,
    ) -> Outcome {
        let hello = ctx.hello;
        let hello_authid = hello.details.authid.clone().unwrap_or_default();
        let identity = user.map(|(authid, u)| Identity {
            authid: authid.to_owned(),
            authrole: u.role.clone(),
            authmethod: m.as_str().into(),
            authprovider: PROVIDER.into(),
            authextra: Dict::new(),
        });
        let pending = |check: Check, session: Option<SessionId>| {
            Box::new(Pending {
                identity: identity.clone(),
                session,
                check,
            })
        };
        match m {
            AuthMethod::Ticket => Outcome::Challenge {
                method: method::TICKET,
                extra: ChallengeExtra::default(),
                pending: pending(
                    Check::Ticket(user.and_then(|(_, u)| u.ticket.clone())),
                    None,
                ),
            },
            AuthMethod::WampCra => {
                let (key, salt, role) = match user {
                    Some((_, u)) => {
                        let c = u.wampcra.as_ref().expect("principal() checked it");
                        (c.key.clone(), c.salt.clone(), u.role.clone())
                    }
                    None => (
                        // A key nobody knows: the signature cannot match.
                        Secret::new(hex::encode(entropy.bytes::<32>())),
                        self.mock_cra_salt(&hello_authid, entropy),
                        self.mock_role.clone(),
                    ),
                };
                let challenge = CraChallenge {
                    authid: identity
                        .as_ref()
                        .map_or(hello_authid.clone(), |i| i.authid.clone()),
                    authrole: role,
                    authprovider: PROVIDER.into(),
                    nonce: cra::nonce(&entropy.bytes::<32>()),
                    timestamp: cra::timestamp(ctx.unix_millis),
                    session: ctx.session.get(),
                }
                .to_json();
                let extra = ChallengeExtra {
                    challenge: Some(challenge.clone()),
                    salt: salt.as_ref().map(|s| s.salt.clone()),
                    iterations: salt.as_ref().map(|s| u64::from(s.iterations)),
                    keylen: salt.as_ref().map(|s| u64::from(s.keylen)),
                    ..ChallengeExtra::default()
                };
                Outcome::Challenge {
                    method: method::WAMPCRA,
                    extra,
                    pending: pending(Check::Cra { key, challenge }, Some(ctx.session)),
                }
            }
            AuthMethod::Cryptosign => {
                let key = authextra_str(hello, "pubkey").and_then(|k| PublicKey::from_hex(k).ok());
                let requested = authextra_str(hello, "channel_binding");
                // Bind only to what this connection can prove: tls-exporter over TLS 1.3.
                // A client asking for tls-unique (rustls cannot provide it) gets a
                // CHALLENGE without channel_binding and must decide itself.
                let binding = ctx.transport.channel_binding.as_ref().filter(|b| {
                    requested == Some(b.kind.as_str()) && b.kind == ChannelBindingKind::TlsExporter
                });
                let binding = binding.map(|b| (b.kind.as_str(), b.data));
                let random = entropy.bytes::<32>();
                let client_challenge = authextra_str(hello, "challenge");
                let router_auth = match (&self.router_key, client_challenge) {
                    (Some(k), Some(c)) => Some((k, c)),
                    _ => None,
                };
                let Ok(extra) = cryptosign::challenge_extra(&random, binding, router_auth) else {
                    // The client's challenge for the router is not 32 bytes of hex.
                    return Outcome::failed();
                };
                Outcome::Challenge {
                    method: method::CRYPTOSIGN,
                    extra,
                    pending: pending(
                        Check::Cryptosign(Box::new(CryptosignCheck {
                            key: key.filter(|_| user.is_some()),
                            challenge: random,
                            channel_id: binding.map(|(_, data)| data),
                        })),
                        None,
                    ),
                }
            }
            AuthMethod::WampScram | AuthMethod::Scram => {
                let variant = if m == AuthMethod::Scram {
                    Variant::Autobahn
                } else {
                    Variant::Spec
                };
                let credential = match user {
                    Some((_, u)) => u
                        .scram_for(variant)
                        .cloned()
                        .expect("principal() checked it"),
                    None => StoredCredential::mock(
                        &hello_authid,
                        &entropy.mock_key,
                        self.mock_kdf(variant),
                    ),
                };
                let mut authextra = hello.details.authextra.clone().unwrap_or_default();
                let mut channel_data = None;
                match authextra.get("channel_binding") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(kind))
                        if variant == Variant::Spec
                            && ctx
                                .transport
                                .channel_binding
                                .as_ref()
                                .is_some_and(|b| b.kind.as_str() == kind) =>
                    {
                        channel_data = ctx.transport.channel_binding.as_ref().map(|b| b.data);
                    }
                    // A binding this connection cannot provide: the CHALLENGE goes without
                    // `channel_binding`, which tells the client it is not in use.
                    Some(_) => {
                        authextra.shift_remove("channel_binding");
                    }
                }
                let name = identity
                    .as_ref()
                    .map_or(hello_authid.as_str(), |i| i.authid.as_str());
                let server = match ScramServer::new(
                    variant,
                    name,
                    &authextra,
                    credential,
                    &entropy.bytes::<16>(),
                ) {
                    Ok(s) => s,
                    Err(_) => return Outcome::failed(),
                };
                Outcome::Challenge {
                    method: variant.authmethod(),
                    extra: server.challenge_extra(),
                    pending: pending(
                        Check::Scram {
                            server: Box::new(server),
                            channel_data,
                        },
                        None,
                    ),
                }
            }
            AuthMethod::Anonymous | AuthMethod::Cookie | AuthMethod::Tls => Outcome::failed(),
        }
    }

    /// Checks the AUTHENTICATE answering a CHALLENGE: WELCOME or ABORT, nothing else.
    pub(crate) fn on_authenticate(pending: Box<Pending>, authenticate: &Authenticate) -> Outcome {
        let Pending {
            identity, check, ..
        } = *pending;
        let result: Result<Dict, ()> = match &check {
            Check::Ticket(expected) => {
                // Compare even for a mock, so that both take the same time.
                let ok = ticket::verify(
                    expected.as_ref().map_or("", |s| s.expose()),
                    &authenticate.signature,
                );
                if ok && expected.is_some() {
                    Ok(Dict::new())
                } else {
                    Err(())
                }
            }
            Check::Cra { key, challenge } => {
                if cra::verify(key.expose().as_bytes(), challenge, &authenticate.signature) {
                    Ok(Dict::new())
                } else {
                    Err(())
                }
            }
            Check::Cryptosign(check) => match &check.key {
                Some(key) => cryptosign::verify(
                    key,
                    &check.challenge,
                    check.channel_id,
                    &authenticate.signature,
                )
                .map(|()| Dict::new())
                .map_err(|_| ()),
                None => Err(()),
            },
            Check::Scram {
                server,
                channel_data,
            } => server
                .verify(
                    &authenticate.signature,
                    &authenticate.extra,
                    channel_data.as_ref().map(|d| d.as_slice()),
                )
                .map_err(|_| ()),
        };
        match (result, identity) {
            (Ok(authextra), Some(mut identity)) => {
                identity.authextra = authextra;
                Outcome::Welcome(identity)
            }
            _ => Outcome::failed(),
        }
    }
}

/// Whether the HELLO carries what method `m` needs before a CHALLENGE can be made.
fn hello_fields_present(m: AuthMethod, hello: &Hello, authid: Option<&str>) -> bool {
    match m {
        AuthMethod::Ticket | AuthMethod::WampCra => authid.is_some(),
        AuthMethod::Cryptosign => authextra_str(hello, "pubkey").is_some(),
        AuthMethod::WampScram | AuthMethod::Scram => {
            authid.is_some() && authextra_str(hello, "nonce").is_some()
        }
        AuthMethod::Anonymous | AuthMethod::Cookie | AuthMethod::Tls => false,
    }
}

/// Fail closed: without a seeded CSPRNG there are no safe nonces.
fn unavailable() -> Outcome {
    Outcome::Deny {
        reason: uri::error::AUTHENTICATION_FAILED,
        message: "authentication is not available: the router has no source of randomness".into(),
    }
}

fn no_match(realm: &Uri) -> Outcome {
    Outcome::Deny {
        reason: uri::error::NO_MATCHING_AUTH_METHOD,
        message: format!("none of the offered authentication methods can be used in realm {realm}"),
    }
}
