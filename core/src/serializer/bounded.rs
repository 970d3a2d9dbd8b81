//! Bounded deserialization of [`Value`]s: nesting depth, collection lengths and the total
//! number of values are checked while decoding, before anything is allocated for them.
//!
//! Every serializer decodes through [`Value`]'s `Deserialize` impl. The limits of the current
//! decode are installed for the calling thread by [`with_budget`] (ciborium offers no way to
//! pass a `DeserializeSeed`), and a limit that trips is recorded here so the caller gets a
//! typed error instead of the serializer's text.

use std::cell::{Cell, RefCell};
use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::Limits;
use crate::value::{Dict, Value};

/// A decode limit that was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitTripped {
    Depth(usize),
    CollectionLength(usize),
    Values(usize),
}

/// The limits and remaining allowance of one decode.
pub(crate) struct Budget {
    max_depth: usize,
    max_len: usize,
    max_values: usize,
    values_left: Cell<usize>,
    tripped: Cell<Option<LimitTripped>>,
}

impl Budget {
    pub(crate) fn new(limits: &Limits) -> Self {
        Budget {
            max_depth: limits.max_depth,
            max_len: limits.max_collection_len,
            max_values: limits.max_values,
            values_left: Cell::new(limits.max_values),
            tripped: Cell::new(None),
        }
    }

    pub(crate) fn seed(&self) -> ValueSeed<'_> {
        ValueSeed {
            budget: self,
            depth: 0,
        }
    }

    pub(crate) fn tripped(&self) -> Option<LimitTripped> {
        self.tripped.get()
    }

    fn trip<E: de::Error>(&self, what: LimitTripped) -> E {
        self.tripped.set(Some(what));
        E::custom(match what {
            LimitTripped::Depth(n) => format!("nesting deeper than {n} levels"),
            LimitTripped::CollectionLength(n) => format!("collection longer than {n} elements"),
            LimitTripped::Values(n) => format!("more than {n} values"),
        })
    }

    fn take_value<E: de::Error>(&self) -> Result<(), E> {
        match self.values_left.get().checked_sub(1) {
            Some(left) => {
                self.values_left.set(left);
                Ok(())
            }
            None => Err(self.trip(LimitTripped::Values(self.max_values))),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Limits>> = const { RefCell::new(None) };
    static TRIPPED: Cell<Option<LimitTripped>> = const { Cell::new(None) };
}

/// Runs `decode` with `limits` installed for [`Value`]'s `Deserialize` impl on this thread,
/// and returns what it produced and the limit that tripped, if any.
pub(crate) fn with_budget<T>(
    limits: &Limits,
    decode: impl FnOnce() -> T,
) -> (T, Option<LimitTripped>) {
    let previous = CURRENT.with(|c| c.replace(Some(*limits)));
    TRIPPED.with(|t| t.set(None));
    let out = decode();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    (out, TRIPPED.with(|t| t.take()))
}

/// `Deserialize` for [`Value`]: uses the limits installed by [`with_budget`], or the
/// defaults outside it.
pub(crate) fn deserialize_value<'de, D: de::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let limits = CURRENT.with(|c| *c.borrow()).unwrap_or_default();
    let budget = Budget::new(&limits);
    let result = budget.seed().deserialize(d);
    if let Some(t) = budget.tripped() {
        TRIPPED.with(|c| c.set(Some(t)));
    }
    result
}

/// Deserializes one [`Value`] at a given depth, charging the budget.
#[derive(Clone, Copy)]
pub(crate) struct ValueSeed<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.budget.take_value()?;
        let text = d.is_human_readable();
        d.deserialize_any(ValueVisitor { seed: self, text })
    }
}

struct ValueVisitor<'b> {
    seed: ValueSeed<'b>,
    /// A text format (JSON): strings starting with U+0000 carry base64 binary.
    text: bool,
}

impl ValueVisitor<'_> {
    fn string<E: de::Error>(&self, s: &str) -> Result<Value, E> {
        if self.text {
            if let Some(b64) = s.strip_prefix('\0') {
                return super::decode_json_binary(b64)
                    .map(Value::Bytes)
                    .map_err(|_| {
                        E::custom("a string starting with \\u0000 must hold base64 binary")
                    });
            }
        }
        Ok(Value::String(s.to_owned()))
    }

    fn nested(&self) -> Result<ValueSeed<'_>, LimitTripped> {
        let depth = self.seed.depth + 1;
        if depth > self.seed.budget.max_depth {
            return Err(LimitTripped::Depth(self.seed.budget.max_depth));
        }
        Ok(ValueSeed {
            budget: self.seed.budget,
            depth,
        })
    }

    fn capacity(&self, hint: Option<usize>) -> usize {
        // A peer can announce any length; never reserve more than a little up front.
        hint.unwrap_or(0).min(self.seed.budget.max_len).min(256)
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(u) = u64::try_from(v) {
            Ok(Value::UInt(u))
        } else if let Ok(i) = i64::try_from(v) {
            Ok(Value::Int(i))
        } else {
            Err(E::custom("integer does not fit in 64 bits"))
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(Value::UInt)
            .map_err(|_| E::custom("integer does not fit in 64 bits"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(Bytes::from(v)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let text = self.text;
        d.deserialize_any(ValueVisitor {
            seed: self.seed,
            text,
        })
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.visit_some(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let seed = self.nested().map_err(|t| self.seed.budget.trip(t))?;
        let max_len = self.seed.budget.max_len;
        let mut list = Vec::with_capacity(self.capacity(seq.size_hint()));
        while let Some(v) = seq.next_element_seed(seed)? {
            if list.len() == max_len {
                return Err(self
                    .seed
                    .budget
                    .trip(LimitTripped::CollectionLength(max_len)));
            }
            list.push(v);
        }
        Ok(Value::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let seed = self.nested().map_err(|t| self.seed.budget.trip(t))?;
        let max_len = self.seed.budget.max_len;
        let mut dict = Dict::with_capacity(self.capacity(map.size_hint()));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if dict.len() == max_len {
                return Err(self
                    .seed
                    .budget
                    .trip(LimitTripped::CollectionLength(max_len)));
            }
            let value = map.next_value_seed(seed)?;
            if dict.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate key in dict"));
            }
        }
        Ok(Value::Dict(dict))
    }
}

/// Dict keys: strings only, as WAMP requires.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string dict key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}
