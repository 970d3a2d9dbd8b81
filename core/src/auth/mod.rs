//! The cryptography of every WAMP authentication method, for both sides, sans IO.
//!
//! Nothing here reads a clock, draws random numbers or does I/O: callers pass random bytes
//! and times in. Every comparison of a secret value is constant-time, every secret type
//! redacts itself in `Debug`, and nothing a peer sends (malformed hex or base64, wrong
//! lengths, absurd cost parameters) can make these functions panic: it is a typed
//! [`AuthError`].
//!
//! | method | authmethod | module |
//! |---|---|---|
//! | Ticket | `ticket` | [`ticket`] |
//! | WAMP-CRA (plain and salted) | `wampcra` | [`cra`] |
//! | WAMP-Cryptosign (with channel binding and router authentication) | `cryptosign` | [`cryptosign`] |
//! | WAMP-SCRAM, as specified | `wamp-scram` | [`scram`] ([`scram::Variant::Spec`]) |
//! | SCRAM as Autobahn and Crossbar implement it | `scram` | [`scram`] ([`scram::Variant::Autobahn`]) |
//!
//! [`client::Credentials`] puts the client side together: it fills HELLO's `authmethods`,
//! `authid` and `authextra`, answers CHALLENGEs and checks the router's WELCOME.
//!
//! ```
//! use nexus_core::auth::client::Credentials;
//! use nexus_core::auth::cryptosign::SigningKey;
//!
//! let key = SigningKey::from_seed(&[7; 32]);
//! let mut credentials = Credentials::new()
//!     .authid("alice")
//!     .cryptosign(key)
//!     .ticket("s3cr3t");
//! let hello = credentials.hello(&[0; nexus_core::auth::client::HELLO_RANDOM_LEN]).unwrap();
//! assert_eq!(hello.authmethods, ["cryptosign", "ticket"]);
//! assert!(hello.authextra.contains_key("pubkey"));
//! // Secrets never show up in Debug output.
//! assert!(!format!("{credentials:?}").contains("s3cr3t"));
//! ```

pub mod client;
pub mod cra;
pub mod cryptosign;
mod error;
pub mod scram;
#[cfg(test)]
mod tests;
pub mod ticket;

pub use error::AuthError;

use std::fmt;

use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The `authmethod` names.
pub mod method {
    /// No authentication: the router assigns an identity.
    pub const ANONYMOUS: &str = "anonymous";
    /// Ticket-based authentication.
    pub const TICKET: &str = "ticket";
    /// WAMP Challenge-Response Authentication.
    pub const WAMPCRA: &str = "wampcra";
    /// WAMP-Cryptosign (Ed25519).
    pub const CRYPTOSIGN: &str = "cryptosign";
    /// WAMP-SCRAM as the specification names it.
    pub const WAMP_SCRAM: &str = "wamp-scram";
    /// SCRAM as Autobahn and Crossbar name (and implement) it.
    pub const SCRAM: &str = "scram";
}

/// A secret string (a ticket, a WAMP-CRA secret, a password): wiped from memory when
/// dropped, shown as `Secret(***)` by `Debug`.
///
/// ```
/// use nexus_core::auth::Secret;
///
/// let secret = Secret::new("hunter2");
/// assert_eq!(secret.expose(), "hunter2");
/// assert_eq!(format!("{secret:?}"), "Secret(***)");
/// ```
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(Zeroizing::new(secret.into()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret::new(s)
    }
}

/// Compares two byte strings in constant time (for equal lengths; the length itself is not
/// secret in any of the uses here).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Standard base64 with padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64 (padding required, canonical), naming the field on failure.
pub(crate) fn unb64(
    method: &'static str,
    field: &'static str,
    text: &str,
) -> Result<Vec<u8>, AuthError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| AuthError::InvalidField {
            method,
            field,
            reason: format!("not base64: {e}"),
        })
}

/// Decodes hex into exactly `N` bytes, naming the field on failure.
pub(crate) fn unhex<const N: usize>(
    method: &'static str,
    field: &'static str,
    text: &str,
) -> Result<[u8; N], AuthError> {
    let mut out = [0u8; N];
    if text.len() != 2 * N {
        return Err(AuthError::InvalidField {
            method,
            field,
            reason: format!(
                "expected {} hex digits ({N} bytes), found {} characters",
                2 * N,
                text.len()
            ),
        });
    }
    hex::decode_to_slice(text, &mut out).map_err(|e| AuthError::InvalidField {
        method,
        field,
        reason: format!("not hex: {e}"),
    })?;
    Ok(out)
}
