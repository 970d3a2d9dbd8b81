//! WebSocket over real sockets: subprotocol negotiation and refusal, round trips with every
//! serializer (batched too), frame kinds, ping/pong, size limits, closing, port sharing.

mod common;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message as WsMessage;
use bytes::Bytes;
use common::{run, sample_message, tcp_pair};
use futures_util::{AsyncReadExt, AsyncWriteExt, SinkExt, StreamExt};
use nexus_core::{Limits, Serializer};
use nexus_transports::{
    accept, accept_websocket, connect_rawsocket, connect_websocket, connect_websocket_with_config,
    Endpoint, Incoming, Outgoing, ServerConfig, Transport, TransportError, TransportKind,
    WebSocketClientConfig,
};
use smol::net::TcpStream;

fn endpoint() -> Endpoint {
    Endpoint::parse("ws://127.0.0.1:9/ws").unwrap()
}

/// Connects a client offering `offers` to a router with `config`; both results.
async fn negotiate(
    offers: Vec<(Serializer, bool)>,
    config: ServerConfig,
) -> (
    Result<Transport, TransportError>,
    Result<Transport, TransportError>,
) {
    let (client, server) = tcp_pair().await;
    let client_config = WebSocketClientConfig {
        offers,
        ..WebSocketClientConfig::default()
    };
    let endpoint = endpoint();
    smol::future::zip(
        connect_websocket_with_config(client, &endpoint, &client_config),
        accept_websocket(server, &config),
    )
    .await
}

async fn connected(serializer: Serializer, batched: bool) -> (Transport, Transport) {
    let (client, router) = negotiate(vec![(serializer, batched)], ServerConfig::default()).await;
    (client.unwrap(), router.unwrap())
}

#[test]
fn round_trip_with_every_serializer_unbatched() {
    for serializer in Serializer::ALL {
        run(async move {
            let (mut client, mut router) = connected(serializer, false).await;
            for transport in [&client, &router] {
                assert_eq!(transport.serializer(), serializer);
                assert!(!transport.is_batched());
                assert_eq!(transport.kind(), TransportKind::WebSocket);
            }
            for n in 1..=3 {
                let message = sample_message(n);
                let bytes = serializer.encode(&message).unwrap();
                client.send(Outgoing::Message(bytes.clone())).await.unwrap();
                let Some(Ok(Incoming::Message(received))) = router.next().await else {
                    panic!("expected a message")
                };
                assert_eq!(received, bytes);
                router.send(Outgoing::Message(received)).await.unwrap();
                let Some(Ok(Incoming::Message(echoed))) = client.next().await else {
                    panic!("expected the echo")
                };
                assert_eq!(
                    serializer.decode(&echoed, &Limits::default()).unwrap(),
                    message
                );
            }
        });
    }
}

#[test]
fn round_trip_with_every_serializer_batched() {
    for serializer in Serializer::ALL {
        run(async move {
            let (mut client, mut router) = connected(serializer, true).await;
            assert!(client.is_batched() && router.is_batched());
            let messages = vec![sample_message(1), sample_message(2), sample_message(3)];
            let batch = serializer.encode_batch(&messages).unwrap();
            client.send(Outgoing::Message(batch)).await.unwrap();
            let Some(Ok(Incoming::Message(received))) = router.next().await else {
                panic!("expected a batch")
            };
            let decoded = serializer
                .decode_batch(&received, &Limits::default())
                .unwrap();
            assert_eq!(decoded, messages);
            // A batch of one, back.
            let one = serializer.encode_batch(&messages[..1]).unwrap();
            router.send(Outgoing::Message(one)).await.unwrap();
            let Some(Ok(Incoming::Message(received))) = client.next().await else {
                panic!("expected a batch")
            };
            assert_eq!(
                serializer
                    .decode_batch(&received, &Limits::default())
                    .unwrap(),
                messages[..1]
            );
        });
    }
}

