//! Payloads kept as the bytes they arrived in, and the decoding that keeps them so.
//!
//! A router reads a message's envelope (IDs, URIs, options and details) but never its
//! arguments: [`decode`] checks the whole frame for well-formedness and the [`Limits`] (the
//! skim), decodes only the elements before the payload, and keeps `Arguments` and
//! `ArgumentsKw` as a slice of the frame ([`EncodedPayload`]). Encoding for a peer of the
//! same serializer writes those bytes as they are; for another serializer the payload is
//! decoded then (once per serializer, since fan-out encodes once per serializer).

use std::ops::Range;

use bytes::Bytes;

use super::decode::{message_from_parts, read_unsigned, Element};
use super::{code, Message, Payload};
use crate::serializer::{bounded, skim, DecodeError, Limits, Serializer};
use crate::value::{Dict, Value};

/// `Arguments` and, when present, `ArgumentsKw` as the undecoded bytes of the frame they
/// arrived in (checked for well-formedness and the decoder's limits already).
///
/// The router forwards them unread; [`decode`](Self::decode) builds the values for whoever
/// needs them.
///
/// ```
/// use nexus_core::message::{Message, Payload};
/// use nexus_core::{args, Limits, Serializer};
///
/// let frame = br#"[36, 5, 7, {}, ["hello"]]"#;
/// let event = Serializer::Json.decode_lazy(&frame[..].into(), &Limits::default()).unwrap();
/// let Some(Payload::Encoded(p)) = event.payload() else { panic!("not kept encoded") };
/// assert_eq!(p.args_bytes(), br#"["hello"]"#);
/// assert_eq!(p.decode().unwrap().0, args!["hello"]);
/// // Written out as it came to a JSON peer, converted for a MessagePack one.
/// assert_eq!(&Serializer::Json.encode(&event).unwrap()[..], br#"[36,5,7,{},["hello"]]"#);
/// let packed = Serializer::MsgPack.encode(&event).unwrap();
/// assert_eq!(Serializer::MsgPack.decode(&packed, &Limits::default()).unwrap(), event);
/// ```
#[derive(Debug, Clone)]
pub struct EncodedPayload {
    serializer: Serializer,
    frame: Bytes,
    args: Range<usize>,
    kwargs: Option<Range<usize>>,
}

/// Limits for decoding a payload the skim has checked against the real ones already; the
/// depth stays finite because CBOR's decoder needs a recursion limit.
const CHECKED: Limits = Limits {
    max_message_size: usize::MAX,
    max_depth: 1 << 12,
    max_collection_len: usize::MAX,
    max_values: usize::MAX,
    max_batch_len: usize::MAX,
};

impl EncodedPayload {
    /// The serializer the bytes are in.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// The encoded `Arguments` list.
    pub fn args_bytes(&self) -> &[u8] {
        &self.frame[self.args.clone()]
    }

    /// The encoded `ArgumentsKw` dict, if the message had one.
    pub fn kwargs_bytes(&self) -> Option<&[u8]> {
        self.kwargs.clone().map(|r| &self.frame[r])
    }

    /// The encoded elements, in order (one or two).
    pub(crate) fn parts(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.args_bytes()).chain(self.kwargs_bytes())
    }

    /// How many elements the payload adds to the message.
    pub(crate) fn tail_len(&self) -> usize {
        1 + usize::from(self.kwargs.is_some())
    }

    /// The bytes this payload keeps in memory: the whole frame it is a slice of.
    pub(crate) fn footprint(&self) -> usize {
        self.frame.len()
    }

    /// Decodes the arguments and keyword arguments.
    ///
    /// The bytes were checked when the message was decoded, so this fails only where the
    /// check is lighter than the decoder (see [`Serializer::skim`]).
    pub fn decode(&self) -> Result<(Vec<Value>, Dict), DecodeError> {
        let not = |what: &str| DecodeError::Syntax {
            serializer: self.serializer.name(),
            detail: format!("a kept payload's {what}"),
        };
        let args = match self.serializer.decode_value(self.args_bytes(), &CHECKED)? {
            Value::List(args) => args,
            _ => return Err(not("Arguments is not a list")),
        };
        let kwargs = match self.kwargs_bytes() {
            None => Dict::new(),
            Some(bytes) => match self.serializer.decode_value(bytes, &CHECKED)? {
                Value::Dict(kwargs) => kwargs,
                _ => return Err(not("ArgumentsKw is not a dict")),
            },
        };
        Ok((args, kwargs))
    }

    /// The payload as values.
    pub fn to_payload(&self) -> Result<Payload, DecodeError> {
        self.decode()
            .map(|(args, kwargs)| Payload::Args { args, kwargs })
    }
}

