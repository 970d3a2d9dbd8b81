//! Messages too large for their receiver (`wamp.error.payload_size_exceeded`, digest §3.2;
//! the transports' limits, §6): the driver knows how large a message is once encoded and
//! tells the router when one exceeds the peer's frame limit; the router decides what happens instead. The peer is not
//! disconnected for it (any caller could otherwise disconnect a callee with one large
//! call): each side of the request learns that it failed.
//!
//! - An INVOCATION the callee cannot receive ends as if the callee had answered ERROR
//!   `payload_size_exceeded`: its caller gets that error.
//! - A RESULT or ERROR the caller cannot receive is replaced by ERROR
//!   `payload_size_exceeded` for the same request.
//! - Anything else (an EVENT, say) is dropped and counted in
//!   [`ConnectionStats::oversized`](super::ConnectionStats::oversized).

use super::connection::ConnectionId;
use super::context::Ctx;
use super::realm::Realm;
use super::rpc;
use crate::message::{Error, Message, RequestType};
use crate::uri;
use crate::value::Value;

/// The message for `conn` is `size` bytes encoded, more than the peer's frame limit.
pub(crate) fn handle(
    cx: &mut Ctx<'_>,
    realms: &mut [Realm],
    conn: ConnectionId,
    message: Option<&Message>,
    size: usize,
) {
    let Some(c) = cx.conns.get_mut(conn) else {
        return;
    };
    let why = match c.frame_limit {
        Some(limit) => {
            format!("the message is {size} bytes; the receiving peer accepts at most {limit}")
        }
        None => format!("the message is {size} bytes, more than the receiving peer accepts"),
    };
    let error = |kind: RequestType, request| {
        Error::new(kind, request, uri::error::PAYLOAD_SIZE_EXCEEDED)
            .with_args(vec![Value::from(why.clone())])
    };
    match message {
        // The callee cannot receive the call: its caller is answered as if the callee had
        // refused it.
        Some(Message::Invocation(i)) => {
            let Some(realm) = c.session.as_ref().map(|s| s.realm) else {
                return;
            };
            let refusal = error(RequestType::Invocation, i.request);
            rpc::on_callee_error(cx, &mut realms[realm.index()], conn, refusal);
        }
        // The caller cannot receive its result (or error): it learns the call failed.
        Some(Message::Result(r)) => cx.conns.reply(conn, error(RequestType::Call, r.request)),
        Some(Message::Error(e)) => cx.conns.reply(conn, error(e.request_type, e.request)),
        _ => c.stats.oversized += 1,
    }
}
