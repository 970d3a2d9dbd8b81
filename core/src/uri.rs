//! URIs: validation under the loose and strict rules, the pattern forms used by
//! pattern-based subscriptions and registrations, and every predefined URI of the spec.
//!
//! ```
//! use nexus_core::uri::{MatchPolicy, Uri, UriRules};
//!
//! let topic = Uri::parse("com.example.topic").unwrap();
//! assert!(Uri::parse("com..topic").is_err());
//! let pattern = Uri::new_unchecked("com..topic");
//! assert!(pattern.validate(UriRules::Strict, MatchPolicy::Wildcard).is_ok());
//! assert!(MatchPolicy::Wildcard.matches("com..topic", topic.as_str()));
//! ```

use std::borrow::Borrow;
use std::fmt;

/// A URI as it appears in a message: a topic, a procedure, an error, a realm or a reason.
///
/// A `Uri` received from a peer holds whatever string the peer sent; whether it is valid
/// depends on where it is used (an exact topic, a prefix pattern, a wildcard pattern), so
/// the router checks it with [`Uri::validate`] and answers `wamp.error.invalid_uri`.
/// [`Uri::parse`] builds one for local use and checks the loose rules.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uri(String);

impl Uri {
    /// Builds a URI after checking it under the loose rules, without empty components.
    pub fn parse(s: impl Into<String>) -> Result<Uri, UriError> {
        let uri = Uri(s.into());
        uri.validate(UriRules::Loose, MatchPolicy::Exact)?;
        Ok(uri)
    }

