//! The scalars of a message's envelope (IDs, URIs) read straight from the bytes of one
//! element that the skim has checked: a few comparisons, where a deserializer would set
//! itself up for every element. Anything but the plain forms is `None`, and the caller
//! reads the element with the deserializer instead, so these never decide what is valid.

use super::Serializer;

impl Serializer {
    /// `bytes`, one encoded element, as a non-negative integer in one of its plain forms.
    pub(crate) fn plain_uint(self, bytes: &[u8]) -> Option<u64> {
        let (&first, rest) = bytes.split_first()?;
        match self {
            Serializer::MsgPack => match first {
                0x00..=0x7f if rest.is_empty() => Some(u64::from(first)),
                0xcc..=0xcf => big_endian(rest, 1 << (first - 0xcc)),
                // Signed forms holding a non-negative value.
                0xd0..=0xd3 => {
                    let width = 1usize << (first - 0xd0);
                    let shift = 64 - 8 * width as u32;
                    let value = big_endian(rest, width)?;
                    u64::try_from(((value << shift) as i64) >> shift).ok()
                }
                _ => None,
            },
            Serializer::Cbor => match (first >> 5, first & 0x1f) {
                (0, info) => cbor_argument(info, rest).filter(|(_, body)| body.is_empty()),
                _ => None,
            }
            .map(|(value, _)| value),
            Serializer::Json => {
                if bytes.len() > 20 || !bytes.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                bytes.iter().try_fold(0u64, |n, &d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
            }
        }
    }

    /// `bytes`, one encoded element, as text in one of its plain forms (no JSON escapes).
    pub(crate) fn plain_str(self, bytes: &[u8]) -> Option<&str> {
        let (&first, rest) = bytes.split_first()?;
        let body = match self {
            Serializer::MsgPack => {
                let (len, body) = match first {
                    0xa0..=0xbf => (usize::from(first & 0x1f), rest),
                    0xd9..=0xdb => {
                        let width = 1usize << (first - 0xd9);
                        let len = big_endian(rest.get(..width)?, width)?;
                        (usize::try_from(len).ok()?, &rest[width..])
                    }
                    _ => return None,
                };
                (body.len() == len).then_some(body)?
            }
            Serializer::Cbor => match (first >> 5, first & 0x1f) {
                (3, info) => {
                    let (len, body) = cbor_argument(info, rest)?;
                    (body.len() as u64 == len).then_some(body)?
                }
                _ => return None,
            },
            Serializer::Json => {
                let body = rest.strip_suffix(b"\"").filter(|_| first == b'"')?;
                if body.contains(&b'\\') {
                    return None;
                }
                body
            }
        };
        std::str::from_utf8(body).ok()
    }
}

/// The big-endian unsigned integer of exactly `width` bytes.
fn big_endian(bytes: &[u8], width: usize) -> Option<u64> {
    (bytes.len() == width).then(|| bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

/// A CBOR head's argument (its additional information `info` and what follows), and the
/// bytes after it; `None` for the indefinite and reserved forms.
fn cbor_argument(info: u8, rest: &[u8]) -> Option<(u64, &[u8])> {
    let width = match info {
        0..=23 => return Some((u64::from(info), rest)),
        24..=27 => 1usize << (info - 24),
        _ => return None,
    };
    let value = big_endian(rest.get(..width)?, width)?;
    Some((value, &rest[width..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Value};

    /// Whatever the plain readers take, the decoder reads as the same value.
    #[test]
    fn plain_forms_agree_with_the_decoder() {
        let limits = Limits::default();
        let uints = [
            0u64,
            1,
            23,
            24,
            127,
            128,
            255,
            256,
            65535,
            65536,
            1 << 32,
            u64::MAX,
        ];
        for s in Serializer::ALL {
            for n in uints {
                let bytes = s.encode_value(&Value::UInt(n)).unwrap();
                assert_eq!(s.plain_uint(&bytes), Some(n), "{s} {n}");
            }
            for text in [
                "",
                "a",
                "com.example.add",
                &"x".repeat(40),
                &"é".repeat(200),
            ] {
                let bytes = s.encode_value(&Value::from(text)).unwrap();
                assert_eq!(s.plain_str(&bytes), Some(text), "{s} {text}");
            }
            for other in [
                Value::Int(-1),
                Value::Float(1.0),
                Value::Bool(true),
                Value::Null,
            ] {
                let bytes = s.encode_value(&other).unwrap();
                assert_eq!(s.plain_uint(&bytes), None, "{s} {other:?}");
                assert_eq!(s.plain_str(&bytes), None, "{s} {other:?}");
            }
        }
        // Signed MessagePack forms with a non-negative value, a negative one, binary, a
        // JSON escape, and a number JSON writes with a fraction.
        let m = Serializer::MsgPack;
        assert_eq!(m.plain_uint(&[0xd0, 0x05]), Some(5));
        assert_eq!(m.plain_uint(&[0xd1, 0x7f, 0xff]), Some(32767));
        assert_eq!(m.plain_uint(&[0xd0, 0xff]), None);
        assert_eq!(m.plain_str(&[0xc4, 0x01, b'p']), None);
        assert_eq!(m.plain_str(&[0xd9, 0x01, b'p']), Some("p"));
        assert_eq!(Serializer::Json.plain_str(br#""a\"b""#), None);
        assert_eq!(Serializer::Json.plain_uint(b"5.0"), None);
        assert_eq!(Serializer::Json.plain_uint(b"99999999999999999999"), None);
        for (s, bytes) in [
            (m, &[0xd0, 0x05][..]),
            (m, &[0xd9, 0x01, b'p'][..]),
            (Serializer::Cbor, &[0x18, 0x05][..]),
        ] {
            let decoded = s.decode_value(bytes, &limits).unwrap();
            let plain = s
                .plain_uint(bytes)
                .map(Value::UInt)
                .or_else(|| s.plain_str(bytes).map(Value::from));
            assert_eq!(plain, Some(decoded), "{s} {bytes:x?}");
        }
        // Truncated or padded encodings are not plain.
        assert_eq!(m.plain_uint(&[0xcd, 0x01]), None);
        assert_eq!(m.plain_str(&[0xa2, b'p']), None);
        assert_eq!(Serializer::Cbor.plain_str(&[0x62, b'p']), None);
        assert_eq!(Serializer::Cbor.plain_uint(&[0x19, 0x01]), None);
    }
}
