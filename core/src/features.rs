//! Feature flags announced under `roles.<role>.features` in HELLO and WELCOME, spelled as
//! the spec spells them (including its misspellings, which peers send as written).
//!
//! ```
//! use nexus_core::features;
//! use nexus_core::message::Role;
//!
//! let caller = Role::with_features([features::CALL_CANCELING, features::PROGRESSIVE_CALL_RESULTS]);
//! assert!(caller.supports("call_canceling"));
//! ```

/// Progressive call results.
pub const PROGRESSIVE_CALL_RESULTS: &str = "progressive_call_results";
/// Progressive call invocations.
pub const PROGRESSIVE_CALL_INVOCATIONS: &str = "progressive_call_invocations";
/// Call timeout.
pub const CALL_TIMEOUT: &str = "call_timeout";
/// Call canceling.
pub const CALL_CANCELING: &str = "call_canceling";
/// The spelling of call canceling used once in the progressive invocations section.
pub const CALL_CANCELLING: &str = "call_cancelling";
/// Caller identification.
pub const CALLER_IDENTIFICATION: &str = "caller_identification";
/// Call trust levels.
pub const CALL_TRUSTLEVELS: &str = "call_trustlevels";
/// Registration meta API.
pub const REGISTRATION_META_API: &str = "registration_meta_api";
/// Pattern-based registration.
pub const PATTERN_BASED_REGISTRATION: &str = "pattern_based_registration";
/// Shared registration.
pub const SHARED_REGISTRATION: &str = "shared_registration";
/// Sharded registration.
pub const SHARDED_REGISTRATION: &str = "sharded_registration";
/// Registration revocation.
pub const REGISTRATION_REVOCATION: &str = "registration_revocation";
/// Call re-routing.
pub const CALL_REROUTE: &str = "call_reroute";
/// Subscriber black- and whitelisting.
pub const SUBSCRIBER_BLACKWHITE_LISTING: &str = "subscriber_blackwhite_listing";
/// Publisher exclusion.
pub const PUBLISHER_EXCLUSION: &str = "publisher_exclusion";
/// Publisher identification.
pub const PUBLISHER_IDENTIFICATION: &str = "publisher_identification";
/// Publication trust levels.
pub const PUBLICATION_TRUSTLEVELS: &str = "publication_trustlevels";
/// Subscription meta API.
pub const SUBSCRIPTION_META_API: &str = "subscription_meta_api";
/// Pattern-based subscription.
pub const PATTERN_BASED_SUBSCRIPTION: &str = "pattern_based_subscription";
/// Sharded subscription, spelled as the spec spells it.
pub const SHARDED_SUBSCRIPTION: &str = "shareded_subscriptions";
/// Event history.
pub const EVENT_HISTORY: &str = "event_history";
/// Event retention.
pub const EVENT_RETENTION: &str = "event_retention";
/// Subscription revocation.
pub const SUBSCRIPTION_REVOCATION: &str = "subscription_revocation";
/// Session meta API.
pub const SESSION_META_API: &str = "session_meta_api";
/// Testament meta API.
pub const TESTAMENT_META_API: &str = "testament_meta_api";
/// Payload passthru mode.
pub const PAYLOAD_PASSTHRU_MODE: &str = "payload_passthru_mode";

/// Whether a peer's role announced `feature`.
pub(crate) fn supports(role: &Option<crate::message::Role>, feature: &str) -> bool {
    role.as_ref().is_some_and(|r| r.supports(feature))
}

/// Whether a peer's role announced call canceling (in either of the spec's spellings).
pub(crate) fn supports_canceling(role: &Option<crate::message::Role>) -> bool {
    supports(role, CALL_CANCELING) || supports(role, CALL_CANCELLING)
}
