//! WAMP IDs: sessions, publications, subscriptions, registrations and requests.
//!
//! Every ID is an integer in `[1, 2^53]` (so that JavaScript peers hold it exactly).
//! [`Id`] can hold nothing else. It is what the wire carries, untyped; what an ID names is
//! told by its type: [`SessionId`], [`RequestId`], [`SubscriptionId`], [`RegistrationId`] and
//! [`PublicationId`] each wrap an [`Id`] at no cost (`repr(transparent)`, no extra check), so
//! that a subscription ID cannot be passed where a registration ID is expected. Converting an
//! untyped [`Id`] into a typed one is always spelled out ([`SessionId::from_id`] and so on).
//!
//! Request IDs are sequential per session and direction ([`RequestIdCounter`]); session and
//! publication IDs are drawn uniformly at random from the whole range ([`IdGenerator`],
//! seeded by the caller so the core stays deterministic).

use std::fmt;
use std::num::NonZeroU64;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// A WAMP ID: an integer in `[1, 2^53]`.
///
/// ```
/// use nexus_core::Id;
///
/// assert!(Id::new(0).is_none());
/// assert_eq!(Id::new(7).unwrap().get(), 7);
/// assert!(Id::new(Id::MAX.get() + 1).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

impl Id {
    /// The largest valid ID, 2^53.
    pub const MAX: Id = Id(match NonZeroU64::new(1 << 53) {
        Some(v) => v,
        None => unreachable!(),
    });

    /// The smallest valid ID, 1.
    pub const MIN: Id = Id(NonZeroU64::MIN);

    /// The ID `value`, or `None` when it is outside `[1, 2^53]`.
    pub const fn new(value: u64) -> Option<Id> {
        if value > (1 << 53) {
            return None;
        }
        match NonZeroU64::new(value) {
            Some(v) => Some(Id(v)),
            None => None,
        }
    }

    /// The ID as an integer.
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The next ID in sequence, wrapping from 2^53 back to 1.
    pub const fn next(self) -> Id {
        if self.get() == Id::MAX.get() {
            Id::MIN
        } else {
            // In range: get() < 2^53, so get() + 1 <= 2^53 and is non-zero.
            Id(match NonZeroU64::new(self.get() + 1) {
                Some(v) => v,
                None => unreachable!(),
            })
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.get())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

impl TryFrom<u64> for Id {
    type Error = IdOutOfRange;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Id::new(value).ok_or(IdOutOfRange(value))
    }
}

impl From<Id> for u64 {
    fn from(id: Id) -> u64 {
        id.get()
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.get())
    }
}

/// The typed IDs, for code generic over which kind of ID it handles (the router's index of
/// subscriptions and registrations draws both the same way).
pub(crate) trait TypedId: Copy + Eq + std::hash::Hash + Ord + fmt::Debug {
    /// Names the thing by the untyped `id`.
    fn from_id(id: Id) -> Self;
}

