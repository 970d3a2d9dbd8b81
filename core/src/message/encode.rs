//! `Serialize` for [`Message`]: the wire list, written straight to the serializer without an
//! intermediate value tree.

use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::*;

/// Writes the payload tail: nothing, `[args]`, or `[args], {kwargs}`; a transparent payload
/// as one binary element.
fn payload<S: SerializeSeq>(seq: &mut S, payload: &Payload) -> Result<(), S::Error> {
    match payload {
        Payload::Args { args, kwargs } => {
            if !args.is_empty() || !kwargs.is_empty() {
                seq.serialize_element(args)?;
            }
            if !kwargs.is_empty() {
                seq.serialize_element(kwargs)?;
            }
        }
        Payload::Transparent(bytes) => seq.serialize_element(&Value::Bytes(bytes.clone()))?,
        // Another serializer's bytes: decoded here, once for each serializer written to
        // (the same serializer splices them, see `Head`).
        Payload::Encoded(encoded) => {
            let (args, kwargs) = encoded.decode().map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&args)?;
            if encoded.kwargs_bytes().is_some() {
                seq.serialize_element(&kwargs)?;
            }
        }
    }
    Ok(())
}

/// A message without its payload: what [`Serializer::encode`](crate::Serializer::encode)
/// writes before splicing in a payload kept in its own encoding.
pub(crate) struct Head<'a>(pub &'a Message);

impl Serialize for Head<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write(self.0, s, false)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write(self, s, true)
    }
}

fn write<S: Serializer>(message: &Message, s: S, with_payload: bool) -> Result<S::Ok, S::Error> {
    {
        let this = message;
        let tail = match with_payload {
            true => this.payload().map_or(0, Payload::tail_len),
            false => 0,
        };
        let write_payload = |seq: &mut S::SerializeSeq, p: &Payload| match with_payload {
            true => payload(seq, p),
            false => Ok(()),
        };
        let len = match this {
            Message::EventReceived(_) => 2,
            Message::Unsubscribed(Unsubscribed { request, details }) => {
                if request.is_none() || !details.is_empty() {
                    3
                } else {
                    2
                }
            }
            Message::Unregistered(Unregistered { request, details }) => {
                if request.is_none() || !details.is_empty() {
                    3
                } else {
                    2
                }
            }
            Message::Error(_) => 5 + tail,
            Message::Publish(_) | Message::Event(_) | Message::Call(_) | Message::Invocation(_) => {
                4 + tail
            }
            Message::Subscribe(_) | Message::Register(_) => 4,
            _ => 3 + tail,
        };
        let mut seq = s.serialize_seq(Some(len))?;
        seq.serialize_element(&this.code())?;
        match this {
            Message::Hello(m) => {
                seq.serialize_element(&m.realm)?;
                seq.serialize_element(&m.details)?;
            }
            Message::Welcome(m) => {
                seq.serialize_element(&m.session)?;
                seq.serialize_element(&m.details)?;
            }
            Message::Abort(m) => {
                seq.serialize_element(&m.details)?;
                seq.serialize_element(&m.reason)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Challenge(m) => {
                seq.serialize_element(&m.auth_method)?;
                seq.serialize_element(&m.extra)?;
            }
            Message::Authenticate(m) => {
                seq.serialize_element(&m.signature)?;
                seq.serialize_element(&m.extra)?;
            }
            Message::Goodbye(m) => {
                seq.serialize_element(&m.details)?;
                seq.serialize_element(&m.reason)?;
            }
            Message::Error(m) => {
                seq.serialize_element(&m.request_type.code())?;
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.details)?;
                seq.serialize_element(&m.error)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Publish(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
                seq.serialize_element(&m.topic)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Published(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.publication)?;
            }
            Message::Subscribe(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
                seq.serialize_element(&m.topic)?;
            }
            Message::Subscribed(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.subscription)?;
            }
            Message::Unsubscribe(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.subscription)?;
            }
            Message::Unsubscribed(m) => {
                seq.serialize_element(&m.request.map_or(0, RequestId::get))?;
                if len == 3 {
                    seq.serialize_element(&m.details)?;
                }
            }
            Message::Event(m) => {
                seq.serialize_element(&m.subscription)?;
                seq.serialize_element(&m.publication)?;
                seq.serialize_element(&m.details)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Call(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
                seq.serialize_element(&m.procedure)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Cancel(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
            }
            Message::Result(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.details)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Register(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
                seq.serialize_element(&m.procedure)?;
            }
            Message::Registered(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.registration)?;
            }
            Message::Unregister(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.registration)?;
            }
            Message::Unregistered(m) => {
                seq.serialize_element(&m.request.map_or(0, RequestId::get))?;
                if len == 3 {
                    seq.serialize_element(&m.details)?;
                }
            }
            Message::Invocation(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.registration)?;
                seq.serialize_element(&m.details)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::Interrupt(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
            }
            Message::Yield(m) => {
                seq.serialize_element(&m.request)?;
                seq.serialize_element(&m.options)?;
                write_payload(&mut seq, &m.payload)?;
            }
            Message::EventReceived(m) => {
                seq.serialize_element(&m.publication)?;
            }
        }
        seq.end()
    }
}
