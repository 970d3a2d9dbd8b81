//! Typed `Options`, `Details` and `Extra` dicts: one struct per message position, holding
//! every key the spec (and the reference implementations) define, with the right type.
//!
//! Every field is an `Option`: absent keys are `None`. Keys the struct does not know are kept
//! in `extra`, in the order they arrived, so a router can forward them. A key present with a
//! `null` value is read as absent. A known key with a value of the wrong type is an error
//! naming the key (the test vectors require, for example, `{"acknowledge": 1}` to be rejected).
//!
//! Encoding writes the known keys in declaration order, then `extra`.
//!
//! ```
//! use nexus_core::message::{CallOptions, PublishOptions};
//!
//! let opts = PublishOptions { acknowledge: Some(true), ..Default::default() };
//! assert!(!opts.is_empty());
//! assert!(CallOptions::default().is_empty());
//! ```

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::id::{Id, RegistrationId, SessionId, SubscriptionId};
use crate::uri::{MatchPolicy, Uri};
use crate::value::{Dict, Value};

/// A type that can be read from an option value.
pub(crate) trait OptionValue: Sized {
    /// Converts the value, or says what was expected and what was found.
    fn from_option(value: Value) -> Result<Self, String>;
}

fn wrong(expected: &str, found: &Value) -> String {
    match found {
        Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) => {
            format!("expected {expected}, found {} ({found})", found.kind())
        }
        Value::String(s) if s.len() <= 40 => {
            format!("expected {expected}, found {} ({found})", found.kind())
        }
        _ => format!("expected {expected}, found {}", found.kind()),
    }
}

/// A non-negative integer; integral floats are accepted because some JavaScript MessagePack
/// encoders send large integers as float64.
pub(crate) fn value_to_u64(value: &Value) -> Option<u64> {
    match value {
        Value::UInt(u) => Some(*u),
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= 9007199254740992.0 => {
            Some(*f as u64)
        }
        _ => None,
    }
}

impl OptionValue for bool {
    fn from_option(value: Value) -> Result<Self, String> {
        value.as_bool().ok_or_else(|| wrong("a bool", &value))
    }
}

impl OptionValue for u64 {
    fn from_option(value: Value) -> Result<Self, String> {
        value_to_u64(&value).ok_or_else(|| wrong("a non-negative integer", &value))
    }
}

impl OptionValue for Id {
    fn from_option(value: Value) -> Result<Self, String> {
        value_to_u64(&value)
            .and_then(Id::new)
            .ok_or_else(|| wrong("an ID (an integer in [1, 2^53])", &value))
    }
}

/// The typed IDs read as [`Id`] does; the key says what the ID names.
macro_rules! typed_id_option {
    ($($t:ident),*) => {$(
        impl OptionValue for $t {
            fn from_option(value: Value) -> Result<Self, String> {
                Id::from_option(value).map($t::from_id)
            }
        }
    )*};
}
typed_id_option!(SessionId, SubscriptionId, RegistrationId);

impl OptionValue for String {
    fn from_option(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(wrong("a string", &other)),
        }
    }
}

impl OptionValue for Uri {
    fn from_option(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(Uri::new_unchecked(s)),
            other => Err(wrong("a URI string", &other)),
        }
    }
}

impl OptionValue for Dict {
    fn from_option(value: Value) -> Result<Self, String> {
        match value {
            Value::Dict(d) => Ok(d),
            other => Err(wrong("a dict", &other)),
        }
    }
}

impl OptionValue for Value {
    fn from_option(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

impl<T: OptionValue> OptionValue for Vec<T> {
    fn from_option(value: Value) -> Result<Self, String> {
        match value {
            Value::List(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| T::from_option(v).map_err(|e| format!("element {i}: {e}")))
                .collect(),
            other => Err(wrong("a list", &other)),
        }
    }
}

impl OptionValue for MatchPolicy {
    fn from_option(value: Value) -> Result<Self, String> {
        value
            .as_str()
            .and_then(MatchPolicy::parse)
            .ok_or_else(|| wrong("one of \"exact\", \"prefix\", \"wildcard\"", &value))
    }
}

/// Declares an enum of string option values.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $(#[$vmeta])* $variant, )+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The option value as sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )+ }
            }

