//! From a decoded wire list to a typed [`Message`], checking every element.

use super::options::{fill_from_entries, value_to_u64, OptionsStruct, Parsed};
use super::*;
use crate::id::Id;
use crate::serializer::skim;
use crate::serializer::Serializer;
use crate::uri::MatchPolicy;
use crate::uri::UriRules;

/// One element of a message: decoded, or (on the router's path) still encoded, to be read
/// straight into what it stands for: an ID, a string or an options/details struct.
pub(super) enum Element<'a> {
    Value(Value),
    Raw(Serializer, &'a [u8]),
}

struct Elements<'a> {
    message: &'static str,
    items: std::vec::IntoIter<Element<'a>>,
    /// A payload decoded (or kept encoded) apart from the items, and how many elements
    /// it was.
    tail: Option<(Payload, usize)>,
}

impl Elements<'_> {
    fn next(&mut self) -> Value {
        // Arity was checked before any element is read.
        match self.items.next() {
            Some(Element::Value(v)) => v,
            // An encoded element the typed readers did not take: read as a value, so the
            // checks and errors are the decoded path's.
            Some(Element::Raw(serializer, bytes)) => serializer
                .decode_value(bytes, &crate::Limits::default())
                .unwrap_or_default(),
            None => Value::Null,
        }
    }

    fn remaining(&self) -> usize {
        self.items.len() + self.tail.as_ref().map_or(0, |t| t.1)
    }

    /// The next element read straight as an integer, when it is still encoded and is one
    /// that [`value_to_u64`] takes (not a float); otherwise `None`, and the element stays for
    /// [`next`](Self::next).
    fn direct_uint(&mut self) -> Option<u64> {
        let Some(Element::Raw(serializer, bytes)) = self.items.as_slice().first() else {
            return None;
        };
        let n = read_unsigned(*serializer, bytes)?;
        self.items.next();
        Some(n)
    }

    /// The next element read straight as text, when it is still encoded and is text;
    /// otherwise `None`, and the element stays for [`next`](Self::next).
    fn direct_text(&mut self) -> Option<String> {
        let Some(Element::Raw(serializer, bytes)) = self.items.as_slice().first() else {
            return None;
        };
        let text = match serializer.plain_str(bytes) {
            Some(text) => text.to_owned(),
            None => serializer.deserialize_element::<Text>(bytes).ok()?.0,
        };
        self.items.next();
        Some(text)
    }

    fn wrong(&self, element: &'static str, expected: &'static str, found: &Value) -> MessageError {
        MessageError::WrongElementType {
            message: self.message,
            element,
            expected,
            found: found.kind(),
        }
    }

    /// An ID element, validated; the caller says what it names.
    fn id(&mut self, element: &'static str) -> Result<Id, MessageError> {
        if let Some(n) = self.direct_uint() {
            return Id::new(n).ok_or_else(|| MessageError::IdOutOfRange {
                message: self.message,
                element,
                value: n.to_string(),
            });
        }
        let v = self.next();
        match value_to_u64(&v) {
            Some(n) => Id::new(n).ok_or_else(|| MessageError::IdOutOfRange {
                message: self.message,
                element,
                value: n.to_string(),
            }),
            None if matches!(v, Value::Int(_) | Value::Float(_)) => {
                Err(MessageError::IdOutOfRange {
                    message: self.message,
                    element,
                    value: v.to_string(),
                })
            }
            None => Err(self.wrong(element, "an ID (an integer)", &v)),
        }
    }

    fn request(&mut self, element: &'static str) -> Result<RequestId, MessageError> {
        self.id(element).map(RequestId::from_id)
    }

    fn session(&mut self, element: &'static str) -> Result<SessionId, MessageError> {
        self.id(element).map(SessionId::from_id)
    }

    fn subscription(&mut self, element: &'static str) -> Result<SubscriptionId, MessageError> {
        self.id(element).map(SubscriptionId::from_id)
    }

    fn registration(&mut self, element: &'static str) -> Result<RegistrationId, MessageError> {
        self.id(element).map(RegistrationId::from_id)
    }

    fn publication(&mut self, element: &'static str) -> Result<PublicationId, MessageError> {
        self.id(element).map(PublicationId::from_id)
    }

    /// A request ID, or 0 for the revocation forms of UNSUBSCRIBED and UNREGISTERED.
    fn request_or_zero(
        &mut self,
        element: &'static str,
    ) -> Result<Option<RequestId>, MessageError> {
        let zero = match self.items.as_slice().first() {
            Some(Element::Value(Value::UInt(0))) => true,
            Some(Element::Raw(serializer, bytes)) => read_unsigned(*serializer, bytes) == Some(0),
            _ => false,
        };
        if zero {
            self.items.next();
            return Ok(None);
        }
        self.request(element).map(Some)
    }

    fn string(&mut self, element: &'static str) -> Result<String, MessageError> {
        if let Some(s) = self.direct_text() {
            return Ok(s);
        }
        match self.next() {
            Value::String(s) => Ok(s),
            other => Err(self.wrong(element, "a string", &other)),
        }
    }

    /// A URI the router validates itself (topics, procedures): it may depend on the match
    /// policy, and an invalid one gets ERROR `wamp.error.invalid_uri`, not ABORT.
    fn uri(&mut self, element: &'static str) -> Result<Uri, MessageError> {
        if let Some(s) = self.direct_text() {
            return Ok(Uri::new_unchecked(s));
        }
        match self.next() {
            Value::String(s) => Ok(Uri::new_unchecked(s)),
            other => Err(self.wrong(element, "a URI string", &other)),
        }
    }

    /// A URI that must be valid (loose rules) because nothing but ABORT could answer it:
    /// realms, close reasons, error URIs.
    fn checked_uri(&mut self, element: &'static str) -> Result<Uri, MessageError> {
        let uri = self.uri(element)?;
        uri.validate(UriRules::Loose, MatchPolicy::Exact)
            .map_err(|source| MessageError::InvalidUri {
                message: self.message,
                element,
                source,
            })?;
        Ok(uri)
    }

    fn dict(&mut self, element: &'static str) -> Result<Dict, MessageError> {
        match self.next() {
            Value::Dict(d) => Ok(d),
            other => Err(self.wrong(element, "a dict", &other)),
        }
    }

    fn options<T: OptionsStruct>(
        &mut self,
        element: &'static str,
        parse: fn(Dict) -> Result<T, (String, String)>,
    ) -> Result<T, MessageError> {
        let parsed = match self.items.as_slice().first() {
            Some(Element::Raw(serializer, bytes)) => {
                let (serializer, bytes) = (*serializer, *bytes);
                self.items.next();
                // Entry by entry from the skim's ranges, in the place it is returned from;
                // what is not plain (escaped keys...) through the deserializer.
                let mut out = T::default();
                let read = skim::dict_entries(serializer, bytes, &crate::Limits::default())
                    .and_then(|e| fill_from_entries(&mut out, serializer, bytes, &e));
                match read {
                    Some(read) => read.map(|()| out),
                    None => match serializer.deserialize_element::<Parsed<T>>(bytes) {
                        Ok(Parsed(parsed)) => parsed,
                        // The caller checked it is a dict; the full decoder says what else
                        // is wrong.
                        Err(_) => {
                            return Err(MessageError::WrongElementType {
                                message: self.message,
                                element,
                                expected: "a dict",
                                found: "an undecodable dict",
                            })
                        }
                    },
                }
            }
            _ => parse(self.dict(element)?),
        };
        parsed.map_err(|(key, problem)| MessageError::InvalidOption {
            message: self.message,
            element,
            key,
            problem,
        })
    }

    /// The optional `Arguments` and `ArgumentsKw` tail (or a transparent binary payload).
    fn payload(&mut self) -> Result<Payload, MessageError> {
        if self.items.as_slice().is_empty() {
            if let Some((payload, _)) = self.tail.take() {
                return Ok(payload);
            }
        }
        let args = match self.remaining() {
            0 => return Ok(Payload::default()),
            _ => self.next(),
        };
        let args = match args {
            Value::List(l) => l,
            Value::Bytes(b) if self.remaining() == 0 => return Ok(Payload::Transparent(b)),
            other => {
                return Err(self.wrong(
                    "Arguments",
                    "a list (or binary, for a transparent payload)",
                    &other,
                ))
            }
        };
        let kwargs = if self.remaining() > 0 {
            self.dict("ArgumentsKw")?
        } else {
            Dict::new()
        };
        Ok(Payload::Args { args, kwargs })
    }
}

