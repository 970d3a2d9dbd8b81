//! RawSocket over real sockets: handshake negotiation and every error reply, message round
//! trips, PING/PONG, size limits, closing, Unix sockets.

mod common;

use bytes::Bytes;
use common::{listener, run, sample_message, tcp_pair};
use futures_util::{AsyncReadExt, AsyncWriteExt, SinkExt, StreamExt};
use nexus_core::{Limits, Serializer};
use nexus_transports::rawsocket::{FrameHeader, FrameType};
use nexus_transports::{
    accept_rawsocket, connect_rawsocket, reject_rawsocket, Incoming, Outgoing, RawSocketError,
    ServerConfig, TransportError, TransportKind,
};
use smol::net::unix::{UnixListener, UnixStream};

/// Sends `request` as a raw client and returns the router's 4-octet reply together with the
/// router's result.
fn raw_handshake(
    request: [u8; 4],
    config: ServerConfig,
) -> ([u8; 4], Result<nexus_transports::Transport, TransportError>) {
    run(async move {
        let (mut client, server) = UnixStream::pair().unwrap();
        let router = smol::spawn(async move { accept_rawsocket(server, &config).await });
        client.write_all(&request).await.unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.unwrap();
        (reply, router.await)
    })
}

#[test]
fn handshake_success_announces_our_limit_and_echoes_the_serializer() {
    for (serializer, id) in [
        (Serializer::Json, 1u8),
        (Serializer::MsgPack, 2),
        (Serializer::Cbor, 3),
    ] {
        // Client: 16 MiB; router: 1 MiB (L = 11).
        let config = ServerConfig {
            max_message_size: 1 << 20,
            ..ServerConfig::default()
        };
        let (reply, result) = raw_handshake([0x7F, 0xF0 | id, 0, 0], config);
        assert_eq!(reply, [0x7F, 0xB0 | id, 0, 0]);
        let transport = result.unwrap();
        assert_eq!(transport.serializer(), serializer);
        assert_eq!(transport.kind(), TransportKind::RawSocket);
        assert!(!transport.is_batched());
        assert_eq!(transport.receive_limit(), 1 << 20);
        assert_eq!(transport.send_limit(), 16 << 20);
    }
}

#[test]
fn router_limit_is_rounded_down_to_a_power_of_two() {
    let config = ServerConfig {
        max_message_size: 1_000_000,
        ..ServerConfig::default()
    };
    let (reply, result) = raw_handshake([0x7F, 0x01, 0, 0], config);
    assert_eq!(reply, [0x7F, 0xA1, 0, 0]); // 2^19 = 524,288
    let transport = result.unwrap();
    assert_eq!(transport.receive_limit(), 524_288);
    assert_eq!(transport.send_limit(), 512);
}

#[test]
fn error_1_for_unsupported_serializers() {
    // 0 illegal, 4 UBJSON and 5 FlatBuffers (not implemented), 6 and 15 reserved.
    for id in [0u8, 4, 5, 6, 15] {
        let (reply, result) = raw_handshake([0x7F, 0xF0 | id, 0, 0], ServerConfig::default());
        assert_eq!(reply, [0x7F, 0x10, 0, 0], "serializer {id}");
        let error = result.unwrap_err();
        assert!(
            matches!(error, TransportError::Handshake(ref text) if text.contains("error 1")),
            "{error}"
        );
    }
    // A serializer nexus knows but this router does not accept.
    let config = ServerConfig {
        serializers: vec![Serializer::Cbor],
        ..ServerConfig::default()
    };
    let (reply, result) = raw_handshake([0x7F, 0xF1, 0, 0], config);
    assert_eq!(reply, [0x7F, 0x10, 0, 0]);
    assert!(result.unwrap_err().to_string().contains("3 (cbor)"));
}