/// Declares an ID type naming one kind of thing: an [`Id`] under another name, with the same
/// range and wire form.
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        ///
        /// It is an [`Id`] (an integer in `[1, 2^53]`) that names
        #[doc = concat!($what, ".")]
        /// It is encoded as the bare number, prints as the number with `Display` and as
        #[doc = concat!("`", stringify!($name), "(n)`")]
        /// with `Debug`.
        ///
        /// ```
        #[doc = concat!("use nexus_core::{", stringify!($name), ", Id, Value};")]
        ///
        #[doc = concat!("let id = ", stringify!($name), "::new(7).unwrap();")]
        /// assert_eq!(id.get(), 7);
        #[doc = concat!("assert_eq!(format!(\"{id:?} {id}\"), \"", stringify!($name), "(7) 7\");")]
        #[doc = concat!("assert!(", stringify!($name), "::new(0).is_none());")]
        #[doc = concat!("assert!(", stringify!($name), "::new(", stringify!($name), "::MAX.get() + 1).is_none());")]
        ///
        /// // The untyped ID is one explicit call away, both ways.
        /// let raw: Id = id.id();
        #[doc = concat!("assert_eq!(", stringify!($name), "::from_id(raw), id);")]
        /// assert_eq!(Id::from(id), raw);
        /// assert_eq!(u64::from(id), 7);
        #[doc = concat!("assert_eq!(", stringify!($name), "::try_from(7u64), Ok(id));")]
        /// assert_eq!(Value::from(id), Value::UInt(7));
        /// ```
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(transparent)]
        pub struct $name(Id);

        impl $name {
            /// The smallest valid ID, 1.
            pub const MIN: $name = $name(Id::MIN);

            /// The largest valid ID, 2^53.
            pub const MAX: $name = $name(Id::MAX);

            /// The ID `value`, or `None` when it is outside `[1, 2^53]`.
            pub const fn new(value: u64) -> Option<$name> {
                match Id::new(value) {
                    Some(id) => Some($name(id)),
                    None => None,
                }
            }

            /// The ID as an integer.
            pub const fn get(self) -> u64 {
                self.0.get()
            }

            /// The untyped ID, as the wire carries it.
            pub const fn id(self) -> Id {
                self.0
            }

            #[doc = concat!("Names ", $what, " by the untyped ID `id`.")]
            ///
            /// Deliberately not a `From` conversion: what an untyped ID names is a claim the
            /// caller makes, so it stays visible where it is made.
            pub const fn from_id(id: Id) -> $name {
                $name(id)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.get())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.get(), f)
            }
        }

        impl From<$name> for Id {
            fn from(id: $name) -> Id {
                id.0
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.get()
            }
        }

        impl TryFrom<u64> for $name {
            type Error = IdOutOfRange;
            fn try_from(value: u64) -> Result<Self, Self::Error> {
                Id::try_from(value).map($name)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl From<$name> for crate::Value {
            fn from(id: $name) -> crate::Value {
                crate::Value::from(id.0)
            }
        }

        impl TypedId for $name {
            fn from_id(id: Id) -> $name {
                $name(id)
            }
        }
    };
}

typed_id!(
    /// The ID of a session, given by the router in WELCOME and used wherever a message names
    /// a session (a publisher, a caller, an `eligible` or `exclude` list).
    SessionId,
    "a session"
);

typed_id!(
    /// The ID of a request, chosen by its sender and echoed by the answer: the `Request`
    /// element of every message that has one.
    RequestId,
    "a request"
);

typed_id!(
    /// The ID of a subscription, given by the router in SUBSCRIBED and carried by each EVENT.
    SubscriptionId,
    "a subscription"
);

typed_id!(
    /// The ID of a registration, given by the router in REGISTERED and carried by each
    /// INVOCATION.
    RegistrationId,
    "a registration"
);

typed_id!(
    /// The ID of a publication, given by the router in PUBLISHED and carried by each EVENT.
    PublicationId,
    "a publication"
);

impl RequestId {
    /// The next request ID in sequence, wrapping from 2^53 back to 1.
    ///
    /// ```
    /// use nexus_core::RequestId;
    ///
    /// assert_eq!(RequestId::MIN.next().get(), 2);
    /// assert_eq!(RequestId::MAX.next(), RequestId::MIN);
    /// ```
    pub const fn next(self) -> RequestId {
        RequestId(self.0.next())
    }
}

/// An integer that is not a valid WAMP ID (outside `[1, 2^53]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a valid WAMP ID (expected an integer in [1, 2^53])")]
pub struct IdOutOfRange(pub u64);

/// Allocates sequential request IDs for one session and direction: 1, 2, 3... wrapping back
/// to 1 after 2^53, as the spec requires.
///
/// ```
/// use nexus_core::RequestIdCounter;
///
/// let mut ids = RequestIdCounter::new();
/// assert_eq!(ids.next_id().get(), 1);
/// assert_eq!(ids.next_id().get(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestIdCounter {
    last: Option<RequestId>,
}

impl RequestIdCounter {
    /// A counter whose first ID is 1.
    pub fn new() -> Self {
        Self { last: None }
    }

    /// A counter that continues after `last` (its next ID is `last.next()`).
    pub fn after(last: RequestId) -> Self {
        Self { last: Some(last) }
    }

    /// Allocates the next ID.
    pub fn next_id(&mut self) -> RequestId {
        let id = self.peek();
        self.last = Some(id);
        id
    }

    /// The ID that [`next_id`](Self::next_id) will return, without allocating it.
    pub fn peek(&self) -> RequestId {
        self.last.map_or(RequestId::MIN, RequestId::next)
    }

    /// The last ID allocated, if any.
    pub fn last(&self) -> Option<RequestId> {
        self.last
    }
}