/// Where the payload starts in a message with this code, if it can carry one.
fn payload_index(code: u64) -> Option<usize> {
    match code {
        code::ABORT | code::RESULT | code::YIELD => Some(3),
        code::PUBLISH | code::EVENT | code::CALL | code::INVOCATION => Some(4),
        code::ERROR => Some(5),
        _ => None,
    }
}

/// Whether an encoded value starts as a list (`dict == false`) or a dict of `serializer`.
fn starts_as(serializer: Serializer, first: u8, dict: bool) -> bool {
    match (serializer, dict) {
        (Serializer::Json, false) => first == b'[',
        (Serializer::Json, true) => first == b'{',
        (Serializer::MsgPack, false) => matches!(first, 0x90..=0x9f | 0xdc | 0xdd),
        (Serializer::MsgPack, true) => matches!(first, 0x80..=0x8f | 0xde | 0xdf),
        // Definite and indefinite lengths; tags are left to the full decoder.
        (Serializer::Cbor, false) => first >> 5 == 4,
        (Serializer::Cbor, true) => first >> 5 == 5,
    }
}

/// Whether an encoded list or dict is empty. Only short encodings can be (an empty one is at
/// most a 9-byte head, or JSON brackets around whitespace), so only those are decoded.
fn is_empty(serializer: Serializer, bytes: &[u8]) -> bool {
    if serializer == Serializer::Json {
        return bytes[1..bytes.len() - 1]
            .iter()
            .all(u8::is_ascii_whitespace);
    }
    bytes.len() <= 9
        && match serializer.deserialize_element::<Value>(bytes) {
            Ok(Value::List(l)) => l.is_empty(),
            Ok(Value::Dict(d)) => d.is_empty(),
            _ => false,
        }
}