            /// Parses the option value.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $( $text => Some($name::$variant), )+ _ => None }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl OptionValue for $name {
            fn from_option(value: Value) -> Result<Self, String> {
                value.as_str().and_then($name::parse).ok_or_else(|| {
                    let choices: Vec<String> = $name::ALL.iter().map(|v| format!("{:?}", v.as_str())).collect();
                    wrong(&format!("one of {}", choices.join(", ")), &value)
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// How a shared registration picks its callee (`invoke` option).
    pub enum InvokePolicy {
        /// Only one registration per procedure (the default).
        Single = "single",
        /// Each callee in turn.
        RoundRobin = "roundrobin",
        /// A callee chosen at random.
        Random = "random",
        /// The oldest registration.
        First = "first",
        /// The newest registration.
        Last = "last",
    }
}

string_enum! {
    /// How a call is canceled (`mode` of CANCEL and INTERRUPT).
    pub enum CancelMode {
        /// Answer the caller at once; do not interrupt the callee.
        Skip = "skip",
        /// Interrupt the callee and wait for its answer.
        Kill = "kill",
        /// Answer the caller at once and interrupt the callee.
        KillNoWait = "killnowait",
    }
}

string_enum! {
    /// Autobahn's payload encryption algorithm (`enc_algo`), the predecessor of `ppt_scheme`.
    pub enum EncAlgo {
        /// NaCl cryptobox end-to-end encryption.
        Cryptobox = "cryptobox",
        /// MQTT payload passthru.
        Mqtt = "mqtt",
        /// XBR data-market encryption.
        Xbr = "xbr",
    }
}

string_enum! {
    /// Autobahn's payload serializer (`enc_serializer`), the predecessor of `ppt_serializer`.
    pub enum EncSerializer {
        /// JSON.
        Json = "json",
        /// MessagePack.
        MsgPack = "msgpack",
        /// CBOR.
        Cbor = "cbor",
        /// UBJSON.
        Ubjson = "ubjson",
        /// Opaque bytes.
        Opaque = "opaque",
        /// FlatBuffers.
        Flatbuffers = "flatbuffers",
    }
}

/// What every options/details struct does, for reading one straight from a serializer.
pub(crate) trait OptionsStruct: Default {
    /// Sets the typed field `key` names (a `null` leaves it absent) and returns `None`, or
    /// returns the value back when no field has that key; says what is wrong with a value
    /// of the wrong type.
    fn set_key(&mut self, key: &str, value: Value) -> Result<Option<Value>, String>;

    /// The keys no field has.
    fn extra_mut(&mut self) -> &mut Dict;
}

/// An options/details struct read straight from a serializer's map, without building a
/// dict first: the struct, or the key whose value was wrong and what was wrong with it
/// (the rest of the map is read, and dropped, so the deserializer ends where it should).
pub(crate) struct Parsed<T>(pub Result<T, (String, String)>);

impl<'de, T: OptionsStruct> serde::Deserialize<'de> for Parsed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ParsedVisitor(std::marker::PhantomData))
    }
}

struct ParsedVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: OptionsStruct> serde::de::Visitor<'de> for ParsedVisitor<T> {
    type Value = Parsed<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a dict")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Parsed<T>, A::Error> {
        let mut out = T::default();
        let parsed = fill(&mut out, map)?;
        Ok(Parsed(parsed.map(|()| out)))
    }
}