/// An encoded element read straight as what [`value_to_u64`] takes of the integers: in a
/// plain form without serde, else through it (a float, a negative or anything else is
/// `None`, left to the decoded path).
pub(super) fn read_unsigned(serializer: Serializer, bytes: &[u8]) -> Option<u64> {
    serializer.plain_uint(bytes).or_else(|| {
        serializer
            .deserialize_element::<Unsigned>(bytes)
            .ok()
            .map(|u| u.0)
    })
}

/// An integer read through serde (see [`read_unsigned`]).
struct Unsigned(u64);

impl<'de> serde::Deserialize<'de> for Unsigned {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Unsigned;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative integer")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Unsigned, E> {
                Ok(Unsigned(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Unsigned, E> {
                u64::try_from(v)
                    .map(Unsigned)
                    .map_err(|_| E::custom("negative"))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Unsigned, E> {
                u64::try_from(v)
                    .map(Unsigned)
                    .map_err(|_| E::custom("too large"))
            }
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Unsigned, E> {
                u64::try_from(v)
                    .map(Unsigned)
                    .map_err(|_| E::custom("out of range"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Text read straight from an encoded element: a string only (binary, which some
/// deserializers would turn into a string, is left to the decoded path).
struct Text(String);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) fn message_from_value(value: Value) -> Result<Message, MessageError> {
    match value {
        Value::List(items) => {
            message_from_parts(items.into_iter().map(Element::Value).collect(), None)
        }
        other => Err(MessageError::NotAList {
            found: other.kind(),
        }),
    }
}

/// A message from its leading elements, the code first, and the payload when it was read
/// apart from them (with the number of elements it was).
pub(super) fn message_from_parts(
    items: Vec<Element<'_>>,
    tail: Option<(Payload, usize)>,
) -> Result<Message, MessageError> {
    let first = match items.first() {
        None => return Err(MessageError::Empty),
        Some(Element::Value(v)) => v,
        Some(Element::Raw(..)) => &Value::Null,
    };
    let code = match value_to_u64(first) {
        Some(c) => c,
        None if matches!(first, Value::Int(_)) => {
            return Err(MessageError::TypeNotInteger {
                found: "a negative integer",
            })
        }
        None => {
            return Err(MessageError::TypeNotInteger {
                found: first.kind(),
            })
        }
    };
    let Some(message) = name_of(code) else {
        return Err(MessageError::UnknownType(code));
    };
    let (min, max, expected) = arity(code);
    let len = items.len() + tail.as_ref().map_or(0, |t| t.1);
    if len < min || len > max {
        return Err(MessageError::WrongArity {
            message,
            expected,
            found: len,
        });
    }
    let mut items = items.into_iter();
    items.next();
    let mut e = Elements {
        message,
        items,
        tail,
    };
    let m = &mut e;
    Ok(match code {
        code::HELLO => Message::Hello(Box::new(Hello {
            realm: m.checked_uri("Realm")?,
            details: m.options("Details", HelloDetails::from_dict)?,
        })),
        code::WELCOME => Message::Welcome(Box::new(Welcome {
            session: m.session("Session")?,
            details: m.options("Details", WelcomeDetails::from_dict)?,
        })),
        code::ABORT => Message::Abort(Abort {
            details: m.options("Details", AbortDetails::from_dict)?,
            reason: m.checked_uri("Reason")?,
            payload: m.payload()?,
        }),
        code::CHALLENGE => Message::Challenge(Challenge {
            auth_method: m.string("AuthMethod")?,
            extra: m.options("Extra", ChallengeExtra::from_dict)?,
        }),
        code::AUTHENTICATE => Message::Authenticate(Authenticate {
            signature: m.string("Signature")?,
            extra: m.options("Extra", AuthenticateExtra::from_dict)?,
        }),
        code::GOODBYE => Message::Goodbye(Goodbye {
            details: m.options("Details", GoodbyeDetails::from_dict)?,
            reason: m.checked_uri("Reason")?,
        }),
        code::ERROR => {
            let raw = m.next();
            let request_type = value_to_u64(&raw)
                .ok_or_else(|| m.wrong("REQUEST.Type", "an integer", &raw))
                .and_then(|c| {
                    RequestType::from_code(c).ok_or(MessageError::InvalidRequestType(c))
                })?;
            Message::Error(Error {
                request_type,
                request: m.request("REQUEST.Request")?,
                details: m.options("Details", ErrorDetails::from_dict)?,
                error: m.checked_uri("Error")?,
                payload: m.payload()?,
            })
        }
        code::PUBLISH => Message::Publish(Publish {
            request: m.request("Request")?,
            options: m.options("Options", PublishOptions::from_dict)?,
            topic: m.uri("Topic")?,
            payload: m.payload()?,
        }),
        code::PUBLISHED => Message::Published(Published {
            request: m.request("PUBLISH.Request")?,
            publication: m.publication("Publication")?,
        }),
        code::SUBSCRIBE => Message::Subscribe(Subscribe {
            request: m.request("Request")?,
            options: m.options("Options", SubscribeOptions::from_dict)?,
            topic: m.uri("Topic")?,
        }),
        code::SUBSCRIBED => Message::Subscribed(Subscribed {
            request: m.request("SUBSCRIBE.Request")?,
            subscription: m.subscription("Subscription")?,
        }),
        code::UNSUBSCRIBE => Message::Unsubscribe(Unsubscribe {
            request: m.request("Request")?,
            subscription: m.subscription("SUBSCRIBED.Subscription")?,
        }),
        code::UNSUBSCRIBED => {
            let request = m.request_or_zero("UNSUBSCRIBE.Request")?;
            if request.is_none() && m.remaining() == 0 {
                return Err(revocation_without_details(message));
            }
            let details = if m.remaining() > 0 {
                m.options("Details", UnsubscribedDetails::from_dict)?
            } else {
                UnsubscribedDetails::default()
            };
            Message::Unsubscribed(Unsubscribed { request, details })
        }
        code::EVENT => Message::Event(Event {
            subscription: m.subscription("SUBSCRIBED.Subscription")?,
            publication: m.publication("PUBLISHED.Publication")?,
            details: m.options("Details", EventDetails::from_dict)?,
            payload: m.payload()?,
        }),
        code::CALL => Message::Call(Call {
            request: m.request("Request")?,
            options: m.options("Options", CallOptions::from_dict)?,
            procedure: m.uri("Procedure")?,
            payload: m.payload()?,
        }),
        code::CANCEL => Message::Cancel(Cancel {
            request: m.request("CALL.Request")?,
            options: m.options("Options", CancelOptions::from_dict)?,
        }),
        code::RESULT => Message::Result(CallResult {
            request: m.request("CALL.Request")?,
            details: m.options("Details", ResultDetails::from_dict)?,
            payload: m.payload()?,
        }),
        code::REGISTER => Message::Register(Register {
            request: m.request("Request")?,
            options: m.options("Options", RegisterOptions::from_dict)?,
            procedure: m.uri("Procedure")?,
        }),
        code::REGISTERED => Message::Registered(Registered {
            request: m.request("REGISTER.Request")?,
            registration: m.registration("Registration")?,
        }),
        code::UNREGISTER => Message::Unregister(Unregister {
            request: m.request("Request")?,
            registration: m.registration("REGISTERED.Registration")?,
        }),
        code::UNREGISTERED => {
            let request = m.request_or_zero("UNREGISTER.Request")?;
            if request.is_none() && m.remaining() == 0 {
                return Err(revocation_without_details(message));
            }
            let details = if m.remaining() > 0 {
                m.options("Details", UnregisteredDetails::from_dict)?
            } else {
                UnregisteredDetails::default()
            };
            Message::Unregistered(Unregistered { request, details })
        }
        code::INVOCATION => Message::Invocation(Invocation {
            request: m.request("Request")?,
            registration: m.registration("REGISTERED.Registration")?,
            details: m.options("Details", InvocationDetails::from_dict)?,
            payload: m.payload()?,
        }),
        code::INTERRUPT => Message::Interrupt(Interrupt {
            request: m.request("INVOCATION.Request")?,
            options: m.options("Options", InterruptOptions::from_dict)?,
        }),
        code::YIELD => Message::Yield(Yield {
            request: m.request("INVOCATION.Request")?,
            options: m.options("Options", YieldOptions::from_dict)?,
            payload: m.payload()?,
        }),
        code::EVENT_RECEIVED => Message::EventReceived(EventReceived {
            publication: m.publication("EVENT.Publication")?,
        }),
        _ => return Err(MessageError::UnknownType(code)),
    })
}

fn revocation_without_details(message: &'static str) -> MessageError {
    MessageError::IdOutOfRange {
        message,
        element: "Request",
        value: "0 (request 0 is only valid in the revocation form, which has Details)".into(),
    }
}

/// Allowed element counts per message code, the code included.
fn arity(code: u64) -> (usize, usize, &'static str) {
    match code {
        code::HELLO
        | code::WELCOME
        | code::CHALLENGE
        | code::AUTHENTICATE
        | code::GOODBYE
        | code::PUBLISHED
        | code::SUBSCRIBED
        | code::UNSUBSCRIBE
        | code::CANCEL
        | code::REGISTERED
        | code::UNREGISTER
        | code::INTERRUPT => (3, 3, "3"),
        code::ABORT | code::RESULT | code::YIELD => (3, 5, "3 to 5"),
        code::ERROR => (5, 7, "5 to 7"),
        code::PUBLISH | code::CALL | code::EVENT | code::INVOCATION => (4, 6, "4 to 6"),
        code::SUBSCRIBE | code::REGISTER => (4, 4, "4"),
        code::UNSUBSCRIBED | code::UNREGISTERED => (2, 3, "2 or 3"),
        code::EVENT_RECEIVED => (2, 2, "2"),
        _ => (0, usize::MAX, "any number of"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serializer::{Limits, Serializer};

    fn json(s: &str) -> Result<Message, MessageError> {
        let v = Serializer::Json
            .decode_value(s.as_bytes(), &Limits::default())
            .expect("valid JSON");
        Message::from_value(v)
    }

    #[test]
    fn structural_errors_are_typed() {
        assert_eq!(json("{}"), Err(MessageError::NotAList { found: "a dict" }));
        assert_eq!(json("[]"), Err(MessageError::Empty));
        assert_eq!(
            json(r#"["x"]"#),
            Err(MessageError::TypeNotInteger { found: "a string" })
        );
        assert_eq!(json("[7, {}]"), Err(MessageError::UnknownType(7)));
        assert_eq!(json("[1000]"), Err(MessageError::UnknownType(1000)));
        assert_eq!(
            json(r#"[48, 1, {}]"#),
            Err(MessageError::WrongArity {
                message: "CALL",
                expected: "4 to 6",
                found: 3
            })
        );
        assert_eq!(
            json(r#"[48, 1, [], "p"]"#),
            Err(MessageError::WrongElementType {
                message: "CALL",
                element: "Options",
                expected: "a dict",
                found: "a list"
            })
        );
        assert!(matches!(
            json(r#"[48, 0, {}, "p"]"#),
            Err(MessageError::IdOutOfRange { .. })
        ));
        assert!(matches!(
            json(r#"[48, 9007199254740993, {}, "p"]"#),
            Err(MessageError::IdOutOfRange { .. })
        ));
        assert!(matches!(
            json(r#"[48, -1, {}, "p"]"#),
            Err(MessageError::IdOutOfRange { .. })
        ));
        assert!(matches!(
            json(r#"[6, {}, "not a uri"]"#),
            Err(MessageError::InvalidUri { .. })
        ));
        assert_eq!(
            json(r#"[8, 1, 1, {}, "a.b"]"#),
            Err(MessageError::InvalidRequestType(1))
        );
        assert!(matches!(
            json(r#"[48, 1, {}, "p", {}]"#),
            Err(MessageError::WrongElementType {
                element: "Arguments",
                ..
            })
        ));
        assert!(matches!(
            json(r#"[48, 1, {}, "p", [], []]"#),
            Err(MessageError::WrongElementType {
                element: "ArgumentsKw",
                ..
            })
        ));
    }

    #[test]
    fn option_errors_name_the_key() {
        let err = json(r#"[16, 1, {"acknowledge": 1}, "t"]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PUBLISH.Options.acknowledge: expected a bool, found an integer (1)"
        );
    }

    #[test]
    fn revocation_forms() {
        let m = json(r#"[35, 0, {"subscription": 5, "reason": "gone"}]"#).unwrap();
        let Message::Unsubscribed(u) = m else {
            panic!()
        };
        assert_eq!(u.request, None);
        assert_eq!(u.details.subscription, SubscriptionId::new(5));
        assert!(json("[67, 0]").is_err());
        assert!(json("[67, 3]").is_ok());
    }

    #[test]
    fn empty_tails_are_accepted() {
        let m = json(r#"[50, 3, {}, [], {}]"#).unwrap();
        assert_eq!(m.payload().unwrap(), &Payload::default());
    }

    #[test]
    fn integral_floats_are_accepted_as_ids() {
        let m = json(r#"[17, 1.0, 4429313566.0]"#).unwrap();
        assert_eq!(m.request_id(), RequestId::new(1));
        assert!(json(r#"[17, 1.5, 2]"#).is_err());
    }
}
