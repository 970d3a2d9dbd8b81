//! The three WAMP serializers (JSON, MessagePack, CBOR) and the batched framing of the
//! WebSocket transport.
//!
//! Decoding is bounded by [`Limits`]: the message size is checked first, then nesting depth,
//! collection lengths and the number of values while the bytes are read, so no input can
//! make the decoder allocate without bound, recurse without bound or panic. Every failure is
//! a typed [`DecodeError`].
//!
//! ```
//! use nexus_core::message::{Call, Message};
//! use nexus_core::{args, Limits, RequestId, Serializer, Uri};
//!
//! let call = Message::Call(Call::new(RequestId::MIN, Uri::parse("com.example.add").unwrap())
//!     .with_args(args![2, 3]));
//! for serializer in Serializer::ALL {
//!     let bytes = serializer.encode(&call).unwrap();
//!     assert_eq!(serializer.decode(&bytes, &Limits::default()).unwrap(), call);
//! }
//! assert_eq!(
//!     &Serializer::Json.encode(&call).unwrap()[..],
//!     br#"[48,1,{},"com.example.add",[2,3]]"#
//! );
//! ```

pub(crate) mod batch;
pub(crate) mod bounded;
pub(crate) mod scalar;
pub(crate) mod skim;

use base64::Engine;
use bytes::Bytes;
use serde::Serialize;

use crate::message::{EncodedPayload, Message, MessageError, Payload};
use crate::value::Value;

/// A WAMP serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Serializer {
    /// JSON (RFC 8259), binary as `"\u0000"` + base64.
    Json,
    /// MessagePack (with the `str`/`bin` distinction).
    MsgPack,
    /// CBOR (RFC 8949).
    Cbor,
}

impl Serializer {
    /// All serializers, in the order nexus prefers them (most compact first).
    pub const ALL: [Serializer; 3] = [Serializer::Cbor, Serializer::MsgPack, Serializer::Json];

    /// The short name: `json`, `msgpack` or `cbor`.
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// Parses the short name (`json`, `msgpack`, `cbor`).
    pub fn from_name(name: &str) -> Option<Serializer> {
        match name {
            "json" => Some(Serializer::Json),
            "msgpack" => Some(Serializer::MsgPack),
            "cbor" => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// The WebSocket subprotocol, e.g. `wamp.2.json`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The batched WebSocket subprotocol, e.g. `wamp.2.json.batched`.
    pub fn batched_subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json.batched",
            Serializer::MsgPack => "wamp.2.msgpack.batched",
            Serializer::Cbor => "wamp.2.cbor.batched",
        }
    }

    /// Parses a WebSocket subprotocol; the flag says whether it is the batched form.
    ///
    /// ```
    /// use nexus_core::Serializer;
    /// assert_eq!(Serializer::from_subprotocol("wamp.2.cbor.batched"), Some((Serializer::Cbor, true)));
    /// ```
    pub fn from_subprotocol(protocol: &str) -> Option<(Serializer, bool)> {
        Serializer::ALL.into_iter().find_map(|s| {
            if protocol == s.subprotocol() {
                Some((s, false))
            } else if protocol == s.batched_subprotocol() {
                Some((s, true))
            } else {
                None
            }
        })
    }