/// Sets `out`'s keys from `map`; the first key with a wrong value, and what was wrong,
/// when there is one (the rest of the map is read, and dropped, so the deserializer ends
/// where it should).
fn fill<'de, T: OptionsStruct, A: serde::de::MapAccess<'de>>(
    out: &mut T,
    mut map: A,
) -> Result<Result<(), (String, String)>, A::Error> {
    let mut wrong = None;
    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
        let value: Value = map.next_value()?;
        set(out, &mut wrong, key, value);
    }
    Ok(wrong.map_or(Ok(()), Err))
}

/// Sets one key of `out` (or keeps it in `extra`), unless a key before it was wrong; notes
/// the first key whose value is wrong.
fn set<T: OptionsStruct>(
    out: &mut T,
    wrong: &mut Option<(String, String)>,
    key: std::borrow::Cow<'_, str>,
    value: Value,
) {
    if wrong.is_some() {
        return;
    }
    match out.set_key(&key, value) {
        Ok(None) => {}
        Ok(Some(value)) => {
            out.extra_mut().insert(key.into_owned(), value);
        }
        Err(e) => *wrong = Some((key.into_owned(), e)),
    }
}

/// Reads `out`'s keys from the entries of an encoded dict (`bytes`, with the key and value
/// ranges the skim found): keys and plain scalar values straight from the bytes, any other
/// value through the deserializer. `None` when a key is not plain text or a value does not
/// decode: the caller reads the dict with the deserializer instead, from a fresh struct.
pub(crate) fn fill_from_entries<T: OptionsStruct>(
    out: &mut T,
    serializer: crate::Serializer,
    bytes: &[u8],
    entries: &[(std::ops::Range<usize>, std::ops::Range<usize>)],
) -> Option<Result<(), (String, String)>> {
    let mut wrong = None;
    for (key, value) in entries {
        let key = serializer.plain_str(&bytes[key.clone()])?;
        let value = &bytes[value.clone()];
        let value = match plain_value(serializer, value) {
            Some(v) => v,
            None => serializer.deserialize_element::<Value>(value).ok()?,
        };
        set(out, &mut wrong, std::borrow::Cow::Borrowed(key), value);
    }
    Some(wrong.map_or(Ok(()), Err))
}

/// A value in one of the plain forms of [`crate::Serializer::plain_uint`] and
/// [`crate::Serializer::plain_str`], a bool or null, as the decoder would read it.
fn plain_value(serializer: crate::Serializer, bytes: &[u8]) -> Option<Value> {
    use crate::Serializer::{Cbor, Json, MsgPack};
    if let Some(n) = serializer.plain_uint(bytes) {
        return Some(Value::UInt(n));
    }
    if let Some(s) = serializer.plain_str(bytes) {
        return Some(Value::String(s.to_owned()));
    }
    match (serializer, bytes) {
        (MsgPack, [0xc2]) | (Cbor, [0xf4]) | (Json, b"false") => Some(Value::Bool(false)),
        (MsgPack, [0xc3]) | (Cbor, [0xf5]) | (Json, b"true") => Some(Value::Bool(true)),
        (MsgPack, [0xc0]) | (Cbor, [0xf6]) | (Json, b"null") => Some(Value::Null),
        _ => None,
    }
}

