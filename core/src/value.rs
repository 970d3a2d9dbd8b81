//! Application payload values: the data that travels in `Arguments`, `ArgumentsKw`,
//! option dicts and authentication extras.
//!
//! [`Value`] covers everything the three serializers can carry: null, booleans, signed and
//! unsigned 64-bit integers, floats, strings, binary, lists and dicts. Dicts keep insertion
//! order (so a message re-encodes with its keys where they were), and compare without regard
//! to order.
//!
//! ```
//! use nexus_core::{args, kwargs, Value};
//!
//! let positional = args![1, "two", 3.5, true];
//! let named = kwargs! { "name" => "alice", "age" => 30u8 };
//! assert_eq!(positional[1], Value::from("two"));
//! assert_eq!(named["age"].as_u64(), Some(30));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A WAMP dictionary: string keys, insertion-ordered, compared without regard to order.
pub type Dict = indexmap::IndexMap<String, Value>;

/// A WAMP list.
pub type List = Vec<Value>;

/// The heap bytes of a list's elements (see [`Value::footprint`]).
pub(crate) fn list_footprint(list: &List) -> usize {
    list.iter().map(Value::footprint).sum()
}

/// The heap bytes of a dictionary's entries, with their index (see [`Value::footprint`]).
pub(crate) fn dict_footprint(dict: &Dict) -> usize {
    dict.iter()
        .map(|(k, v)| k.capacity() + v.footprint() + 3 * std::mem::size_of::<usize>())
        .sum()
}

/// One payload value.
///
/// Non-negative integers are held as [`Value::UInt`] and negative ones as [`Value::Int`]
/// by every constructor and decoder in this crate; equality treats `Int(5)` and `UInt(5)`
/// as the same number either way.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Null (`nil` in MessagePack, `null` in JSON and CBOR).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer (negative by convention; see the type's documentation).
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// Binary data (`bin` in MessagePack, a byte string in CBOR, `"\u0000"` + base64 in JSON).
    Bytes(Bytes),
    /// A list.
    List(List),
    /// A dictionary with string keys.
    Dict(Dict),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (UInt(a), UInt(b)) => a == b,
            (Int(a), UInt(b)) | (UInt(b), Int(a)) => u64::try_from(*a) == Ok(*b),
            (Float(a), Float(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Dict(a), Dict(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// About how many bytes this value holds in memory, itself included: what a queued
    /// message costs the router (see `QueueConfig`). Linear in the value's size, like the
    /// decoding that built it.
    pub(crate) fn footprint(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::String(s) => s.capacity(),
                Value::Bytes(b) => b.len(),
                Value::List(l) => list_footprint(l),
                Value::Dict(d) => dict_footprint(d),
                _ => 0,
            }
    }

    /// A short name of this value's kind, used in error messages ("a string", "a list"...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer as `u64`, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(u) => Some(*u),
            Value::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The integer as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// The number as `f64` (integers are converted, possibly losing precision).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is binary.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dict, if this is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Converts any serde-serializable value into a [`Value`].
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Point { x: i32, y: i32 }
    ///
    /// let v = nexus_core::Value::from_serialize(&Point { x: 1, y: -2 }).unwrap();
    /// assert_eq!(v.as_dict().unwrap()["y"].as_i64(), Some(-2));
    /// ```
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
        let cbor =
            ciborium::Value::serialized(value).map_err(|e| ValueError::Serde(e.to_string()))?;
        Value::try_from_cbor(cbor)
    }

    /// Converts this value into any serde-deserializable type.
    ///
    /// ```
    /// #[derive(serde::Deserialize, PartialEq, Debug)]
    /// struct Point { x: i32, y: i32 }
    ///
    /// let v = nexus_core::kwargs! { "x" => 1, "y" => -2 };
    /// let p: Point = nexus_core::Value::Dict(v).deserialize_into().unwrap();
    /// assert_eq!(p, Point { x: 1, y: -2 });
    /// ```
    pub fn deserialize_into<T: DeserializeOwned>(self) -> Result<T, ValueError> {
        self.into_cbor()
            .deserialized()
            .map_err(|e| ValueError::Serde(e.to_string()))
    }

    fn try_from_cbor(v: ciborium::Value) -> Result<Value, ValueError> {
        use ciborium::Value as C;
        Ok(match v {
            C::Null => Value::Null,
            C::Bool(b) => Value::Bool(b),
            C::Integer(i) => {
                let i = i128::from(i);
                if i >= 0 {
                    Value::UInt(u64::try_from(i).map_err(|_| ValueError::IntegerOutOfRange)?)
                } else {
                    Value::Int(i64::try_from(i).map_err(|_| ValueError::IntegerOutOfRange)?)
                }
            }
            C::Float(f) => Value::Float(f),
            C::Text(s) => Value::String(s),
            C::Bytes(b) => Value::Bytes(Bytes::from(b)),
            C::Tag(_, inner) => Value::try_from_cbor(*inner)?,
            C::Array(items) => Value::List(
                items
                    .into_iter()
                    .map(Value::try_from_cbor)
                    .collect::<Result<_, _>>()?,
            ),
            C::Map(entries) => {
                let mut dict = Dict::with_capacity(entries.len());
                for (k, v) in entries {
                    let C::Text(key) = k else {
                        return Err(ValueError::NonStringKey);
                    };
                    dict.insert(key, Value::try_from_cbor(v)?);
                }
                Value::Dict(dict)
            }
            _ => return Err(ValueError::Serde("unsupported CBOR value".into())),
        })
    }

    fn into_cbor(self) -> ciborium::Value {
        use ciborium::Value as C;
        match self {
            Value::Null => C::Null,
            Value::Bool(b) => C::Bool(b),
            Value::Int(i) => C::Integer(i.into()),
            Value::UInt(u) => C::Integer(u.into()),
            Value::Float(f) => C::Float(f),
            Value::String(s) => C::Text(s),
            Value::Bytes(b) => C::Bytes(b.to_vec()),
            Value::List(l) => C::Array(l.into_iter().map(Value::into_cbor).collect()),
            Value::Dict(d) => C::Map(
                d.into_iter()
                    .map(|(k, v)| (C::Text(k), v.into_cbor()))
                    .collect(),
            ),
        }
    }
}

