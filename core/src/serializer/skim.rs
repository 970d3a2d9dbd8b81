//! Finding the elements of an encoded message without decoding them: the byte range of each
//! element of the message's list, checked for well-formedness and for the [`Limits`] on the
//! way, but never built into [`Value`](crate::Value)s. What forwards a payload it does not
//! read (a relay, a lazy payload) starts here.
//!
//! The checks are of the encoding: well-formed values, UTF-8 text, string dict keys given
//! once per dict, nothing after the list, and the [`Limits`], which fail with the same typed
//! [`DecodeError`]s as the decoder's. They differ from the decoder's in corner cases no WAMP
//! peer produces: a message that is a MessagePack extension value (which the decoder reads
//! as a list), a CBOR dict with keys of another kind (the decoder converts some), and
//! JSON's `"\u0000"` binary strings (whose base64 is checked when they are decoded), and
//! keys written with JSON escapes or in CBOR chunks (compared only by the decoder). The
//! walk recurses at most [`Limits::max_depth`] levels.

use std::ops::Range;

use super::{DecodeError, Limits, Serializer};

/// The byte ranges of the elements of the list `bytes` encodes (see [`Serializer::skim`]).
pub(super) fn skim(
    serializer: Serializer,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<Range<usize>>, DecodeError> {
    skim_flagged(serializer, bytes, limits).map(|(elements, _)| elements)
}

/// [`skim`], and whether the message holds something only the decoder can judge: a JSON
/// string starting with `\u0000` (WAMP's binary in JSON, whose base64 only the decoder
/// checks) or a CBOR tag (which the decoder reads through for some tags and refuses for
/// others).
pub(crate) fn skim_flagged(
    serializer: Serializer,
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<Range<usize>>, bool), DecodeError> {
    if bytes.len() > limits.max_message_size {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: limits.max_message_size,
        });
    }
    let mut walk = Walk::new(serializer, bytes, limits);
    let elements = match serializer {
        Serializer::MsgPack => walk.msgpack_message()?,
        Serializer::Cbor => walk.cbor_message()?,
        Serializer::Json => walk.json_message()?,
    };
    Ok((elements, walk.defer))
}

/// The key and value ranges of the entries of the dict `bytes` encodes (one element of a
/// message the skim has checked already), in order; `None` for anything else, or for forms
/// the caller leaves to the deserializer (a CBOR dict of indefinite length).
pub(crate) fn dict_entries(
    serializer: Serializer,
    bytes: &[u8],
    limits: &Limits,
) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    let mut walk = Walk::new(serializer, bytes, limits);
    let mut entries = Vec::new();
    let depth = walk.enter(0).ok()?;
    match serializer {
        Serializer::MsgPack => {
            let n = match walk.byte().ok()? {
                b @ 0x80..=0x8f => u64::from(b & 0x0f),
                0xde => walk.uint_be(2).ok()?,
                0xdf => walk.uint_be(4).ok()?,
                _ => return None,
            };
            for _ in 0..walk.check_len(n).ok()? {
                let key = walk.at;
                walk.msgpack_key().ok()?;
                let value = walk.at;
                walk.msgpack_value(depth).ok()?;
                entries.push((key..value, value..walk.at));
            }
        }
        Serializer::Cbor => {
            let head = walk.byte().ok()?;
            if head >> 5 != 5 {
                return None;
            }
            let n = walk.cbor_arg(head).ok()??;
            for _ in 0..walk.check_len(n).ok()? {
                let key = walk.at;
                if !matches!(walk.bytes.get(key), Some(b) if b >> 5 == 3) {
                    return None;
                }
                walk.cbor_value(depth).ok()?;
                let value = walk.at;
                walk.cbor_value(depth).ok()?;
                entries.push((key..value, value..walk.at));
            }
        }
        Serializer::Json => {
            if walk.byte().ok()? != b'{' {
                return None;
            }
            walk.json_items(b'}', |w| {
                let key = w.at;
                if w.bytes.get(key) != Some(&b'"') {
                    return Err(w.syntax("a dict key that is not a string"));
                }
                w.json_string()?;
                let key = key..w.at;
                w.json_space();
                if w.byte()? != b':' {
                    return Err(w.syntax("expected ':'"));
                }
                w.json_space();
                let value = w.at;
                w.json_value(depth)?;
                entries.push((key, value..w.at));
                Ok(())
            })
            .ok()?;
        }
    }
    (walk.at == bytes.len() && !walk.defer).then_some(entries)
}