/// A dict key, borrowed from the input where the deserializer can.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Declares an options/details struct: typed known keys plus `extra`.
macro_rules! options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* #[doc = concat!("\n\nKey `", $key, "`.")] pub $field: Option<$ty>, )*
            /// Keys this struct does not define, kept in arrival order so they can be
            /// forwarded.
            pub extra: Dict,
        }

        impl $name {
            /// The keys this struct types.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Whether no key is set.
            pub fn is_empty(&self) -> bool {
                $( self.$field.is_none() && )* self.extra.is_empty()
            }

            /// The number of keys set.
            pub fn len(&self) -> usize {
                0 $( + usize::from(self.$field.is_some()) )* + self.extra.len()
            }

            /// Reads the struct from a dict; on a typed key with a wrong value, returns the
            /// key and what was wrong.
            pub(crate) fn from_dict(dict: Dict) -> Result<Self, (String, String)> {
                let mut out = Self::default();
                for (key, value) in dict {
                    if let Some(value) = out.set_key(&key, value).map_err(|e| (key.clone(), e))? {
                        out.extra.insert(key, value);
                    }
                }
                Ok(out)
            }
        }

        impl OptionsStruct for $name {
            fn set_key(&mut self, key: &str, value: Value) -> Result<Option<Value>, String> {
                match key {
                    $( $key => {
                        if !value.is_null() {
                            self.$field = Some(<$ty as OptionValue>::from_option(value)?);
                        }
                        Ok(None)
                    } )*
                    _ => Ok(Some(value)),
                }
            }

            fn extra_mut(&mut self) -> &mut Dict {
                &mut self.extra
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.len()))?;
                $( if let Some(v) = &self.$field { map.serialize_entry($key, v)?; } )*
                for (k, v) in &self.extra {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl OptionValue for $name {
            fn from_option(value: Value) -> Result<Self, String> {
                match value {
                    Value::Dict(d) => $name::from_dict(d).map_err(|(k, e)| format!("{k}: {e}")),
                    other => Err(wrong("a dict", &other)),
                }
            }
        }
    };
}

options! {
    /// One hop of a router-to-router forwarding chain (`forward_for`, de facto in Autobahn
    /// and Crossbar).
    pub struct ForwardFor {
        /// The session on the forwarding router.
        session: SessionId = "session",
        /// Its authid.
        authid: String = "authid",
        /// Its authrole.
        authrole: String = "authrole",
    }
}

options! {
    /// One role's announcement in HELLO or WELCOME: its feature flags, and anything else.
    pub struct Role {
        /// Feature name to `true` (see [`crate::features`]).
        features: Dict = "features",
    }
}

