//! SCRAM (RFC 5802 / RFC 7677 with SHA-256) over WAMP, in its two dialects:
//!
//! * [`Variant::Spec`], authmethod `wamp-scram`, as the WAMP specification defines it: KDF
//!   names `argon2id13` and `pbkdf2`, the client-final `c=` attribute is the base64 GS2
//!   channel-binding header, the server signature comes back in WELCOME
//!   `authextra.verifier`, username and password are SASLprep-normalized and the username
//!   is escaped (`,` → `=2C`, `=` → `=3D`).
//! * [`Variant::Autobahn`], authmethod `scram`, as autobahn-python and Crossbar implement it
//!   (the only SCRAM a Crossbar router speaks): KDF name `argon2id-13`, `c=` followed by the
//!   channel-binding *name* (empty without binding), the server signature in WELCOME
//!   `authextra.scram_server_signature`, only the username SASLprep-normalized (not escaped),
//!   the password used as UTF-8 as is, and for Argon2 the salted password is the *unpadded
//!   base64 text* of the Argon2 hash rather than its bytes. The server nonce is the base64 of
//!   the client's nonce bytes followed by the server's, not the concatenated texts.
//!
//! Both use SHA-256 and a 32-byte salted password:
//!
//! ```text
//! SaltedPassword  = KDF(password, salt, params)
//! ClientKey       = HMAC(SaltedPassword, "Client Key")      StoredKey = SHA256(ClientKey)
//! ServerKey       = HMAC(SaltedPassword, "Server Key")
//! ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! ServerSignature = HMAC(ServerKey, AuthMessage)
//! ```
//!
//! A router stores only a [`StoredCredential`] (salt, KDF and parameters, `StoredKey`,
//! `ServerKey`), never the password. A client refuses cost parameters outside its
//! [`CostPolicy`], since a rogue router could ask for a cheap hash to crack offline.
//!
//! A full exchange, both sides (with cheap parameters to keep the example fast; real
//! deployments keep the [default policy](CostPolicy::default)):
//!
//! ```
//! use nexus_core::auth::scram::{CostPolicy, Kdf, ScramClient, ScramServer, StoredCredential, Variant};
//!
//! let kdf = Kdf::Pbkdf2 { iterations: 4096 };
//! // Registration: the router keeps only this.
//! let stored = StoredCredential::derive(Variant::Spec, "pencil", b"0123456789abcdef", kdf).unwrap();
//!
//! // HELLO: the client sends its nonce.
//! let client = ScramClient::new(Variant::Spec, "user", "pencil", &[7; 18]).unwrap();
//! let hello_extra = client.hello_authextra();
//! // CHALLENGE:
//! let server = ScramServer::new(Variant::Spec, "user", &hello_extra, stored, &[9; 18]).unwrap();
//! let challenge = server.challenge_extra();
//! // AUTHENTICATE:
//! let answer = client.respond(&challenge).unwrap();
//! // WELCOME (or ABORT if the proof is wrong):
//! let welcome_extra = server.verify(&answer.proof, &answer.extra, None).unwrap();
//! answer.verifier.verify(&welcome_extra).unwrap(); // the router knew the credential too
//! ```

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{b64, ct_eq, method, unb64, AuthError};
use crate::message::{AuthenticateExtra, ChallengeExtra};
use crate::value::{Dict, Value};

type HmacSha256 = Hmac<Sha256>;

/// Which SCRAM dialect: see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `wamp-scram`, as specified.
    Spec,
    /// `scram`, as autobahn-python and Crossbar implement it.
    Autobahn,
}

impl Variant {
    /// The authmethod string: `wamp-scram` or `scram`.
    ///
    /// ```
    /// use nexus_core::auth::scram::Variant;
    /// assert_eq!(Variant::Spec.authmethod(), "wamp-scram");
    /// assert_eq!(Variant::from_authmethod("scram"), Some(Variant::Autobahn));
    /// assert_eq!(Variant::from_authmethod("ticket"), None);
    /// ```
    pub fn authmethod(self) -> &'static str {
        match self {
            Variant::Spec => method::WAMP_SCRAM,
            Variant::Autobahn => method::SCRAM,
        }
    }

    /// The variant of an authmethod string, if it is one of the two.
    pub fn from_authmethod(authmethod: &str) -> Option<Variant> {
        match authmethod {
            method::WAMP_SCRAM => Some(Variant::Spec),
            method::SCRAM => Some(Variant::Autobahn),
            _ => None,
        }
    }
}