#[test]
fn error_2_for_an_unacceptable_max_length() {
    let config = ServerConfig {
        min_client_max_message_size: 4096,
        ..ServerConfig::default()
    };
    // The client receives at most 2048 bytes (L = 2).
    let (reply, result) = raw_handshake([0x7F, 0x21, 0, 0], config.clone());
    assert_eq!(reply, [0x7F, 0x20, 0, 0]);
    assert!(result.unwrap_err().to_string().contains("error 2"));
    // 4096 (L = 3) is enough.
    let (reply, result) = raw_handshake([0x7F, 0x31, 0, 0], config);
    assert_eq!(reply, [0x7F, 0xF1, 0, 0]);
    assert!(result.is_ok());
}

#[test]
fn error_3_for_reserved_bits() {
    for request in [[0x7F, 0xF1, 0x01, 0x00], [0x7F, 0xF1, 0x00, 0x80]] {
        let (reply, result) = raw_handshake(request, ServerConfig::default());
        assert_eq!(reply, [0x7F, 0x30, 0, 0]);
        assert!(result.unwrap_err().to_string().contains("error 3"));
    }
}

#[test]
fn error_4_from_reject_rawsocket_reaches_the_client() {
    run(async {
        let (client, server) = tcp_pair().await;
        let router =
            smol::spawn(
                async move { reject_rawsocket(server, RawSocketError::MaxConnections).await },
            );
        let error = connect_rawsocket(client, Serializer::Cbor, 1 << 20)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                TransportError::Refused(RawSocketError::MaxConnections)
            ),
            "{error}"
        );
        assert!(error.to_string().contains("retry later"));
        router.await.unwrap();
    });
}

#[test]
fn each_error_reply_surfaces_as_refused_on_the_client() {
    for error in [
        RawSocketError::SerializerUnsupported,
        RawSocketError::MaxLengthUnacceptable,
        RawSocketError::ReservedBitsUsed,
        RawSocketError::MaxConnections,
    ] {
        run(async move {
            let (client, server) = UnixStream::pair().unwrap();
            let router = smol::spawn(async move { reject_rawsocket(server, error).await });
            match connect_rawsocket(client, Serializer::Json, 512).await {
                Err(TransportError::Refused(got)) => assert_eq!(got, error),
                other => panic!("expected a refusal, got {other:?}"),
            }
            router.await.unwrap();
        });
    }
}

#[test]
fn the_client_refuses_to_connect_with_an_unsupported_serializer() {
    run(async {
        let (client, server) = UnixStream::pair().unwrap();
        let config = ServerConfig {
            serializers: vec![Serializer::MsgPack],
            ..ServerConfig::default()
        };
        let router = smol::spawn(async move { accept_rawsocket(server, &config).await });
        let error = connect_rawsocket(client, Serializer::Json, 1 << 16)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            TransportError::Refused(RawSocketError::SerializerUnsupported)
        ));
        assert!(router.await.is_err());
    });
}

