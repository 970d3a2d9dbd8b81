//! WAMP-CRA: challenge-response authentication with a shared secret.
//!
//! The router sends a challenge (a JSON text describing the pending session), the client
//! answers with `base64(HMAC-SHA256(key, challenge))`. The key is the secret itself, or,
//! when the router's CHALLENGE carries `salt`, `iterations` and `keylen`, the key derived
//! from the secret with PBKDF2-HMAC-SHA256 ([`derive_key`]). As Autobahn and Crossbar do
//! (the specification does not say), the salt is used as its UTF-8 bytes, not decoded, and
//! the HMAC key is the *base64 text* of the derived bytes, not the bytes themselves.
//!
//! The router side:
//!
//! ```
//! use nexus_core::auth::cra::{self, CraChallenge};
//!
//! let challenge = CraChallenge {
//!     authid: "joe".into(),
//!     authrole: "user".into(),
//!     authprovider: "static".into(),
//!     nonce: cra::nonce(&[1; 16]),
//!     timestamp: cra::timestamp(1_403_455_901_643),
//!     session: 3_251_278_072_152_162,
//! }
//! .to_json();
//! // Sent as CHALLENGE.Extra.challenge; the client answers:
//! let signature = cra::sign(b"secret1", &challenge);
//! assert!(cra::verify(b"secret1", &challenge, &signature));
//! assert!(!cra::verify(b"secret2", &challenge, &signature));
//! ```

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{b64, ct_eq, method, AuthError, Secret};

/// The most PBKDF2 iterations [`derive_key`] runs (a few seconds' work): a router cannot
/// make a client spin for longer.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// The longest derived key [`derive_key`] produces, in bytes.
pub const MAX_KEYLEN: u32 = 1024;

/// The self-describing challenge a router sends in `CHALLENGE.Extra.challenge`.
///
/// Serialize it with [`to_json`](CraChallenge::to_json); `authmethod` is always
/// `"wampcra"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CraChallenge {
    /// The authid being authenticated.
    pub authid: String,
    /// The role the session will get.
    pub authrole: String,
    /// Who authenticates (`static`, `dynamic`...).
    pub authprovider: String,
    /// A random string, fresh for each challenge (see [`nonce`]).
    pub nonce: String,
    /// When the challenge was made: UTC ISO 8601 with milliseconds (see [`timestamp`]).
    pub timestamp: String,
    /// The session ID the WELCOME will carry.
    pub session: u64,
}

impl CraChallenge {
    /// The challenge as the JSON text sent in `CHALLENGE.Extra.challenge`, with the keys
    /// `authid`, `authrole`, `authmethod`, `authprovider`, `nonce`, `timestamp`, `session`
    /// in that order.
    ///
    /// ```
    /// use nexus_core::auth::cra::CraChallenge;
    ///
    /// let c = CraChallenge {
    ///     authid: "joe".into(),
    ///     authrole: "user".into(),
    ///     authprovider: "static".into(),
    ///     nonce: "n".into(),
    ///     timestamp: "2014-06-22T16:51:41.643Z".into(),
    ///     session: 42,
    /// };
    /// assert_eq!(
    ///     c.to_json(),
    ///     r#"{"authid":"joe","authrole":"user","authmethod":"wampcra","authprovider":"static","nonce":"n","timestamp":"2014-06-22T16:51:41.643Z","session":42}"#
    /// );
    /// ```
    pub fn to_json(&self) -> String {
        let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        format!(
            "{{\"authid\":{},\"authrole\":{},\"authmethod\":{},\"authprovider\":{},\"nonce\":{},\"timestamp\":{},\"session\":{}}}",
            s(&self.authid),
            s(&self.authrole),
            s(method::WAMPCRA),
            s(&self.authprovider),
            s(&self.nonce),
            s(&self.timestamp),
            self.session
        )
    }

