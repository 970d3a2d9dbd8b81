//! Messages more than one bench measures.

use nexus_core::message::{Event, EventDetails, Message};
use nexus_core::{args, kwargs, PublicationId, SubscriptionId, Uri};

/// An EVENT whose payload is about 1 KiB: a short text, a 768-byte text and a small record.
pub fn event_1k() -> Message {
    let mut event = Event::new(
        SubscriptionId::new(5512315355).unwrap(),
        PublicationId::new(4429313566).unwrap(),
    );
    event.details = EventDetails {
        topic: Some(Uri::parse("com.example.sensors.temperature").unwrap()),
        ..Default::default()
    };
    event
        .with_args(args!["reading", "x".repeat(768)])
        .with_kwargs(kwargs! {
            "sensor" => "kitchen-01",
            "celsius" => 21.5,
            "seq" => 123456u32,
            "tags" => vec!["home", "ground-floor", "north"],
            "calibrated" => true,
            "note" => "y".repeat(120),
        })
        .into()
}