/// Converts a serde-serializable value into a [`Value`]; see [`Value::from_serialize`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ValueError> {
    Value::from_serialize(value)
}

/// Converts a [`Value`] into a serde-deserializable type; see [`Value::deserialize_into`].
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    value.deserialize_into()
}

/// Why a [`Value`] could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value has another kind than the one asked for.
    #[error("expected {expected}, found {found}")]
    WrongKind {
        /// What was asked for.
        expected: &'static str,
        /// What the value is.
        found: &'static str,
    },
    /// An integer does not fit the target type.
    #[error("integer out of range for the target type")]
    IntegerOutOfRange,
    /// A map key is not a string (WAMP dicts have string keys only).
    #[error("dict keys must be strings")]
    NonStringKey,
    /// serde reported an error while converting to or from a user type.
    #[error("serde conversion failed: {0}")]
    Serde(String),
}

impl fmt::Display for Value {
    /// Formats the value as JSON-like text (binary as `<hex>`), for logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => {
                f.write_str("<")?;
                for byte in b.iter() {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str(">")
            }
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Dict(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

// ---- From conversions ----------------------------------------------------------------

macro_rules! from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::UInt(v as u64) }
        }
    )*};
}
from_unsigned!(u8, u16, u32, u64, usize);

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                let v = v as i64;
                if v >= 0 { Value::UInt(v as u64) } else { Value::Int(v) }
            }
        }
    )*};
}
from_signed!(i8, i16, i32, i64, isize);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.clone())
    }
}
impl From<char> for Value {
    fn from(v: char) -> Self {
        Value::String(v.to_string())
    }
}
impl From<Bytes> for Value {
    fn from(v: Bytes) -> Self {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(Bytes::copy_from_slice(v))
    }
}
impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Self {
        Value::Bytes(Bytes::copy_from_slice(v))
    }
}
impl From<Dict> for Value {
    fn from(v: Dict) -> Self {
        Value::Dict(v)
    }
}
impl From<crate::Id> for Value {
    fn from(v: crate::Id) -> Self {
        Value::UInt(v.get())
    }
}
impl From<crate::Uri> for Value {
    fn from(v: crate::Uri) -> Self {
        Value::String(v.into_string())
    }
}
impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::Null
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
impl<K: Into<String>, T: Into<Value>> From<BTreeMap<K, T>> for Value {
    fn from(v: BTreeMap<K, T>) -> Self {
        Value::Dict(v.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}
impl<K: Into<String>, T: Into<Value>, S> From<HashMap<K, T, S>> for Value {
    fn from(v: HashMap<K, T, S>) -> Self {
        Value::Dict(v.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}
impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Value::List(iter.into_iter().map(Into::into).collect())
    }
}

// ---- TryFrom conversions -------------------------------------------------------------

macro_rules! try_into_int {
    ($($t:ty),*) => {$(
        impl TryFrom<Value> for $t {
            type Error = ValueError;
            fn try_from(v: Value) -> Result<Self, ValueError> {
                match v {
                    Value::UInt(u) => <$t>::try_from(u).map_err(|_| ValueError::IntegerOutOfRange),
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| ValueError::IntegerOutOfRange),
                    other => Err(ValueError::WrongKind { expected: "an integer", found: other.kind() }),
                }
            }
        }
    )*};
}
try_into_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! try_into_variant {
    ($t:ty, $variant:ident, $expected:literal) => {
        impl TryFrom<Value> for $t {
            type Error = ValueError;
            fn try_from(v: Value) -> Result<Self, ValueError> {
                match v {
                    Value::$variant(x) => Ok(x),
                    other => Err(ValueError::WrongKind {
                        expected: $expected,
                        found: other.kind(),
                    }),
                }
            }
        }
    };
}
try_into_variant!(bool, Bool, "a bool");
try_into_variant!(String, String, "a string");
try_into_variant!(Bytes, Bytes, "binary");
try_into_variant!(List, List, "a list");
try_into_variant!(Dict, Dict, "a dict");

impl TryFrom<Value> for f64 {
    type Error = ValueError;
    fn try_from(v: Value) -> Result<Self, ValueError> {
        v.as_f64().ok_or(ValueError::WrongKind {
            expected: "a number",
            found: v.kind(),
        })
    }
}

// ---- Indexing --------------------------------------------------------------------------

static NULL: Value = Value::Null;

impl std::ops::Index<usize> for Value {
    type Output = Value;
    /// The list element at `index`, or `Null` when this is not a list or is too short.
    fn index(&self, index: usize) -> &Value {
        self.as_list().and_then(|l| l.get(index)).unwrap_or(&NULL)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// The dict entry at `key`, or `Null` when this is not a dict or has no such key.
    fn index(&self, key: &str) -> &Value {
        self.as_dict().and_then(|d| d.get(key)).unwrap_or(&NULL)
    }
}

// ---- Macros ----------------------------------------------------------------------------

/// Builds a positional argument list (`Vec<Value>`) from expressions convertible into
/// [`Value`].
///
/// ```
/// let a = nexus_core::args![1, "x", -2.5, vec![1, 2]];
/// assert_eq!(a.len(), 4);
/// ```
#[macro_export]
macro_rules! args {
    () => { ::std::vec::Vec::<$crate::Value>::new() };
    ($($v:expr),+ $(,)?) => { ::std::vec![$($crate::Value::from($v)),+] };
}

/// Builds a keyword argument dict ([`Dict`]) from `key => value` pairs.
///
/// ```
/// let kw = nexus_core::kwargs! { "a" => 1, "b" => "two" };
/// assert_eq!(kw["b"].as_str(), Some("two"));
/// ```
#[macro_export]
macro_rules! kwargs {
    () => { $crate::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut dict = $crate::Dict::new();
        $( dict.insert(::std::string::String::from($k), $crate::Value::from($v)); )+
        dict
    }};
}

// ---- serde -------------------------------------------------------------------------------

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::Bytes(b) => {
                // Text formats (JSON) carry binary as "\0" + base64, per the WAMP spec.
                if s.is_human_readable() {
                    s.serialize_str(&crate::serializer::json_binary_string(b))
                } else {
                    s.serialize_bytes(b)
                }
            }
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Dict(d) => {
                let mut map = s.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    /// Deserializes within the default [`Limits`](crate::Limits) (depth, collection length,
    /// value count), or within those of the surrounding [`Serializer`](crate::Serializer)
    /// decode.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::serializer::bounded::deserialize_value(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_and_unsigned_compare_by_number() {
        assert_eq!(Value::Int(5), Value::UInt(5));
        assert_ne!(Value::Int(-1), Value::UInt(u64::MAX));
        assert_eq!(Value::from(-3i32), Value::Int(-3));
        assert!(matches!(Value::from(3i32), Value::UInt(3)));
    }

