//! Typed payloads: application types in and out of WAMP arguments with serde.
//!
//! - Out: anything `Serialize` becomes one positional argument ([`to_arg`]), a whole argument
//!   list ([`to_args`]: a tuple, array, `Vec` or tuple struct) or the keyword arguments
//!   ([`to_kwargs`]: a struct or map); [`IntoPayload`] turns a handler's return value into
//!   a result payload.
//! - In: [`from_args`], [`from_arg`], [`from_kwargs`] and [`decode`] deserialize the
//!   arguments straight from the [`Value`]s (no detour through another format), and a
//!   mismatch says where it is and what was expected:
//!   `argument 1: invalid type: string "x", expected i64`.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::Serialize;

use crate::message::Payload;
use crate::value::{Dict, Value};

/// A payload that does not have the type asked for, or a value that cannot be an argument.
///
/// ```
/// use nexus_core::{args, typed};
///
/// let err = typed::from_args::<(i64, i64)>(args![1, "two"]).unwrap_err();
/// assert_eq!(err.to_string(), "argument 1: invalid type: string \"two\", expected i64");
/// let err = typed::from_args::<(i64, i64)>(args![1]).unwrap_err();
/// assert_eq!(err.to_string(), "1 positional argument, expected a tuple of size 2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", where_.as_deref().map(|w| format!("{w}: ")).unwrap_or_default())]
pub struct PayloadError {
    /// Where: `argument 1`, `keyword argument "unit"`, `argument 0.readings[2]`... (`None` for
    /// the payload as a whole).
    pub where_: Option<String>,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl PayloadError {
    fn new(message: impl Into<String>) -> PayloadError {
        PayloadError {
            where_: None,
            message: message.into(),
        }
    }

    /// The same error, at `place` inside the value it was found in.
    fn at(mut self, place: String) -> PayloadError {
        self.where_ = Some(match self.where_.take() {
            None => place,
            Some(inner) if inner.starts_with('[') => format!("{place}{inner}"),
            Some(inner) => format!("{place}.{inner}"),
        });
        self
    }
}

impl de::Error for PayloadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PayloadError::new(msg.to_string())
    }
}

// ---- out -------------------------------------------------------------------------------

/// One positional argument from any `Serialize` value.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Reading { celsius: f64 }
/// let v = nexus_core::typed::to_arg(&Reading { celsius: 21.5 }).unwrap();
/// assert_eq!(v.as_dict().unwrap()["celsius"].as_f64(), Some(21.5));
/// ```
pub fn to_arg<T: Serialize + ?Sized>(value: &T) -> Result<Value, PayloadError> {
    Value::from_serialize(value).map_err(|e| PayloadError::new(e.to_string()))
}

/// The positional arguments from a value that serializes as a sequence: a tuple, an array,
/// a `Vec`, a tuple struct.
///
/// ```
/// use nexus_core::{args, typed};
/// assert_eq!(typed::to_args(&(2, "three")).unwrap(), args![2, "three"]);
/// assert!(typed::to_args(&5).is_err());
/// ```
pub fn to_args<T: Serialize + ?Sized>(value: &T) -> Result<Vec<Value>, PayloadError> {
    match to_arg(value)? {
        Value::List(list) => Ok(list),
        Value::Null => Ok(Vec::new()),
        other => Err(PayloadError::new(format!(
            "positional arguments must serialize as a sequence (a tuple, array or Vec), not as {}",
            other.kind()
        ))),
    }
}

/// The keyword arguments from a value that serializes as a map with string keys: a struct,
/// a `HashMap<String, _>`...
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Options { limit: u32 }
/// let kwargs = nexus_core::typed::to_kwargs(&Options { limit: 10 }).unwrap();
/// assert_eq!(kwargs["limit"].as_u64(), Some(10));
/// ```
pub fn to_kwargs<T: Serialize + ?Sized>(value: &T) -> Result<Dict, PayloadError> {
    match to_arg(value)? {
        Value::Dict(dict) => Ok(dict),
        Value::Null => Ok(Dict::new()),
        other => Err(PayloadError::new(format!(
            "keyword arguments must serialize as a map with string keys (a struct or a map), not as {}",
            other.kind()
        ))),
    }
}