/// Decodes a message keeping its payload encoded (see the module docs). Whatever is not
/// the plain case (no payload, a transparent one, JSON binary strings, an element of the
/// wrong kind) goes through the full decoder, so results and errors are the same as
/// [`Serializer::decode`]'s.
pub(crate) fn decode(
    serializer: Serializer,
    frame: &Bytes,
    limits: &Limits,
) -> Result<Message, DecodeError> {
    let full = || serializer.decode(frame, limits);
    // What the skim refuses, the decoder says why in its own terms (and accepts the few
    // corner cases the skim is stricter about).
    let Ok((spans, defer)) = skim::skim_flagged(serializer, frame, limits) else {
        return full();
    };
    if defer {
        return full();
    }
    let Some(first) = spans.first() else {
        return full();
    };
    let first = &frame[first.clone()];
    let Some(code) = read_unsigned(serializer, first) else {
        return full();
    };
    let Some(at) = payload_index(code) else {
        return full();
    };
    if spans.len() <= at || spans.len() > at + 2 {
        return full();
    }
    let args = spans[at].clone();
    let mut kwargs = spans.get(at + 1).cloned();
    if !starts_as(serializer, frame[args.start], false)
        || kwargs
            .as_ref()
            .is_some_and(|k| !starts_as(serializer, frame[k.start], true))
    {
        return full();
    }
    // Empty ones are not sent, as the decoder's payload would not send them: an empty
    // `ArgumentsKw` is dropped, and a payload left empty is no payload.
    if kwargs
        .as_ref()
        .is_some_and(|k| is_empty(serializer, &frame[k.clone()]))
    {
        kwargs = None;
    }
    if kwargs.is_none() && is_empty(serializer, &frame[args.clone()]) {
        return full();
    }
    // The envelope: IDs, URIs and the options or details dict, each read straight into
    // what it stands for.
    let mut items = Vec::with_capacity(at);
    items.push(Element::Value(Value::UInt(code)));
    items.extend(
        spans[1..at]
            .iter()
            .map(|span| Element::Raw(serializer, &frame[span.clone()])),
    );
    let payload = EncodedPayload {
        serializer,
        frame: frame.clone(),
        args,
        kwargs,
    };
    let tail = payload.tail_len();
    let (message, _) = bounded::with_budget(limits, || {
        message_from_parts(items, Some((Payload::Encoded(payload), tail)))
    });
    // A message that is not valid WAMP gets the full decoder's error.
    message.or_else(|_| full())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Call, Event, EventDetails, Publish, PublishOptions};
    use crate::{args, kwargs, PublicationId, RequestId, SessionId, SubscriptionId, Uri};

    fn samples() -> Vec<Message> {
        let uri = |s| Uri::parse(s).unwrap();
        vec![
            Call::new(RequestId::MIN, uri("com.example.add"))
                .with_args(args![2, 3])
                .into(),
            Publish::new(RequestId::MIN, uri("com.example.t"))
                .with_args(args!["a", args![1, 2], kwargs! { "k" => "v" }])
                .with_kwargs(kwargs! { "x" => 1.5, "y" => Value::Null })
                .into(),
            Event::new(SubscriptionId::MIN, PublicationId::MIN)
                .with_kwargs(kwargs! { "only" => "kwargs" })
                .into(),
            // Known keys, a null one and unknown ones, read straight into the struct.
            Publish::new(RequestId::MIN, uri("com.example.t"))
                .with_options(PublishOptions {
                    acknowledge: Some(true),
                    exclude: Some(vec![SessionId::MIN]),
                    extra: kwargs! { "_x" => kwargs! { "deep" => args![1] }, "_n" => Value::Null },
                    ..Default::default()
                })
                .with_args(args![1])
                .into(),
            Event::new(SubscriptionId::MIN, PublicationId::MIN).into(),
            // Details of every plain kind and others (a float, a negative, a list), read
            // from the dict's entries.
            {
                let mut event =
                    Event::new(SubscriptionId::MIN, PublicationId::MIN).with_args(args!["x"]);
                event.details = EventDetails {
                    publisher: Some(SessionId::MIN),
                    trustlevel: Some(0),
                    topic: Some(uri("com.example.t")),
                    retained: Some(false),
                    extra: kwargs! {
                        "_f" => 2.5, "_neg" => -3, "_l" => args![1, "a"], "_t" => true,
                        "_n" => Value::Null, "_s" => "é", "_big" => u64::MAX
                    },
                    ..Default::default()
                };
                event.into()
            },
        ]
    }

    #[test]
    fn lazy_and_full_decoding_agree_and_encoding_round_trips() {
        let limits = Limits::default();
        for s in Serializer::ALL {
            for message in samples() {
                let frame = s.encode(&message).unwrap();
                let lazy = s.decode_lazy(&frame, &limits).unwrap();
                assert_eq!(lazy, message, "{s}");
                let kept = matches!(lazy.payload(), Some(Payload::Encoded(_)));
                assert_eq!(kept, !message.payload().unwrap().is_empty(), "{s}");
                // The same serializer writes the same bytes; the others convert.
                assert_eq!(s.encode(&lazy).unwrap(), frame, "{s}");
                for other in Serializer::ALL {
                    let converted = other.encode(&lazy).unwrap();
                    assert_eq!(converted, other.encode(&message).unwrap(), "{s} to {other}");
                }
            }
        }
    }

    #[test]
    fn errors_and_odd_forms_are_the_full_decoders() {
        let limits = Limits::default();
        let json = |s: &str| {
            let frame = Bytes::copy_from_slice(s.as_bytes());
            (
                Serializer::Json.decode_lazy(&frame, &limits),
                Serializer::Json.decode(&frame, &limits),
            )
        };
        for text in [
            r#"[48, 1, {}, "p", {}]"#,
            r#"[48, 1, {}, "p", [], []]"#,
            r#"[48, 1, {}, "p", [1], {}, 3]"#,
            r#"[48, 0, {}, "p", [1]]"#,
            r#"[16, 1, {"acknowledge": 1}, "t", [1]]"#,
            r#"[16, 1, {"acknowledge": true, "exclude": [1, -2]}, "t", [1]]"#,
            r#"[16, 1, {"ack\u006eowledge": true, "_x": {"y": null}}, "t", [1]]"#,
            r#"[36, 1, 2, {"topic": "a.b", "topic": 7}, [1]]"#,
            r#"[36, 1, 2, {"trustlevel": 1.5}, [1]]"#,
            r#"[48, 1, {}, "p", "\u0000AAEC"]"#,
            r#"[48, 1, {}, "p", ["\u0000AAEC"]]"#,
            r#"[48, 1, {}, "p", ["\u0000!!"]]"#,
            r#"[48, 1, {}, "p", [1]"#,
            r#"[48, 1, {}, "p", [1]] x"#,
            r#"[]"#,
            r#"{}"#,
        ] {
            // Syntax errors say where in their own words; everything else is the same.
            match json(text) {
                (Err(DecodeError::Syntax { .. }), Err(DecodeError::Syntax { .. })) => {}
                (lazy, full) => assert_eq!(lazy, full, "{text}"),
            }
        }
        let deep = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let frame = Bytes::from_static(br#"[48, 1, {}, "p", [[[1]]]]"#);
        assert_eq!(
            Serializer::Json.decode_lazy(&frame, &deep),
            Err(DecodeError::TooDeep { limit: 3 })
        );
    }

    #[test]
    fn empty_parts_and_cbor_tags_are_the_full_decoders() {
        let limits = Limits::default();
        let cases: [(Serializer, &[u8]); 6] = [
            (Serializer::Json, br#"[48, 1, {}, "p", []]"#),
            (Serializer::Json, br#"[48, 1, {}, "p", [ ], { }]"#),
            (Serializer::Json, br#"[48, 1, {}, "p", [1], {}]"#),
            (Serializer::MsgPack, b"\x96\x30\x01\x80\xa1p\x91\x01\x80"),
            // A tag inside the payload (fuzzing found the decoder refuses this one).
            (Serializer::Cbor, b"\x84\x18\x32\x01\xa0\x81\xcb\x61x"),
            // A negative integer below i64::MIN in the payload (found by fuzzing too).
            (
                Serializer::Cbor,
                b"\x84\x18\x32\x01\xa0\x81\x3b\x83\x29\x15\x0a\xe4\xea\x00\x25",
            ),
        ];
        for (s, bytes) in cases {
            let frame = Bytes::copy_from_slice(bytes);
            let (lazy, full) = (s.decode_lazy(&frame, &limits), s.decode(bytes, &limits));
            assert_eq!(lazy, full, "{s} {bytes:?}");
            if let (Ok(lazy), Ok(full)) = (lazy, full) {
                for other in Serializer::ALL {
                    assert_eq!(other.encode(&lazy), other.encode(&full), "{s} to {other}");
                }
            }
        }
    }

    #[test]
    fn envelope_elements_read_directly_agree_with_the_full_decoder() {
        let limits = Limits::default();
        // `[48, <id>, {}, <procedure>, [1]]` in MessagePack, with IDs and procedures in
        // the forms the direct readers take and the ones they leave to the decoded path.
        let call = |id: &[u8], procedure: &[u8]| {
            let mut frame = vec![0x95, 0x30];
            frame.extend_from_slice(id);
            frame.push(0x80);
            frame.extend_from_slice(procedure);
            frame.extend_from_slice(&[0x91, 0x01]);
            Bytes::from(frame)
        };
        let p = b"\xa1p".as_slice();
        for (id, procedure, ok) in [
            (&[0x07][..], p, true),
            // A signed 8-bit 5, an integral float and a 64-bit unsigned 7.
            (&[0xd0, 0x05][..], p, true),
            (&[0xcb, 0x40, 0x1c, 0, 0, 0, 0, 0, 0][..], p, true),
            (&[0xcf, 0, 0, 0, 0, 0, 0, 0, 7][..], p, true),
            // Negative, zero, past 2^53, and a procedure in binary.
            (&[0xff][..], p, false),
            (&[0x00][..], p, false),
            (&[0xcf, 0, 0x40, 0, 0, 0, 0, 0, 0][..], p, false),
            (&[0x07][..], b"\xc4\x01p".as_slice(), false),
        ] {
            let frame = call(id, procedure);
            let (lazy, full) = (
                Serializer::MsgPack.decode_lazy(&frame, &limits),
                Serializer::MsgPack.decode(&frame, &limits),
            );
            assert_eq!(lazy, full, "{frame:x?}");
            assert_eq!(lazy.is_ok(), ok, "{frame:x?}: {lazy:?}");
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_as_the_decoder_refuses_it() {
        let limits = Limits::default();
        // Found by the decode_json fuzz target: a duplicate in the forwarded `ArgumentsKw`.
        let json = |text: &str| Bytes::copy_from_slice(text.as_bytes());
        let many: String = (0..40).map(|i| format!(r#""k{i}":{i},"#)).collect();
        let mut frames = vec![
            (
                Serializer::Json,
                json(r#"[16,1,{},"t",[1],{"count":"high","count":5}]"#),
            ),
            (
                Serializer::Json,
                json(r#"[16,1,{},"t",[{"a":{"b":1,"b":2}}]]"#),
            ),
            (Serializer::Json, json(r#"[16,1,{"_x":1,"_x":2},"t",[1]]"#)),
            (
                Serializer::Json,
                json(&format!(r#"[16,1,{{}},"t",[1],{{{many}"k7":0}}]"#)),
            ),
            // Escaped keys are compared by the decoder: "a" and "\u0061" are the same.
            (
                Serializer::Json,
                json(r#"[16,1,{},"t",[1],{"a":1,"\u0061":2}]"#),
            ),
            // The same key as a fixstr and as a str8, in MessagePack.
            (
                Serializer::MsgPack,
                Bytes::from_static(b"\x96\x10\x01\x80\xa1t\x91\x01\x82\xa1k\x01\xd9\x01k\x02"),
            ),
            // In CBOR: {"k": 1, "k": 2} as ArgumentsKw.
            (
                Serializer::Cbor,
                Bytes::from_static(b"\x86\x10\x01\xa0\x61t\x81\x01\xa2\x61k\x01\x61k\x02"),
            ),
        ];
        // Distinct keys still pass, past the point where keys are hashed.
        frames.push((
            Serializer::Json,
            json(&format!(r#"[16,1,{{}},"t",[1],{{{many}"z":0}}]"#)),
        ));
        for (s, frame) in frames {
            let (lazy, full) = (s.decode_lazy(&frame, &limits), s.decode(&frame, &limits));
            match (&lazy, &full) {
                (Err(DecodeError::Syntax { .. }), Err(DecodeError::Syntax { .. })) => {}
                _ => assert_eq!(lazy, full, "{s} {frame:?}"),
            }
            // The skim itself leaves escaped keys to the decoder (it defers).
            if !frame.windows(2).any(|w| w == b"\\u") {
                assert_eq!(
                    s.skim(&frame, &limits).is_ok(),
                    full.is_ok(),
                    "{s} {frame:?}"
                );
            }
        }
    }

    #[test]
    fn a_kept_payload_counts_its_frame() {
        let frame = Serializer::MsgPack.encode(&samples()[1]).expect("encodes");
        let lazy = Serializer::MsgPack
            .decode_lazy(&frame, &Limits::default())
            .unwrap();
        let Some(Payload::Encoded(p)) = lazy.payload() else {
            panic!("kept encoded")
        };
        assert_eq!(p.footprint(), frame.len());
        assert_eq!(p.serializer(), Serializer::MsgPack);
        assert!(p.kwargs_bytes().is_some());
    }
}
