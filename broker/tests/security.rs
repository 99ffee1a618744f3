//! Security on the client listener, end to end on a real node with real TLS: mutual TLS
//! identities from the cluster CA's certificates, ACLs from the controllers checked on every
//! request path, one audit record per denial, refused certificates, and sessions closed
//! when their certificate expires.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use common::pki::{DAY, Pki};
use rustmq_client::{ClientError, ErrorCode, Message, RustMqClient};
use rustmq_controller::metadata::{AclChange, AclFilter};
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame;
use rustmq_protocol::proto;
use rustmq_security::acl::{AclRule, Conditions, Effect, Operation};
use rustmq_security::audit::{AuditEvent, AuditRecord};
use rustmq_security::identity::Role;

fn rule(principal: &str, resource: &str, ops: &[Operation], effect: Effect) -> AclRule {
    AclRule {
        principal: principal.into(),
        resource: resource.parse().unwrap(),
        operations: ops.to_vec(),
        effect,
        conditions: Conditions::default(),
        source: None,
    }
}

struct Secured {
    _dir: tempfile::TempDir,
    pki: Pki,
    node: TestNode,
}

async fn secured(rules: Vec<AclRule>) -> Secured {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    let mut cfg = common::config(&dir.path().join("node"));
    pki.secure(&mut cfg);
    let node = TestNode::start_with(cfg).await;
    for t in ["orders", "payments", "audit-trail"] {
        node.create_topic(t, 1).await;
    }
    if !rules.is_empty() {
        add_acls(&node, rules).await;
    }
    Secured {
        _dir: dir,
        pki,
        node,
    }
}

/// Adds `rules` and waits until the broker has them in force.
async fn add_acls(node: &TestNode, rules: Vec<AclRule>) {
    let r = node
        .node
        .controller()
        .change_acls(AclChange {
            remove: vec![],
            add: rules,
            warm_principals: None,
        })
        .await
        .unwrap();
    wait_for_acl_version(node, r.version).await;
}