/// Draws IDs uniformly at random from `[1, 2^53]`, from a caller-supplied seed.
///
/// The generator is a cryptographically strong stream cipher (ChaCha12), so IDs are not
/// guessable from earlier ones, yet the same seed always gives the same sequence, which keeps
/// tests deterministic.
///
/// ```
/// use nexus_core::IdGenerator;
///
/// let mut a = IdGenerator::from_seed(42);
/// let mut b = IdGenerator::from_seed(42);
/// assert_eq!(a.next_id(), b.next_id());
/// ```
#[derive(Debug, Clone)]
pub struct IdGenerator {
    rng: ChaCha12Rng,
}

impl IdGenerator {
    /// A generator seeded with a 64-bit seed.
    pub fn from_seed(seed: u64) -> Self {
        Self {
            rng: ChaCha12Rng::seed_from_u64(seed),
        }
    }

    /// A generator seeded with 32 bytes of seed material (for example from the OS).
    pub fn from_seed_bytes(seed: [u8; 32]) -> Self {
        Self {
            rng: ChaCha12Rng::from_seed(seed),
        }
    }

    /// Draws the next ID.
    pub fn next_id(&mut self) -> Id {
        let v = self.rng.random_range(1..=Id::MAX.get());
        Id::new(v).unwrap_or(Id::MIN)
    }

    /// Draws a raw 64-bit number from the same stream (for uses such as nonces).
    pub fn next_u64(&mut self) -> u64 {
        self.rng.random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_enforced() {
        assert!(Id::new(0).is_none());
        assert!(Id::new(1).is_some());
        assert!(Id::new(1 << 53).is_some());
        assert!(Id::new((1 << 53) + 1).is_none());
        assert_eq!(Id::try_from(0u64), Err(IdOutOfRange(0)));
    }

    #[test]
    fn typed_ids_are_ids_under_another_name() {
        // Zero cost: the same size, and `Option` still uses the niche of the `NonZeroU64`.
        assert_eq!(std::mem::size_of::<SessionId>(), std::mem::size_of::<u64>());
        assert_eq!(
            std::mem::size_of::<Option<RequestId>>(),
            std::mem::size_of::<u64>()
        );
        assert!(SubscriptionId::new(0).is_none());
        assert_eq!(RegistrationId::new(1 << 53), Some(RegistrationId::MAX));
        assert!(PublicationId::new((1 << 53) + 1).is_none());
        assert_eq!(SessionId::try_from(0u64), Err(IdOutOfRange(0)));
        let id = SessionId::new(7).unwrap();
        assert_eq!(format!("{id:?}"), "SessionId(7)");
        assert_eq!(format!("{id}"), "7");
        assert_eq!(Id::from(id), Id::new(7).unwrap());
        assert_eq!(SessionId::from_id(id.id()), id);
        assert_eq!(
            crate::Value::from_serialize(&id).unwrap(),
            crate::Value::from_serialize(&id.id()).unwrap()
        );
        assert_eq!(RequestId::MAX.next(), RequestId::MIN);
        assert!(RequestId::MIN < RequestId::MIN.next());
    }

    #[test]
    fn counter_starts_at_one_and_wraps() {
        let mut c = RequestIdCounter::new();
        assert_eq!(c.next_id(), RequestId::MIN);
        assert_eq!(c.next_id().get(), 2);
        let mut c = RequestIdCounter::after(RequestId::new((1 << 53) - 1).unwrap());
        assert_eq!(c.next_id(), RequestId::MAX);
        assert_eq!(c.next_id(), RequestId::MIN);
        assert_eq!(c.last(), Some(RequestId::MIN));
    }

    #[test]
    fn generator_is_deterministic_and_spread() {
        let mut a = IdGenerator::from_seed(7);
        let mut b = IdGenerator::from_seed(7);
        let xs: Vec<Id> = (0..1000).map(|_| a.next_id()).collect();
        let ys: Vec<Id> = (0..1000).map(|_| b.next_id()).collect();
        assert_eq!(xs, ys);
        // Uniform over [1, 2^53]: about half of the draws are above 2^52.
        let high = xs.iter().filter(|id| id.get() > 1 << 52).count();
        assert!((400..600).contains(&high), "{high} of 1000 above 2^52");
        let mut c = IdGenerator::from_seed(8);
        assert_ne!(xs[0], c.next_id());
    }
}