/// Encodes `elements` (each one encoded value of `serializer`) as a list.
pub(super) fn join(serializer: Serializer, elements: &[&[u8]]) -> Vec<u8> {
    let body: usize = elements.iter().map(|e| e.len()).sum();
    let mut out = Vec::with_capacity(body + elements.len() + 9);
    let n = elements.len();
    match serializer {
        Serializer::Json => {
            out.push(b'[');
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(e);
            }
            out.push(b']');
            return out;
        }
        Serializer::MsgPack => {
            if n < 16 {
                out.push(0x90 | n as u8);
            } else if let Ok(n) = u16::try_from(n) {
                out.push(0xdc);
                out.extend_from_slice(&n.to_be_bytes());
            } else {
                out.push(0xdd);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
        Serializer::Cbor => cbor_head(&mut out, 4, n as u64),
    }
    for e in elements {
        out.extend_from_slice(e);
    }
    out
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[m | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(m | 25);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(m | 26);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// The keys of one dict seen so far: compared one by one while few, hashed beyond that (a
/// peer's dict with many keys must not cost a comparison of every pair).
#[derive(Default)]
struct Keys<'a> {
    few: [&'a [u8]; 8],
    len: usize,
    many: Option<std::collections::HashSet<&'a [u8]>>,
}

impl<'a> Keys<'a> {
    /// Adds `key`; false if the dict had it already.
    #[inline(always)]
    fn insert(&mut self, key: &'a [u8]) -> bool {
        if self.len < self.few.len() {
            // Slices compare their lengths first: keys of other lengths cost one comparison.
            if self.few[..self.len].contains(&key) {
                return false;
            }
            self.few[self.len] = key;
            self.len += 1;
            return true;
        }
        self.insert_many(key)
    }

    #[inline(never)]
    fn insert_many(&mut self, key: &'a [u8]) -> bool {
        let few = &self.few;
        self.many
            .get_or_insert_with(|| few.iter().copied().collect())
            .insert(key)
    }
}

/// A cursor over the bytes, with what is left of the limits.
struct Walk<'a> {
    serializer: Serializer,
    bytes: &'a [u8],
    at: usize,
    limits: &'a Limits,
    values_left: usize,
    /// A JSON string started with `\u0000`, or a CBOR tag was seen.
    defer: bool,
}

impl<'a> Walk<'a> {
    fn new(serializer: Serializer, bytes: &'a [u8], limits: &'a Limits) -> Self {
        Walk {
            serializer,
            bytes,
            at: 0,
            limits,
            values_left: limits.max_values,
            defer: false,
        }
    }

    fn syntax(&self, what: &str) -> DecodeError {
        DecodeError::Syntax {
            serializer: self.serializer.name(),
            detail: format!("{what} at byte {}", self.at),
        }
    }

    fn one_value(&mut self) -> Result<(), DecodeError> {
        if self.values_left == 0 {
            return Err(DecodeError::TooManyValues {
                limit: self.limits.max_values,
            });
        }
        self.values_left -= 1;
        Ok(())
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        if depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        Ok(depth + 1)
    }

    fn check_len(&self, n: u64) -> Result<usize, DecodeError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.limits.max_collection_len => Ok(n),
            _ => Err(DecodeError::CollectionTooLong {
                limit: self.limits.max_collection_len,
            }),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| self.syntax("unexpected end of input"))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], DecodeError> {
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.syntax("unexpected end of input"));
        }
        let start = self.at;
        self.at += n as usize;
        Ok(&self.bytes[start..self.at])
    }

    fn uint_be(&mut self, width: u64) -> Result<u64, DecodeError> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0u64, |n, b| n << 8 | u64::from(*b)))
    }

    fn utf8(&mut self, n: u64) -> Result<(), DecodeError> {
        let at = self.at;
        let text = self.take(n)?;
        // ASCII (most WAMP text) is checked a word at a time.
        if !text.is_ascii() && std::str::from_utf8(text).is_err() {
            self.at = at;
            return Err(self.syntax("invalid UTF-8 in a string"));
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.at != self.bytes.len() {
            return Err(self.syntax("trailing bytes after the message"));
        }
        Ok(())
    }

    // --- MessagePack ---------------------------------------------------------------------

    fn msgpack_message(&mut self) -> Result<Vec<Range<usize>>, DecodeError> {
        self.one_value()?;
        let n = match self.byte()? {
            b @ 0x90..=0x9f => u64::from(b & 0x0f),
            0xdc => self.uint_be(2)?,
            0xdd => self.uint_be(4)?,
            _ => {
                self.at -= 1;
                return Err(self.syntax("a message must be a list"));
            }
        };
        let n = self.check_len(n)?;
        let depth = self.enter(0)?;
        let mut elements = Vec::with_capacity(n.min(8));
        for _ in 0..n {
            let start = self.at;
            self.msgpack_value(depth)?;
            elements.push(start..self.at);
        }
        self.finish()?;
        Ok(elements)
    }

    fn msgpack_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.one_value()?;
        let marker = self.byte()?;
        let (items, pairs) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => return Ok(()),
            0x80..=0x8f => (0, u64::from(marker & 0x0f)),
            0x90..=0x9f => (u64::from(marker & 0x0f), 0),
            0xa0..=0xbf => return self.utf8(u64::from(marker & 0x1f)),
            0xc4 => return self.msgpack_blob(1),
            0xc5 => return self.msgpack_blob(2),
            0xc6 => return self.msgpack_blob(4),
            0xca => return self.take(4).map(drop),
            0xcb => return self.take(8).map(drop),
            0xcc | 0xd0 => return self.take(1).map(drop),
            0xcd | 0xd1 => return self.take(2).map(drop),
            0xce | 0xd2 => return self.take(4).map(drop),
            0xcf | 0xd3 => return self.take(8).map(drop),
            0xd9 => {
                let n = self.uint_be(1)?;
                return self.utf8(n);
            }
            0xda => {
                let n = self.uint_be(2)?;
                return self.utf8(n);
            }
            0xdb => {
                let n = self.uint_be(4)?;
                return self.utf8(n);
            }
            0xdc => (self.uint_be(2)?, 0),
            0xdd => (self.uint_be(4)?, 0),
            0xde => (0, self.uint_be(2)?),
            0xdf => (0, self.uint_be(4)?),
            // Extension types: no WAMP value is one, but the decoder reads them (as a
            // list of the type and the data), so they skim too.
            0xd4 => return self.take(2).map(drop),
            0xd5 => return self.take(3).map(drop),
            0xd6 => return self.take(5).map(drop),
            0xd7 => return self.take(9).map(drop),
            0xd8 => return self.take(17).map(drop),
            0xc7 => return self.msgpack_ext(1),
            0xc8 => return self.msgpack_ext(2),
            0xc9 => return self.msgpack_ext(4),
            // 0xc1 is never used.
            _ => {
                self.at -= 1;
                return Err(self.syntax("a MessagePack type WAMP does not use"));
            }
        };
        let depth = self.enter(depth)?;
        if pairs > 0 {
            self.msgpack_entries(pairs, depth)?;
        } else {
            for _ in 0..self.check_len(items)? {
                self.msgpack_value(depth)?;
            }
        }
        Ok(())
    }

    /// Dict keys are strings in WAMP.
    /// The entries of a dict. Apart from `msgpack_value`, so the key set is not part of the
    /// stack frame of every value the recursion walks.
    #[inline(never)]
    fn msgpack_entries(&mut self, pairs: u64, depth: usize) -> Result<(), DecodeError> {
        let mut keys = Keys::default();
        for _ in 0..self.check_len(pairs)? {
            let key = self.msgpack_key()?;
            self.unique(&mut keys, key)?;
            self.msgpack_value(depth)?;
        }
        Ok(())
    }

    /// A dict key: its text, which WAMP requires.
    fn msgpack_key(&mut self) -> Result<&'a [u8], DecodeError> {
        self.one_value()?;
        let n = match self.byte()? {
            b @ 0xa0..=0xbf => u64::from(b & 0x1f),
            0xd9 => self.uint_be(1)?,
            0xda => self.uint_be(2)?,
            0xdb => self.uint_be(4)?,
            _ => {
                self.at -= 1;
                return Err(self.syntax("a dict key that is not a string"));
            }
        };
        let start = self.at;
        self.utf8(n)?;
        let bytes: &'a [u8] = self.bytes;
        Ok(&bytes[start..self.at])
    }

    /// Refuses `key` if this dict had it already, as the decoder does.
    fn unique(&mut self, keys: &mut Keys<'a>, key: &'a [u8]) -> Result<(), DecodeError> {
        if keys.insert(key) {
            return Ok(());
        }
        Err(self.syntax("a key given twice in a dict"))
    }

    fn msgpack_ext(&mut self, width: u64) -> Result<(), DecodeError> {
        let n = self.uint_be(width)?;
        self.take(n + 1).map(drop)
    }

    fn msgpack_blob(&mut self, width: u64) -> Result<(), DecodeError> {
        let n = self.uint_be(width)?;
        self.take(n).map(drop)
    }

    // --- CBOR ----------------------------------------------------------------------------

    fn cbor_message(&mut self) -> Result<Vec<Range<usize>>, DecodeError> {
        self.one_value()?;
        let head = self.byte()?;
        if head >> 5 != 4 {
            self.at -= 1;
            return Err(self.syntax("a message must be a list"));
        }
        let depth = self.enter(0)?;
        let mut elements = Vec::with_capacity(8);
        let arg = self.cbor_arg(head)?;
        self.cbor_items(arg, |w| {
            let start = w.at;
            w.cbor_value(depth)?;
            elements.push(start..w.at);
            Ok(())
        })?;
        self.finish()?;
        Ok(elements)
    }

    /// The items of a list or dict whose head was just read: `count` of them, or up to the
    /// "break" when the length is indefinite; each by `item`, within the collection limit.
    fn cbor_items(
        &mut self,
        count: Option<u64>,
        mut item: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        match count {
            Some(n) => {
                for _ in 0..self.check_len(n)? {
                    item(self)?;
                }
            }
            None => {
                let mut n = 0u64;
                while !self.cbor_break()? {
                    n += 1;
                    self.check_len(n)?;
                    item(self)?;
                }
            }
        }
        Ok(())
    }

    /// The argument of a head byte already read: `None` for an indefinite length.
    fn cbor_arg(&mut self, head: u8) -> Result<Option<u64>, DecodeError> {
        match head & 0x1f {
            n @ 0..=23 => Ok(Some(u64::from(n))),
            24 => self.uint_be(1).map(Some),
            25 => self.uint_be(2).map(Some),
            26 => self.uint_be(4).map(Some),
            27 => self.uint_be(8).map(Some),
            31 if matches!(head >> 5, 2..=5) => Ok(None),
            _ => {
                self.at -= 1;
                Err(self.syntax("a malformed CBOR head"))
            }
        }
    }

    /// Consumes the "break" that ends an indefinite length, if it is next.
    fn cbor_break(&mut self) -> Result<bool, DecodeError> {
        match self.bytes.get(self.at) {
            Some(0xff) => {
                self.at += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    /// The entries of a dict (apart from `cbor_value`: see `msgpack_entries`).
    #[inline(never)]
    fn cbor_entries(&mut self, count: Option<u64>, depth: usize) -> Result<(), DecodeError> {
        let mut keys = Keys::default();
        self.cbor_items(count, |w| w.cbor_entry(&mut keys, depth))
    }

    /// A dict entry: its key is a string in WAMP, and not one the dict had already.
    fn cbor_entry(&mut self, keys: &mut Keys<'a>, depth: usize) -> Result<(), DecodeError> {
        let start = self.at;
        let Some(&head) = self.bytes.get(start) else {
            return Err(self.syntax("unexpected end of input"));
        };
        if head >> 5 != 3 {
            return Err(self.syntax("a dict key that is not a string"));
        }
        self.cbor_value(depth)?;
        // The text after the head; one in chunks is compared by the decoder instead.
        let head_len = match head & 0x1f {
            0..=23 => 1,
            24..=27 => 1 + (1 << ((head & 0x1f) - 24)),
            _ => {
                self.defer = true;
                return self.cbor_value(depth);
            }
        };
        let bytes: &'a [u8] = self.bytes;
        let key = &bytes[start + head_len..self.at];
        if !keys.insert(key) {
            self.at = start;
            return Err(self.syntax("a key given twice in a dict"));
        }
        self.cbor_value(depth)
    }

    fn cbor_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.one_value()?;
        let head = self.byte()?;
        let major = head >> 5;
        if major == 7 {
            return match head & 0x1f {
                // false, true, null, undefined
                20..=23 => Ok(()),
                25 => self.take(2).map(drop),
                26 => self.take(4).map(drop),
                27 => self.take(8).map(drop),
                _ => {
                    self.at -= 1;
                    Err(self.syntax("a CBOR simple value WAMP does not use"))
                }
            };
        }
        let arg = self.cbor_arg(head)?;
        match (major, arg) {
            // The decoder's integers are 64-bit: a negative one below i64::MIN is refused.
            (1, Some(n)) if n > i64::MAX as u64 => {
                self.at -= 1;
                Err(self.syntax("a negative integer that does not fit in 64 bits"))
            }
            (0 | 1, _) => Ok(()),
            (2, Some(n)) => self.take(n).map(drop),
            (3, Some(n)) => self.utf8(n),
            (2 | 3, None) => {
                // Chunks of the same major type, each of definite length.
                while !self.cbor_break()? {
                    let chunk = self.byte()?;
                    if chunk >> 5 != major || chunk & 0x1f == 31 {
                        self.at -= 1;
                        return Err(self.syntax("a malformed chunk of an indefinite string"));
                    }
                    let n = self.cbor_arg(chunk)?.unwrap_or(0);
                    if major == 3 {
                        self.utf8(n)?;
                    } else {
                        self.take(n)?;
                    }
                }
                Ok(())
            }
            (4, arg) => {
                let depth = self.enter(depth)?;
                self.cbor_items(arg, |w| w.cbor_value(depth))
            }
            (5, arg) => {
                let depth = self.enter(depth)?;
                self.cbor_entries(arg, depth)
            }
            // A tag and the one item it tags; the decoder reads through tags too.
            (6, _) => {
                self.defer = true;
                let depth = self.enter(depth)?;
                self.cbor_value(depth)
            }
            _ => Err(self.syntax("a malformed CBOR head")),
        }
    }

    // --- JSON ----------------------------------------------------------------------------

    fn json_message(&mut self) -> Result<Vec<Range<usize>>, DecodeError> {
        if !self.bytes.is_ascii() && std::str::from_utf8(self.bytes).is_err() {
            return Err(self.syntax("invalid UTF-8"));
        }
        self.json_space();
        if self.bytes.get(self.at) != Some(&b'[') {
            return Err(self.syntax("a message must be a list"));
        }
        self.one_value()?;
        self.at += 1;
        let depth = self.enter(0)?;
        let mut elements = Vec::with_capacity(8);
        self.json_items(b']', |w| {
            let start = w.at;
            w.json_value(depth)?;
            elements.push(start..w.at);
            Ok(())
        })?;
        self.json_space();
        self.finish()?;
        Ok(elements)
    }

    /// The items of a list or dict whose opening bracket was just read, up to and
    /// including `close`: the separators, the collection limit, each item by `item`.
    fn json_items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        self.json_space();
        if self.bytes.get(self.at) == Some(&close) {
            self.at += 1;
            return Ok(());
        }
        let mut count = 0u64;
        loop {
            count += 1;
            self.check_len(count)?;
            self.json_space();
            item(self)?;
            self.json_space();
            match self.byte()? {
                b',' => {}
                b if b == close => return Ok(()),
                _ => {
                    self.at -= 1;
                    return Err(self.syntax(if close == b']' {
                        "expected ',' or ']'"
                    } else {
                        "expected ',' or '}'"
                    }));
                }
            }
        }
    }

    fn json_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn json_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.one_value()?;
        match self.bytes.get(self.at) {
            Some(b'"') => self.json_string(),
            Some(b'[') => {
                self.at += 1;
                let depth = self.enter(depth)?;
                self.json_items(b']', |w| w.json_value(depth))
            }
            Some(b'{') => {
                self.at += 1;
                let depth = self.enter(depth)?;
                self.json_dict(depth)
            }
            Some(b't') => self.json_literal(b"true"),
            Some(b'f') => self.json_literal(b"false"),
            Some(b'n') => self.json_literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.json_number(),
            Some(_) => Err(self.syntax("expected a value")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    /// The entries of a dict whose `{` was just read (apart from `json_value`: see
    /// `msgpack_entries`).
    #[inline(never)]
    fn json_dict(&mut self, depth: usize) -> Result<(), DecodeError> {
        let mut keys = Keys::default();
        self.json_items(b'}', |w| {
            let start = w.at;
            if w.bytes.get(start) != Some(&b'"') {
                return Err(w.syntax("a dict key that is not a string"));
            }
            w.one_value()?;
            w.json_string()?;
            // The text between the quotes; one with escapes is compared by the
            // decoder instead (`"a"` and `"\u0061"` are the same key).
            let bytes: &'a [u8] = w.bytes;
            let key = &bytes[start + 1..w.at - 1];
            if key.contains(&b'\\') {
                w.defer = true;
            } else if !keys.insert(key) {
                w.at = start;
                return Err(w.syntax("a key given twice in a dict"));
            }
            w.json_space();
            if w.byte()? != b':' {
                w.at -= 1;
                return Err(w.syntax("expected ':'"));
            }
            w.json_space();
            w.json_value(depth)
        })
    }

    fn json_literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.syntax("expected a value"))
        }
    }

    /// A string, from its opening quote; the whole input is already known to be UTF-8.
    fn json_string(&mut self) -> Result<(), DecodeError> {
        self.at += 1;
        if self.bytes[self.at..].starts_with(b"\\u0000") {
            self.defer = true;
        }
        loop {
            // Plain characters go by fast; only quotes, escapes and control characters stop.
            let rest = &self.bytes[self.at..];
            let stop = memchr::memchr2(b'"', b'\\', rest)
                .ok_or_else(|| self.syntax("an unterminated string"))?;
            // No early exit, so this compiles to vector compares.
            if rest[..stop].iter().fold(false, |any, &b| any | (b < 0x20)) {
                self.at += rest.iter().position(|&b| b < 0x20).unwrap_or(stop);
                return Err(self.syntax("a control character in a string"));
            }
            self.at += stop;
            match self.byte()? {
                b'"' => return Ok(()),
                b'\\' => match self.byte()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = self.take(4)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            self.at -= 4;
                            return Err(self.syntax("a malformed \\u escape"));
                        }
                    }
                    _ => {
                        self.at -= 1;
                        return Err(self.syntax("an unknown escape"));
                    }
                },
                _ => {
                    self.at -= 1;
                    return Err(self.syntax("a control character in a string"));
                }
            }
        }
    }

    fn json_number(&mut self) -> Result<(), DecodeError> {
        let start = self.at;
        self.json_number_syntax()?;
        // The decoder refuses a number too large for a 64-bit float; integers within u64 or
        // i64 and short ones cannot be, so only the others are parsed.
        let text = &self.bytes[start..self.at];
        if text.len() > 18 || text.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            let parsed = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok());
            if !parsed.is_some_and(f64::is_finite) {
                self.at = start;
                return Err(self.syntax("a number out of range"));
            }
        }
        Ok(())
    }

    fn json_number_syntax(&mut self) -> Result<(), DecodeError> {
        let digits = |w: &mut Self| {
            let n = w.bytes[w.at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            w.at += n;
            n
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.syntax("a malformed number")),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.syntax("a malformed number"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax("a malformed number"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Call, Event, Message, Publish};
    use crate::{args, kwargs, PublicationId, RequestId, SubscriptionId, Uri, Value};

    fn samples() -> Vec<Message> {
        let topic = Uri::parse("com.example.topic").unwrap();
        vec![
            Message::Call(
                Call::new(RequestId::MIN, Uri::parse("com.example.add").unwrap())
                    .with_args(args![2, -3, 1.5, "x", true, Value::Null])
                    .with_kwargs(kwargs! {"deep" => args![args![Value::from(vec![1u8, 2, 3])]]}),
            ),
            Message::Publish(Publish::new(RequestId::MIN, topic).with_args(args!["é\"\\\n"])),
            Message::Event(Event::new(
                SubscriptionId::from_id(crate::Id::new(7).unwrap()),
                PublicationId::from_id(crate::Id::new(9).unwrap()),
            )),
        ]
    }

    /// Skimming finds exactly the elements the decoder sees, and joining them gives back a
    /// message that decodes to the same thing.
    #[test]
    fn elements_are_those_the_decoder_sees() {
        let limits = Limits::default();
        for serializer in Serializer::ALL {
            for message in samples() {
                let bytes = serializer.encode(&message).unwrap();
                let spans = serializer.skim(&bytes, &limits).unwrap();
                let Value::List(list) = serializer.decode_value(&bytes, &limits).unwrap() else {
                    panic!("not a list");
                };
                assert_eq!(spans.len(), list.len(), "{serializer:?} {message:?}");
                for (span, value) in spans.iter().zip(&list) {
                    let element = serializer.decode_value(&bytes[span.clone()], &limits);
                    assert_eq!(element.as_ref(), Ok(value), "{serializer:?}");
                }
                let parts: Vec<&[u8]> = spans.iter().map(|s| &bytes[s.clone()]).collect();
                let joined = serializer.join(&parts);
                assert_eq!(serializer.decode(&joined, &limits).unwrap(), message);
            }
        }
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        let limits = Limits::default();
        let bad: [(Serializer, &[u8]); 14] = [
            (Serializer::Json, b"[1,2"),
            (Serializer::Json, b"{\"a\":1}"),
            (Serializer::Json, b"[1,]"),
            (Serializer::Json, b"[01]"),
            (Serializer::Json, b"[\"a\x01\"]"),
            (Serializer::Json, b"[1] x"),
            (Serializer::Json, b"[1e400]"),
            (Serializer::MsgPack, b"\x91\xc7\x05\x01"),
            (Serializer::MsgPack, b"\x92\x01"),
            (Serializer::MsgPack, b"\x91\xc1"),
            (Serializer::MsgPack, b"\x91\x81\x01\x02"),
            (Serializer::MsgPack, b"\x91\xa2\xff\xfe"),
            (Serializer::Cbor, b"\x82\x01"),
            (Serializer::Cbor, b"\x81\xfc"),
        ];
        for (serializer, bytes) in bad {
            let result = serializer.skim(bytes, &limits);
            assert!(
                matches!(result, Err(DecodeError::Syntax { .. })),
                "{serializer:?} {bytes:?}: {result:?}"
            );
            // (Not a message either; `decode_value` alone accepts the dict, a value.)
            assert!(serializer.decode(bytes, &limits).is_err());
        }
    }

    #[test]
    fn limits_hold() {
        let deep = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let few = Limits {
            max_values: 4,
            ..Limits::default()
        };
        let short = Limits {
            max_collection_len: 2,
            ..Limits::default()
        };
        for serializer in Serializer::ALL {
            let nested = Value::List(vec![Value::List(vec![Value::List(vec![Value::List(
                vec![],
            )])])]);
            let bytes = serializer.encode_value(&nested).unwrap();
            assert_eq!(
                serializer.skim(&bytes, &deep),
                Err(DecodeError::TooDeep { limit: 3 })
            );
            let wide = Value::List(vec![Value::UInt(1); 3]);
            let bytes = serializer.encode_value(&wide).unwrap();
            assert_eq!(
                serializer.skim(&bytes, &short),
                Err(DecodeError::CollectionTooLong { limit: 2 })
            );
            let many = Value::List(vec![Value::List(vec![Value::UInt(1); 2]); 2]);
            let bytes = serializer.encode_value(&many).unwrap();
            assert_eq!(
                serializer.skim(&bytes, &few),
                Err(DecodeError::TooManyValues { limit: 4 })
            );
            let tiny = Limits {
                max_message_size: 2,
                ..Limits::default()
            };
            assert!(matches!(
                serializer.skim(&bytes, &tiny),
                Err(DecodeError::TooLarge { .. })
            ));
        }
    }
}