#[test]
fn the_clients_first_acceptable_offer_wins() {
    run(async {
        // The router lists JSON first, but the client prefers MessagePack.
        let config = ServerConfig {
            serializers: vec![Serializer::Json, Serializer::MsgPack],
            ..ServerConfig::default()
        };
        let offers = vec![
            (Serializer::Cbor, false),
            (Serializer::MsgPack, false),
            (Serializer::Json, false),
        ];
        let (client, router) = negotiate(offers, config).await;
        assert_eq!(client.unwrap().serializer(), Serializer::MsgPack);
        assert_eq!(router.unwrap().serializer(), Serializer::MsgPack);

        // Batched offers are skipped when the router does not allow them.
        let config = ServerConfig {
            allow_batched: false,
            ..ServerConfig::default()
        };
        let offers = vec![(Serializer::Cbor, true), (Serializer::Json, false)];
        let (client, router) = negotiate(offers, config).await;
        let (client, router) = (client.unwrap(), router.unwrap());
        assert_eq!(
            (client.serializer(), client.is_batched()),
            (Serializer::Json, false)
        );
        assert_eq!(
            (router.serializer(), router.is_batched()),
            (Serializer::Json, false)
        );
    });
}

#[test]
fn no_common_subprotocol_refuses_the_upgrade() {
    run(async {
        let config = ServerConfig {
            serializers: vec![Serializer::Json],
            ..ServerConfig::default()
        };
        let offers = vec![(Serializer::Cbor, false), (Serializer::MsgPack, true)];
        let (client, router) = negotiate(offers, config).await;
        let client_error = client.unwrap_err().to_string();
        assert!(client_error.contains("HTTP 400"), "{client_error}");
        assert!(
            client_error.contains("no common WAMP subprotocol"),
            "{client_error}"
        );
        let router_error = router.unwrap_err().to_string();
        assert!(
            router_error.contains("wamp.2.cbor, wamp.2.msgpack.batched"),
            "{router_error}"
        );
        assert!(router_error.contains("wamp.2.json"), "{router_error}");
    });
}

#[test]
fn a_request_without_subprotocol_is_refused_with_400() {
    run(async {
        let (mut client, server) = tcp_pair().await;
        let router =
            smol::spawn(async move { accept_websocket(server, &ServerConfig::default()).await });
        client
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Version: 13\r\n\r\n",
            )
            .await
            .unwrap();
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(
            response.contains("offered no WebSocket subprotocol"),
            "{response}"
        );
        let error = router.await.unwrap_err().to_string();
        assert!(
            error.contains("offered no WebSocket subprotocol"),
            "{error}"
        );
    });
}

#[test]
fn the_client_rejects_a_server_without_subprotocol() {
    run(async {
        let (client, server) = tcp_pair().await;
        // A plain WebSocket server that ignores subprotocols.
        let plain = smol::spawn(async move { async_tungstenite::accept_async(server).await });
        let error = connect_websocket(client, &endpoint(), &[Serializer::Json], 1 << 20)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("without choosing a subprotocol"), "{error}");
        drop(plain.await);
    });
}

#[test]
fn json_sends_text_frames_and_binary_serializers_binary_frames() {
    for serializer in Serializer::ALL {
        run(async move {
            let (client, server) = tcp_pair().await;
            let router =
                smol::spawn(
                    async move { accept_websocket(server, &ServerConfig::default()).await },
                );
            let mut request = "ws://127.0.0.1/ws".into_client_request().unwrap();
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                serializer.subprotocol().parse().unwrap(),
            );
            let (mut raw, _) = async_tungstenite::client_async(request, client)
                .await
                .unwrap();
            let mut router = router.await.unwrap();
            let bytes = serializer.encode(&sample_message(1)).unwrap();
            router.send(Outgoing::Message(bytes.clone())).await.unwrap();
            match raw.next().await.unwrap().unwrap() {
                WsMessage::Text(text) if serializer == Serializer::Json => {
                    assert_eq!(text.as_bytes(), &bytes[..])
                }
                WsMessage::Binary(binary) if serializer != Serializer::Json => {
                    assert_eq!(binary, bytes)
                }
                other => panic!("{serializer:?} sent {other:?}"),
            }
            // Leniency: the router takes either frame kind.
            raw.send(WsMessage::Binary(bytes.clone())).await.unwrap();
            raw.send(WsMessage::text("[1]")).await.unwrap();
            assert_eq!(
                router.next().await.unwrap().unwrap(),
                Incoming::Message(bytes)
            );
            assert_eq!(
                router.next().await.unwrap().unwrap(),
                Incoming::Message(Bytes::from_static(b"[1]"))
            );
        });
    }
}

