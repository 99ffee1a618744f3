//! Bad input gets a typed error and the node keeps serving everyone else.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::TestNode;
use rustmq_client::{
    ClientError, ErrorCode, Message, ProducerBuilder, ProducerConfig, RustMqClient,
};
use rustmq_controller::metadata::TopicConfig;
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame::{self, FLAG_ERROR, FrameHeader};
use rustmq_protocol::proto;
use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch};

async fn node() -> (tempfile::TempDir, TestNode, RustMqClient) {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.network.max_frame_bytes = 1024 * 1024;
    cfg.log.max_message_bytes = 512 * 1024;
    let n = TestNode::start_with(cfg).await;
    n.create_topic("t", 2).await;
    let c = n.client().await;
    (dir, n, c)
}

fn error_frame(raw: Bytes) -> proto::ErrorResponse {
    let (h, body) = frame::decode(raw, 1 << 20).expect("a whole frame");
    assert_ne!(h.flags & FLAG_ERROR, 0, "expected an error frame");
    frame::decode_body(body).expect("error body")
}

async fn produce_raw(
    c: &RustMqClient,
    addr: &str,
    topic: &str,
    partition: u32,
    records: Bytes,
) -> proto::PartitionProduceResponse {
    produce_raw_with(
        c,
        addr,
        (proto::Acks::Leader as i32, 5000),
        topic,
        partition,
        records,
    )
    .await
}

/// A produce request with the given raw `acks` value and `timeout_ms`.
async fn produce_raw_with(
    c: &RustMqClient,
    addr: &str,
    (acks, timeout_ms): (i32, u32),
    topic: &str,
    partition: u32,
    records: Bytes,
) -> proto::PartitionProduceResponse {
    let req = proto::ProduceRequest {
        acks,
        timeout_ms,
        topics: vec![proto::TopicProduceData {
            topic: topic.into(),
            partitions: vec![proto::PartitionProduceData { partition, records }],
        }],
        acks_replicas: 0,
    };
    send_produce(c, addr, &req).await.topics[0].partitions[0].clone()
}

/// `req` sent as it is, past the client's own checks, and its answer.
async fn send_produce(
    c: &RustMqClient,
    addr: &str,
    req: &proto::ProduceRequest,
) -> proto::ProduceResponse {
    let raw = c
        .raw_request(addr, frame::encode(ApiKey::Produce as u16, 1, 7, 0, req))
        .await
        .unwrap();
    let (_, body) = frame::decode(raw, 1 << 20).unwrap();
    frame::decode_body(body).unwrap()
}