impl Role {
    /// A role announcing the given features.
    ///
    /// ```
    /// use nexus_core::message::Role;
    /// let r = Role::with_features(["progressive_call_results"]);
    /// assert!(r.supports("progressive_call_results"));
    /// assert!(!r.supports("call_canceling"));
    /// ```
    pub fn with_features<'a>(features: impl IntoIterator<Item = &'a str>) -> Role {
        let features: Dict = features
            .into_iter()
            .map(|f| (f.to_owned(), Value::Bool(true)))
            .collect();
        Role {
            features: (!features.is_empty()).then_some(features),
            extra: Dict::new(),
        }
    }

    /// Whether the role announces `feature` as `true`.
    pub fn supports(&self, feature: &str) -> bool {
        self.features
            .as_ref()
            .and_then(|f| f.get(feature))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

options! {
    /// The roles a client announces in HELLO.
    pub struct ClientRoles {
        /// Subscriber.
        subscriber: Role = "subscriber",
        /// Publisher.
        publisher: Role = "publisher",
        /// Caller.
        caller: Role = "caller",
        /// Callee.
        callee: Role = "callee",
    }
}

impl ClientRoles {
    /// Whether no role is announced (the router refuses such a client).
    pub fn is_none(&self) -> bool {
        self.subscriber.is_none()
            && self.publisher.is_none()
            && self.caller.is_none()
            && self.callee.is_none()
    }
}

options! {
    /// The roles a router announces in WELCOME.
    pub struct RouterRoles {
        /// Broker.
        broker: Role = "broker",
        /// Dealer.
        dealer: Role = "dealer",
    }
}

options! {
    /// `HELLO.Details`.
    pub struct HelloDetails {
        /// The roles the client plays, with their features.
        roles: ClientRoles = "roles",
        /// The client's name and version.
        agent: String = "agent",
        /// Authentication methods the client offers, in order of preference.
        authmethods: Vec<String> = "authmethods",
        /// The identity the client authenticates as.
        authid: String = "authid",
        /// The role the client asks for (Crossbar extension).
        authrole: String = "authrole",
        /// Method-specific authentication data (cryptosign `pubkey`, SCRAM `nonce`...).
        authextra: Dict = "authextra",
        /// Transport-level information forwarded by a proxy (`transport.auth`).
        transport: Dict = "transport",
        /// Session resumption (draft): the client can be resumed.
        resumable: bool = "resumable",
    }
}

options! {
    /// `WELCOME.Details`.
    pub struct WelcomeDetails {
        /// The roles the router plays, with their features.
        roles: RouterRoles = "roles",
        /// The router's name and version.
        agent: String = "agent",
        /// The authenticated identity.
        authid: String = "authid",
        /// The role assigned.
        authrole: String = "authrole",
        /// The authentication method used.
        authmethod: String = "authmethod",
        /// Who authenticated the session.
        authprovider: String = "authprovider",
        /// Method-specific data (SCRAM `verifier`...).
        authextra: Dict = "authextra",
        /// The realm joined (Crossbar sends it).
        realm: String = "realm",
        /// Session resumption (draft): this session was resumed.
        resumed: bool = "resumed",
        /// Session resumption (draft): this session can be resumed.
        resumable: bool = "resumable",
    }
}

options! {
    /// `ABORT.Details`.
    pub struct AbortDetails {
        /// A human-readable explanation.
        message: String = "message",
        /// The SCRAM server-error value.
        scram: String = "scram",
    }
}

options! {
    /// `GOODBYE.Details`.
    pub struct GoodbyeDetails {
        /// A human-readable explanation.
        message: String = "message",
    }
}

options! {
    /// `CHALLENGE.Extra`: the keys of every authentication method.
    pub struct ChallengeExtra {
        /// WAMP-CRA: the challenge (a JSON text); cryptosign: 32 random bytes as hex.
        challenge: String = "challenge",
        /// WAMP-CRA and SCRAM: the salt.
        salt: String = "salt",
        /// WAMP-CRA: derived key length.
        keylen: u64 = "keylen",
        /// WAMP-CRA and SCRAM: KDF iterations.
        iterations: u64 = "iterations",
        /// SCRAM: Argon2 memory cost in KiB.
        memory: u64 = "memory",
        /// SCRAM: the KDF (`argon2id13`, `pbkdf2`).
        kdf: String = "kdf",
        /// SCRAM: client nonce followed by server nonce.
        nonce: String = "nonce",
        /// Cryptosign and SCRAM: the channel binding in use.
        channel_binding: String = "channel_binding",
        /// Cryptosign router authentication: the router's public key.
        pubkey: String = "pubkey",
        /// Cryptosign router authentication: the router's signature.
        signature: String = "signature",
    }
}

options! {
    /// `AUTHENTICATE.Extra`.
    pub struct AuthenticateExtra {
        /// SCRAM: the nonce.
        nonce: String = "nonce",
        /// SCRAM: the channel binding.
        channel_binding: String = "channel_binding",
        /// SCRAM: the channel binding data (base64).
        cbind_data: String = "cbind_data",
    }
}

options! {
    /// `ERROR.Details`.
    pub struct ErrorDetails {
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

options! {
    /// `PUBLISH.Options`.
    pub struct PublishOptions {
        /// Ask for PUBLISHED (or ERROR).
        acknowledge: bool = "acknowledge",
        /// Exclude the publisher from receiving the event (default true).
        exclude_me: bool = "exclude_me",
        /// Sessions that must not receive the event.
        exclude: Vec<SessionId> = "exclude",
        /// authids that must not receive the event.
        exclude_authid: Vec<String> = "exclude_authid",
        /// authroles that must not receive the event.
        exclude_authrole: Vec<String> = "exclude_authrole",
        /// The only sessions that may receive the event.
        eligible: Vec<SessionId> = "eligible",
        /// The only authids that may receive the event.
        eligible_authid: Vec<String> = "eligible_authid",
        /// The only authroles that may receive the event.
        eligible_authrole: Vec<String> = "eligible_authrole",
        /// Disclose the publisher to subscribers.
        disclose_me: bool = "disclose_me",
        /// Retain the event for later subscribers.
        retain: bool = "retain",
        /// Sharded subscription: the resource key.
        rkey: String = "rkey",
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
        /// Autobahn: a transaction hash.
        transaction_hash: String = "transaction_hash",
        /// Autobahn: ask subscribers to acknowledge delivery (EVENT_RECEIVED).
        x_acknowledged_delivery: bool = "x_acknowledged_delivery",
    }
}

options! {
    /// `SUBSCRIBE.Options`.
    pub struct SubscribeOptions {
        /// How the topic matches (`exact`, `prefix`, `wildcard`).
        match_policy: MatchPolicy = "match",
        /// Send the retained event, if any.
        get_retained: bool = "get_retained",
        /// Sharded subscription: the node key.
        nkey: String = "nkey",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

options! {
    /// `UNSUBSCRIBED.Details` (subscription revocation).
    pub struct UnsubscribedDetails {
        /// The revoked subscription.
        subscription: SubscriptionId = "subscription",
        /// Why it was revoked.
        reason: String = "reason",
    }
}

options! {
    /// `EVENT.Details`.
    pub struct EventDetails {
        /// The publisher's session, when disclosed.
        publisher: SessionId = "publisher",
        /// The publisher's authid, when disclosed.
        publisher_authid: String = "publisher_authid",
        /// The publisher's authrole, when disclosed.
        publisher_authrole: String = "publisher_authrole",
        /// The publication's trust level.
        trustlevel: u64 = "trustlevel",
        /// The concrete topic, for pattern-based subscriptions.
        topic: Uri = "topic",
        /// The event is a retained one.
        retained: bool = "retained",
        /// Router-to-router forwarding chain (before the payload keys, where Autobahn
        /// writes it in EVENT).
        forward_for: Vec<ForwardFor> = "forward_for",
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Autobahn: a transaction hash.
        transaction_hash: String = "transaction_hash",
        /// Autobahn: the subscriber should acknowledge delivery (EVENT_RECEIVED).
        x_acknowledged_delivery: bool = "x_acknowledged_delivery",
    }
}

options! {
    /// `CALL.Options`.
    pub struct CallOptions {
        /// Accept progressive results.
        receive_progress: bool = "receive_progress",
        /// This CALL is a chunk of a progressive invocation, more follow.
        progress: bool = "progress",
        /// Timeout in milliseconds (0: none).
        timeout: u64 = "timeout",
        /// Disclose the caller to the callee.
        disclose_me: bool = "disclose_me",
        /// Sharded registration: run mode (`partition`).
        runmode: String = "runmode",
        /// Sharded registration: the resource key.
        rkey: String = "rkey",
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

options! {
    /// `CANCEL.Options`.
    pub struct CancelOptions {
        /// How to cancel.
        mode: CancelMode = "mode",
    }
}

options! {
    /// `RESULT.Details`.
    pub struct ResultDetails {
        /// A progressive (partial) result; more follow.
        progress: bool = "progress",
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

options! {
    /// `REGISTER.Options`.
    pub struct RegisterOptions {
        /// How the procedure matches (`exact`, `prefix`, `wildcard`).
        match_policy: MatchPolicy = "match",
        /// Shared registration policy.
        invoke: InvokePolicy = "invoke",
        /// Disclose callers to this callee.
        disclose_caller: bool = "disclose_caller",
        /// Forward call timeouts to this callee instead of enforcing them in the dealer.
        forward_timeout: bool = "forward_timeout",
        /// Crossbar: the most concurrent invocations for this callee.
        concurrency: u64 = "concurrency",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

options! {
    /// `UNREGISTERED.Details` (registration revocation).
    pub struct UnregisteredDetails {
        /// The revoked registration.
        registration: RegistrationId = "registration",
        /// Why it was revoked.
        reason: String = "reason",
    }
}

options! {
    /// `INVOCATION.Details`.
    pub struct InvocationDetails {
        /// The caller accepts progressive results.
        receive_progress: bool = "receive_progress",
        /// A chunk of a progressive invocation; more follow.
        progress: bool = "progress",
        /// The caller's session, when disclosed.
        caller: SessionId = "caller",
        /// The caller's authid, when disclosed.
        caller_authid: String = "caller_authid",
        /// The caller's authrole, when disclosed.
        caller_authrole: String = "caller_authrole",
        /// The concrete procedure, for pattern-based registrations.
        procedure: Uri = "procedure",
        /// The call's trust level.
        trustlevel: u64 = "trustlevel",
        /// A timeout the callee enforces, in milliseconds.
        timeout: u64 = "timeout",
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

options! {
    /// `INTERRUPT.Options`.
    pub struct InterruptOptions {
        /// How the call was canceled.
        mode: CancelMode = "mode",
        /// Why (Autobahn sends an error URI here).
        reason: String = "reason",
    }
}

options! {
    /// `YIELD.Options`.
    pub struct YieldOptions {
        /// A progressive (partial) result; more follow.
        progress: bool = "progress",
        /// Payload passthru: scheme.
        ppt_scheme: String = "ppt_scheme",
        /// Payload passthru: serializer.
        ppt_serializer: String = "ppt_serializer",
        /// Payload passthru: cipher.
        ppt_cipher: String = "ppt_cipher",
        /// Payload passthru: key ID.
        ppt_keyid: String = "ppt_keyid",
        /// Autobahn transparent payload: algorithm.
        enc_algo: EncAlgo = "enc_algo",
        /// Autobahn transparent payload: serializer.
        enc_serializer: EncSerializer = "enc_serializer",
        /// Autobahn transparent payload: key.
        enc_key: String = "enc_key",
        /// Router-to-router forwarding chain.
        forward_for: Vec<ForwardFor> = "forward_for",
    }
}

/// The keys of payload passthru mode (digest §4.25: `ppt_scheme`, `ppt_serializer`,
/// `ppt_cipher`, `ppt_keyid`) and of Autobahn's transparent payloads before it (`enc_algo`,
/// `enc_serializer`, `enc_key`): what a router forwards untouched from a request to the
/// message it routes, so that a payload it cannot read stays readable for its receiver.
///
/// ```
/// use nexus_core::message::{CallOptions, InvocationDetails};
///
/// let mut call = CallOptions { ppt_scheme: Some("x_custom".into()), ..Default::default() };
/// let mut details = InvocationDetails::default();
/// details.set_passthru(call.take_passthru());
/// assert_eq!(details.ppt_scheme.as_deref(), Some("x_custom"));
/// assert!(call.ppt_scheme.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Passthru {
    /// `ppt_scheme`.
    pub ppt_scheme: Option<String>,
    /// `ppt_serializer`.
    pub ppt_serializer: Option<String>,
    /// `ppt_cipher`.
    pub ppt_cipher: Option<String>,
    /// `ppt_keyid`.
    pub ppt_keyid: Option<String>,
    /// `enc_algo`.
    pub enc_algo: Option<EncAlgo>,
    /// `enc_serializer`.
    pub enc_serializer: Option<EncSerializer>,
    /// `enc_key`.
    pub enc_key: Option<String>,
}

/// The passthru keys' accessors of the structs that carry them.
macro_rules! passthru_keys {
    ($($name:ident),*) => {$(
        impl $name {
            /// A copy of its payload passthru keys.
            pub fn passthru(&self) -> Passthru {
                Passthru {
                    ppt_scheme: self.ppt_scheme.clone(),
                    ppt_serializer: self.ppt_serializer.clone(),
                    ppt_cipher: self.ppt_cipher.clone(),
                    ppt_keyid: self.ppt_keyid.clone(),
                    enc_algo: self.enc_algo.clone(),
                    enc_serializer: self.enc_serializer.clone(),
                    enc_key: self.enc_key.clone(),
                }
            }

            /// Takes its payload passthru keys out (moving them, as a router does when it
            /// forwards a request it owns).
            pub fn take_passthru(&mut self) -> Passthru {
                Passthru {
                    ppt_scheme: self.ppt_scheme.take(),
                    ppt_serializer: self.ppt_serializer.take(),
                    ppt_cipher: self.ppt_cipher.take(),
                    ppt_keyid: self.ppt_keyid.take(),
                    enc_algo: self.enc_algo.take(),
                    enc_serializer: self.enc_serializer.take(),
                    enc_key: self.enc_key.take(),
                }
            }

            /// Sets its payload passthru keys to those of `p`.
            pub fn set_passthru(&mut self, p: Passthru) {
                self.ppt_scheme = p.ppt_scheme;
                self.ppt_serializer = p.ppt_serializer;
                self.ppt_cipher = p.ppt_cipher;
                self.ppt_keyid = p.ppt_keyid;
                self.enc_algo = p.enc_algo;
                self.enc_serializer = p.enc_serializer;
                self.enc_key = p.enc_key;
            }
        }
    )*};
}

passthru_keys!(
    ErrorDetails,
    PublishOptions,
    EventDetails,
    CallOptions,
    ResultDetails,
    InvocationDetails,
    YieldOptions
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kwargs;

    #[test]
    fn known_keys_are_typed_and_unknown_kept_in_order() {
        let dict = kwargs! { "_z" => 1, "acknowledge" => true, "_a" => "x" };
        let opts = PublishOptions::from_dict(dict).unwrap();
        assert_eq!(opts.acknowledge, Some(true));
        assert_eq!(opts.extra.keys().collect::<Vec<_>>(), ["_z", "_a"]);
        assert_eq!(opts.len(), 3);
    }

    #[test]
    fn wrong_types_name_the_key() {
        let (key, problem) = PublishOptions::from_dict(kwargs! { "acknowledge" => 1 }).unwrap_err();
        assert_eq!(key, "acknowledge");
        assert_eq!(problem, "expected a bool, found an integer (1)");
        let (key, problem) =
            PublishOptions::from_dict(kwargs! { "exclude" => vec!["x"] }).unwrap_err();
        assert_eq!(key, "exclude");
        assert!(
            problem.starts_with("element 0: expected an ID"),
            "{problem}"
        );
        let (key, _) = SubscribeOptions::from_dict(kwargs! { "match" => "invalid" }).unwrap_err();
        assert_eq!(key, "match");
        let (_, problem) = CancelOptions::from_dict(kwargs! { "mode" => "stop" }).unwrap_err();
        assert!(problem.contains("\"killnowait\""), "{problem}");
    }

    #[test]
    fn null_is_absent() {
        let opts = ChallengeExtra::from_dict(kwargs! { "channel_binding" => Value::Null }).unwrap();
        assert!(opts.is_empty());
    }

    #[test]
    fn nested_roles() {
        let roles =
            kwargs! { "caller" => kwargs! { "features" => kwargs! { "call_canceling" => true } } };
        let details = HelloDetails::from_dict(kwargs! { "roles" => roles }).unwrap();
        let roles = details.roles.unwrap();
        assert!(roles.caller.unwrap().supports("call_canceling"));
        assert!(roles.callee.is_none());
        let (key, problem) =
            HelloDetails::from_dict(kwargs! { "roles" => kwargs! { "caller" => 3 } }).unwrap_err();
        assert_eq!(key, "roles");
        assert_eq!(problem, "caller: expected a dict, found an integer (3)");
    }
}