#[test]
fn ping_is_answered_while_the_router_only_reads() {
    run(async {
        let (mut client, mut router) = connected(Serializer::Cbor, false).await;
        let reader = smol::spawn(async move {
            let item = router.next().await;
            (item, router)
        });
        for payload in [
            Bytes::new(),
            Bytes::from_static(b"keepalive-1"),
            Bytes::from(vec![7; 125]),
        ] {
            client.send(Outgoing::Ping(payload.clone())).await.unwrap();
            assert_eq!(
                client.next().await.unwrap().unwrap(),
                Incoming::Pong(payload)
            );
        }
        client.send(Outgoing::Message("end".into())).await.unwrap();
        let (item, _router) = reader.await;
        assert_eq!(item.unwrap().unwrap(), Incoming::Message("end".into()));
    });
}

#[test]
fn oversized_pings_and_messages_are_refused_on_send_without_failing() {
    run(async {
        let (client, server) = tcp_pair().await;
        let config = ServerConfig {
            max_message_size: 4096,
            ..ServerConfig::default()
        };
        let client_config = WebSocketClientConfig {
            offers: vec![(Serializer::MsgPack, false)],
            max_message_size: 1024,
            ..WebSocketClientConfig::default()
        };
        let endpoint = endpoint();
        let (client, router) = smol::future::zip(
            connect_websocket_with_config(client, &endpoint, &client_config),
            accept_websocket(server, &config),
        )
        .await;
        let (mut client, mut router) = (client.unwrap(), router.unwrap());
        assert_eq!(client.send_limit(), 1024);
        assert!(matches!(
            client.send(Outgoing::Ping(Bytes::from(vec![0; 126]))).await,
            Err(TransportError::TooLarge {
                size: 126,
                limit: 125
            })
        ));
        assert!(matches!(
            client
                .send(Outgoing::Message(Bytes::from(vec![0; 1025])))
                .await,
            Err(TransportError::TooLarge {
                size: 1025,
                limit: 1024
            })
        ));
        client
            .send(Outgoing::Message(Bytes::from(vec![0; 1024])))
            .await
            .unwrap();
        assert_eq!(
            router.next().await.unwrap().unwrap(),
            Incoming::Message(Bytes::from(vec![0; 1024]))
        );
    });
}

#[test]
fn an_oversized_incoming_message_fails_the_transport() {
    run(async {
        let (client, server) = tcp_pair().await;
        let config = ServerConfig {
            max_message_size: 1000,
            ..ServerConfig::default()
        };
        let router = smol::spawn(async move { accept_websocket(server, &config).await });
        let mut request = "ws://127.0.0.1/".into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "wamp.2.cbor".parse().unwrap());
        let (mut raw, _) = async_tungstenite::client_async(request, client)
            .await
            .unwrap();
        let mut router = router.await.unwrap();
        assert_eq!(router.receive_limit(), 1000);
        raw.send(WsMessage::binary(vec![1; 1000])).await.unwrap();
        assert_eq!(
            router.next().await.unwrap().unwrap(),
            Incoming::Message(Bytes::from(vec![1; 1000]))
        );
        raw.send(WsMessage::binary(vec![1; 1001])).await.unwrap();
        match router.next().await {
            Some(Err(TransportError::TooLarge {
                size: 1001,
                limit: 1000,
            })) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(router.next().await.is_none());
    });
}

#[test]
fn a_json_session_refuses_to_send_invalid_utf8() {
    run(async {
        let (mut client, _router) = connected(Serializer::Json, false).await;
        let error = client
            .send(Outgoing::Message(Bytes::from_static(b"\xFF\xFE")))
            .await
            .unwrap_err();
        assert!(matches!(error, TransportError::Protocol(_)), "{error}");
    });
}