/// A key derivation function with its cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kdf {
    /// Argon2id, version 1.3, parallelism 1, 32-byte output.
    Argon2id13 {
        /// Time cost (passes).
        iterations: u32,
        /// Memory cost in KiB.
        memory: u32,
    },
    /// PBKDF2-HMAC-SHA256, 32-byte output.
    Pbkdf2 {
        /// Iteration count.
        iterations: u32,
    },
}

impl Kdf {
    /// The KDF's name in `CHALLENGE.Extra.kdf` for `variant`: `argon2id13` (spec) or
    /// `argon2id-13` (Autobahn), `pbkdf2` (both).
    ///
    /// ```
    /// use nexus_core::auth::scram::{Kdf, Variant};
    /// let kdf = Kdf::Argon2id13 { iterations: 3, memory: 65536 };
    /// assert_eq!(kdf.name(Variant::Spec), "argon2id13");
    /// assert_eq!(kdf.name(Variant::Autobahn), "argon2id-13");
    /// ```
    pub fn name(&self, variant: Variant) -> &'static str {
        match (self, variant) {
            (Kdf::Argon2id13 { .. }, Variant::Spec) => "argon2id13",
            (Kdf::Argon2id13 { .. }, Variant::Autobahn) => "argon2id-13",
            (Kdf::Pbkdf2 { .. }, _) => "pbkdf2",
        }
    }

    /// The iteration count (time cost).
    pub fn iterations(&self) -> u32 {
        match *self {
            Kdf::Argon2id13 { iterations, .. } | Kdf::Pbkdf2 { iterations } => iterations,
        }
    }

    /// The memory cost in KiB (Argon2 only).
    pub fn memory(&self) -> Option<u32> {
        match *self {
            Kdf::Argon2id13 { memory, .. } => Some(memory),
            Kdf::Pbkdf2 { .. } => None,
        }
    }

    /// Reads the KDF of a CHALLENGE. Both spellings of Argon2id 1.3 are accepted whatever
    /// the variant.
    ///
    /// ```
    /// use nexus_core::auth::scram::{Kdf, Variant};
    /// assert_eq!(Kdf::parse(Variant::Spec, "pbkdf2", Some(4096), None).unwrap(), Kdf::Pbkdf2 { iterations: 4096 });
    /// assert!(Kdf::parse(Variant::Spec, "argon2id13", Some(3), None).is_err()); // no memory
    /// assert!(Kdf::parse(Variant::Spec, "scrypt", Some(3), None).is_err());
    /// ```
    pub fn parse(
        variant: Variant,
        name: &str,
        iterations: Option<u64>,
        memory: Option<u64>,
    ) -> Result<Kdf, AuthError> {
        let method = variant.authmethod();
        let small = |field: &'static str, value: Option<u64>| -> Result<u32, AuthError> {
            let value = value.ok_or(AuthError::MissingField { method, field })?;
            u32::try_from(value).map_err(|_| AuthError::ExcessiveParameters {
                method,
                kdf: "kdf",
                reason: format!("{field} {value} does not fit 32 bits"),
            })
        };
        match name {
            "argon2id13" | "argon2id-13" => Ok(Kdf::Argon2id13 {
                iterations: small("iterations", iterations)?,
                memory: small("memory", memory)?,
            }),
            "pbkdf2" => Ok(Kdf::Pbkdf2 {
                iterations: small("iterations", iterations)?,
            }),
            other => Err(AuthError::UnsupportedKdf {
                method,
                kdf: other.to_owned(),
            }),
        }
    }
}

/// The key derivation costs a client accepts from a router.
///
/// Too low, and a rogue router gets a hash it can crack offline cheaply; too high, and it can
/// make the client spend its memory or minutes. The [defaults](CostPolicy::default):
///
/// | KDF | minimum | maximum |
/// |---|---|---|
/// | Argon2id | 1 pass, 512 KiB, and passes × KiB ≥ 32 768 (every OWASP-recommended setting, and Autobahn's and Crossbar's default of 4096 passes × 512 KiB, pass) | 1 GiB, passes × KiB ≤ 2²⁶ |
/// | PBKDF2 | 4096 iterations (RFC 7677) | 10 000 000 iterations |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostPolicy {
    /// Fewest Argon2 passes.
    pub min_argon2_iterations: u32,
    /// Least Argon2 memory, KiB.
    pub min_argon2_memory: u32,
    /// Least Argon2 work: passes × KiB.
    pub min_argon2_work: u64,
    /// Most Argon2 memory, KiB.
    pub max_argon2_memory: u32,
    /// Most Argon2 work: passes × KiB.
    pub max_argon2_work: u64,
    /// Fewest PBKDF2 iterations.
    pub min_pbkdf2_iterations: u32,
    /// Most PBKDF2 iterations.
    pub max_pbkdf2_iterations: u32,
}

