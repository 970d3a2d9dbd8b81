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

/// Every feature above, in the order of their bits in a [`FeatureSet`].
const KNOWN: [&str; 26] = [
    PROGRESSIVE_CALL_RESULTS,
    PROGRESSIVE_CALL_INVOCATIONS,
    CALL_TIMEOUT,
    CALL_CANCELING,
    CALL_CANCELLING,
    CALLER_IDENTIFICATION,
    CALL_TRUSTLEVELS,
    REGISTRATION_META_API,
    PATTERN_BASED_REGISTRATION,
    SHARED_REGISTRATION,
    SHARDED_REGISTRATION,
    REGISTRATION_REVOCATION,
    CALL_REROUTE,
    SUBSCRIBER_BLACKWHITE_LISTING,
    PUBLISHER_EXCLUSION,
    PUBLISHER_IDENTIFICATION,
    PUBLICATION_TRUSTLEVELS,
    SUBSCRIPTION_META_API,
    PATTERN_BASED_SUBSCRIPTION,
    SHARDED_SUBSCRIPTION,
    EVENT_HISTORY,
    EVENT_RETENTION,
    SUBSCRIPTION_REVOCATION,
    SESSION_META_API,
    TESTAMENT_META_API,
    PAYLOAD_PASSTHRU_MODE,
];

/// The known features one role of a peer announced as `true`, one bit each: what the router
/// keeps of a HELLO's roles for the whole session (a few bytes instead of the dictionaries,
/// which an idle session would otherwise carry for its lifetime). Features the router does
/// not know are not kept, since nothing asks for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FeatureSet(u32);

impl FeatureSet {
    /// The known features `role` announces as `true`.
    pub(crate) fn of(role: &crate::message::Role) -> FeatureSet {
        let bits = KNOWN
            .iter()
            .enumerate()
            .filter(|(_, name)| role.supports(name))
            .fold(0, |bits, (i, _)| bits | 1 << i);
        FeatureSet(bits)
    }

    /// Whether `feature` is among them (never, for a feature the router does not know).
    pub(crate) fn has(self, feature: &str) -> bool {
        KNOWN
            .iter()
            .position(|name| *name == feature)
            .is_some_and(|i| self.0 & 1 << i != 0)
    }
}

/// The roles a client announced in HELLO, each with its known features; `None` for a role
/// it did not announce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PeerRoles {
    pub subscriber: Option<FeatureSet>,
    pub publisher: Option<FeatureSet>,
    pub caller: Option<FeatureSet>,
    pub callee: Option<FeatureSet>,
}

impl PeerRoles {
    /// What the router keeps of a HELLO's `roles`.
    pub(crate) fn of(roles: Option<&crate::message::ClientRoles>) -> PeerRoles {
        let Some(roles) = roles else {
            return PeerRoles::default();
        };
        PeerRoles {
            subscriber: roles.subscriber.as_ref().map(FeatureSet::of),
            publisher: roles.publisher.as_ref().map(FeatureSet::of),
            caller: roles.caller.as_ref().map(FeatureSet::of),
            callee: roles.callee.as_ref().map(FeatureSet::of),
        }
    }
}

/// Whether a peer's role announced `feature`.
pub(crate) fn supports(role: &Option<FeatureSet>, feature: &str) -> bool {
    role.is_some_and(|r| r.has(feature))
}

/// Whether a peer's role announced call canceling (in either of the spec's spellings).
pub(crate) fn supports_canceling(role: &Option<FeatureSet>) -> bool {
    supports(role, CALL_CANCELING) || supports(role, CALL_CANCELLING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ClientRoles, Role};

    #[test]
    fn a_feature_set_keeps_exactly_the_known_features_announced_true() {
        let mut role = Role::with_features([CALL_CANCELLING, PAYLOAD_PASSTHRU_MODE, "x_custom"]);
        if let Some(f) = role.features.as_mut() {
            f.insert(CALL_TIMEOUT.to_owned(), crate::Value::Bool(false));
        }
        let set = FeatureSet::of(&role);
        assert!(set.has(CALL_CANCELLING));
        assert!(set.has(PAYLOAD_PASSTHRU_MODE));
        assert!(!set.has(CALL_CANCELING));
        assert!(!set.has(CALL_TIMEOUT), "announced as false");
        assert!(!set.has("x_custom"), "unknown features are not kept");
        assert!(supports_canceling(&Some(set)));
        assert!(!supports(&None, PAYLOAD_PASSTHRU_MODE));
    }

    #[test]
    fn every_feature_constant_has_its_own_bit() {
        for (i, name) in KNOWN.iter().enumerate() {
            assert_eq!(
                KNOWN.iter().position(|n| n == name),
                Some(i),
                "{name} twice"
            );
            let set = FeatureSet::of(&Role::with_features([*name]));
            assert_eq!(set, FeatureSet(1 << i));
        }
    }

    #[test]
    fn peer_roles_say_which_roles_were_announced() {
        let roles = ClientRoles {
            caller: Some(Role::with_features([PROGRESSIVE_CALL_RESULTS])),
            ..Default::default()
        };
        let peer = PeerRoles::of(Some(&roles));
        assert!(supports(&peer.caller, PROGRESSIVE_CALL_RESULTS));
        assert_eq!(peer.callee, None);
        assert_eq!(PeerRoles::of(None), PeerRoles::default());
    }
}