async fn still_serving(c: &RustMqClient) {
    assert!(c.health_check().await.expect("node still answers").healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_garbage_frames_get_typed_errors() {
    let (_d, n, c) = node().await;
    let addr = n.node.quic_addr().to_string();

    // 2 MiB body against a 1 MiB limit: refused with FRAME_TOO_LARGE, connection kept.
    let mut big = BytesMut::new();
    FrameHeader {
        body_len: 2 * 1024 * 1024,
        api_key: 2,
        api_version: 1,
        request_id: 42,
        flags: 0,
    }
    .encode(&mut big);
    big.put_bytes(0, 2 * 1024 * 1024);
    let e = error_frame(c.raw_request(&addr, big.freeze()).await.unwrap());
    assert_eq!(
        e.error_code,
        ErrorCode::FrameTooLarge as i32,
        "{}",
        e.message
    );
    still_serving(&c).await;

    // Unknown api key.
    let mut unknown = BytesMut::new();
    FrameHeader {
        body_len: 3,
        api_key: 999,
        api_version: 1,
        request_id: 1,
        flags: 0,
    }
    .encode(&mut unknown);
    unknown.put_slice(b"abc");
    let e = error_frame(c.raw_request(&addr, unknown.freeze()).await.unwrap());
    assert_eq!(e.error_code, ErrorCode::UnsupportedApi as i32);

    // A known api with a body that is not its protobuf message.
    let mut garbage = BytesMut::new();
    FrameHeader {
        body_len: 8,
        api_key: ApiKey::Fetch as u16,
        api_version: 1,
        request_id: 1,
        flags: 0,
    }
    .encode(&mut garbage);
    garbage.put_slice(&[0xff; 8]);
    let e = error_frame(c.raw_request(&addr, garbage.freeze()).await.unwrap());
    assert_eq!(e.error_code, ErrorCode::InvalidRequest as i32);

    // Fewer bytes than a header: an error frame (with request id 0: there is none to echo).
    let raw = c
        .raw_request(&addr, Bytes::from_static(b"\x00\x01"))
        .await
        .unwrap();
    let (h, body) = frame::decode(raw, 1 << 20).unwrap();
    assert_eq!(h.request_id, 0);
    assert_ne!(h.flags & FLAG_ERROR, 0);
    let e: proto::ErrorResponse = frame::decode_body(body).unwrap();
    assert_eq!(e.error_code, ErrorCode::InvalidRequest as i32);
    assert!(e.message.contains("truncated"), "{}", e.message);

    // A whole header, then fewer body bytes than it declares: an error frame echoing its id.
    let mut short = BytesMut::new();
    FrameHeader {
        body_len: 100,
        api_key: ApiKey::Metadata as u16,
        api_version: 1,
        request_id: 77,
        flags: 0,
    }
    .encode(&mut short);
    short.put_slice(&[0; 10]);
    let raw = c.raw_request(&addr, short.freeze()).await.unwrap();
    let (h, _) = frame::decode(raw.clone(), 1 << 20).unwrap();
    assert_eq!(h.request_id, 77);
    let e = error_frame(raw);
    assert_eq!(e.error_code, ErrorCode::InvalidRequest as i32);
    assert!(
        e.message.contains("need 100 bytes, have 10"),
        "{}",
        e.message
    );
    // The trace-context flag on a body too short to hold the context: INVALID_REQUEST.
    let mut untraceable = BytesMut::new();
    FrameHeader {
        body_len: 5,
        api_key: ApiKey::Metadata as u16,
        api_version: 1,
        request_id: 78,
        flags: frame::FLAG_TRACE_CONTEXT,
    }
    .encode(&mut untraceable);
    untraceable.put_slice(&[0; 5]);
    let e = error_frame(c.raw_request(&addr, untraceable.freeze()).await.unwrap());
    assert_eq!(e.error_code, ErrorCode::InvalidRequest as i32);
    assert!(e.message.contains("trace context"), "{}", e.message);
    // A context of an unknown version (or all zeros) is ignored: the request is served.
    for version in [0u8, 9] {
        let mut trace = [0u8; frame::TRACE_CONTEXT_LEN];
        trace[0] = version;
        let req = proto::MetadataRequest { topics: vec![] };
        let raw = c
            .raw_request(
                &addr,
                frame::encode_request(ApiKey::Metadata as u16, 1, 79, Some(&trace), &req),
            )
            .await
            .unwrap();
        let (h, body) = frame::decode(raw, 1 << 20).unwrap();
        assert_eq!(h.flags & FLAG_ERROR, 0, "version {version}");
        let md: proto::MetadataResponse = frame::decode_body(body).unwrap();
        assert!(!md.cluster_id.is_empty());
    }
    // Random bytes of several shapes.
    for seed in 0u8..20 {
        let junk: Vec<u8> = (0..64)
            .map(|i| seed.wrapping_mul(31).wrapping_add(i))
            .collect();
        let _ = c.raw_request(&addr, Bytes::from(junk)).await;
    }
    still_serving(&c).await;

    // Metadata carries the id the embedded controller gave the cluster, not a constant.
    let req = proto::MetadataRequest { topics: vec![] };
    let raw = c
        .raw_request(&addr, frame::encode(ApiKey::Metadata as u16, 1, 3, 0, &req))
        .await
        .unwrap();
    let (_, body) = frame::decode(raw, 1 << 20).unwrap();
    let md: proto::MetadataResponse = frame::decode_body(body).unwrap();
    assert_eq!(md.cluster_id.len(), 32, "{:?}", md.cluster_id);
    assert_eq!(md.cluster_id, n.node.controller().metadata().cluster_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_produce_requests_get_typed_errors() {
    let (_d, n, c) = node().await;
    let addr = n.node.quic_addr().to_string();
    let good = encode_batch(&[OutgoingRecord::value("x")], Compression::None).unwrap();

    let r = produce_raw(&c, &addr, "missing", 0, good.clone()).await;
    assert_eq!(r.error_code, ErrorCode::UnknownTopic as i32);
    let r = produce_raw(&c, &addr, "bad name!", 0, good.clone()).await;
    assert_eq!(r.error_code, ErrorCode::InvalidTopic as i32);
    let r = produce_raw(&c, &addr, "t", 99, good.clone()).await;
    assert_eq!(r.error_code, ErrorCode::UnknownPartition as i32);

    let mut corrupt = good.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let r = produce_raw(&c, &addr, "t", 0, Bytes::from(corrupt)).await;
    assert_eq!(
        r.error_code,
        ErrorCode::CorruptMessage as i32,
        "{}",
        r.error_message
    );
    let r = produce_raw(&c, &addr, "t", 0, Bytes::from_static(b"not a batch at all")).await;
    assert_eq!(r.error_code, ErrorCode::CorruptMessage as i32);

    let big = encode_batch(
        &[OutgoingRecord::value(vec![1u8; 600 * 1024])],
        Compression::None,
    )
    .unwrap();
    let r = produce_raw(&c, &addr, "t", 0, big).await;
    assert_eq!(r.error_code, ErrorCode::MessageTooLarge as i32);

    // Per-topic limit.
    n.create_topic_with(
        "small",
        1,
        TopicConfig {
            max_message_bytes: Some(1000),
            ..Default::default()
        },
    )
    .await;
    let producer = ProducerBuilder::new()
        .topic("small")
        .client(c.clone())
        .config(ProducerConfig::default())
        .build()
        .await
        .unwrap();
    let e = producer
        .send(
            Message::builder()
                .topic("small")
                .payload(vec![0u8; 5000])
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Server {
                code: ErrorCode::MessageTooLarge,
                ..
            }
        ),
        "{e}"
    );
    // Client-side limit.
    let e = producer
        .send(
            Message::builder()
                .topic("small")
                .payload(vec![0u8; 2 * 1024 * 1024])
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::MessageTooLarge { .. }), "{e}");

    // Unknown topic / partition through the client API (after a short wait for the topic
    // to show up).
    let impatient = RustMqClient::new(rustmq_client::ClientConfig {
        metadata_max_wait: std::time::Duration::from_millis(300),
        ..n.client_config()
    })
    .await
    .unwrap();
    assert!(matches!(
        impatient.create_producer("missing").await,
        Err(ClientError::UnknownTopic(_))
    ));
    let e = c
        .consumer("t")
        .partitions(vec![5])
        .build()
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, ClientError::UnknownPartition { partition: 5, .. }),
        "{e}"
    );

    // An acks level the broker does not know is refused, not taken for a weaker one.
    let end = c.list_offset("t", 0, -1).await.unwrap();
    let r = produce_raw_with(&c, &addr, (42, 5000), "t", 0, good.clone()).await;
    assert_eq!(r.error_code, ErrorCode::InvalidRequest as i32);
    assert!(r.error_message.contains("acks"), "{}", r.error_message);
    assert_eq!(
        c.list_offset("t", 0, -1).await.unwrap(),
        end,
        "nothing appended"
    );
    // A partition named twice in one request (two entries of one topic, or twice under one
    // entry) is refused whole: answers are matched by partition, so the client could not
    // tell its two answers apart.
    let twice = |topics: Vec<proto::TopicProduceData>| proto::ProduceRequest {
        acks: proto::Acks::Leader as i32,
        timeout_ms: 5000,
        topics,
        acks_replicas: 0,
    };
    let entry = |partitions: &[u32]| proto::TopicProduceData {
        topic: "t".into(),
        partitions: partitions
            .iter()
            .map(|&partition| proto::PartitionProduceData {
                partition,
                records: good.clone(),
            })
            .collect(),
    };
    for req in [
        twice(vec![entry(&[0, 1, 0])]),
        twice(vec![entry(&[1]), entry(&[0, 1])]),
    ] {
        let resp = send_produce(&c, &addr, &req).await;
        let answers: Vec<_> = resp.topics.iter().flat_map(|t| &t.partitions).collect();
        assert_eq!(answers.len(), 3, "one answer per entry");
        for a in answers {
            assert_eq!(a.error_code, ErrorCode::InvalidRequest as i32);
            assert!(a.error_message.contains("t/"), "{}", a.error_message);
            assert!(a.error_message.contains("twice"), "{}", a.error_message);
        }
    }
    assert_eq!(c.list_offset("t", 0, -1).await.unwrap(), end);
    assert_eq!(
        c.list_offset("t", 1, -1).await.unwrap(),
        0,
        "nothing appended to either partition"
    );
    // Both partitions in one request, once each, is fine.
    let resp = send_produce(&c, &addr, &twice(vec![entry(&[0, 1])])).await;
    for a in &resp.topics[0].partitions {
        assert_eq!(a.error_code, ErrorCode::None as i32, "{}", a.error_message);
    }
    let end = end + 1;

    // timeout_ms 0 (proto3's unset value) is the broker's default, not "time out at once":
    // acks=all on a one-replica partition is answered with the offset.
    let all = proto::Acks::All as i32;
    let r = produce_raw_with(&c, &addr, (all, 0), "t", 0, good.clone()).await;
    assert_eq!(r.error_code, ErrorCode::None as i32, "{}", r.error_message);
    assert_eq!(r.base_offset, end);

    // The good path still works after all of that.
    let r = produce_raw(&c, &addr, "t", 0, good).await;
    assert_eq!(r.error_code, ErrorCode::None as i32);
    still_serving(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handshakes_do_not_stop_the_accept_loop() {
    let (d, n, c) = node().await;
    let addr = n.node.quic_addr();

    // A client trusting another CA fails verification.
    let other = rustmq_broker::tls::ensure_dev_certificates(&d.path().join("other-ca")).unwrap();
    let mut cfg = n.client_config();
    cfg.tls.ca_cert = Some(other.ca_cert);
    cfg.connect_timeout = Duration::from_secs(3);
    let e = RustMqClient::new(cfg)
        .await
        .err()
        .expect("untrusted CA refused");
    // Typed, and at once: a refused certificate is not retried until the connect timeout.
    assert!(matches!(e, ClientError::Tls(_)), "{e}");

    // A client speaking another ALPN fails the handshake.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustmq_broker::tls::load_certs(n.node.ca_cert().unwrap()).unwrap() {
        roots.add(cert).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let qc = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(qc)));
    let res = ep.connect(addr, "localhost").unwrap().await;
    assert!(res.is_err(), "wrong ALPN must be refused");

    // A half-open connection that never completes a handshake: raw UDP junk.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        sock.send_to(&[0u8; 1200], addr).unwrap();
    }

    // Everyone else is still served, including brand-new connections.
    still_serving(&c).await;
    let fresh = n.client().await;
    still_serving(&fresh).await;
}