impl Default for CostPolicy {
    fn default() -> Self {
        CostPolicy {
            min_argon2_iterations: 1,
            min_argon2_memory: 512,
            min_argon2_work: 32_768,
            max_argon2_memory: 1 << 20,
            max_argon2_work: 1 << 26,
            min_pbkdf2_iterations: 4096,
            max_pbkdf2_iterations: 10_000_000,
        }
    }
}

impl CostPolicy {
    /// Checks `kdf` against the policy.
    ///
    /// ```
    /// use nexus_core::auth::scram::{CostPolicy, Kdf, Variant};
    /// let policy = CostPolicy::default();
    /// assert!(policy.check(Variant::Autobahn, &Kdf::Argon2id13 { iterations: 4096, memory: 512 }).is_ok());
    /// assert!(policy.check(Variant::Spec, &Kdf::Pbkdf2 { iterations: 1000 }).is_err());
    /// assert!(policy.check(Variant::Spec, &Kdf::Argon2id13 { iterations: 1, memory: 8 }).is_err());
    /// ```
    pub fn check(&self, variant: Variant, kdf: &Kdf) -> Result<(), AuthError> {
        let method = variant.authmethod();
        let name = kdf.name(variant);
        let weak = |reason: String| AuthError::WeakParameters {
            method,
            kdf: name,
            reason,
        };
        let excessive = |reason: String| AuthError::ExcessiveParameters {
            method,
            kdf: name,
            reason,
        };
        match *kdf {
            Kdf::Argon2id13 { iterations, memory } => {
                let work = u64::from(iterations) * u64::from(memory);
                if iterations < self.min_argon2_iterations {
                    return Err(weak(format!(
                        "{iterations} iterations, the minimum is {}",
                        self.min_argon2_iterations
                    )));
                }
                if memory < self.min_argon2_memory {
                    return Err(weak(format!(
                        "{memory} KiB of memory, the minimum is {}",
                        self.min_argon2_memory
                    )));
                }
                if work < self.min_argon2_work {
                    return Err(weak(format!(
                        "iterations × memory is {work}, the minimum is {}",
                        self.min_argon2_work
                    )));
                }
                if memory > self.max_argon2_memory {
                    return Err(excessive(format!(
                        "{memory} KiB of memory, the maximum is {}",
                        self.max_argon2_memory
                    )));
                }
                if work > self.max_argon2_work {
                    return Err(excessive(format!(
                        "iterations × memory is {work}, the maximum is {}",
                        self.max_argon2_work
                    )));
                }
            }
            Kdf::Pbkdf2 { iterations } => {
                if iterations < self.min_pbkdf2_iterations {
                    return Err(weak(format!(
                        "{iterations} iterations, the minimum is {}",
                        self.min_pbkdf2_iterations
                    )));
                }
                if iterations > self.max_pbkdf2_iterations {
                    return Err(excessive(format!(
                        "{iterations} iterations, the maximum is {}",
                        self.max_pbkdf2_iterations
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A channel binding for the [spec variant](Variant::Spec): its type (`tls-unique`,
/// `tls-server-end-point`...) and the binding data the client sees on its TLS connection.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The channel binding type.
    pub kind: String,
    /// The channel binding data.
    pub data: Vec<u8>,
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// SASLprep (RFC 4013) of a string, naming it on failure.
fn saslprep(method: &'static str, what: &'static str, s: &str) -> Result<String, AuthError> {
    stringprep::saslprep(s)
        .map(|c| c.into_owned())
        .map_err(|_| AuthError::SaslPrep { method, what })
}

/// RFC 5802's `saslname` escaping.
fn escape(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = a[i] ^ b[i];
    }
    out
}

/// `SaltedPassword` for `variant` (see the module documentation for how the variants
/// differ); `password` is already normalized as the variant requires.
fn salted_password(
    variant: Variant,
    kdf: &Kdf,
    password: &[u8],
    salt: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AuthError> {
    let method = variant.authmethod();
    let mut raw = Zeroizing::new([0u8; 32]);
    match *kdf {
        Kdf::Argon2id13 { iterations, memory } => {
            let params = argon2::Params::new(memory, iterations, 1, Some(32)).map_err(|e| {
                AuthError::InvalidParameter {
                    method,
                    reason: format!("Argon2 parameters: {e}"),
                }
            })?;
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(password, salt, &mut *raw)
                .map_err(|e| AuthError::InvalidParameter {
                    method,
                    reason: format!("Argon2: {e}"),
                })?;
            Ok(Zeroizing::new(match variant {
                Variant::Spec => raw.to_vec(),
                Variant::Autobahn => base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(raw.as_slice())
                    .into_bytes(),
            }))
        }
        Kdf::Pbkdf2 { iterations } => {
            if iterations == 0 {
                return Err(AuthError::InvalidParameter {
                    method,
                    reason: "PBKDF2 needs at least one iteration".into(),
                });
            }
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut *raw);
            Ok(Zeroizing::new(raw.to_vec()))
        }
    }
}

/// `ClientKey` from `SaltedPassword`.
fn client_key(salted: &[u8]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hmac(salted, b"Client Key"))
}

/// `ServerKey` from `SaltedPassword`.
fn server_key(salted: &[u8]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hmac(salted, b"Server Key"))
}

/// The `c=` attribute's value.
fn channel_attribute(variant: Variant, kind: Option<&str>, data: Option<&[u8]>) -> String {
    match variant {
        Variant::Spec => {
            let mut input = match kind {
                None => b"n,,".to_vec(),
                Some(kind) => format!("p={kind},,").into_bytes(),
            };
            input.extend_from_slice(data.unwrap_or_default());
            b64(&input)
        }
        Variant::Autobahn => kind.unwrap_or_default().to_owned(),
    }
}

/// Everything `AuthMessage` is made of.
struct AuthMessage<'a> {
    /// The username as it appears after `n=` (normalized, and escaped for the spec).
    name: &'a str,
    client_nonce: &'a str,
    nonce: &'a str,
    salt: &'a str,
    iterations: u32,
    channel: &'a str,
}

impl AuthMessage<'_> {
    fn text(&self) -> String {
        format!(
            "n={},r={},r={},s={},i={},c={},r={}",
            self.name,
            self.client_nonce,
            self.nonce,
            self.salt,
            self.iterations,
            self.channel,
            self.nonce
        )
    }
}

/// The username after `n=`.
fn auth_name(variant: Variant, authid: &str) -> Result<String, AuthError> {
    let prepped = saslprep(variant.authmethod(), "authid", authid)?;
    Ok(match variant {
        Variant::Spec => escape(&prepped),
        Variant::Autobahn => prepped,
    })
}

/// The password bytes given to the KDF.
fn kdf_password(variant: Variant, password: &str) -> Result<Zeroizing<String>, AuthError> {
    Ok(Zeroizing::new(match variant {
        Variant::Spec => saslprep(variant.authmethod(), "password", password)?,
        Variant::Autobahn => password.to_owned(),
    }))
}

// ---- client ------------------------------------------------------------------------

/// The client side of one SCRAM exchange: made before HELLO (its nonce goes into
/// `HELLO.Details.authextra.nonce`), it answers the CHALLENGE with
/// [`respond`](ScramClient::respond), whose [`ServerVerifier`] then checks the WELCOME.
///
/// `Debug` does not show the password.
#[derive(Clone)]
pub struct ScramClient {
    variant: Variant,
    name: String,
    password: Zeroizing<String>,
    client_nonce: String,
    policy: CostPolicy,
    binding: Option<ChannelBinding>,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("variant", &self.variant)
            .field("name", &self.name)
            .field("client_nonce", &self.client_nonce)
            .field("policy", &self.policy)
            .field("binding", &self.binding)
            .finish_non_exhaustive()
    }
}

/// What answers a SCRAM CHALLENGE: the AUTHENTICATE signature (the base64 `ClientProof`)
/// and extra, and what checks the WELCOME.
#[derive(Debug, Clone)]
pub struct ClientFinal {
    /// `AUTHENTICATE.Signature`: base64 of `ClientProof`.
    pub proof: String,
    /// `AUTHENTICATE.Extra` (the spec variant sends `nonce` and the channel binding;
    /// the Autobahn variant sends nothing, as autobahn-python does).
    pub extra: AuthenticateExtra,
    /// Checks the server signature in the WELCOME.
    pub verifier: ServerVerifier,
}

/// Checks the router's server signature in `WELCOME.Details.authextra`: `verifier` (spec;
/// with or without the `v=` prefix) or `scram_server_signature` (Autobahn). `Debug` does not
/// show the expected value.
#[derive(Clone)]
pub struct ServerVerifier {
    variant: Variant,
    expected: [u8; 32],
}

impl fmt::Debug for ServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerVerifier")
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl ServerVerifier {
    /// The `WELCOME.Details.authextra` key holding the server signature for `variant`.
    pub fn key(variant: Variant) -> &'static str {
        match variant {
            Variant::Spec => "verifier",
            Variant::Autobahn => "scram_server_signature",
        }
    }

    /// Checks the server signature in `welcome_authextra` (constant-time). A missing or
    /// wrong signature means the router does not know the credential: end the session.
    pub fn verify(&self, welcome_authextra: &Dict) -> Result<(), AuthError> {
        let method = self.variant.authmethod();
        let key = ServerVerifier::key(self.variant);
        let text = match welcome_authextra.get(key) {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(AuthError::InvalidField {
                    method,
                    field: key,
                    reason: "not a string".into(),
                })
            }
            None => {
                return Err(AuthError::RouterNotAuthenticated {
                    method,
                    reason: "the WELCOME carries no server signature",
                })
            }
        };
        let text = match self.variant {
            Variant::Spec => text.strip_prefix("v=").unwrap_or(text),
            Variant::Autobahn => text,
        };
        let signature = unb64(method, key, text)?;
        if ct_eq(&signature, &self.expected) {
            Ok(())
        } else {
            Err(AuthError::RouterNotAuthenticated {
                method,
                reason: "the server signature is wrong",
            })
        }
    }
}

/// The shortest client nonce [`ScramClient::new`] accepts, in random bytes (the
/// specification recommends 16).
pub const MIN_NONCE_BYTES: usize = 16;

impl ScramClient {
    /// A client for `authid` and `password`, with a nonce from `random` (at least
    /// [`MIN_NONCE_BYTES`]; a multiple of 3 keeps the base64 text unpadded, so routers that
    /// concatenate nonce texts and routers that concatenate nonce bytes produce the same
    /// prefix). Fails if `authid` (or, for the spec, the password) is not valid SASLprep
    /// input.
    pub fn new(
        variant: Variant,
        authid: &str,
        password: &str,
        random: &[u8],
    ) -> Result<Self, AuthError> {
        if random.len() < MIN_NONCE_BYTES {
            return Err(AuthError::InvalidParameter {
                method: variant.authmethod(),
                reason: format!(
                    "the client nonce needs at least {MIN_NONCE_BYTES} random bytes, got {}",
                    random.len()
                ),
            });
        }
        Ok(ScramClient {
            variant,
            name: auth_name(variant, authid)?,
            password: kdf_password(variant, password)?,
            client_nonce: b64(random),
            policy: CostPolicy::default(),
            binding: None,
        })
    }