/// What a procedure's handler may return as its result: a [`Payload`] as it is, or any
/// `Serialize` value as the one positional argument (`()` and `None` as no argument).
///
/// ```
/// use nexus_core::typed::IntoPayload;
/// use nexus_core::{args, Payload};
///
/// assert_eq!(42.into_payload().unwrap().args(), args![42]);
/// // A tuple is one argument (a list); to return several arguments, build a Payload.
/// assert_eq!(("a", 1).into_payload().unwrap().args().len(), 1);
/// assert!(().into_payload().unwrap().args().is_empty());
/// let p = Payload::new(args![1, 2], Default::default());
/// assert_eq!(p.clone().into_payload().unwrap(), p);
/// ```
pub trait IntoPayload {
    /// The payload.
    fn into_payload(self) -> Result<Payload, PayloadError>;
}

impl IntoPayload for Payload {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        Ok(self)
    }
}

impl<T: Serialize> IntoPayload for T {
    fn into_payload(self) -> Result<Payload, PayloadError> {
        let args = match to_arg(&self)? {
            Value::Null => Vec::new(),
            value => vec![value],
        };
        Ok(Payload::new(args, Dict::new()))
    }
}

// ---- in --------------------------------------------------------------------------------

/// The positional arguments as `T`: a tuple, an array, a `Vec`, or a struct read field by
/// field in order. Every argument must be used: more arguments than `T` takes is an error.
///
/// ```
/// use nexus_core::{args, typed};
/// let (a, b): (i64, String) = typed::from_args(args![7, "x"]).unwrap();
/// assert_eq!((a, b.as_str()), (7, "x"));
/// ```
pub fn from_args<T: DeserializeOwned>(args: Vec<Value>) -> Result<T, PayloadError> {
    T::deserialize(Arguments(args))
}

/// Positional argument `index` as `T`; a missing one reads as null, so an `Option` gives
/// `None`.
///
/// ```
/// use nexus_core::{args, typed};
/// assert_eq!(typed::from_arg::<String>(&args![1, "b"], 1).unwrap(), "b");
/// assert_eq!(typed::from_arg::<Option<i64>>(&args![1], 3).unwrap(), None);
/// ```
pub fn from_arg<T: DeserializeOwned>(args: &[Value], index: usize) -> Result<T, PayloadError> {
    let value = args.get(index).cloned().unwrap_or(Value::Null);
    T::deserialize(ValueDeserializer(value)).map_err(|e| e.at(format!("argument {index}")))
}

/// The keyword arguments as `T`: a struct or a map.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Query { limit: u32, reverse: Option<bool> }
/// let q: Query = nexus_core::typed::from_kwargs(nexus_core::kwargs! { "limit" => 5 }).unwrap();
/// assert_eq!((q.limit, q.reverse), (5, None));
/// ```
pub fn from_kwargs<T: DeserializeOwned>(kwargs: Dict) -> Result<T, PayloadError> {
    T::deserialize(KeywordArguments(kwargs))
}

/// The payload as one value of type `T`: the single positional argument when there is one
/// and no keyword arguments, the keyword arguments when there are no positional ones.
/// Anything else is ambiguous and an error (use [`from_args`] or [`from_kwargs`]).
///
/// ```
/// use nexus_core::{args, kwargs, typed};
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Reading { celsius: f64 }
/// let one: Reading = typed::decode(args![kwargs! { "celsius" => 20.0 }], Default::default()).unwrap();
/// let kw: Reading = typed::decode(vec![], kwargs! { "celsius" => 21.0 }).unwrap();
/// assert_eq!((one.celsius, kw.celsius), (20.0, 21.0));
/// ```
pub fn decode<T: DeserializeOwned>(args: Vec<Value>, kwargs: Dict) -> Result<T, PayloadError> {
    match (args.len(), kwargs.is_empty()) {
        (1, true) => from_arg(&args, 0),
        (0, _) => from_kwargs(kwargs),
        (n, kw) => Err(PayloadError::new(format!(
            "expected one value (one positional argument, or keyword arguments only), found {n} positional arguments{}",
            if kw { "" } else { " and keyword arguments" }
        ))),
    }
}

/// The positional arguments as a sequence whose errors name the argument.
struct Arguments(Vec<Value>);