    /// Builds a URI without checking it (for patterns and for values read off the wire).
    pub fn new_unchecked(s: impl Into<String>) -> Uri {
        Uri(s.into())
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Checks the URI under `rules`, as a URI of the given match policy: exact URIs have no
    /// empty component, prefix patterns may end with one (`com.example.`), wildcard patterns
    /// may have any number (`com..topic`).
    pub fn validate(&self, rules: UriRules, policy: MatchPolicy) -> Result<(), UriError> {
        validate(&self.0, rules, policy)
    }

    /// Whether [`validate`](Self::validate) accepts the URI.
    pub fn is_valid(&self, rules: UriRules, policy: MatchPolicy) -> bool {
        self.validate(rules, policy).is_ok()
    }

    /// Whether the first component is `wamp`, which the spec reserves for the protocol
    /// itself (meta API, errors); applications must not register or publish there.
    pub fn is_reserved(&self) -> bool {
        self.0 == "wamp" || self.0.starts_with("wamp.")
    }

    /// The number of components (dot-separated parts, empty ones included).
    pub fn component_count(&self) -> usize {
        self.0.split('.').count()
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({:?})", self.0)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Uri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Uri {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Uri {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Uri {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl TryFrom<&str> for Uri {
    type Error = UriError;
    fn try_from(s: &str) -> Result<Self, UriError> {
        Uri::parse(s)
    }
}

impl TryFrom<String> for Uri {
    type Error = UriError;
    fn try_from(s: String) -> Result<Self, UriError> {
        Uri::parse(s)
    }
}

impl serde::Serialize for Uri {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Which URI rules to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UriRules {
    /// The rules every peer must follow: components contain no `.`, `#` or whitespace.
    #[default]
    Loose,
    /// The recommended rules: components contain only `[0-9a-z_]`.
    Strict,
}

/// How a subscription or registration matches URIs (`match` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum MatchPolicy {
    /// The URI itself (the default).
    #[default]
    Exact,
    /// Every URI that starts with the pattern string.
    Prefix,
    /// Every URI with the same number of components, where the pattern's empty components
    /// match any component.
    Wildcard,
}

impl MatchPolicy {
    /// The option value: `exact`, `prefix` or `wildcard`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// Parses the option value.
    pub fn parse(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// Whether `uri` matches `pattern` under this policy.
    ///
    /// ```
    /// use nexus_core::uri::MatchPolicy;
    ///
    /// assert!(MatchPolicy::Prefix.matches("com.app", "com.app-two.x"));
    /// assert!(MatchPolicy::Wildcard.matches("a..c", "a.b.c"));
    /// assert!(!MatchPolicy::Wildcard.matches("a..c", "a.b.c.d"));
    /// ```
    pub fn matches(self, pattern: &str, uri: &str) -> bool {
        match self {
            MatchPolicy::Exact => pattern == uri,
            // The spec defines prefix matching on the string, not on components.
            MatchPolicy::Prefix => uri.starts_with(pattern),
            MatchPolicy::Wildcard => wildcard_matches(pattern, uri),
        }
    }
}

impl fmt::Display for MatchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for MatchPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut p = pattern.split('.');
    let mut u = uri.split('.');
    loop {
        match (p.next(), u.next()) {
            (None, None) => return true,
            (Some(pc), Some(uc)) => {
                if !pc.is_empty() && pc != uc {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The precedence of a prefix pattern that matches a URI: the longest prefix, counted in
/// components (then in characters, so that `com.app` beats `com.ap`), wins (digest §4.8).
pub(crate) fn prefix_precedence(pattern: &str) -> (usize, usize) {
    (pattern.split('.').count(), pattern.len())
}

/// Orders wildcard patterns that match one URI by the spec's precedence (digest §4.8): the
/// longer first run of literal components wins, then the next run, and so on.
pub(crate) fn wildcard_precedence(a: &str, b: &str) -> std::cmp::Ordering {
    literal_runs(a).cmp(&literal_runs(b))
}

/// The lengths of the runs of literal (non-empty) components of a wildcard pattern.
fn literal_runs(pattern: &str) -> Vec<usize> {
    let mut runs = Vec::new();
    let mut run = 0;
    for component in pattern.split('.') {
        if component.is_empty() {
            runs.push(run);
            run = 0;
        } else {
            run += 1;
        }
    }
    runs.push(run);
    runs
}

/// Why a URI is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The URI is the empty string.
    #[error("invalid URI: the URI is empty")]
    Empty,
    /// A component is empty where the match policy does not allow it.
    #[error("invalid URI {uri:?}: component {index} is empty (only wildcard patterns, and the last component of prefix patterns, may have empty components)")]
    EmptyComponent {
        /// The URI.
        uri: String,
        /// The index of the empty component, from 0.
        index: usize,
    },
    /// A component holds a character the rules forbid.
    #[error("invalid URI {uri:?}: character {ch:?} is not allowed ({rule})")]
    BadCharacter {
        /// The URI.
        uri: String,
        /// The character.
        ch: char,
        /// The rule it breaks.
        rule: &'static str,
    },
}

fn validate(uri: &str, rules: UriRules, policy: MatchPolicy) -> Result<(), UriError> {
    if uri.is_empty() {
        return Err(UriError::Empty);
    }
    let count = uri.split('.').count();
    for (index, component) in uri.split('.').enumerate() {
        if component.is_empty() {
            let allowed = match policy {
                MatchPolicy::Exact => false,
                MatchPolicy::Prefix => index + 1 == count && count > 1,
                MatchPolicy::Wildcard => true,
            };
            if !allowed {
                return Err(UriError::EmptyComponent {
                    uri: uri.to_owned(),
                    index,
                });
            }
            continue;
        }
        for ch in component.chars() {
            let (ok, rule) = match rules {
                UriRules::Loose => (
                    ch != '#' && !ch.is_whitespace(),
                    "loose rules: no '#' or whitespace",
                ),
                UriRules::Strict => (
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_',
                    "strict rules: only [0-9a-z_]",
                ),
            };
            if !ok {
                return Err(UriError::BadCharacter {
                    uri: uri.to_owned(),
                    ch,
                    rule,
                });
            }
        }
    }
    Ok(())
}

/// The predefined error URIs (`wamp.error.*`) of the basic and advanced profiles.
pub mod error {
    /// A URI was invalid.
    pub const INVALID_URI: &str = "wamp.error.invalid_uri";
    /// No procedure is registered under the URI called.
    pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
    /// A procedure is already registered under the URI.
    pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
    /// UNREGISTER for a registration the session does not hold.
    pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
    /// UNSUBSCRIBE for a subscription the session does not hold.
    pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
    /// A call's arguments were invalid (callee or router payload validation).
    pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
    /// The call was canceled (by the caller, or because the callee left).
    pub const CANCELED: &str = "wamp.error.canceled";
    /// The misspelling the basic profile uses once for [`CANCELED`]; accept it on input.
    pub const CANCELLED: &str = "wamp.error.cancelled";
    /// A payload was larger than the transport allows.
    pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";
    /// A peer broke the protocol (ABORT reason).
    pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
    /// The action is not authorized.
    pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
    /// The authorizer itself failed.
    pub const AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";
    /// The realm does not exist.
    pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
    /// The role does not exist.
    pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
    /// No offered authentication method is acceptable.
    pub const NO_MATCHING_AUTH_METHOD: &str = "wamp.error.no_matching_auth_method";
    /// The principal (authid) is unknown.
    pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
    /// Authentication was denied.
    pub const AUTHENTICATION_DENIED: &str = "wamp.error.authentication_denied";
    /// Authentication failed.
    pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
    /// Authentication (other than anonymous) is required.
    pub const AUTHENTICATION_REQUIRED: &str = "wamp.error.authentication_required";
    /// Authorization was denied.
    pub const AUTHORIZATION_DENIED: &str = "wamp.error.authorization_denied";
    /// Authorization is required.
    pub const AUTHORIZATION_REQUIRED: &str = "wamp.error.authorization_required";
    /// The call timed out.
    pub const TIMEOUT: &str = "wamp.error.timeout";
    /// An option is not allowed.
    pub const OPTION_NOT_ALLOWED: &str = "wamp.error.option_not_allowed";
    /// Disclosure of the caller or publisher was requested but is not allowed.
    pub const OPTION_DISALLOWED_DISCLOSE_ME: &str = "wamp.error.option_disallowed.disclose_me";
    /// The variant of [`OPTION_DISALLOWED_DISCLOSE_ME`] used in one spec example.
    pub const DISCLOSE_ME_NOT_ALLOWED: &str = "wamp.error.disclose_me.not_allowed";
    /// A network failure between routers.
    pub const NETWORK_FAILURE: &str = "wamp.error.network_failure";
    /// The callee is unavailable (call re-routing).
    pub const UNAVAILABLE: &str = "wamp.error.unavailable";
    /// No callee is available to handle the call.
    pub const NO_AVAILABLE_CALLEE: &str = "wamp.error.no_available_callee";
    /// A peer does not support a feature the request needs.
    pub const FEATURE_NOT_SUPPORTED: &str = "wamp.error.feature_not_supported";
    /// The session does not exist (session meta API).
    pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
    /// No eligible callee (from the spec's working drafts).
    pub const NO_ELIGIBLE_CALLEE: &str = "wamp.error.no_eligible_callee";

    /// Every constant of this module.
    pub const ALL: &[&str] = &[
        INVALID_URI,
        NO_SUCH_PROCEDURE,
        PROCEDURE_ALREADY_EXISTS,
        NO_SUCH_REGISTRATION,
        NO_SUCH_SUBSCRIPTION,
        INVALID_ARGUMENT,
        CANCELED,
        CANCELLED,
        PAYLOAD_SIZE_EXCEEDED,
        PROTOCOL_VIOLATION,
        NOT_AUTHORIZED,
        AUTHORIZATION_FAILED,
        NO_SUCH_REALM,
        NO_SUCH_ROLE,
        NO_MATCHING_AUTH_METHOD,
        NO_SUCH_PRINCIPAL,
        AUTHENTICATION_DENIED,
        AUTHENTICATION_FAILED,
        AUTHENTICATION_REQUIRED,
        AUTHORIZATION_DENIED,
        AUTHORIZATION_REQUIRED,
        TIMEOUT,
        OPTION_NOT_ALLOWED,
        OPTION_DISALLOWED_DISCLOSE_ME,
        DISCLOSE_ME_NOT_ALLOWED,
        NETWORK_FAILURE,
        UNAVAILABLE,
        NO_AVAILABLE_CALLEE,
        FEATURE_NOT_SUPPORTED,
        NO_SUCH_SESSION,
        NO_ELIGIBLE_CALLEE,
    ];
}

/// The predefined close reasons (`wamp.close.*`) for GOODBYE and ABORT.
pub mod close {
    /// The router is shutting down.
    pub const SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
    /// The realm is being closed.
    pub const CLOSE_REALM: &str = "wamp.close.close_realm";
    /// The reply to a GOODBYE.
    pub const GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";
    /// The session was killed by the router (session meta API).
    pub const KILLED: &str = "wamp.close.killed";
    /// The normal close reason Autobahn and Crossbar use (not in the spec's URI list).
    pub const NORMAL: &str = "wamp.close.normal";

    /// Every constant of this module.
    pub const ALL: &[&str] = &[
        SYSTEM_SHUTDOWN,
        CLOSE_REALM,
        GOODBYE_AND_OUT,
        KILLED,
        NORMAL,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str, rules: UriRules, policy: MatchPolicy) -> bool {
        validate(s, rules, policy).is_ok()
    }

    #[test]
    fn loose_and_strict_rules() {
        use MatchPolicy::*;
        use UriRules::*;
        assert!(ok("com.myapp.topic1", Strict, Exact));
        assert!(ok("com.MyApp.topic-1", Loose, Exact));
        assert!(!ok("com.MyApp.topic1", Strict, Exact));
        assert!(!ok("com.my app", Loose, Exact));
        assert!(!ok("com.my#app", Loose, Exact));
        assert!(!ok("com..app", Loose, Exact));
        assert!(!ok(".com", Loose, Exact));
        assert!(!ok("com.", Loose, Exact));
        assert!(!ok("", Loose, Exact));
        assert!(ok("com.é.x", Loose, Exact));
        assert!(!ok("com.\t.x", Loose, Wildcard));
    }

    #[test]
    fn pattern_forms() {
        use MatchPolicy::*;
        use UriRules::*;
        assert!(ok("com..topic", Strict, Wildcard));
        assert!(ok(".a.", Loose, Wildcard));
        assert!(ok("com.myapp.", Strict, Prefix));
        assert!(ok("com.myapp", Strict, Prefix));
        assert!(!ok("com..myapp", Strict, Prefix));
        assert!(!ok(".", Strict, Prefix));
        assert_eq!(
            validate("a..b", Loose, Exact),
            Err(UriError::EmptyComponent {
                uri: "a..b".into(),
                index: 1
            })
        );
    }

    #[test]
    fn matching() {
        use MatchPolicy::*;
        assert!(Exact.matches("a.b", "a.b"));
        assert!(!Exact.matches("a.b", "a.b.c"));
        assert!(Prefix.matches("com.myapp.myobject1", "com.myapp.myobject1-mysubobject1"));
        assert!(Prefix.matches("a.b.", "a.b.c"));
        assert!(!Prefix.matches("a.b.", "a.b"));
        assert!(Wildcard.matches("a1.b2..d4", "a1.b2.c3.d4"));
        assert!(Wildcard.matches("..", "x.y.z"));
        assert!(!Wildcard.matches("a1.b2..d4", "a1.b2.c3"));
        assert!(!Wildcard.matches("a1.b2..d4", "a1.bX.c3.d4"));
    }

    #[test]
    fn predefined_uris_are_strictly_valid() {
        for uri in error::ALL.iter().chain(close::ALL) {
            assert!(ok(uri, UriRules::Strict, MatchPolicy::Exact), "{uri}");
            assert!(Uri::new_unchecked(*uri).is_reserved());
        }
    }
}