#[test]
fn close_runs_the_close_handshake() {
    run(async {
        let (mut client, mut router) = connected(Serializer::Json, false).await;
        client
            .send(Outgoing::Message("[6,{},\"wamp.close.normal\"]".into()))
            .await
            .unwrap();
        client.close().await.unwrap();
        client.close().await.unwrap();
        assert!(matches!(
            client.send(Outgoing::Message("[]".into())).await,
            Err(TransportError::Closed)
        ));
        // The router sees the message, then the end (tungstenite answers the CLOSE).
        assert!(matches!(
            router.next().await,
            Some(Ok(Incoming::Message(_)))
        ));
        assert!(router.next().await.is_none());
        // The client sees the router's CLOSE reply and ends as well.
        assert!(client.next().await.is_none());
        drop(router);
    });
}

#[test]
fn the_router_sees_the_upgrade_request() {
    run(async {
        let (client, server) = tcp_pair().await;
        let client_config = WebSocketClientConfig {
            offers: vec![(Serializer::Json, false)],
            headers: vec![("Cookie".into(), "cbtid=abc123".into())],
            ..WebSocketClientConfig::default()
        };
        let endpoint = Endpoint::parse("ws://localhost:8080/wamp?x=1").unwrap();
        let (client, router) = smol::future::zip(
            connect_websocket_with_config(client, &endpoint, &client_config),
            accept_websocket(server, &ServerConfig::default()),
        )
        .await;
        assert!(client.unwrap().upgrade_request().is_none());
        let router = router.unwrap();
        let request = router.upgrade_request().unwrap();
        assert_eq!(request.path, "/wamp?x=1");
        assert_eq!(request.header("COOKIE"), Some("cbtid=abc123"));
        assert_eq!(request.header("host"), Some("localhost:8080"));
        assert_eq!(
            request.header("sec-websocket-protocol"),
            Some("wamp.2.json")
        );
    });
}

#[test]
fn connect_websocket_needs_a_websocket_endpoint() {
    run(async {
        let (client, _server) = tcp_pair().await;
        let endpoint = Endpoint::parse("tcp://127.0.0.1:9").unwrap();
        let error = connect_websocket(client, &endpoint, &[Serializer::Json], 1 << 20)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not a WebSocket endpoint"),
            "{error}"
        );
        let (client, _server) = tcp_pair().await;
        let error = connect_websocket(client, &self::endpoint(), &[], 1 << 20)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("no serializer"), "{error}");
    });
}

#[test]
fn accept_shares_one_port_between_websocket_and_rawsocket() {
    run(async {
        let (listener, port) = common::listener().await;
        let router = smol::spawn(async move {
            let mut kinds = Vec::new();
            for _ in 0..3 {
                let (stream, _) = listener.accept().await.unwrap();
                match accept(stream, &ServerConfig::default()).await {
                    Ok(mut transport) => {
                        kinds.push(Ok(transport.kind()));
                        let Some(Ok(Incoming::Message(bytes))) = transport.next().await else {
                            panic!("expected a message")
                        };
                        transport.send(Outgoing::Message(bytes)).await.unwrap();
                    }
                    Err(error) => kinds.push(Err(error.to_string())),
                }
            }
            kinds
        });
        let connect = || TcpStream::connect(("127.0.0.1", port));

        let mut ws = connect_websocket(
            connect().await.unwrap(),
            &endpoint(),
            &[Serializer::Json],
            1 << 20,
        )
        .await
        .unwrap();
        ws.send(Outgoing::Message("[\"ws\"]".into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Incoming::Message("[\"ws\"]".into())
        );

        let mut rs = connect_rawsocket(connect().await.unwrap(), Serializer::Cbor, 1 << 20)
            .await
            .unwrap();
        rs.send(Outgoing::Message("rs".into())).await.unwrap();
        assert_eq!(
            rs.next().await.unwrap().unwrap(),
            Incoming::Message("rs".into())
        );

        // A TLS ClientHello on the plain port.
        let mut tls = connect().await.unwrap();
        tls.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05])
            .await
            .unwrap();

        let kinds = router.await;
        assert_eq!(kinds[0], Ok(TransportKind::WebSocket));
        assert_eq!(kinds[1], Ok(TransportKind::RawSocket));
        let tls_error = kinds[2].as_ref().unwrap_err();
        assert!(
            tls_error.contains("TLS handshake on a plain-text endpoint"),
            "{tls_error}"
        );
    });
}