    /// Reads a challenge text (a client may want to see which authrole it will get).
    /// Unknown keys are ignored.
    ///
    /// ```
    /// use nexus_core::auth::cra::CraChallenge;
    ///
    /// let c = CraChallenge::parse(r#"{"authid": "joe", "authrole": "user", "authmethod": "wampcra",
    ///     "authprovider": "static", "nonce": "x", "timestamp": "t", "session": 7}"#).unwrap();
    /// assert_eq!(c.authrole, "user");
    /// assert!(CraChallenge::parse("[1, 2, 3]").is_err());
    /// ```
    pub fn parse(json: &str) -> Result<Self, AuthError> {
        let invalid = |reason: String| AuthError::InvalidField {
            method: method::WAMPCRA,
            field: "challenge",
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| invalid("not a JSON object".into()))?;
        let text = |key: &str| -> Result<String, AuthError> {
            object
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("no string `{key}`")))
        };
        Ok(CraChallenge {
            authid: text("authid")?,
            authrole: text("authrole")?,
            authprovider: text("authprovider")?,
            nonce: text("nonce")?,
            timestamp: text("timestamp")?,
            session: object
                .get("session")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| invalid("no integer `session`".into()))?,
        })
    }
}

/// A challenge nonce from caller-provided random bytes (16 or more recommended): their
/// base64 text.
///
/// ```
/// assert_eq!(nexus_core::auth::cra::nonce(&[0xff; 3]), "////");
/// ```
pub fn nonce(random: &[u8]) -> String {
    b64(random)
}

/// A challenge timestamp from milliseconds since the Unix epoch: UTC ISO 8601 with
/// milliseconds, as in the specification's example.
///
/// ```
/// assert_eq!(nexus_core::auth::cra::timestamp(1_403_455_901_643), "2014-06-22T16:51:41.643Z");
/// ```
pub fn timestamp(unix_millis: u64) -> String {
    let secs = (unix_millis / 1000) as i64;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            unix_millis % 1000
        ),
        // Beyond year 9999: no real clock says that.
        Err(_) => "9999-12-31T23:59:59.999Z".to_owned(),
    }
}

/// The WAMP-CRA signature: `base64(HMAC-SHA256(key, challenge))`, standard base64 with
/// padding. `key` is the secret's UTF-8 bytes, or the [derived key](derive_key)'s text.
///
/// ```
/// use nexus_core::auth::cra;
/// // The digest's vector: HMAC over "[1, 2, 3]" with the plain secret.
/// assert_eq!(cra::sign(b"L3L1YUE8Txlw", "[1, 2, 3]"), "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0=");
/// ```
pub fn sign(key: &[u8], challenge: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(challenge.as_bytes());
    b64(&mac.finalize().into_bytes())
}

/// Whether `signature` is the [signature](sign) of `challenge` under `key`, compared in
/// constant time. Whitespace is not tolerated: the signature must be exactly the base64
/// text.
///
/// ```
/// use nexus_core::auth::cra;
/// let sig = cra::sign(b"k", "c");
/// assert!(cra::verify(b"k", "c", &sig));
/// assert!(!cra::verify(b"k", "c", "not base64 at all"));
/// ```
pub fn verify(key: &[u8], challenge: &str, signature: &str) -> bool {
    ct_eq(sign(key, challenge).as_bytes(), signature.as_bytes())
}

/// PBKDF2-HMAC-SHA256 of `secret` with `salt` (its UTF-8 bytes, not decoded), `iterations`
/// rounds and `keylen` output bytes, returned as base64 text: the key salted WAMP-CRA signs
/// with (its bytes are the HMAC key), and what a router may store instead of the secret.
///
/// Fails when `iterations` or `keylen` is 0 or above [`MAX_ITERATIONS`] / [`MAX_KEYLEN`].
///
/// ```
/// use nexus_core::auth::cra;
/// // The digest's vector (from autobahn-python's tests).
/// assert_eq!(
///     cra::derive_key("L3L1YUE8Txlw", "salt123", 1000, 32).unwrap(),
///     "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y="
/// );
/// assert!(cra::derive_key("secret", "salt", 0, 32).is_err());
/// ```
pub fn derive_key(
    secret: &str,
    salt: &str,
    iterations: u32,
    keylen: u32,
) -> Result<String, AuthError> {
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(AuthError::InvalidField {
            method: method::WAMPCRA,
            field: "iterations",
            reason: format!("{iterations} is not in 1..={MAX_ITERATIONS}"),
        });
    }
    if keylen == 0 || keylen > MAX_KEYLEN {
        return Err(AuthError::InvalidField {
            method: method::WAMPCRA,
            field: "keylen",
            reason: format!("{keylen} is not in 1..={MAX_KEYLEN}"),
        });
    }
    let mut key = zeroize::Zeroizing::new(vec![0u8; keylen as usize]);
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), salt.as_bytes(), iterations, &mut key);
    Ok(base64::engine::general_purpose::STANDARD.encode(&*key))
}