/// ApiVersions tells a client what the broker speaks and the limits it enforces (the ones
/// the node above refuses frames and batches by); version 0 of any API is refused, and the
/// response header echoes the request's id with only the RESPONSE flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_reports_the_apis_and_the_limits_enforced() {
    let (_d, n, c) = node().await;
    let v = c.api_versions().await.unwrap();
    assert_eq!(v.error_code, 0);
    assert_eq!(v.max_frame_bytes, 1024 * 1024);
    assert_eq!(v.max_message_bytes, 512 * 1024);
    assert_eq!(v.max_idle_timeout_ms, 30_000);
    assert_eq!(v.max_concurrent_streams, 1000);
    assert!(!v.authentication_required);
    let keys: Vec<u32> = v.apis.iter().map(|a| a.api_key).collect();
    assert_eq!(keys, (1..=15).collect::<Vec<_>>());
    assert!(
        v.apis
            .iter()
            .all(|a| a.min_version == 1 && a.max_version == 1)
    );
    assert_eq!(v.apis[14].name, "ApiVersions");

    let addr = n.node.quic_addr().to_string();
    let raw = c
        .raw_request(
            &addr,
            frame::encode(
                ApiKey::ApiVersions as u16,
                1,
                77,
                0,
                &proto::ApiVersionsRequest {},
            ),
        )
        .await
        .unwrap();
    let (h, _) = frame::decode(raw, 1 << 20).unwrap();
    assert_eq!(
        (h.api_key, h.api_version, h.request_id, h.flags),
        (15, 1, 77, frame::FLAG_RESPONSE)
    );
    let zero = c
        .raw_request(
            &addr,
            frame::encode(ApiKey::Health as u16, 0, 78, 0, &proto::HealthRequest {}),
        )
        .await
        .unwrap();
    let e = error_frame(zero);
    assert_eq!(
        e.error_code,
        ErrorCode::UnsupportedApi as i32,
        "{}",
        e.message
    );
    still_serving(&c).await;
}