async fn wait_for_acl_version(node: &TestNode, version: u64) {
    for _ in 0..500 {
        if node.node.security().acl_version() >= version {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the broker never put ACL version {version} in force");
}

async fn client_for(s: &Secured, principal: &str, role: Role) -> RustMqClient {
    let files = s.pki.issue(principal, role, DAY);
    RustMqClient::new(s.pki.client(s.node.node.quic_addr(), Some(&files)))
        .await
        .expect("client connects")
}

async fn raw<Req: prost::Message, Resp: prost::Message + Default>(
    c: &RustMqClient,
    addr: &str,
    api: ApiKey,
    req: &Req,
) -> Resp {
    let out = c
        .raw_request(addr, frame::encode(api as u16, 1, 9, 0, req))
        .await
        .unwrap();
    let (_, body) = frame::decode(out, 1 << 24).unwrap();
    frame::decode_body(body).unwrap()
}

fn produce_request(topic: &str) -> proto::ProduceRequest {
    use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch};
    let batch = encode_batch(
        &[OutgoingRecord::value(Bytes::from_static(b"x"))],
        Compression::None,
    )
    .unwrap();
    proto::ProduceRequest {
        acks: proto::Acks::Leader as i32,
        timeout_ms: 5000,
        topics: vec![proto::TopicProduceData {
            topic: topic.into(),
            partitions: vec![proto::PartitionProduceData {
                partition: 0,
                records: batch,
            }],
        }],
        acks_replicas: 0,
    }
}

fn denials(records: &[AuditRecord]) -> Vec<(String, String, String)> {
    records
        .iter()
        .filter(|r| r.event == Some(AuditEvent::Denied))
        .map(|r| {
            (
                r.principal.clone().unwrap_or_default(),
                r.resource.clone().unwrap_or_default(),
                r.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn unauthorized(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Server {
            code: ErrorCode::Unauthorized,
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_path_is_authorized_and_every_denial_audited_once() {
    let s = secured(vec![
        rule("alice", "topic.orders", &[Operation::Write], Effect::Allow),
        rule(
            "alice",
            "topic.audit-trail",
            &[Operation::Describe],
            Effect::Allow,
        ),
        // bob reads every topic but payments: deny beats allow across pattern kinds.
        rule("bob", "topic.*", &[Operation::Read], Effect::Allow),
        rule("bob", "topic.pay*", &[Operation::Read], Effect::Deny),
        rule(
            "bob",
            "group.billing-*",
            &[Operation::ConsumeGroup],
            Effect::Allow,
        ),
    ])
    .await;
    let addr = s.node.node.quic_addr().to_string();
    let alice = client_for(&s, "alice", Role::Client).await;
    let bob = client_for(&s, "bob", Role::Client).await;
    let carol = client_for(&s, "carol", Role::Client).await;

    // Produce: allowed where a rule allows it.
    let producer = alice.create_producer("orders").await.unwrap();
    for i in 0..10 {
        producer
            .send(
                Message::builder()
                    .topic("orders")
                    .payload(format!("m{i}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    // alice may see audit-trail but not write to it: the partition answer says why.
    let r: proto::ProduceResponse = raw(
        &alice,
        &addr,
        ApiKey::Produce,
        &produce_request("audit-trail"),
    )
    .await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::Unauthorized as i32);
    assert!(
        p.error_message.contains("topic:audit-trail") && p.error_message.contains("alice"),
        "{}",
        p.error_message
    );
    // Nothing was appended.
    assert_eq!(
        s.node
            .node
            .broker()
            .partition_bounds("audit-trail", 0)
            .unwrap()
            .1,
        0
    );
    // A topic alice may not even describe: refused at the metadata step, at once.
    let Err(e) = alice.create_producer("payments").await else {
        panic!("a producer for a topic alice may not describe");
    };
    assert!(unauthorized(&e), "{e:?}");

    // Metadata listing: only what the principal may describe.
    let md: proto::MetadataResponse = raw(
        &alice,
        &addr,
        ApiKey::Metadata,
        &proto::MetadataRequest::default(),
    )
    .await;
    let mut names: Vec<&str> = md.topics.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["audit-trail", "orders"]);
    let md: proto::MetadataResponse = raw(
        &carol,
        &addr,
        ApiKey::Metadata,
        &proto::MetadataRequest::default(),
    )
    .await;
    assert!(
        md.topics.is_empty(),
        "no ACL means nothing: {:?}",
        md.topics
    );

    // Fetch: bob reads orders; payments is refused by the deny rule.
    let mut consumer = bob
        .consumer("orders")
        .start_position(rustmq_client::StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    for i in 0..10 {
        let m = tokio::time::timeout(Duration::from_secs(10), consumer.receive())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&m.payload[..], format!("m{i}").as_bytes());
    }
    let fetch = proto::FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        topics: vec![proto::FetchTopic {
            topic: "payments".into(),
            partitions: vec![proto::FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
            }],
        }],
    };
    let r: proto::FetchResponse = raw(&bob, &addr, ApiKey::Fetch, &fetch).await;
    assert_eq!(r.topics[0].topic, "payments");
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::Unauthorized as i32
    );
    // alice writes orders but may not read it.
    let mut fetch_orders = fetch.clone();
    fetch_orders.topics[0].topic = "orders".into();
    let r: proto::FetchResponse = raw(&alice, &addr, ApiKey::Fetch, &fetch_orders).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::Unauthorized as i32
    );
    assert!(r.topics[0].partitions[0].records.is_empty());

    // Group APIs: bob may join billing-* groups, not others.
    let join = |group: &str| proto::JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        topics: vec!["orders".into()],
        assignor: "range".into(),
        ..Default::default()
    };
    let r: proto::JoinGroupResponse = raw(&bob, &addr, ApiKey::JoinGroup, &join("other")).await;
    assert_eq!(r.error_code, ErrorCode::Unauthorized as i32);
    assert!(
        r.error_message.contains("group:other"),
        "{}",
        r.error_message
    );
    let r: proto::FindCoordinatorResponse = raw(
        &bob,
        &addr,
        ApiKey::FindCoordinator,
        &proto::FindCoordinatorRequest {
            group_id: "billing-eu".into(),
        },
    )
    .await;
    assert_eq!(r.error_code, ErrorCode::None as i32, "{}", r.error_message);

    // Exactly one audit record per denial, naming who, what and the ACL version.
    let expected = vec![
        (
            "alice".to_string(),
            "topic:audit-trail".to_string(),
            "write".to_string(),
        ),
        ("alice".into(), "topic:payments".into(), "describe".into()),
        ("bob".into(), "topic:payments".into(), "read".into()),
        ("alice".into(), "topic:orders".into(), "read".into()),
        ("bob".into(), "group:other".into(), "read".into()),
    ];
    let security = s.node.node.security();
    let recent = security.audit().recent(1000);
    assert_eq!(denials(&recent), expected);
    assert_eq!(security.denials(), expected.len() as u64);
    let deny = recent
        .iter()
        .find(|r| r.operation.as_deref() == Some("read") && r.principal.as_deref() == Some("bob"))
        .unwrap();
    assert_eq!(deny.acl_version, Some(1));
    assert_eq!(deny.matched_rule, Some(3), "the deny rule decided");
    assert_eq!(deny.role, Some(Role::Client));
    assert!(
        deny.certificate_serial
            .as_deref()
            .is_some_and(|s| s.len() == 34)
    );
    // The same records are in the audit file, as JSON lines.
    let path = security.audit().path().unwrap().to_path_buf();
    let on_disk = rustmq_security::audit::read_files(&path, 5).unwrap();
    assert_eq!(denials(&on_disk), expected);
    // And through the admin API (to an admin), with the counters and the metrics.
    let http = admin_https(&s.pki, Some(&s.pki.issue("ops", Role::Admin, DAY)));
    let admin = https_base(&s.node);
    let api: serde_json::Value = http
        .get(format!("{admin}/api/v1/audit?event=denied&limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let via_api: Vec<AuditRecord> = serde_json::from_value(api["data"].clone()).unwrap();
    assert_eq!(denials(&via_api), expected);
    let status: serde_json::Value = http
        .get(format!("{admin}/api/v1/security"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"]["listener"]["denials"], expected.len());
    assert_eq!(status["data"]["acl_rules"], 5);
    let metrics = http
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        common::sample(&metrics, "rustmq_authorization_denials_total"),
        Some(expected.len() as f64),
        "{metrics}"
    );
    s.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_good_certificate_are_refused_and_the_node_serves_on() {
    let s = secured(vec![rule("*", "topic.*", &[Operation::All], Effect::Allow)]).await;
    let addr = s.node.node.quic_addr();
    let refused = |r: Result<_, ClientError>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    // No certificate at all.
    let e = refused(
        async {
            let c = RustMqClient::new(s.pki.client(addr, None)).await?;
            c.health_check().await
        }
        .await,
    );
    assert_tls(&e, "no certificates");
    // A certificate of another CA.
    let other = Pki::new(&s.pki.dir.join("other"));
    let foreign = other.issue("mallory", Role::Client, DAY);
    let e = refused(
        async {
            let c = RustMqClient::new(s.pki.client(addr, Some(&foreign))).await?;
            c.health_check().await
        }
        .await,
    );
    assert_tls(&e, "BadSignature");
    // An expired certificate of the right CA.
    let short = s.pki.issue("eve", Role::Client, Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let e = refused(
        async {
            let c = RustMqClient::new(s.pki.client(addr, Some(&short))).await?;
            c.health_check().await
        }
        .await,
    );
    assert_tls(&e, "certificate expired");
    // A certificate of the right CA whose key usage is server-only.
    let server_only = server_only_certificate(&s.pki);
    let e = refused(
        async {
            let c = RustMqClient::new(s.pki.client(addr, Some(&server_only))).await?;
            c.health_check().await
        }
        .await,
    );
    assert_tls(&e, "extended key usage");
    // A good client still gets through.
    let good = client_for(&s, "alice", Role::Client).await;
    assert!(good.health_check().await.unwrap().healthy);
    // Each refusal is one authentication-failure record.
    let failures = s
        .node
        .node
        .security()
        .audit()
        .recent(100)
        .into_iter()
        .filter(|r| r.event == Some(AuditEvent::AuthenticationFailure))
        .count();
    assert_eq!(failures, 4);
    s.node.stop().await;
}

/// The client was refused at the TLS handshake for `why`.
fn assert_tls(e: &ClientError, why: &str) {
    match e {
        ClientError::Tls(m) if m.contains(why) => {}
        other => panic!("expected a TLS refusal for '{why}', got {other:?}"),
    }
}

/// A leaf of the test root with serverAuth only, made with rcgen directly (the cluster CA
/// never issues one like it).
fn server_only_certificate(pki: &Pki) -> common::pki::Files {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::from_pem(&pki.root.key_pem()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(pki.root.root_pem(), ca_key).unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names.push(SanType::URI(
        rustmq_security::identity::identity_uri(Role::Client, "server-only")
            .try_into()
            .unwrap(),
    ));
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &issuer).unwrap();
    pki.write("server-only", &cert.pem(), &key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_principals_rules_under_load_never_refuses_a_produce() {
    let s = secured(vec![rule(
        "alice",
        "topic.orders",
        &[Operation::Write],
        Effect::Allow,
    )])
    .await;
    let alice = Arc::new(client_for(&s, "alice", Role::Client).await);
    let producer = Arc::new(alice.create_producer("orders").await.unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (producer, stop, sent) = (producer.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                producer
                    .send(
                        Message::builder()
                            .topic("orders")
                            .payload("v")
                            .build()
                            .unwrap(),
                    )
                    .await
                    .expect("no produce is refused while alice's rules are replaced");
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Each replacement grants the same write through a different rule (literal, prefixed,
    // every topic), removing the one before in the same step.
    let forms = ["topic.orders", "topic.ord*", "topic.*"];
    let controller = s.node.node.controller();
    for i in 0..30 {
        let before = sent.load(Ordering::Relaxed);
        let r = controller
            .change_acls(AclChange {
                remove: vec![AclFilter {
                    principal: Some("alice".into()),
                    ..Default::default()
                }],
                add: vec![rule(
                    "alice",
                    forms[i % 3],
                    &[Operation::Write],
                    Effect::Allow,
                )],
                warm_principals: None,
            })
            .await
            .unwrap();
        wait_for_acl_version(&s.node, r.version).await;
        // Let some produces run against this version.
        while sent.load(Ordering::Relaxed) < before + 5 {
            assert!(!load.is_finished(), "the load stopped");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(s.node.node.security().denials(), 0);
    println!(
        "{} produces across 30 rule replacements",
        sent.load(Ordering::Relaxed)
    );

    // A change is in force for the next request: removing the rule refuses the next write.
    let r = controller
        .change_acls(AclChange {
            remove: vec![AclFilter {
                principal: Some("alice".into()),
                ..Default::default()
            }],
            add: vec![],
            warm_principals: None,
        })
        .await
        .unwrap();
    wait_for_acl_version(&s.node, r.version).await;
    let e = producer
        .send(
            Message::builder()
                .topic("orders")
                .payload("late")
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(unauthorized(&e), "{e:?}");
    s.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_closed_when_its_certificate_expires() {
    let s = secured(vec![rule("*", "topic.*", &[Operation::All], Effect::Allow)]).await;
    // Valid for 6 s from now (the CA backdates the start, not the end).
    let files = s
        .pki
        .issue("short-lived", Role::Client, Duration::from_secs(6));
    let c = RustMqClient::new(s.pki.client(s.node.node.quic_addr(), Some(&files)))
        .await
        .unwrap();
    assert!(c.health_check().await.unwrap().healthy);
    let security = s.node.node.security().clone();
    let closed = || {
        security
            .audit()
            .recent(100)
            .iter()
            .filter(|r| r.event == Some(AuditEvent::SessionClosed))
            .count()
    };
    assert_eq!(closed(), 0);
    for _ in 0..200 {
        if closed() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closed(), 1, "the session was not closed at expiry");
    let r = security.audit().recent(100);
    let rec = r
        .iter()
        .find(|r| r.event == Some(AuditEvent::SessionClosed))
        .unwrap();
    assert_eq!(rec.principal.as_deref(), Some("short-lived"));
    // The open connection was closed; reconnecting with the expired certificate is refused
    // at the handshake.
    // The first request either meets the closed connection (whose close says why) or,
    // when the client already saw it close, a new handshake.
    match c.health_check().await {
        Err(ClientError::Authentication { reason, .. }) => {
            assert_eq!(reason, "client certificate expired")
        }
        Err(ClientError::Tls(m)) => assert!(m.contains("certificate expired"), "{m}"),
        other => panic!("expected the close to say why, got {other:?}"),
    }
    match c.health_check().await {
        Err(ClientError::Tls(m)) => assert!(m.contains("certificate expired"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    s.node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_loses_its_open_sessions_and_its_next_handshake() {
    let s = secured(vec![rule("*", "topic.*", &[Operation::All], Effect::Allow)]).await;
    // Writes through the admin API need an admin certificate.
    let http = admin_https(&s.pki, Some(&s.pki.issue("ops", Role::Admin, DAY)));
    let admin = https_base(&s.node);
    // Issued by the cluster CA through the admin API; the key comes back once.
    let r = http
        .post(format!("{admin}/api/v1/certificates"))
        .json(&serde_json::json!({"principal": "app-1", "role": "client", "validity_days": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let issued: serde_json::Value = r.json().await.unwrap();
    let d = &issued["data"];
    let serial = d["certificate"]["serial"].as_str().unwrap().to_string();
    assert_eq!(d["certificate"]["principal"], "app-1");
    assert_eq!(d["certificate"]["status"]["state"], "active");
    let files = s.pki.write(
        "app-1",
        d["chain_pem"].as_str().unwrap(),
        d["private_key_pem"].as_str().unwrap(),
    );
    let addr = s.node.node.quic_addr();
    let app = RustMqClient::new(s.pki.client(addr, Some(&files)))
        .await
        .unwrap();
    let producer = app.create_producer("orders").await.unwrap();
    producer
        .send(
            Message::builder()
                .topic("orders")
                .payload("before")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let bystander = client_for(&s, "bystander", Role::Client).await;

    let r = http
        .post(format!("{admin}/api/v1/certificates/{serial}/revoke"))
        .json(&serde_json::json!({"reason": "key_compromise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let committed = std::time::Instant::now();
    let security = s.node.node.security().clone();
    let closed = || {
        security.audit().recent(1000).into_iter().any(|r| {
            r.event == Some(AuditEvent::SessionClosed)
                && r.certificate_serial.as_deref() == Some(serial.as_str())
        })
    };
    while !closed() {
        assert!(
            committed.elapsed() < Duration::from_secs(30),
            "the session was never closed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "open session closed {:?} after the revocation committed",
        committed.elapsed()
    );
    // The open connection is gone, and a new handshake with the certificate is refused.
    let e = producer
        .send(
            Message::builder()
                .topic("orders")
                .payload("after")
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Authentication { reason, .. } if reason.contains("revoked"))
            || matches!(&e, ClientError::Tls(m) if m.contains("Revoked")),
        "{e:?}"
    );
    match app.health_check().await {
        Err(ClientError::Tls(m)) => assert!(m.contains("Revoked"), "{m}"),
        other => panic!("the revoked certificate got back in: {other:?}"),
    }
    // Nobody else was touched.
    assert!(bystander.health_check().await.unwrap().healthy);

    // The record, the listing, and the CRL outside verifiers use.
    let listed: serde_json::Value = http
        .get(format!("{admin}/api/v1/certificates?status=revoked"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let revoked = listed["data"].as_array().unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["status"]["reason"], "key_compromise");
    let crl = http
        .get(format!("{admin}/api/v1/crl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let now = jiff::Timestamp::now().as_second();
    let e = rustmq_security::ca::validate(
        d["chain_pem"].as_str().unwrap(),
        s.pki.root.root_pem(),
        std::slice::from_ref(&crl),
        now,
    )
    .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    let changes: serde_json::Value = http
        .get(format!("{admin}/api/v1/audit?event=certificate_changed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = changes["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["certificate_serial"] == serial.as_str())
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["issued", "revoked (KeyCompromise)"]);
    let other = std::fs::read_to_string(s.pki.issue("other", Role::Client, DAY).cert).unwrap();
    rustmq_security::ca::validate(&other, s.pki.root.root_pem(), &[crl], now).unwrap();
    s.node.stop().await;
}

/// Writes `text` to `path` in one step (a reader sees the old or the new content).
fn put(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_and_then_the_ca_rotate_under_load_without_a_failed_produce() {
    use rustmq_security::ca::IssueRequest;
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let old = Arc::new(Pki::new(&dir.path().join("old")));
    let new = Arc::new(Pki::new(&dir.path().join("new")));
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let (broker_cert, broker_key) = (live.join("broker.pem"), live.join("broker.key"));
    let (client_ca, trust) = (live.join("client-ca.pem"), live.join("trust.pem"));
    let broker_leaf = |pki: &Pki| {
        let i = pki
            .root
            .issue(&IssueRequest {
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
                ..IssueRequest::new("broker-1", Role::Broker, DAY)
            })
            .unwrap();
        put(&broker_key, &i.key_pem);
        put(&broker_cert, &i.chain_pem);
    };
    broker_leaf(&old);
    put(&client_ca, old.root.root_pem());
    put(&trust, old.root.root_pem());
    // The client's files: each issue goes to new paths, and the client config is pointed
    // at them (as a Secret update swaps both files at once).
    let client_files = Arc::new(parking_lot::Mutex::new(old.issue("app", Role::Client, DAY)));

    let mut cfg = common::config(&dir.path().join("node"));
    cfg.network.tls_cert_path = Some(broker_cert.clone());
    cfg.network.tls_key_path = Some(broker_key.clone());
    cfg.security.enabled = true;
    cfg.security.client_ca_cert = Some(client_ca.clone());
    cfg.security.certificate_reload_interval_ms = 50;
    let node = TestNode::start_with(cfg).await;
    node.create_topic("orders", 1).await;
    add_acls(
        &node,
        vec![rule(
            "app",
            "topic.orders",
            &[Operation::Write],
            Effect::Allow,
        )],
    )
    .await;
    let addr = node.node.quic_addr();
    let config_now = {
        let (client_files, trust, old) = (client_files.clone(), trust.clone(), old.clone());
        move || {
            let f = client_files.lock();
            let mut c = old.client(addr, Some(&f));
            c.tls.ca_cert = Some(trust.clone());
            c
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let (long_sent, new_conns) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // One producer on one long-lived connection.
    let long = {
        let client = RustMqClient::new(config_now()).await.unwrap();
        let producer = client.create_producer("orders").await.unwrap();
        let (stop, failures, sent) = (stop.clone(), failures.clone(), long_sent.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match producer
                    .send(
                        Message::builder()
                            .topic("orders")
                            .payload("long")
                            .build()
                            .unwrap(),
                    )
                    .await
                {
                    Ok(_) => drop(sent.fetch_add(1, Ordering::Relaxed)),
                    Err(e) => failures.lock().push(format!("long-lived: {e}")),
                }
            }
            client.close().await;
        })
    };
    // A new connection (and handshake) for every message, with the files of the moment.
    let churn = {
        let (stop, failures, sent) = (stop.clone(), failures.clone(), new_conns.clone());
        let config_now = config_now.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = async {
                    let c = RustMqClient::new(config_now()).await?;
                    let p = c.create_producer("orders").await?;
                    p.send(Message::builder().topic("orders").payload("new").build()?)
                        .await?;
                    c.close().await;
                    Ok::<_, ClientError>(())
                }
                .await;
                match r {
                    Ok(()) => drop(sent.fetch_add(1, Ordering::Relaxed)),
                    Err(e) => failures.lock().push(format!("new connection: {e}")),
                }
            }
        })
    };
    let security = node.node.security().clone();
    let step = |name: &'static str| {
        let (security, long_sent, new_conns) =
            (security.clone(), long_sent.clone(), new_conns.clone());
        async move {
            let reloads = security.tls_reloads();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while security.tls_reloads() == reloads {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{name}: never reloaded"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Traffic on both paths with what this step installed.
            let (l, n) = (
                long_sent.load(Ordering::Relaxed),
                new_conns.load(Ordering::Relaxed),
            );
            while long_sent.load(Ordering::Relaxed) < l + 20
                || new_conns.load(Ordering::Relaxed) < n + 3
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{name}: the load stalled"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            println!("{name}: reloaded, traffic continued");
        }
    };

    // 1. A new broker certificate (new key pair) from the same CA.
    broker_leaf(&old);
    step("leaf rotated").await;
    // 2. CA rotation, first step: trust both CAs, on both sides.
    let both = format!("{}{}", old.root.root_pem(), new.root.root_pem());
    put(&trust, &both);
    put(&client_ca, &both);
    step("both CAs trusted").await;
    // 3. Reissue from the new CA: the broker's certificate and the client's.
    *client_files.lock() = new.issue("app", Role::Client, DAY);
    broker_leaf(&new);
    step("certificates reissued from the new CA").await;
    // 4. Drop the old CA.
    put(&trust, new.root.root_pem());
    put(&client_ca, new.root.root_pem());
    step("old CA dropped").await;

    stop.store(true, Ordering::Relaxed);
    long.await.unwrap();
    churn.await.unwrap();
    let failures = failures.lock().clone();
    assert!(
        failures.is_empty(),
        "{} produces failed: {failures:?}",
        failures.len()
    );
    println!(
        "{} produces on one connection and {} new connections, none failed",
        long_sent.load(Ordering::Relaxed),
        new_conns.load(Ordering::Relaxed)
    );

    // The old CA is gone: its client certificates are refused, and a client trusting only
    // it cannot verify the broker any more.
    let stale = old.issue("stale", Role::Client, DAY);
    let mut c = old.client(addr, Some(&stale));
    c.tls.ca_cert = Some(trust.clone());
    let e = match RustMqClient::new(c).await {
        Ok(c) => c.health_check().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(e, ClientError::Tls(_)), "{e:?}");
    let current_client = old.client(addr, Some(&client_files.lock()));
    let e = match RustMqClient::new(current_client).await {
        Ok(c) => c.health_check().await.unwrap_err(),
        Err(e) => e,
    };
    assert!(
        matches!(&e, ClientError::Tls(m) if m.contains("UnknownIssuer") || m.contains("BadSignature")),
        "{e:?}"
    );
    node.stop().await;
}

mod tokens {
    //! Bearer tokens (JWT) on the client listener: a client without a certificate
    //! authenticates with a token the broker verifies against its own JWKS.

    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use rustmq_client::{AuthConfig, TlsConfig};

    pub struct Issuer {
        key: EncodingKey,
    }

    impl Issuer {
        /// A signing key, and the JWKS with its public half written to `jwks`.
        pub fn new(jwks: &std::path::Path) -> Self {
            let der = rcgen::KeyPair::generate().unwrap().serialize_der();
            let key = EncodingKey::from_ec_der(&der);
            let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
            jwk.common.key_id = Some("k1".into());
            std::fs::write(jwks, serde_json::json!({"keys": [jwk]}).to_string()).unwrap();
            Self { key }
        }

        pub fn token(&self, sub: &str, valid_for: i64) -> String {
            let mut h = Header::new(Algorithm::ES256);
            h.kid = Some("k1".into());
            let now = jiff::Timestamp::now().as_second();
            let claims = serde_json::json!({
                "sub": sub, "iss": "https://issuer.test", "aud": "rustmq", "exp": now + valid_for
            });
            jsonwebtoken::encode(&h, &claims, &self.key).unwrap()
        }
    }

    pub async fn node_with_tokens(dir: &std::path::Path) -> (Pki, Issuer, TestNode) {
        common::init_tracing();
        let pki = Pki::new(&dir.join("pki"));
        let issuer = Issuer::new(&dir.join("jwks.json"));
        let mut cfg = common::config(&dir.join("node"));
        pki.secure(&mut cfg);
        cfg.security.jwt.enabled = true;
        cfg.security.jwt.issuer = "https://issuer.test".into();
        cfg.security.jwt.audience = "rustmq".into();
        cfg.security.jwt.algorithms = vec!["ES256".into()];
        cfg.security.jwt.jwks_file = Some(dir.join("jwks.json"));
        let node = TestNode::start_with(cfg).await;
        node.create_topic("orders", 1).await;
        add_acls(
            &node,
            vec![rule(
                "jwt-app",
                "topic.orders",
                &[Operation::Write],
                Effect::Allow,
            )],
        )
        .await;
        (pki, issuer, node)
    }

    pub fn token_client(
        pki: &Pki,
        node: &TestNode,
        auth: Option<AuthConfig>,
    ) -> rustmq_client::ClientConfig {
        rustmq_client::ClientConfig {
            tls: TlsConfig {
                ca_cert: Some(pki.ca_file.clone()),
                ..Default::default()
            },
            auth,
            ..pki.client(node.node.quic_addr(), None)
        }
    }
}

/// ApiVersions over a fresh QUIC connection with neither a certificate nor a token (the
/// client crate cannot: it reads Metadata when it starts).
async fn anonymous_api_versions(
    ca: &std::path::Path,
    addr: std::net::SocketAddr,
) -> rustmq_protocol::proto::ApiVersionsResponse {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use rustmq_protocol::{ApiKey, frame, proto};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![rustmq_protocol::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(std::sync::Arc::new(crypto)));
    let conn = ep.connect(addr, "localhost").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&frame::encode(
        ApiKey::ApiVersions as u16,
        1,
        9,
        0,
        &proto::ApiVersionsRequest {},
    ))
    .await
    .unwrap();
    send.finish().unwrap();
    let raw = recv.read_to_end(1 << 20).await.unwrap();
    let (h, body) = frame::decode(bytes::Bytes::from(raw), 1 << 20).unwrap();
    assert_eq!(h.flags, frame::FLAG_RESPONSE, "not an error frame");
    conn.close(quinn::VarInt::from_u32(0), b"");
    frame::decode_body(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_authenticates_a_client_without_a_certificate() {
    use rustmq_client::AuthConfig;
    let dir = tempfile::tempdir().unwrap();
    let (pki, issuer, node) = tokens::node_with_tokens(dir.path()).await;

    let c = RustMqClient::new(tokens::token_client(
        &pki,
        &node,
        Some(AuthConfig::jwt_config(issuer.token("jwt-app", 600))),
    ))
    .await
    .unwrap();
    let p = c.create_producer("orders").await.unwrap();
    p.send(
        Message::builder()
            .topic("orders")
            .payload("t")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // The principal came from the token: its ACLs apply.
    let e = c.create_producer("payments").await.map(|_| ()).unwrap_err();
    assert!(
        unauthorized(&e) || matches!(e, ClientError::UnknownTopic(_)),
        "{e:?}"
    );

    // No certificate and no token: nothing but ApiVersions (which says so) and Authenticate
    // is answered.
    let versions = anonymous_api_versions(&pki.ca_file, node.node.quic_addr()).await;
    assert!(versions.authentication_required);
    assert_eq!(versions.apis.len(), 15);
    assert!(
        !c.api_versions().await.unwrap().authentication_required,
        "an authenticated connection"
    );
    let anon = async {
        RustMqClient::new(tokens::token_client(&pki, &node, None))
            .await?
            .health_check()
            .await
    };
    match anon.await {
        Err(ClientError::Server {
            code: ErrorCode::Unauthorized,
            message,
        }) => {
            assert!(message.contains("authenticate first"), "{message}")
        }
        other => panic!("an unauthenticated request was answered: {other:?}"),
    }
    // Expired, or signed with another key: refused, with the reason.
    for (token, why) in [
        (issuer.token("jwt-app", -120), "ExpiredSignature"),
        (
            tokens::Issuer::new(&dir.path().join("other.json")).token("jwt-app", 600),
            "InvalidSignature",
        ),
    ] {
        let e = RustMqClient::new(tokens::token_client(
            &pki,
            &node,
            Some(AuthConfig::jwt_config(token)),
        ))
        .await
        .map(|_| ())
        .unwrap_err();
        assert!(
            matches!(&e, ClientError::Authentication { reason, .. } if reason.contains(why)),
            "{why}: {e:?}"
        );
    }
    let failures = node
        .node
        .security()
        .audit()
        .recent(100)
        .into_iter()
        .filter(|r| r.event == Some(AuditEvent::AuthenticationFailure))
        .count();
    assert_eq!(failures, 3, "one per refusal");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_session_ends_at_expiry_unless_a_newer_token_is_sent() {
    use rustmq_client::AuthConfig;
    let dir = tempfile::tempdir().unwrap();
    let (pki, issuer, node) = tokens::node_with_tokens(dir.path()).await;
    let security = node.node.security().clone();
    let closed = || {
        security
            .audit()
            .recent(100)
            .into_iter()
            .filter(|r| r.event == Some(AuditEvent::SessionClosed))
            .count()
    };

    // A static token valid for 3 s: the connection is closed at its expiry.
    let c = RustMqClient::new(tokens::token_client(
        &pki,
        &node,
        Some(AuthConfig::jwt_config(issuer.token("jwt-app", 3))),
    ))
    .await
    .unwrap();
    assert!(c.health_check().await.unwrap().healthy);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while closed() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the token's session was not closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rec = security
        .audit()
        .recent(100)
        .into_iter()
        .find(|r| r.event == Some(AuditEvent::SessionClosed))
        .unwrap();
    assert_eq!(rec.reason.as_deref(), Some("token expired"));
    assert_eq!(rec.principal.as_deref(), Some("jwt-app"));

    // A token file the client reads again: a newer token written before expiry keeps the
    // same connection going past the first token's end.
    let file = dir.path().join("token");
    std::fs::write(&file, issuer.token("jwt-app", 6)).unwrap();
    let c = RustMqClient::new(tokens::token_client(
        &pki,
        &node,
        Some(AuthConfig::jwt_from_file(&file)),
    ))
    .await
    .unwrap();
    let p = c.create_producer("orders").await.unwrap();
    std::fs::write(&file, issuer.token("jwt-app", 600)).unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    p.send(
        Message::builder()
            .topic("orders")
            .payload("still here")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(closed(), 1, "the re-authenticated session was closed");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_users_and_mapping_rules_change_without_a_restart() {
    let s = secured(vec![rule(
        "orders",
        "topic.orders",
        &[Operation::Write],
        Effect::Allow,
    )])
    .await;
    let addr = s.node.node.quic_addr().to_string();
    let carol = client_for(&s, "carol", Role::Client).await;
    let r: proto::ProduceResponse =
        raw(&carol, &addr, ApiKey::Produce, &produce_request("orders")).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::Unauthorized as i32
    );
    // broker.toml's runtime keys, as a changed file hands them over.
    assert!(rustmq_broker::config::is_runtime_key(
        "security.super_users"
    ));
    assert!(rustmq_broker::config::is_runtime_key(
        "security.principal_mapping_rules"
    ));
    let mut section = s.node.node.broker().config().security.clone();
    section.super_users = vec!["carol".into()];
    section.principal_mapping_rules = vec!["RULE:^(.*)-app$/$1/".into(), "DEFAULT".into()];
    s.node.node.security().reconfigure(&section).unwrap();
    // The next request of an open connection sees the new super-user...
    let r: proto::ProduceResponse =
        raw(&carol, &addr, ApiKey::Produce, &produce_request("orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None as i32);
    // ...and a new connection the new mapping: orders-app is now `orders`.
    let app = client_for(&s, "orders-app", Role::Client).await;
    let r: proto::ProduceResponse =
        raw(&app, &addr, ApiKey::Produce, &produce_request("orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None as i32);
    // A broken rule list is refused and changes nothing.
    section.principal_mapping_rules = vec!["RULE:(".into()];
    assert!(s.node.node.security().reconfigure(&section).is_err());
    let again = client_for(&s, "orders-app", Role::Client).await;
    let r: proto::ProduceResponse =
        raw(&again, &addr, ApiKey::Produce, &produce_request("orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None as i32);
    s.node.stop().await;
}

/// The admin API's HTTPS address (the certificate names localhost).
fn https_base(node: &TestNode) -> String {
    format!("https://localhost:{}", node.node.admin_addr().port())
}

/// An HTTPS client of the admin API trusting `pki`'s root, presenting `files` if given.
fn admin_https(pki: &Pki, files: Option<&common::pki::Files>) -> reqwest::Client {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&pki.ca_file).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let tls = match files {
        Some(f) => b
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(&f.cert)
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_file(&f.key).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_writes_need_an_admin_certificate_an_acl_grant_or_a_token() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(&dir.path().join("pki"));
    let issuer = tokens::Issuer::new(&dir.path().join("jwks.json"));
    let mut cfg = common::config(&dir.path().join("node"));
    pki.secure(&mut cfg);
    cfg.security.jwt.enabled = true;
    cfg.security.jwt.issuer = "https://issuer.test".into();
    cfg.security.jwt.audience = "rustmq".into();
    cfg.security.jwt.algorithms = vec!["ES256".into()];
    cfg.security.jwt.jwks_file = Some(dir.path().join("jwks.json"));
    let node = TestNode::start_with(cfg).await;
    let base = https_base(&node);
    let rule_body = |p: &str| serde_json::json!({"rules": [{"principal": p, "resource": {"resource_type": "topic", "pattern_type": "literal", "name": "x"}, "operations": ["read"], "effect": "allow"}]});
    let post = |c: reqwest::Client, body: serde_json::Value| {
        let url = format!("{base}/api/v1/acls");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };

    // Reads need a caller too (over HTTPS), but for the probe; plain HTTP is not served.
    let anon = admin_https(&pki, None);
    let get = |c: &reqwest::Client, path: &str| c.get(format!("{base}{path}")).send();
    assert_eq!(get(&anon, "/api/v1/acls").await.unwrap().status(), 401);
    assert_eq!(get(&anon, "/health").await.unwrap().status(), 200);
    assert!(
        reqwest::get(format!(
            "http://localhost:{}/api/v1/acls",
            node.node.admin_addr().port()
        ))
        .await
        .is_err()
    );
    // A write without a certificate or token: 401.
    let r = post(anon.clone(), rule_body("a")).await;
    assert_eq!(r.status(), 401);
    // A client certificate without a grant: 403, audited.
    let alice = pki.issue("alice", Role::Client, DAY);
    let r = post(admin_https(&pki, Some(&alice)), rule_body("a")).await;
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    // alice may not read the rules (describe on the cluster) without a grant either.
    assert_eq!(
        get(&admin_https(&pki, Some(&alice)), "/api/v1/acls")
            .await
            .unwrap()
            .status(),
        403
    );
    // An admin certificate may.
    let ops = pki.issue("ops", Role::Admin, DAY);
    assert_eq!(
        get(&admin_https(&pki, Some(&ops)), "/api/v1/acls")
            .await
            .unwrap()
            .status(),
        200
    );
    let r = post(admin_https(&pki, Some(&ops)), rule_body("a")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // Now grant alice cluster_admin: her certificate may too.
    let grant = serde_json::json!({"rules": [{"principal": "alice", "resource": {"resource_type": "cluster", "pattern_type": "literal", "name": "cluster"}, "operations": ["cluster_admin"], "effect": "allow"}]});
    let r = post(admin_https(&pki, Some(&ops)), grant).await;
    assert_eq!(r.status(), 201);
    let r = post(admin_https(&pki, Some(&alice)), rule_body("b")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A bearer token for alice, without a certificate; a forged one is 401.
    let r = anon
        .post(format!("{base}/api/v1/acls"))
        .bearer_auth(issuer.token("alice", 600))
        .json(&rule_body("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = anon
        .post(format!("{base}/api/v1/acls"))
        .bearer_auth(issuer.token("alice", -600))
        .json(&rule_body("d"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let audit = node.node.security().audit().recent(100);
    let denied = audit
        .iter()
        .filter(|r| r.event == Some(AuditEvent::Denied))
        .count();
    let unauthenticated = audit
        .iter()
        .filter(|r| r.event == Some(AuditEvent::AuthenticationFailure))
        .count();
    assert_eq!((denied, unauthenticated), (2, 3));
    node.stop().await;
}

/// Waits until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

/// `acl cache warm`: a principal listed while connected has its decisions on every topic
/// computed for the address it connects from, again after every rule change, and they are
/// the decisions the rules give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_principals_have_their_decisions_computed_ahead_after_every_change() {
    let s = secured(vec![rule(
        "alice",
        "topic.orders",
        &[Operation::Write],
        Effect::Allow,
    )])
    .await;
    let addr = s.node.node.quic_addr().to_string();
    let security = s.node.node.security();
    let alice = client_for(&s, "alice", Role::Client).await;
    let r: proto::ProduceResponse =
        raw(&alice, &addr, ApiKey::Produce, &produce_request("orders")).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None as i32);
    assert_eq!(security.acl_decisions_warmed(), 0, "nobody is listed");
    let controller = s.node.node.controller();
    let per_change = 3 * controller.metadata().topics.len() as u64;
    controller
        .change_acls(AclChange {
            remove: vec![],
            add: vec![],
            warm_principals: Some(vec!["alice".into()]),
        })
        .await
        .unwrap();
    eventually("alice's decisions warmed", || {
        security.acl_decisions_warmed() == per_change
    })
    .await;
    // A rule change starts the cache afresh; the warm-up follows it.
    add_acls(
        &s.node,
        vec![rule(
            "alice",
            "topic.orders",
            &[Operation::Write],
            Effect::Deny,
        )],
    )
    .await;
    eventually("warmed again after the change", || {
        security.acl_decisions_warmed() == 2 * per_change
    })
    .await;
    // What was warmed is what the rules say: the deny is in force.
    let r: proto::ProduceResponse =
        raw(&alice, &addr, ApiKey::Produce, &produce_request("orders")).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ErrorCode::Unauthorized as i32
    );
    s.node.stop().await;
}