    /// Uses `policy` instead of the default [`CostPolicy`].
    pub fn with_policy(mut self, policy: CostPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Binds the exchange to the TLS channel (spec variant only; the Autobahn variant
    /// ignores it, as Crossbar does not implement it).
    pub fn with_channel_binding(mut self, binding: ChannelBinding) -> Self {
        self.binding = Some(binding);
        self
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The client nonce (base64), for `HELLO.Details.authextra.nonce`.
    pub fn nonce(&self) -> &str {
        &self.client_nonce
    }

    /// What this client puts in `HELLO.Details.authextra`: `nonce`, and `channel_binding`
    /// when bound (spec variant).
    pub fn hello_authextra(&self) -> Dict {
        let mut extra = Dict::new();
        extra.insert("nonce".into(), Value::from(self.client_nonce.clone()));
        if let (Variant::Spec, Some(binding)) = (self.variant, &self.binding) {
            extra.insert("channel_binding".into(), Value::from(binding.kind.clone()));
        }
        extra
    }

    fn nonce_extends_ours(&self, nonce: &str) -> bool {
        if nonce.len() > self.client_nonce.len() && nonce.starts_with(&self.client_nonce) {
            return true;
        }
        // Crossbar: base64(client nonce bytes ‖ server nonce bytes).
        if self.variant == Variant::Autobahn {
            let engine = &base64::engine::general_purpose::STANDARD;
            if let (Ok(ours), Ok(theirs)) =
                (engine.decode(&self.client_nonce), engine.decode(nonce))
            {
                return theirs.len() > ours.len() && theirs.starts_with(&ours);
            }
        }
        false
    }

    /// Answers the router's CHALLENGE: checks the nonce, the KDF and its cost, then computes
    /// the proof. Runs the KDF, so it takes as long as the router's parameters say (within
    /// the [policy](CostPolicy)).
    pub fn respond(&self, challenge: &ChallengeExtra) -> Result<ClientFinal, AuthError> {
        let variant = self.variant;
        let method = variant.authmethod();
        let nonce = challenge.nonce.as_deref().ok_or(AuthError::MissingField {
            method,
            field: "nonce",
        })?;
        if !self.nonce_extends_ours(nonce) {
            return Err(AuthError::NonceMismatch { method });
        }
        let salt_text = challenge.salt.as_deref().ok_or(AuthError::MissingField {
            method,
            field: "salt",
        })?;
        let salt = unb64(method, "salt", salt_text)?;
        let kdf_name = challenge.kdf.as_deref().ok_or(AuthError::MissingField {
            method,
            field: "kdf",
        })?;
        let kdf = Kdf::parse(variant, kdf_name, challenge.iterations, challenge.memory)?;
        self.policy.check(variant, &kdf)?;

        let (binding_kind, binding_data) = match variant {
            Variant::Spec => {
                let ours = self.binding.as_ref().map(|b| b.kind.as_str());
                if let Some(theirs) = challenge.channel_binding.as_deref() {
                    if Some(theirs) != ours {
                        return Err(AuthError::ChannelBindingMismatch {
                            method,
                            requested: ours.map(str::to_owned),
                            actual: Some(theirs.to_owned()),
                        });
                    }
                }
                (ours, self.binding.as_ref().map(|b| b.data.as_slice()))
            }
            // Autobahn's client writes whatever the CHALLENGE names (Crossbar: nothing).
            Variant::Autobahn => (challenge.channel_binding.as_deref(), None),
        };
        let channel = channel_attribute(variant, binding_kind, binding_data);
        let auth_message = AuthMessage {
            name: &self.name,
            client_nonce: &self.client_nonce,
            nonce,
            salt: salt_text,
            iterations: kdf.iterations(),
            channel: &channel,
        }
        .text();

        let salted = salted_password(variant, &kdf, self.password.as_bytes(), &salt)?;
        let client_key = client_key(&salted);
        let stored_key: [u8; 32] = Sha256::digest(*client_key).into();
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let proof = xor32(&client_key, &client_signature);
        let server_signature = hmac(&*server_key(&salted), auth_message.as_bytes());

        let extra = match variant {
            Variant::Spec => AuthenticateExtra {
                nonce: Some(nonce.to_owned()),
                channel_binding: binding_kind.map(str::to_owned),
                cbind_data: binding_data.map(b64),
                ..AuthenticateExtra::default()
            },
            Variant::Autobahn => AuthenticateExtra::default(),
        };
        Ok(ClientFinal {
            proof: b64(&proof),
            extra,
            verifier: ServerVerifier {
                variant,
                expected: server_signature,
            },
        })
    }
}

// ---- server ------------------------------------------------------------------------

/// What a router stores for a SCRAM principal instead of the password. `Debug` does not
/// show the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// The KDF and its parameters.
    pub kdf: Kdf,
    /// The per-user random salt.
    pub salt: Vec<u8>,
    /// `SHA256(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("kdf", &self.kdf)
            .field("salt", &b64(&self.salt))
            .finish_non_exhaustive()
    }
}

impl StoredCredential {
    /// Derives the stored credential of `password` (registration). The salt should be 16
    /// random bytes, fresh for each user (Argon2 needs at least 8). The result depends on the
    /// variant (Argon2 salted-password encoding, password normalization), so a credential
    /// serves one variant; for PBKDF2 and ASCII passwords both variants agree.
    ///
    /// ```
    /// use nexus_core::auth::scram::{Kdf, StoredCredential, Variant};
    /// let c = StoredCredential::derive(Variant::Autobahn, "secret", &[1; 16], Kdf::Pbkdf2 { iterations: 4096 }).unwrap();
    /// assert_eq!(c.salt, [1; 16]);
    /// assert!(!format!("{c:?}").contains("stored_key"));
    /// ```
    pub fn derive(
        variant: Variant,
        password: &str,
        salt: &[u8],
        kdf: Kdf,
    ) -> Result<Self, AuthError> {
        let password = kdf_password(variant, password)?;
        let salted = salted_password(variant, &kdf, password.as_bytes(), salt)?;
        Ok(StoredCredential {
            kdf,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(*client_key(&salted)).into(),
            server_key: *server_key(&salted),
        })
    }