    #[test]
    fn dicts_compare_without_order() {
        let a = kwargs! { "x" => 1, "y" => 2 };
        let b = kwargs! { "y" => 2, "x" => 1 };
        assert_eq!(Value::Dict(a), Value::Dict(b));
    }

    #[test]
    fn try_from_reports_kinds() {
        let err = u32::try_from(Value::from("x")).unwrap_err();
        assert_eq!(err.to_string(), "expected an integer, found a string");
        assert_eq!(
            u8::try_from(Value::from(300)),
            Err(ValueError::IntegerOutOfRange)
        );
        assert_eq!(i8::try_from(Value::from(-5)), Ok(-5));
    }

    #[test]
    fn serde_bridge_round_trips_user_types() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct User {
            name: String,
            tags: Vec<String>,
            #[serde(with = "serde_bytes_compat")]
            blob: Vec<u8>,
            score: f64,
            delta: i64,
        }
        mod serde_bytes_compat {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Vec<u8>, D::Error> {
                let b: bytes::Bytes = serde::Deserialize::deserialize(d)?;
                Ok(b.to_vec())
            }
        }
        let user = User {
            name: "ann".into(),
            tags: vec!["a".into()],
            blob: vec![0, 255],
            score: 1.5,
            delta: -7,
        };
        let v = to_value(&user).unwrap();
        assert_eq!(v["blob"], Value::Bytes(Bytes::from_static(&[0, 255])));
        assert_eq!(v["delta"], Value::Int(-7));
        let back: User = from_value(v).unwrap();
        assert_eq!(back, user);
    }

    #[test]
    fn indexing_missing_is_null() {
        let v = Value::from(vec![1, 2]);
        assert!(v[5].is_null());
        assert!(v["k"].is_null());
        assert_eq!(v[1].as_u64(), Some(2));
    }
}