#[test]
fn a_non_rawsocket_first_octet_fails_without_reply() {
    run(async {
        let (mut client, server) = UnixStream::pair().unwrap();
        let router =
            smol::spawn(async move { accept_rawsocket(server, &ServerConfig::default()).await });
        client.write_all(b"GET ").await.unwrap();
        let error = router.await.unwrap_err();
        assert!(
            matches!(
                error,
                TransportError::RawSocketHandshake(
                    nexus_transports::rawsocket::HandshakeError::NotRawSocket(b'G')
                )
            ),
            "{error}"
        );
        // The router sent nothing and dropped the connection.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn the_client_checks_the_echoed_serializer() {
    run(async {
        let (client, mut server) = UnixStream::pair().unwrap();
        let router = smol::spawn(async move {
            let mut request = [0u8; 4];
            server.read_exact(&mut request).await.unwrap();
            assert_eq!(request, [0x7F, 0xF2, 0, 0]);
            server.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap(); // JSON instead of MsgPack
            server
        });
        let error = connect_rawsocket(client, Serializer::MsgPack, 16 << 20)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("serializer 1"), "{error}");
        drop(router.await);
    });
}

#[test]
fn the_client_fails_on_a_garbled_reply() {
    run(async {
        let (client, mut server) = UnixStream::pair().unwrap();
        let router = smol::spawn(async move {
            let mut request = [0u8; 4];
            server.read_exact(&mut request).await.unwrap();
            server.write_all(b"HTTP/1.1 400").await.unwrap();
            server
        });
        let error = connect_rawsocket(client, Serializer::Json, 1 << 16)
            .await
            .unwrap_err();
        assert!(
            matches!(error, TransportError::RawSocketHandshake(_)),
            "{error}"
        );
        drop(router.await);
    });
}

/// Connects a client and a router over TCP loopback.
async fn connected(
    serializer: Serializer,
    client_max: usize,
    router_max: usize,
) -> (nexus_transports::Transport, nexus_transports::Transport) {
    let (client, server) = tcp_pair().await;
    let config = ServerConfig {
        max_message_size: router_max,
        ..ServerConfig::default()
    };
    let (client, router) = smol::future::zip(
        connect_rawsocket(client, serializer, client_max),
        accept_rawsocket(server, &config),
    )
    .await;
    (client.unwrap(), router.unwrap())
}

#[test]
fn messages_round_trip_with_every_serializer() {
    for serializer in Serializer::ALL {
        run(async move {
            let (mut client, mut router) = connected(serializer, 1 << 20, 1 << 20).await;
            assert_eq!(client.serializer(), serializer);
            assert_eq!(router.serializer(), serializer);
            for n in 1..=3 {
                let message = sample_message(n);
                let bytes = serializer.encode(&message).unwrap();
                client.send(Outgoing::Message(bytes)).await.unwrap();
                let Some(Ok(Incoming::Message(received))) = router.next().await else {
                    panic!("expected a message")
                };
                let decoded = serializer.decode(&received, &Limits::default()).unwrap();
                assert_eq!(decoded, message);
                // And back.
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
fn many_messages_in_one_burst_arrive_in_order() {
    run(async {
        let (mut client, mut router) = connected(Serializer::Json, 1 << 20, 1 << 20).await;
        let reader = smol::spawn(async move {
            let mut sizes = Vec::new();
            for _ in 0..200 {
                let Some(Ok(Incoming::Message(bytes))) = router.next().await else {
                    panic!("expected a message")
                };
                sizes.push(bytes.len());
                assert!(bytes.iter().all(|b| *b == b'a' + (bytes.len() % 26) as u8));
            }
            sizes
        });
        for i in 0..200usize {
            // Mix small (coalesced) and large (separate) payloads.
            let size = if i % 10 == 0 { 100_000 + i } else { i + 1 };
            let payload = vec![b'a' + (size % 26) as u8; size];
            client
                .feed(Outgoing::Message(payload.into()))
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
        let sizes = reader.await;
        let expected: Vec<usize> = (0..200)
            .map(|i| if i % 10 == 0 { 100_000 + i } else { i + 1 })
            .collect();
        assert_eq!(sizes, expected);
    });
}

#[test]
fn ping_is_answered_with_an_identical_pong() {
    run(async {
        let (mut client, mut router) = connected(Serializer::Cbor, 1 << 20, 1 << 20).await;
        // The router only reads; it never writes on its own.
        let router_task = smol::spawn(async move {
            let item = router.next().await;
            (item, router)
        });
        let payloads = [
            Bytes::new(),
            Bytes::from_static(b"12345678"),
            Bytes::from(vec![0xA5; 70_000]),
        ];
        for payload in payloads {
            client.send(Outgoing::Ping(payload.clone())).await.unwrap();
            let Some(Ok(Incoming::Pong(pong))) = client.next().await else {
                panic!("expected a PONG")
            };
            assert_eq!(pong, payload);
        }
        client.send(Outgoing::Message("done".into())).await.unwrap();
        let (item, _router) = router_task.await;
        assert_eq!(item.unwrap().unwrap(), Incoming::Message("done".into()));
    });
}

#[test]
fn pong_wire_bytes_echo_the_ping() {
    run(async {
        let (mut raw, server) = UnixStream::pair().unwrap();
        let mut router = {
            let accept =
                smol::spawn(
                    async move { accept_rawsocket(server, &ServerConfig::default()).await },
                );
            raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
            let mut reply = [0u8; 4];
            raw.read_exact(&mut reply).await.unwrap();
            accept.await.unwrap()
        };
        let reading = smol::spawn(async move { router.next().await });
        // PING with an 8-byte payload: 01 00 00 08.
        raw.write_all(&[0x01, 0x00, 0x00, 0x08]).await.unwrap();
        raw.write_all(b"\x00\x01\x02\x03\xFC\xFD\xFE\xFF")
            .await
            .unwrap();
        let mut pong = [0u8; 12];
        raw.read_exact(&mut pong).await.unwrap();
        assert_eq!(pong, *b"\x02\x00\x00\x08\x00\x01\x02\x03\xFC\xFD\xFE\xFF");
        drop(raw);
        // The client went away between frames: a clean end.
        assert!(reading.await.is_none());
    });
}

#[test]
fn an_oversized_frame_fails_the_connection() {
    run(async {
        let (mut raw, server) = UnixStream::pair().unwrap();
        let config = ServerConfig {
            max_message_size: 512,
            ..ServerConfig::default()
        };
        let accept = smol::spawn(async move { accept_rawsocket(server, &config).await });
        raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
        let mut reply = [0u8; 4];
        raw.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, [0x7F, 0x01, 0, 0]); // the router takes 512 bytes
        let mut router = accept.await.unwrap();
        // 512 bytes pass, 513 do not: the header alone is enough to fail.
        let header = FrameHeader::new(FrameType::Message, 512).unwrap().encode();
        raw.write_all(&header).await.unwrap();
        raw.write_all(&[b' '; 512]).await.unwrap();
        assert_eq!(
            router.next().await.unwrap().unwrap(),
            Incoming::Message(Bytes::from(vec![b' '; 512]))
        );
        raw.write_all(&[0x00, 0x00, 0x02, 0x01]).await.unwrap();
        match router.next().await {
            Some(Err(TransportError::TooLarge {
                size: 513,
                limit: 512,
            })) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(router.next().await.is_none());
    });
}

#[test]
fn reserved_frame_types_fail_the_connection() {
    for header in [[0x03u8, 0, 0, 1], [0x10, 0, 0, 1], [0x08, 0, 0, 1]] {
        run(async move {
            let (mut raw, server) = UnixStream::pair().unwrap();
            let accept =
                smol::spawn(
                    async move { accept_rawsocket(server, &ServerConfig::default()).await },
                );
            raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
            let mut reply = [0u8; 4];
            raw.read_exact(&mut reply).await.unwrap();
            let mut router = accept.await.unwrap();
            raw.write_all(&header).await.unwrap();
            match router.next().await {
                Some(Err(TransportError::Frame(_))) => {}
                other => panic!("expected a frame error for {header:02x?}, got {other:?}"),
            }
        });
    }
}

#[test]
fn sending_over_the_peer_limit_is_refused_but_not_fatal() {
    run(async {
        // The router receives at most 1024 bytes.
        let (mut client, mut router) = connected(Serializer::MsgPack, 1 << 20, 1024).await;
        assert_eq!(client.send_limit(), 1024);
        let error = client
            .send(Outgoing::Message(Bytes::from(vec![0; 1025])))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            TransportError::TooLarge {
                size: 1025,
                limit: 1024
            }
        ));
        client
            .send(Outgoing::Message(Bytes::from(vec![1; 1024])))
            .await
            .unwrap();
        assert_eq!(
            router.next().await.unwrap().unwrap(),
            Incoming::Message(Bytes::from(vec![1; 1024]))
        );
    });
}

#[test]
fn close_ends_the_peer_stream_cleanly() {
    run(async {
        let (mut client, mut router) = connected(Serializer::Json, 1 << 20, 1 << 20).await;
        client.send(Outgoing::Message("last".into())).await.unwrap();
        client.close().await.unwrap();
        client.close().await.unwrap(); // twice is fine
        assert!(matches!(
            client.send(Outgoing::Message("late".into())).await,
            Err(TransportError::Closed)
        ));
        assert_eq!(
            router.next().await.unwrap().unwrap(),
            Incoming::Message("last".into())
        );
        assert!(router.next().await.is_none());
        assert!(router.next().await.is_none()); // fused
                                                // The router closes its half; the client's read side ends too.
        router.close().await.unwrap();
        assert!(client.next().await.is_none());
    });
}

#[test]
fn end_of_stream_inside_a_frame_is_an_error() {
    run(async {
        let (mut raw, server) = UnixStream::pair().unwrap();
        let accept =
            smol::spawn(async move { accept_rawsocket(server, &ServerConfig::default()).await });
        raw.write_all(&[0x7F, 0xF1, 0, 0]).await.unwrap();
        let mut reply = [0u8; 4];
        raw.read_exact(&mut reply).await.unwrap();
        let mut router = accept.await.unwrap();
        raw.write_all(&[0x00, 0x00, 0x00, 0x10, b'['])
            .await
            .unwrap();
        drop(raw);
        match router.next().await {
            Some(Err(TransportError::Io(error))) => {
                assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof)
            }
            other => panic!("expected an unexpected end of stream, got {other:?}"),
        }
    });
}

#[test]
fn end_of_stream_during_the_handshake_is_an_error() {
    run(async {
        let (mut raw, server) = UnixStream::pair().unwrap();
        let accept =
            smol::spawn(async move { accept_rawsocket(server, &ServerConfig::default()).await });
        raw.write_all(&[0x7F, 0xF1]).await.unwrap();
        drop(raw);
        let error = accept.await.unwrap_err();
        assert!(
            error.to_string().contains("during the RawSocket handshake"),
            "{error}"
        );
    });
}

#[test]
fn reading_is_cancel_safe() {
    run(async {
        let (mut client, mut router) = connected(Serializer::Json, 1 << 20, 1 << 20).await;
        // Poll the router's next() once without data, then drop that future.
        {
            let mut next = router.next();
            assert!(smol::future::poll_once(&mut next).await.is_none());
        }
        // A large message arrives over several reads, with cancelled reads in between.
        let payload = Bytes::from(vec![b'x'; 50_000]);
        client
            .send(Outgoing::Message(payload.clone()))
            .await
            .unwrap();
        let mut received = None;
        for _ in 0..3 {
            let mut next = router.next();
            if let Some(item) = smol::future::poll_once(&mut next).await {
                received = Some(item);
                break;
            }
        }
        let item = match received {
            Some(item) => item,
            None => router.next().await,
        };
        assert_eq!(item.unwrap().unwrap(), Incoming::Message(payload));
    });
}

#[test]
fn unix_socket_round_trip() {
    run(async {
        let dir = std::env::temp_dir().join(format!("nexus-transports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("router.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let endpoint =
            nexus_transports::Endpoint::parse(&format!("unix://{}", path.display())).unwrap();
        let nexus_transports::Endpoint::Unix { path: socket_path } = &endpoint else {
            panic!("not a unix endpoint")
        };
        let router = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut transport = accept_rawsocket(stream, &ServerConfig::default())
                .await
                .unwrap();
            while let Some(item) = transport.next().await {
                if let Incoming::Message(bytes) = item.unwrap() {
                    transport.send(Outgoing::Message(bytes)).await.unwrap();
                }
            }
        });
        let stream = UnixStream::connect(socket_path).await.unwrap();
        let mut client = connect_rawsocket(stream, Serializer::Cbor, 1 << 20)
            .await
            .unwrap();
        let message = sample_message(7);
        client
            .send(Outgoing::Message(
                Serializer::Cbor.encode(&message).unwrap(),
            ))
            .await
            .unwrap();
        let Some(Ok(Incoming::Message(bytes))) = client.next().await else {
            panic!("expected the echo")
        };
        assert_eq!(
            Serializer::Cbor.decode(&bytes, &Limits::default()).unwrap(),
            message
        );
        client.close().await.unwrap();
        router.await;
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    });
}

#[test]
fn tcp_listener_round_trip() {
    run(async {
        let (listener, port) = listener().await;
        let router = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut transport = accept_rawsocket(stream, &ServerConfig::default())
                .await
                .unwrap();
            let item = transport.next().await.unwrap().unwrap();
            transport
                .send(match item {
                    Incoming::Message(bytes) => Outgoing::Message(bytes),
                    Incoming::Pong(_) => panic!("unexpected pong"),
                })
                .await
                .unwrap();
            transport.close().await.unwrap();
        });
        let stream = smol::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut client = connect_rawsocket(stream, Serializer::MsgPack, 1 << 24)
            .await
            .unwrap();
        assert_eq!(client.receive_limit(), 1 << 24);
        client.send(Outgoing::Message("x".into())).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Incoming::Message("x".into())
        );
        assert!(client.next().await.is_none());
        router.await;
    });
}

/// Drivers spawn transports and handshakes on multi-threaded executors.
#[test]
fn transports_and_handshake_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let config = ServerConfig::default();
    let endpoint = nexus_transports::Endpoint::parse("ws://localhost/").unwrap();
    let stream = || UnixStream::pair().unwrap().0;
    assert_send(&accept_rawsocket(stream(), &config));
    assert_send(&nexus_transports::accept_websocket(stream(), &config));
    assert_send(&nexus_transports::accept(stream(), &config));
    assert_send(&reject_rawsocket(stream(), RawSocketError::MaxConnections));
    assert_send(&connect_rawsocket(stream(), Serializer::Json, 1024));
    assert_send(&nexus_transports::connect_websocket(
        stream(),
        &endpoint,
        &[Serializer::Json],
        1024,
    ));
    let tls = nexus_transports::tls::client_config(None).unwrap();
    assert_send(&nexus_transports::tls::connect(stream(), "localhost", tls));
    let transport = run(async {
        let (client, server) = UnixStream::pair().unwrap();
        let (client, _router) = smol::future::zip(
            connect_rawsocket(client, Serializer::Json, 1024),
            accept_rawsocket(server, &ServerConfig::default()),
        )
        .await;
        client.unwrap()
    });
    assert_send(&transport);
}