    /// A fake credential for an authid the router does not know, so that the CHALLENGE does
    /// not reveal which users exist (the specification's "mock CHALLENGE"): the salt is
    /// derived from `authid` and a router secret, so it is the same on every attempt, and the
    /// keys match no password.
    ///
    /// ```
    /// use nexus_core::auth::scram::{Kdf, StoredCredential};
    /// let kdf = Kdf::Pbkdf2 { iterations: 4096 };
    /// let a = StoredCredential::mock("nobody", b"router secret", kdf);
    /// assert_eq!(a, StoredCredential::mock("nobody", b"router secret", kdf));
    /// assert_ne!(a.salt, StoredCredential::mock("somebody", b"router secret", kdf).salt);
    /// ```
    pub fn mock(authid: &str, router_secret: &[u8], kdf: Kdf) -> Self {
        let derive = |label: &[u8]| {
            let mut mac = HmacSha256::new_from_slice(router_secret).expect("any key length");
            mac.update(label);
            mac.update(authid.as_bytes());
            <[u8; 32]>::from(mac.finalize().into_bytes())
        };
        StoredCredential {
            kdf,
            salt: derive(b"nexus scram mock salt\0")[..16].to_vec(),
            stored_key: derive(b"nexus scram mock stored key\0"),
            server_key: derive(b"nexus scram mock server key\0"),
        }
    }
}

/// The router side of one SCRAM exchange: made from the HELLO and the principal's
/// [`StoredCredential`], it produces the CHALLENGE and verifies the AUTHENTICATE.
#[derive(Clone)]
pub struct ScramServer {
    variant: Variant,
    name: String,
    client_nonce: String,
    nonce: String,
    salt: String,
    requested_binding: Option<String>,
    credential: StoredCredential,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("variant", &self.variant)
            .field("name", &self.name)
            .field("nonce", &self.nonce)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// Starts an exchange for the HELLO's `authid` and `authextra` (which must hold the
    /// client's base64 `nonce`), with `random` (16 bytes recommended) as the server's nonce
    /// part. The Autobahn variant refuses channel binding requests (Crossbar implements
    /// none); the spec variant accepts any binding type, whose data the caller then passes to
    /// [`verify`](ScramServer::verify) (refuse types your transport cannot provide before
    /// calling this).
    pub fn new(
        variant: Variant,
        authid: &str,
        hello_authextra: &Dict,
        credential: StoredCredential,
        random: &[u8],
    ) -> Result<Self, AuthError> {
        let method = variant.authmethod();
        let client_nonce = match hello_authextra.get("nonce") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(AuthError::InvalidField {
                    method,
                    field: "nonce",
                    reason: "not a string".into(),
                })
            }
            None => {
                return Err(AuthError::MissingField {
                    method,
                    field: "nonce",
                })
            }
        };
        let client_bytes = unb64(method, "nonce", &client_nonce)?;
        if client_bytes.is_empty() {
            return Err(AuthError::InvalidField {
                method,
                field: "nonce",
                reason: "empty".into(),
            });
        }
        let requested_binding = match hello_authextra.get("channel_binding") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(AuthError::InvalidField {
                    method,
                    field: "channel_binding",
                    reason: "not a string".into(),
                })
            }
        };
        let (client_nonce, nonce) = match variant {
            Variant::Spec => {
                let nonce = format!("{client_nonce}{}", b64(random));
                (client_nonce, nonce)
            }
            Variant::Autobahn => {
                if let Some(kind) = requested_binding {
                    return Err(AuthError::ChannelBindingMismatch {
                        method,
                        requested: Some(kind),
                        actual: None,
                    });
                }
                // As Crossbar: canonical base64 of the client's bytes, then of both.
                let mut all = client_bytes.clone();
                all.extend_from_slice(random);
                (b64(&client_bytes), b64(&all))
            }
        };
        Ok(ScramServer {
            variant,
            name: auth_name(variant, authid)?,
            client_nonce,
            nonce,
            salt: b64(&credential.salt),
            requested_binding,
            credential,
        })
    }

    /// The CHALLENGE's extra: `nonce`, `salt`, `kdf`, `iterations` and (Argon2) `memory`.
    pub fn challenge_extra(&self) -> ChallengeExtra {
        let kdf = self.credential.kdf;
        ChallengeExtra {
            nonce: Some(self.nonce.clone()),
            salt: Some(self.salt.clone()),
            kdf: Some(kdf.name(self.variant).to_owned()),
            iterations: Some(u64::from(kdf.iterations())),
            memory: kdf.memory().map(u64::from),
            channel_binding: match self.variant {
                Variant::Spec => self.requested_binding.clone(),
                Variant::Autobahn => None,
            },
            ..ChallengeExtra::default()
        }
    }

    /// Verifies the AUTHENTICATE: `signature` is the base64 `ClientProof`; for the spec
    /// variant `extra` must repeat the nonce and the channel binding, whose data must equal
    /// `channel_data`, the binding data the router sees on its side of the TLS connection
    /// (`None` without binding). Returns what to put in `WELCOME.Details.authextra`: the
    /// server signature (`verifier`, as `v=<base64>`, or `scram_server_signature`).
    pub fn verify(
        &self,
        signature: &str,
        extra: &AuthenticateExtra,
        channel_data: Option<&[u8]>,
    ) -> Result<Dict, AuthError> {
        let variant = self.variant;
        let method = variant.authmethod();
        let channel = match variant {
            Variant::Spec => {
                let nonce = extra.nonce.as_deref().ok_or(AuthError::MissingField {
                    method,
                    field: "nonce",
                })?;
                if nonce != self.nonce {
                    return Err(AuthError::NonceMismatch { method });
                }
                if extra.channel_binding != self.requested_binding {
                    return Err(AuthError::ChannelBindingMismatch {
                        method,
                        requested: self.requested_binding.clone(),
                        actual: extra.channel_binding.clone(),
                    });
                }
                let data = match (&self.requested_binding, extra.cbind_data.as_deref()) {
                    (None, None) => None,
                    (None, Some(_)) => {
                        return Err(AuthError::InvalidField {
                            method,
                            field: "cbind_data",
                            reason: "present without channel binding".into(),
                        })
                    }
                    (Some(_), None) => {
                        return Err(AuthError::MissingField {
                            method,
                            field: "cbind_data",
                        })
                    }
                    (Some(_), Some(text)) => {
                        let data = unb64(method, "cbind_data", text)?;
                        let ours = channel_data.ok_or(AuthError::InvalidParameter {
                            method,
                            reason: "channel binding requested but no channel data given".into(),
                        })?;
                        if !ct_eq(&data, ours) {
                            return Err(AuthError::VerificationFailed {
                                method,
                                what: "the channel binding data",
                            });
                        }
                        Some(data)
                    }
                };
                channel_attribute(variant, self.requested_binding.as_deref(), data.as_deref())
            }
            Variant::Autobahn => channel_attribute(variant, None, None),
        };
        let auth_message = AuthMessage {
            name: &self.name,
            client_nonce: &self.client_nonce,
            nonce: &self.nonce,
            salt: &self.salt,
            iterations: self.credential.kdf.iterations(),
            channel: &channel,
        }
        .text();
        let proof = unb64(method, "signature", signature)?;
        let proof: [u8; 32] = proof
            .try_into()
            .map_err(|p: Vec<u8>| AuthError::InvalidField {
                method,
                field: "signature",
                reason: format!("the client proof has {} bytes, not 32", p.len()),
            })?;
        let client_signature = hmac(&self.credential.stored_key, auth_message.as_bytes());
        let client_key = Zeroizing::new(xor32(&client_signature, &proof));
        let recovered: [u8; 32] = Sha256::digest(*client_key).into();
        if !ct_eq(&recovered, &self.credential.stored_key) {
            return Err(AuthError::VerificationFailed {
                method,
                what: "the client proof",
            });
        }
        let server_signature = b64(&hmac(&self.credential.server_key, auth_message.as_bytes()));
        let mut welcome = Dict::new();
        let value = match variant {
            Variant::Spec => format!("v={server_signature}"),
            Variant::Autobahn => server_signature,
        };
        welcome.insert(ServerVerifier::key(variant).into(), Value::from(value));
        Ok(welcome)
    }
}
