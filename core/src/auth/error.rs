//! What can go wrong while authenticating.

/// Why an authentication step failed: names the method and what was wrong, never a secret.
///
/// ```
/// use nexus_core::auth::AuthError;
///
/// let e = AuthError::MissingField { method: "wampcra", field: "challenge" };
/// assert_eq!(e.to_string(), "wampcra: the router's message has no `challenge`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The router challenged with a method these credentials do not handle.
    #[error("the router asked for authentication method {method:?}, but the credentials offer {offered:?}")]
    UnexpectedMethod {
        /// The method the router chose.
        method: String,
        /// The methods the credentials offer.
        offered: Vec<String>,
    },
    /// A field the method needs is absent.
    #[error("{method}: the router's message has no `{field}`")]
    MissingField {
        /// The authentication method.
        method: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A field is present but malformed (bad hex or base64, wrong length, out of range).
    #[error("{method}: invalid `{field}`: {reason}")]
    InvalidField {
        /// The authentication method.
        method: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// SCRAM: the router's nonce does not extend the client's.
    #[error("{method}: the router's nonce does not start with the client's nonce")]
    NonceMismatch {
        /// The authentication method.
        method: &'static str,
    },
    /// SCRAM: the key derivation cost asked for is below the client's minimum, so the
    /// router could be fishing for an easily cracked password hash.
    #[error("{method}: the router's {kdf} parameters are too weak: {reason}")]
    WeakParameters {
        /// The authentication method.
        method: &'static str,
        /// The key derivation function.
        kdf: &'static str,
        /// Which parameter is below which minimum.
        reason: String,
    },
    /// SCRAM: the key derivation cost asked for is above the client's maximum (a router
    /// could otherwise make the client exhaust its memory or time).
    #[error("{method}: the router's {kdf} parameters are too expensive: {reason}")]
    ExcessiveParameters {
        /// The authentication method.
        method: &'static str,
        /// The key derivation function.
        kdf: &'static str,
        /// Which parameter is above which maximum.
        reason: String,
    },
    /// SCRAM: a key derivation function nexus does not know.
    #[error("{method}: unsupported key derivation function {kdf:?}")]
    UnsupportedKdf {
        /// The authentication method.
        method: &'static str,
        /// The KDF named by the peer.
        kdf: String,
    },
    /// The channel binding in use is not the one requested.
    #[error("{method}: channel binding {requested:?} was requested, but {actual:?} is in use")]
    ChannelBindingMismatch {
        /// The authentication method.
        method: &'static str,
        /// The binding the client asked for (`None`: none).
        requested: Option<String>,
        /// The binding the peer reports (`None`: none).
        actual: Option<String>,
    },
    /// A string cannot be normalized with SASLprep (RFC 4013): it contains prohibited
    /// characters.
    #[error("{method}: the {what} is not a valid SASLprep string")]
    SaslPrep {
        /// The authentication method.
        method: &'static str,
        /// `authid` or `password`.
        what: &'static str,
    },
    /// A key or parameter supplied by the application is invalid.
    #[error("{method}: {reason}")]
    InvalidParameter {
        /// The authentication method.
        method: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The peer's proof, signature or ticket is wrong.
    #[error("{method}: {what} is invalid")]
    VerificationFailed {
        /// The authentication method.
        method: &'static str,
        /// What failed to verify (for example "the client proof").
        what: &'static str,
    },
    /// The credentials asked the router to authenticate itself (cryptosign router
    /// authentication, SCRAM server signature), and the router did not.
    #[error("{method}: the router did not prove its identity: {reason}")]
    RouterNotAuthenticated {
        /// The authentication method.
        method: &'static str,
        /// What was missing or wrong.
        reason: &'static str,
    },
    /// A step was taken out of order (for example checking WELCOME before answering a
    /// CHALLENGE of a method that needs it).
    #[error("authentication step out of order: {0}")]
    OutOfOrder(&'static str),
}