    /// The serializer number of the RawSocket handshake (1 JSON, 2 MessagePack, 3 CBOR).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    /// Parses a RawSocket serializer number.
    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        match id {
            1 => Some(Serializer::Json),
            2 => Some(Serializer::MsgPack),
            3 => Some(Serializer::Cbor),
            _ => None,
        }
    }

    /// Whether messages are binary (MessagePack, CBOR: WebSocket binary frames) rather than
    /// UTF-8 text (JSON: text frames).
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }

    /// Encodes a message. A payload kept in this serializer's encoding
    /// ([`Payload::Encoded`]) is copied as it is; one in another's is converted.
    pub fn encode(self, message: &Message) -> Result<Bytes, EncodeError> {
        match message.payload() {
            Some(Payload::Encoded(p)) if p.serializer() == self => {
                let mut out = Vec::with_capacity(64 + p.footprint());
                self.encode_into(&mut out, &crate::message::encode::Head(message))?;
                splice(self, &mut out, p);
                Ok(out.into())
            }
            _ => self.encode_serialize(message).map(Bytes::from),
        }
    }

    /// Decodes one message, within `limits`.
    pub fn decode(self, bytes: &[u8], limits: &Limits) -> Result<Message, DecodeError> {
        let value = self.decode_value(bytes, limits)?;
        Ok(Message::from_value(value)?)
    }

    /// Decodes one message as a router does: the envelope into its typed fields, the
    /// payload kept as a slice of `frame` ([`Payload::Encoded`]) after checking it for
    /// well-formedness and `limits`. The result, and every error, is what
    /// [`decode`](Self::decode) gives; only how the payload is held differs.
    ///
    /// ```
    /// use nexus_core::message::Payload;
    /// use nexus_core::{Limits, Serializer};
    ///
    /// let frame = bytes::Bytes::from_static(br#"[48, 7, {}, "com.example.add", [2, 3]]"#);
    /// let call = Serializer::Json.decode_lazy(&frame, &Limits::default()).unwrap();
    /// assert!(matches!(call.payload(), Some(Payload::Encoded(_))));
    /// assert_eq!(call, Serializer::Json.decode(&frame, &Limits::default()).unwrap());
    /// ```
    pub fn decode_lazy(self, frame: &Bytes, limits: &Limits) -> Result<Message, DecodeError> {
        crate::message::lazy::decode(self, frame, limits)
    }

    /// Encodes a single [`Value`] (for example an application payload carried as binary).
    pub fn encode_value(self, value: &Value) -> Result<Bytes, EncodeError> {
        self.encode_serialize(value).map(Bytes::from)
    }

    /// Decodes a single [`Value`], within `limits`.
    pub fn decode_value(self, bytes: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
        if bytes.len() > limits.max_message_size {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit: limits.max_message_size,
            });
        }
        let (result, tripped) =
            bounded::with_budget(limits, || self.decode_unchecked(bytes, limits));
        match tripped {
            Some(bounded::LimitTripped::Depth(limit)) => Err(DecodeError::TooDeep { limit }),
            Some(bounded::LimitTripped::CollectionLength(limit)) => {
                Err(DecodeError::CollectionTooLong { limit })
            }
            Some(bounded::LimitTripped::Values(limit)) => Err(DecodeError::TooManyValues { limit }),
            None => result.map_err(|detail| DecodeError::Syntax {
                serializer: self.name(),
                detail,
            }),
        }
    }

    /// The byte range of each element of the message (a list) that `bytes` encodes, found
    /// without decoding the elements into [`Value`]s: what forwards a payload unread starts
    /// here. The bytes are checked for well-formedness and `limits` as
    /// [`decode_value`](Self::decode_value) checks them, with the same typed errors (a few
    /// corner cases no WAMP peer produces differ; see the `skim` module's source).
    ///
    /// ```
    /// use nexus_core::{Limits, Serializer};
    ///
    /// let call = br#"[48, 7, {}, "com.example.add", [2, 3]]"#;
    /// let spans = Serializer::Json.skim(call, &Limits::default()).unwrap();
    /// let parts: Vec<&[u8]> = spans.iter().map(|s| &call[s.clone()]).collect();
    /// assert_eq!(parts, [&b"48"[..], b"7", b"{}", br#""com.example.add""#, b"[2, 3]"]);
    /// ```
    pub fn skim(
        self,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Vec<std::ops::Range<usize>>, DecodeError> {
        skim::skim(self, bytes, limits)
    }

    /// Encodes a list of already-encoded values of this serializer: the inverse of
    /// [`skim`](Self::skim), for building a message around elements taken from another.
    ///
    /// ```
    /// use nexus_core::Serializer;
    ///
    /// assert_eq!(Serializer::Json.join(&[b"36", b"1", b"[\"x\"]"]), br#"[36,1,["x"]]"#);
    /// assert_eq!(Serializer::MsgPack.join(&[b"\x24", b"\x01"]), b"\x92\x24\x01");
    /// ```
    pub fn join(self, elements: &[&[u8]]) -> Vec<u8> {
        skim::join(self, elements)
    }

    /// Encodes messages as one batch of the batched WebSocket transport: JSON messages each
    /// followed by the separator octet 0x18 (what Autobahn and Crossbar use), MessagePack
    /// and CBOR messages each preceded by their length as a 4-byte big-endian integer.
    pub fn encode_batch(self, messages: &[Message]) -> Result<Bytes, EncodeError> {
        batch::encode(self, messages)
    }

    /// Frames one already-encoded message as a batch of one (what a batched transport sends
    /// for each message): JSON followed by 0x18, MessagePack and CBOR preceded by their
    /// 4-byte big-endian length.
    ///
    /// ```
    /// use nexus_core::Serializer;
    /// assert_eq!(&Serializer::Json.frame_for_batch(b"[6]")[..], b"[6]\x18");
    /// assert_eq!(&Serializer::Cbor.frame_for_batch(b"\x81\x06")[..], b"\0\0\0\x02\x81\x06");
    /// ```
    pub fn frame_for_batch(self, encoded: &[u8]) -> Bytes {
        batch::frame_one(self, encoded)
    }

    /// Decodes a batch of the batched WebSocket transport. JSON accepts both separators in
    /// use (0x18 from Autobahn and Crossbar, 0x1e from the spec text). An empty batch is an
    /// error.
    pub fn decode_batch(self, bytes: &[u8], limits: &Limits) -> Result<Vec<Message>, DecodeError> {
        batch::decode(self, bytes, limits, None)
    }

    /// [`decode_batch`](Self::decode_batch), each message decoded as
    /// [`decode_lazy`](Self::decode_lazy) decodes it.
    pub fn decode_batch_lazy(
        self,
        frame: &Bytes,
        limits: &Limits,
    ) -> Result<Vec<Message>, DecodeError> {
        batch::decode(self, frame, limits, Some(frame))
    }

    fn encode_serialize<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(128);
        self.encode_into(&mut out, value)?;
        Ok(out)
    }

    fn encode_into<T: Serialize + ?Sized>(
        self,
        out: &mut Vec<u8>,
        value: &T,
    ) -> Result<(), EncodeError> {
        let result = match self {
            Serializer::Json => serde_json::to_writer(&mut *out, value).map_err(|e| e.to_string()),
            Serializer::MsgPack => {
                rmp_serde::encode::write(&mut *out, value).map_err(|e| e.to_string())
            }
            Serializer::Cbor => {
                ciborium::ser::into_writer(value, &mut *out).map_err(|e| e.to_string())
            }
        };
        result.map_err(|detail| EncodeError {
            serializer: self.name(),
            detail,
        })
    }

    /// Deserializes one element of a message (checked already by the skim) straight into
    /// `T`, without the limits (the caller installs them if `T` holds values).
    pub(crate) fn deserialize_element<T: serde::de::DeserializeOwned>(
        self,
        bytes: &[u8],
    ) -> Result<T, String> {
        match self {
            Serializer::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Serializer::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
            Serializer::Cbor => {
                // Longer strings than the scratch are read into their own buffer.
                let mut scratch = [0u8; 256];
                ciborium::de::from_reader_with_buffer(bytes, &mut scratch)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Decodes without the size check; the budget is installed by the caller.
    fn decode_unchecked(self, bytes: &[u8], limits: &Limits) -> Result<Value, String> {
        match self {
            Serializer::Json => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let value = serde::Deserialize::deserialize(&mut de).map_err(|e| e.to_string())?;
                de.end().map_err(|e| e.to_string())?;
                Ok(value)
            }
            Serializer::MsgPack => {
                let mut rest = bytes;
                let mut de = rmp_serde::Deserializer::new(&mut rest);
                let value: Value =
                    serde::Deserialize::deserialize(&mut de).map_err(|e| e.to_string())?;
                trailing(rest.len())?;
                Ok(value)
            }
            Serializer::Cbor => {
                let mut rest = bytes;
                // Our own depth limit trips first; ciborium's is a second guard for its stack.
                let value: Value =
                    ciborium::de::from_reader_with_recursion_limit(&mut rest, limits.max_depth + 8)
                        .map_err(|e| e.to_string())?;
                trailing(rest.len())?;
                Ok(value)
            }
        }
    }
}

/// Appends a kept payload to `out`, the encoded list of a message's leading elements, and
/// counts its elements in the list's header. Messages have at most 7 elements, so the
/// header is the one-byte form in MessagePack and CBOR.
fn splice(serializer: Serializer, out: &mut Vec<u8>, payload: &EncodedPayload) {
    let tail = payload.tail_len() as u8;
    match serializer {
        Serializer::Json => {
            // `[...]` written compactly by serde_json: the closing bracket moves to the end.
            out.pop();
            for part in payload.parts() {
                out.push(b',');
                out.extend_from_slice(part);
            }
            out.push(b']');
            return;
        }
        Serializer::MsgPack => out[0] += tail,
        Serializer::Cbor => out[0] += tail,
    }
    for part in payload.parts() {
        out.extend_from_slice(part);
    }
}

fn trailing(left: usize) -> Result<(), String> {
    if left == 0 {
        Ok(())
    } else {
        Err(format!("{left} trailing bytes after the message"))
    }
}

impl std::fmt::Display for Serializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bounds on what a decoder accepts from a peer.
///
/// ```
/// use nexus_core::{Limits, Serializer};
///
/// let tight = Limits { max_depth: 2, ..Limits::default() };
/// let err = Serializer::Json.decode_value(b"[[[1]]]", &tight).unwrap_err();
/// assert_eq!(err.to_string(), "nesting deeper than 2 levels");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message, in bytes (default 16 MiB, RawSocket's largest frame).
    pub max_message_size: usize,
    /// The deepest nesting of lists and dicts; the message's own list counts as one level
    /// (default 64).
    pub max_depth: usize,
    /// The most elements in one list or dict (default 1,048,576).
    pub max_collection_len: usize,
    /// The most values in one message, counting every element at every level
    /// (default 2,097,152).
    pub max_values: usize,
    /// The most messages in one batch of the batched WebSocket transport (default 1,024).
    pub max_batch_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 * 1024 * 1024,
            max_depth: 64,
            max_collection_len: 1 << 20,
            max_values: 1 << 21,
            max_batch_len: 1024,
        }
    }
}

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The message is larger than [`Limits::max_message_size`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size of the message.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not valid for the serializer.
    #[error("invalid {serializer}: {detail}")]
    Syntax {
        /// The serializer's name.
        serializer: &'static str,
        /// What the serializer reported.
        detail: String,
    },
    /// Lists and dicts are nested deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A list or dict has more than [`Limits::max_collection_len`] elements.
    #[error("a list or dict has more than {limit} elements")]
    CollectionTooLong {
        /// The limit.
        limit: usize,
    },
    /// The message holds more than [`Limits::max_values`] values.
    #[error("the message holds more than {limit} values")]
    TooManyValues {
        /// The limit.
        limit: usize,
    },
    /// A batch is malformed.
    #[error("invalid batch: {0}")]
    Batch(String),
    /// The value decoded but is not a valid WAMP message.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode as {serializer}: {detail}")]
pub struct EncodeError {
    /// The serializer's name.
    pub serializer: &'static str,
    /// What went wrong.
    pub detail: String,
}

/// `"\0"` + standard base64 (with padding): how JSON carries binary in WAMP.
pub(crate) fn json_binary_string(bytes: &[u8]) -> String {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut s = String::with_capacity(1 + bytes.len().div_ceil(3) * 4);
    s.push('\0');
    engine.encode_string(bytes, &mut s);
    s
}

/// Decodes the base64 part of a JSON binary string (after the leading `\0`).
pub(crate) fn decode_json_binary(b64: &str) -> Result<Bytes, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn json_binary_both_directions() {
        let bytes = hex_bytes("10e3ff9053075c526f5fc06d4fe37cdb");
        let v = Value::Bytes(bytes.clone());
        let enc = Serializer::Json.encode_value(&v).unwrap();
        assert_eq!(&enc[..], br#""\u0000EOP/kFMHXFJvX8BtT+N82w==""#);
        assert_eq!(Serializer::Json.decode_value(&enc, &limits()).unwrap(), v);
        // A string that merely contains NUL later stays a string.
        let s = Serializer::Json
            .decode_value(br#""a\u0000b""#, &limits())
            .unwrap();
        assert_eq!(s, Value::from("a\0b"));
        assert!(matches!(
            Serializer::Json.decode_value(br#""\u0000!!!""#, &limits()),
            Err(DecodeError::Syntax { .. })
        ));
    }

    #[test]
    fn binary_is_native_in_binary_formats() {
        let v = Value::Bytes(Bytes::from_static(b"\x00\x01"));
        assert_eq!(
            &Serializer::MsgPack.encode_value(&v).unwrap()[..],
            b"\xc4\x02\x00\x01"
        );
        assert_eq!(
            &Serializer::Cbor.encode_value(&v).unwrap()[..],
            b"\x42\x00\x01"
        );
        // A MessagePack string starting with NUL is a string, not binary.
        let s = Serializer::MsgPack
            .decode_value(b"\xa2\x00A", &limits())
            .unwrap();
        assert_eq!(s, Value::from("\0A"));
    }

    #[test]
    fn limits_are_typed_errors() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        for s in Serializer::ALL {
            let bytes = s
                .encode_value(
                    &Serializer::Json
                        .decode_value(
                            deep.as_bytes(),
                            &Limits {
                                max_depth: 200,
                                ..limits()
                            },
                        )
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(
                s.decode_value(&bytes, &limits()),
                Err(DecodeError::TooDeep { limit: 64 }),
                "{s}"
            );
        }
        let tight = Limits {
            max_collection_len: 3,
            ..limits()
        };
        assert_eq!(
            Serializer::Json.decode_value(b"[1,2,3,4]", &tight),
            Err(DecodeError::CollectionTooLong { limit: 3 })
        );
        let tight = Limits {
            max_values: 4,
            ..limits()
        };
        assert_eq!(
            Serializer::Json.decode_value(b"[[1],[2]]", &tight),
            Err(DecodeError::TooManyValues { limit: 4 })
        );
        let tight = Limits {
            max_message_size: 4,
            ..limits()
        };
        assert_eq!(
            Serializer::Json.decode_value(b"[1,2]", &tight),
            Err(DecodeError::TooLarge { size: 5, limit: 4 })
        );
    }

    #[test]
    fn huge_announced_lengths_do_not_allocate() {
        // MessagePack array32 announcing 2^32-1 elements, then nothing.
        let err = Serializer::MsgPack
            .decode_value(b"\xdd\xff\xff\xff\xff", &limits())
            .unwrap_err();
        assert!(matches!(err, DecodeError::Syntax { .. }), "{err}");
        // CBOR array announcing 2^64-1 elements; CBOR text announcing 2^32 bytes.
        for bytes in [
            &b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff"[..],
            b"\x7a\xff\xff\xff\xff",
        ] {
            let err = Serializer::Cbor.decode_value(bytes, &limits()).unwrap_err();
            assert!(matches!(err, DecodeError::Syntax { .. }), "{err}");
        }
        // MessagePack str32 announcing 4 GiB.
        let err = Serializer::MsgPack
            .decode_value(b"\xdb\xff\xff\xff\xff", &limits())
            .unwrap_err();
        assert!(matches!(err, DecodeError::Syntax { .. }), "{err}");
    }

    #[test]
    fn trailing_bytes_and_non_string_keys_are_rejected() {
        assert!(Serializer::Json.decode_value(b"[1] x", &limits()).is_err());
        assert!(Serializer::MsgPack
            .decode_value(b"\x91\x01\x01", &limits())
            .is_err());
        assert!(Serializer::Cbor
            .decode_value(b"\x81\x01\x01", &limits())
            .is_err());
        // {1: 2} in MessagePack and CBOR.
        assert!(Serializer::MsgPack
            .decode_value(b"\x81\x01\x02", &limits())
            .is_err());
        assert!(Serializer::Cbor
            .decode_value(b"\xa1\x01\x02", &limits())
            .is_err());
        // Duplicate keys.
        assert!(Serializer::Json
            .decode_value(br#"{"a":1,"a":2}"#, &limits())
            .is_err());
    }

    #[test]
    fn signed_encodings_of_positive_integers_decode_as_unsigned() {
        // MessagePack int64 (0xd3) and int32 (0xd2) holding positive values.
        let v = Serializer::MsgPack
            .decode_value(
                b"\x92\xd3\x00\x00\x00\x01\x00\x00\x00\x00\xd2\x00\x00\x00\x07",
                &limits(),
            )
            .unwrap();
        assert!(matches!(v[0], Value::UInt(4294967296)));
        assert!(matches!(v[1], Value::UInt(7)));
    }

    #[test]
    fn subprotocols_and_rawsocket_ids() {
        for s in Serializer::ALL {
            assert_eq!(
                Serializer::from_subprotocol(s.subprotocol()),
                Some((s, false))
            );
            assert_eq!(Serializer::from_rawsocket_id(s.rawsocket_id()), Some(s));
            assert_eq!(Serializer::from_name(s.name()), Some(s));
        }
        assert_eq!(Serializer::from_subprotocol("wamp.2.ubjson"), None);
        assert_eq!(Serializer::from_rawsocket_id(0), None);
    }

    fn hex_bytes(s: &str) -> Bytes {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<_>>()
            .into()
    }
}