/// The salting parameters of a salted WAMP-CRA principal, as sent in `CHALLENGE.Extra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salt {
    /// The salt (used as its UTF-8 bytes).
    pub salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Derived key length in bytes.
    pub keylen: u32,
}

/// The HMAC key for `secret`: the secret itself, or with `salt` the [derived
/// key](derive_key) text.
///
/// ```
/// use nexus_core::auth::cra::{self, Salt};
///
/// let plain = cra::signing_key("L3L1YUE8Txlw", None).unwrap();
/// assert_eq!(plain.expose(), "L3L1YUE8Txlw");
/// let salt = Salt { salt: "salt123".into(), iterations: 1000, keylen: 32 };
/// let salted = cra::signing_key("L3L1YUE8Txlw", Some(&salt)).unwrap();
/// assert_eq!(cra::sign(salted.expose().as_bytes(), "[1, 2, 3]"),
///            "c3pCfyceJEbMIYZ/MRvn3RbPu4aqaQ/IeiCmHKfGMx4=");
/// ```
pub fn signing_key(secret: &str, salt: Option<&Salt>) -> Result<Secret, AuthError> {
    Ok(match salt {
        None => Secret::new(secret),
        Some(s) => Secret::new(derive_key(secret, &s.salt, s.iterations, s.keylen)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The digest's §5.4 vectors (autobahn-python's test_auth.py, recomputed).
    const SECRET: &str = "L3L1YUE8Txlw";

    #[test]
    fn digest_vectors() {
        assert_eq!(
            derive_key(SECRET, "salt123", 1000, 32).unwrap(),
            "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y="
        );
        assert_eq!(
            sign(SECRET.as_bytes(), "[1, 2, 3]"),
            "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0="
        );
        let key = derive_key(SECRET, "salt123", 1000, 32).unwrap();
        assert_eq!(
            sign(key.as_bytes(), "[1, 2, 3]"),
            "c3pCfyceJEbMIYZ/MRvn3RbPu4aqaQ/IeiCmHKfGMx4="
        );
    }

    #[test]
    fn bounds_are_errors_not_panics() {
        assert!(derive_key("s", "s", MAX_ITERATIONS + 1, 32).is_err());
        assert!(derive_key("s", "s", 1, 0).is_err());
        assert!(derive_key("s", "s", 1, MAX_KEYLEN + 1).is_err());
        assert_eq!(
            derive_key("s", "s", 1, MAX_KEYLEN).unwrap().len(),
            1024_usize.div_ceil(3) * 4
        );
        assert!(!verify(b"k", "c", ""));
    }

    #[test]
    fn challenge_round_trip() {
        let c = CraChallenge {
            authid: "jo\"e".into(),
            authrole: "ü".into(),
            authprovider: "static".into(),
            nonce: nonce(&[9; 16]),
            timestamp: timestamp(0),
            session: 1,
        };
        assert_eq!(c.timestamp, "1970-01-01T00:00:00.000Z");
        assert_eq!(CraChallenge::parse(&c.to_json()).unwrap(), c);
        assert!(CraChallenge::parse("{").is_err());
        assert!(CraChallenge::parse(r#"{"authid": 1}"#).is_err());
        assert_eq!(timestamp(u64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