#[test]
fn a_split_connection_keeps_writing_while_its_reader_half_is_busy() {
    // The writer half waits for the socket to drain while the reader half, woken by every
    // reply, also writes (it sends what is queued, PONGs included): both halves must be
    // woken when the socket has room again, or the writer's flush never completes.
    const COUNT: usize = 64;
    run(async {
        let (client, server) = tcp_pair().await;
        let (client, server) = smol::future::zip(
            connect_rawsocket(client, Serializer::MsgPack, 16 << 20),
            accept_rawsocket(server, &ServerConfig::default()),
        )
        .await;
        let (mut a_tx, mut a_rx) = client.unwrap().split();
        let mut b = server.unwrap();
        let big = Bytes::from(vec![0x5A; 256 * 1024]);
        let writer = smol::spawn(async move {
            for _ in 0..COUNT {
                a_tx.send(Outgoing::Message(big.clone())).await.unwrap();
            }
            a_tx.flush().await.unwrap();
            a_tx
        });
        let reader = smol::spawn(async move {
            let mut replies = 0;
            while replies < COUNT {
                match a_rx.next().await {
                    Some(Ok(Incoming::Message(_))) => replies += 1,
                    other => panic!("{other:?}"),
                }
            }
            a_rx
        });
        // The peer answers every message, so the reader half is woken all along.
        for _ in 0..COUNT {
            match b.next().await {
                Some(Ok(Incoming::Message(m))) => assert_eq!(m.len(), 256 * 1024),
                other => panic!("{other:?}"),
            }
            b.send(Outgoing::Message(Bytes::from_static(b"ok")))
                .await
                .unwrap();
        }
        let (a_tx, a_rx) = smol::future::zip(writer, reader).await;
        assert!(a_tx.reunite(a_rx).is_ok());
    });
}