impl<'de> de::Deserializer<'de> for Arguments {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        let total = self.0.len();
        let mut seq = Items {
            items: self.0.into_iter(),
            index: 0,
            place: |i| format!("argument {i}"),
        };
        let value = visitor.visit_seq(&mut seq)?;
        if seq.items.len() > 0 {
            return Err(PayloadError::new(format!(
                "{total} positional arguments, expected {}",
                seq.index
            )));
        }
        Ok(value)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        if self.0.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        if self.0.is_empty() {
            visitor.visit_unit()
        } else {
            self.deserialize_any(visitor)
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        if self.0.len() != len {
            let n = self.0.len();
            return Err(PayloadError::new(format!(
                "{n} positional argument{}, expected {}",
                if n == 1 { "" } else { "s" },
                Expected(&visitor)
            )));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct newtype_struct seq
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A visitor's description, for messages.
struct Expected<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> fmt::Display for Expected<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
}

/// The keyword arguments as a map whose errors name the key.
struct KeywordArguments(Dict);

impl<'de> de::Deserializer<'de> for KeywordArguments {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        visitor.visit_map(Entries {
            entries: self.0.into_iter(),
            value: None,
            key: String::new(),
            keyword: true,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Deserializes a [`Value`] into any `Deserialize` type.
///
/// ```
/// use serde::Deserialize;
/// use nexus_core::typed::ValueDeserializer;
///
/// let v = nexus_core::Value::from(vec![1, 2, 3]);
/// let n: Vec<u8> = Vec::deserialize(ValueDeserializer(v)).unwrap();
/// assert_eq!(n, [1, 2, 3]);
/// ```
pub struct ValueDeserializer(pub Value);

impl<'de> IntoDeserializer<'de, PayloadError> for Value {
    type Deserializer = ValueDeserializer;
    fn into_deserializer(self) -> ValueDeserializer {
        ValueDeserializer(self)
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::UInt(u) => visitor.visit_u64(u),
            Value::Float(f) => visitor.visit_f64(f),
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b.to_vec()),
            Value::List(items) => {
                let total = items.len();
                let mut seq = Items {
                    items: items.into_iter(),
                    index: 0,
                    place: |i| format!("[{i}]"),
                };
                let value = visitor.visit_seq(&mut seq)?;
                if seq.items.len() > 0 {
                    return Err(de::Error::invalid_length(total, &"fewer elements"));
                }
                Ok(value)
            }
            Value::Dict(dict) => visitor.visit_map(Entries {
                entries: dict.into_iter(),
                value: None,
                key: String::new(),
                keyword: false,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.0 {
            // A unit variant: "Variant".
            Value::String(variant) => visitor.visit_enum(Variant {
                name: variant,
                value: None,
            }),
            // Any other variant: {"Variant": content}.
            Value::Dict(dict) if dict.len() == 1 => {
                let (name, value) = dict.into_iter().next().expect("one entry");
                visitor.visit_enum(Variant {
                    name,
                    value: Some(value),
                })
            }
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"an enum variant",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Int(i) => Unexpected::Signed(*i),
        Value::UInt(u) => Unexpected::Unsigned(*u),
        Value::Float(f) => Unexpected::Float(*f),
        Value::String(s) => Unexpected::Str(s),
        Value::Bytes(b) => Unexpected::Bytes(b),
        Value::List(_) => Unexpected::Seq,
        Value::Dict(_) => Unexpected::Map,
    }
}

/// The elements of a list (or the positional arguments), each error naming its index.
struct Items<I, P> {
    items: I,
    index: usize,
    place: P,
}

impl<'de, I: ExactSizeIterator<Item = Value>, P: Fn(usize) -> String> SeqAccess<'de>
    for Items<I, P>
{
    type Error = PayloadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PayloadError> {
        let Some(value) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer(value))
            .map(Some)
            .map_err(|e| e.at((self.place)(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a dict (or the keyword arguments), each error naming its key.
struct Entries<I> {
    entries: I,
    value: Option<Value>,
    key: String,
    /// Keyword arguments: errors say `keyword argument "k"` rather than `k`.
    keyword: bool,
}

impl<'de, I: Iterator<Item = (String, Value)>> MapAccess<'de> for Entries<I> {
    type Error = PayloadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PayloadError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        self.key.clone_from(&key);
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, PayloadError> {
        let value = self.value.take().unwrap_or(Value::Null);
        seed.deserialize(ValueDeserializer(value)).map_err(|e| {
            e.at(if self.keyword {
                format!("keyword argument {:?}", self.key)
            } else {
                self.key.clone()
            })
        })
    }
}

/// An enum variant: its name, and its content unless it is a unit variant.
struct Variant {
    name: String,
    value: Option<Value>,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = PayloadError;
    type Variant = VariantContent;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantContent), PayloadError> {
        let name = seed.deserialize(self.name.clone().into_deserializer())?;
        Ok((
            name,
            VariantContent {
                name: self.name,
                value: self.value,
            },
        ))
    }
}

struct VariantContent {
    name: String,
    value: Option<Value>,
}

impl<'de> VariantAccess<'de> for VariantContent {
    type Error = PayloadError;

    fn unit_variant(self) -> Result<(), PayloadError> {
        match self.value {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, PayloadError> {
        let name = self.name;
        seed.deserialize(ValueDeserializer(self.value.unwrap_or(Value::Null)))
            .map_err(|e| e.at(name))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        let name = self.name;
        de::Deserializer::deserialize_any(
            ValueDeserializer(self.value.unwrap_or(Value::Null)),
            visitor,
        )
        .map_err(|e| e.at(name))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        self.tuple_variant(0, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{args, kwargs};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Reading {
        sensor: String,
        celsius: f64,
        tags: Vec<String>,
        note: Option<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Command {
        Stop,
        Move { x: i32, y: i32 },
        Say(String),
        Pair(u8, u8),
    }

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(value: T) {
        let arg = to_arg(&value).unwrap();
        let back: T = from_arg(&[arg], 0).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn user_types_round_trip_through_values() {
        round_trip(Reading {
            sensor: "t1".into(),
            celsius: -3.5,
            tags: vec!["roof".into()],
            note: None,
        });
        round_trip(Command::Stop);
        round_trip(Command::Move { x: -1, y: 2 });
        round_trip(Command::Say("hi".into()));
        round_trip(Command::Pair(1, 2));
        round_trip(Some(5u64));
        round_trip(None::<u64>);
        round_trip((1i8, "two".to_owned(), 3.0f32));
        round_trip(u64::MAX);
        round_trip(i64::MIN);
    }

    #[test]
    fn errors_name_the_place_and_the_expected_type() {
        let err = from_args::<(String, Reading)>(args![
            "a",
            kwargs! { "sensor" => "t", "celsius" => "warm", "tags" => Vec::<Value>::new() }
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument 1.celsius: invalid type: string \"warm\", expected f64"
        );
        let err = from_kwargs::<Reading>(kwargs! {
            "sensor" => "t", "celsius" => 1.0, "tags" => vec![Value::from("a"), Value::from(2)]
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "keyword argument \"tags\"[1]: invalid type: integer `2`, expected a string"
        );
        let err = from_args::<Vec<i64>>(args![1, 2, "x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "argument 2: invalid type: string \"x\", expected i64"
        );
        let err = from_args::<(i64,)>(args![1, 2]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 positional arguments, expected a tuple of size 1"
        );
        let err = from_kwargs::<Reading>(kwargs! { "sensor" => "t" }).unwrap_err();
        assert_eq!(err.to_string(), "missing field `celsius`");
        assert!(decode::<i64>(args![1, 2], Dict::new()).is_err());
    }

    #[test]
    fn arguments_as_a_struct_in_order() {
        #[derive(Deserialize)]
        struct Add {
            a: i64,
            b: i64,
        }
        let add: Add = from_args(args![2, 3]).unwrap();
        assert_eq!(add.a + add.b, 5);
        let none: Option<(i64,)> = from_args(vec![]).unwrap();
        assert!(none.is_none());
        let unit: () = from_args(vec![]).unwrap();
        assert_eq!(unit, ());
    }

    #[test]
    fn into_payload() {
        assert!(().into_payload().unwrap().args().is_empty());
        assert!(None::<i64>.into_payload().unwrap().args().is_empty());
        assert_eq!("x".into_payload().unwrap().args(), args!["x"]);
        assert!(to_args(&"not a list").is_err());
        assert!(to_kwargs(&[1, 2]).is_err());
    }
}
