//! What a feature's handler gets besides its own state: the time, the connection table (each
//! session's identity and roles, and the outbound queues: the router's outbox), the ID
//! generator and the router-wide configuration. Handlers never see the whole
//! [`Router`](super::Router), so what a handler may touch is written in its signature.

use std::time::{Instant, SystemTime};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::config::RouterConfig;
use super::connection::{ConnectionId, Connections};
use crate::id::{IdGenerator, RequestId};
use crate::message::{Error, RequestType, RouterRoles};
use crate::uri::{self, MatchPolicy, Uri};
use crate::value::Value;

/// The handlers' context. See the [module documentation](self).
pub(crate) struct Ctx<'a> {
    /// The time of the input being handled.
    pub now: Instant,
    /// The connection table and outbox.
    pub conns: &'a mut Connections,
    /// Session, subscription, registration and publication IDs.
    pub ids: &'a mut IdGenerator,
    /// The router's configuration.
    pub config: &'a RouterConfig,
    /// The roles and features the router announces.
    pub roles: &'a RouterRoles,
    /// The wall-clock time, for timestamps in the meta API.
    pub clock: WallClock,
}

impl Ctx<'_> {
    /// Checks a topic or procedure URI; answers ERROR `wamp.error.invalid_uri` (or
    /// `wamp.error.not_authorized` for the reserved `wamp.` namespace, which only SUBSCRIBE
    /// may use) when it is not usable, if `reply`.
    pub fn usable_uri(
        &mut self,
        conn: ConnectionId,
        kind: RequestType,
        request: RequestId,
        uri: &Uri,
        policy: MatchPolicy,
        reply: bool,
    ) -> bool {
        let refusal = match uri.validate(self.config.uri_rules, policy) {
            Err(e) => Some((uri::error::INVALID_URI, e.to_string())),
            Ok(()) if kind != RequestType::Subscribe && uri.is_reserved() => Some((
                uri::error::NOT_AUTHORIZED,
                format!("URIs starting with \"wamp.\" are reserved for the router ({uri})"),
            )),
            Ok(()) => None,
        };
        let Some((error, message)) = refusal else {
            return true;
        };
        if reply {
            self.conns.reply(
                conn,
                Error::new(kind, request, error).with_args(vec![Value::from(message)]),
            );
        }
        false
    }
}

/// A moment and its wall-clock time, once the driver told the router (see
/// [`Router::set_wall_clock`](super::Router::set_wall_clock)); the core reads no clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WallClock(pub Option<(Instant, SystemTime)>);

impl WallClock {
    /// The wall-clock time of `at`.
    pub fn system_time(self, at: Instant) -> Option<SystemTime> {
        let (anchor, wall) = self.0?;
        Some(if at >= anchor {
            wall + (at - anchor)
        } else {
            wall - (anchor - at)
        })
    }

    /// The wall-clock time of `at` as a calendar date.
    pub fn wall(self, at: Instant) -> Option<OffsetDateTime> {
        self.system_time(at).map(OffsetDateTime::from)
    }

    /// The ISO 8601 (RFC 3339) UTC time of `at`.
    pub fn iso8601(self, at: Instant) -> Option<String> {
        self.wall(at)?.format(&Rfc3339).ok()
    }

    /// Milliseconds since the Unix epoch at `at` (0 when unknown).
    pub fn unix_millis(self, at: Instant) -> u64 {
        self.system_time(at)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
