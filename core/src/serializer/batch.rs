//! Batched WebSocket framing (`wamp.2.*.batched`).
//!
//! JSON: every message is followed by a separator octet. The spec text names 0x1e; Autobahn
//! and Crossbar send 0x18. Neither can occur unescaped inside JSON text, so we accept both
//! and send 0x18 for interoperability. MessagePack and CBOR: every message is preceded by its
//! length as a 4-byte big-endian integer.

use bytes::Bytes;

use super::{DecodeError, EncodeError, Limits, Serializer};
use crate::message::Message;

/// The JSON separator Autobahn and Crossbar use (and we send).
pub(crate) const JSON_SEPARATOR: u8 = 0x18;
/// The JSON separator the spec text names (accepted on input).
pub(crate) const JSON_SEPARATOR_SPEC: u8 = 0x1e;

pub(crate) fn encode(serializer: Serializer, messages: &[Message]) -> Result<Bytes, EncodeError> {
    let mut out = Vec::new();
    for message in messages {
        let encoded = serializer.encode(message)?;
        match serializer {
            Serializer::Json => {
                out.extend_from_slice(&encoded);
                out.push(JSON_SEPARATOR);
            }
            Serializer::MsgPack | Serializer::Cbor => {
                let len = u32::try_from(encoded.len()).map_err(|_| EncodeError {
                    serializer: serializer.name(),
                    detail: format!("message of {} bytes is too long for a batch", encoded.len()),
                })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&encoded);
            }
        }
    }
    Ok(out.into())
}

pub(crate) fn frame_one(serializer: Serializer, encoded: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(encoded.len() + 4);
    match serializer {
        Serializer::Json => {
            out.extend_from_slice(encoded);
            out.push(JSON_SEPARATOR);
        }
        Serializer::MsgPack | Serializer::Cbor => {
            // Messages are bounded far below 4 GiB by the transports' limits.
            out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
            out.extend_from_slice(encoded);
        }
    }
    out.into()
}

/// Decodes a batch; with `lazy` (the batch's own bytes, which `bytes` is) each message keeps
/// its payload encoded, as [`Serializer::decode_lazy`] does.
pub(crate) fn decode(
    serializer: Serializer,
    bytes: &[u8],
    limits: &Limits,
    lazy: Option<&Bytes>,
) -> Result<Vec<Message>, DecodeError> {
    let mut messages = Vec::new();
    let push = |messages: &mut Vec<Message>, part: &[u8]| {
        if messages.len() == limits.max_batch_len {
            return Err(DecodeError::Batch(format!(
                "more than {} messages in one batch",
                limits.max_batch_len
            )));
        }
        messages.push(match lazy {
            Some(frame) => serializer.decode_lazy(&frame.slice_ref(part), limits)?,
            None => serializer.decode(part, limits)?,
        });
        Ok(())
    };
    match serializer {
        Serializer::Json => {
            let mut parts = bytes
                .split(|b| *b == JSON_SEPARATOR || *b == JSON_SEPARATOR_SPEC)
                .peekable();
            while let Some(part) = parts.next() {
                let last = parts.peek().is_none();
                if part.is_empty() {
                    if last {
                        break;
                    }
                    return Err(DecodeError::Batch(
                        "empty message between separators".into(),
                    ));
                }
                push(&mut messages, part)?;
            }
        }
        Serializer::MsgPack | Serializer::Cbor => {
            let mut rest = bytes;
            while !rest.is_empty() {
                let Some((header, tail)) = rest.split_first_chunk::<4>() else {
                    return Err(DecodeError::Batch(format!(
                        "{} bytes left, too few for a 4-byte length prefix",
                        rest.len()
                    )));
                };
                let len = u32::from_be_bytes(*header) as usize;
                if len > tail.len() {
                    return Err(DecodeError::Batch(format!(
                        "length prefix says {len} bytes but only {} remain",
                        tail.len()
                    )));
                }
                let (part, next) = tail.split_at(len);
                push(&mut messages, part)?;
                rest = next;
            }
        }
    }
    if messages.is_empty() {
        return Err(DecodeError::Batch(
            "a batch must hold at least one message".into(),
        ));
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Goodbye, Published};
    use crate::{PublicationId, RequestId};

    fn sample() -> Vec<Message> {
        vec![
            Message::Published(Published {
                request: RequestId::MIN,
                publication: PublicationId::new(99).unwrap(),
            }),
            Message::Goodbye(Goodbye::new(crate::uri::close::NORMAL)),
        ]
    }

    #[test]
    fn round_trip_every_serializer() {
        for s in Serializer::ALL {
            let bytes = encode(s, &sample()).unwrap();
            assert_eq!(
                decode(s, &bytes, &Limits::default(), None).unwrap(),
                sample(),
                "{s}"
            );
            assert_eq!(
                decode(s, &bytes, &Limits::default(), Some(&bytes)).unwrap(),
                sample(),
                "{s}"
            );
        }
    }

    #[test]
    fn json_accepts_both_separators_and_sends_0x18() {
        let bytes = encode(Serializer::Json, &sample()).unwrap();
        assert_eq!(bytes.iter().filter(|b| **b == 0x18).count(), 2);
        let spec = b"[17,1,99]\x1e[6,{},\"wamp.close.normal\"]\x1e";
        assert_eq!(
            decode(Serializer::Json, spec, &Limits::default(), None).unwrap(),
            sample()
        );
        let mixed = b"[17,1,99]\x18[6,{},\"wamp.close.normal\"]";
        assert_eq!(
            decode(Serializer::Json, mixed, &Limits::default(), None).unwrap(),
            sample()
        );
    }

    #[test]
    fn malformed_batches_are_rejected() {
        let l = Limits::default();
        assert!(decode(Serializer::Json, b"", &l, None).is_err());
        assert!(decode(Serializer::Json, b"\x18", &l, None).is_err());
        assert!(decode(Serializer::Json, b"[17,1,99]\x18\x18[17,1,99]", &l, None).is_err());
        assert!(decode(Serializer::MsgPack, b"", &l, None).is_err());
        assert!(decode(Serializer::MsgPack, b"\x00\x00", &l, None).is_err());
        assert!(decode(Serializer::Cbor, b"\x00\x00\x00\x09\x83", &l, None).is_err());
        let tight = Limits {
            max_batch_len: 1,
            ..l
        };
        let bytes = encode(Serializer::Cbor, &sample()).unwrap();
        assert!(matches!(
            decode(Serializer::Cbor, &bytes, &tight, None),
            Err(DecodeError::Batch(_))
        ));
    }
}
