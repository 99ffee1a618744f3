//! Brokers joining a controller cluster: three controllers (Raft over QUIC with mutual TLS)
//! and two brokers in observer mode, all in this process on 127.0.0.1. Brokers register and
//! heartbeat, partitions are spread over both, and a client that knows only one broker finds
//! every partition's leader through Metadata and reads back what it wrote.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use rustmq_client::{ClientConfig, Message, RustMqClient, TlsConfig};
use rustmq_controller::local::LocalCluster;

struct Controllers {
    local: LocalCluster,
    admin: String,
}

async fn controllers(dir: &std::path::Path) -> Controllers {
    let local = LocalCluster::start(dir, 3).await.unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = format!("http://{}", l.local_addr().unwrap());
    let app = rustmq_controller::api::router(local.controllers[0].clone(), None);
    tokio::spawn(async move { axum::serve(l, app).await });
    Controllers { local, admin }
}

async fn broker(
    dir: &std::path::Path,
    certs: &std::path::Path,
    id: u32,
    rack: &str,
    ctl: &Controllers,
) -> TestNode {
    let mut c = common::config(&dir.join(format!("broker-{id}")));
    c.broker.id = id;
    c.broker.rack_id = rack.into();
    c.controller.endpoints = ctl.local.rpc.iter().map(|a| a.to_string()).collect();
    c.controller.dev_certificates_dir = Some(certs.to_path_buf());
    TestNode::start_with(c).await
}

/// A client that knows only `broker` and trusts the cluster's development CA.
async fn client_of(broker: &TestNode, certs: &std::path::Path) -> RustMqClient {
    RustMqClient::new(ClientConfig {
        brokers: vec![broker.node.quic_addr().to_string()],
        tls: TlsConfig {
            ca_cert: Some(certs.join("ca.pem")),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(20),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_join_the_controller_cluster_and_clients_find_every_leader() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let ctl = controllers(dir.path()).await;
    let b1 = broker(dir.path(), &certs, 1, "zone-a", &ctl).await;
    let b2 = broker(dir.path(), &certs, 2, "zone-b", &ctl).await;

    // Both registered and heartbeating; the controllers list only controllers.
    let http = reqwest::Client::new();
    let brokers = common::get_json(&http, &format!("{}/api/v1/brokers", ctl.admin)).await;
    let online: BTreeSet<&str> = brokers["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["online"] == true)
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        online,
        BTreeSet::from(["broker-1", "broker-2"]),
        "{brokers}"
    );
    let controllers = common::get_json(&http, &format!("{}/api/v1/controllers", ctl.admin)).await;
    assert_eq!(
        controllers["data"].as_array().unwrap().len(),
        3,
        "{controllers}"
    );

    // A topic created through a broker's embedded observer is forwarded to the leader and
    // spread over both brokers.
    let t = b1
        .node
        .controller()
        .create_topic("orders", 4, 1, Default::default())
        .await
        .unwrap();
    let leaders: BTreeSet<u32> = t.assignments.iter().map(|a| a.leader).collect();
    assert_eq!(leaders, BTreeSet::from([1, 2]));
    // Both brokers see it through replication and host their partitions.
    for b in [&b1, &b2] {
        for _ in 0..200 {
            if b.node.controller().metadata().topics.contains_key("orders") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // A client that knows only broker 1.
    let client = client_of(&b1, &certs).await;
    let producer = client.create_producer("orders").await.unwrap();
    let mut acked = BTreeMap::new();
    for i in 0..200u32 {
        let r = producer
            .send(
                Message::builder()
                    .topic("orders")
                    .partition(i % 4)
                    .payload(format!("order-{i}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        acked.insert((r.partition, r.offset), format!("order-{i}"));
    }
    producer.close().await.unwrap();
    let mut consumer = client.consumer("orders").build().await.unwrap();
    let mut got = BTreeMap::new();
    while got.len() < acked.len() {
        let m = tokio::time::timeout(Duration::from_secs(20), consumer.receive())
            .await
            .expect("messages arrive")
            .unwrap();
        got.insert((m.partition, m.offset), m.payload);
    }
    for (k, v) in &acked {
        assert_eq!(got.get(k), Some(&Bytes::from(v.clone())), "{k:?}");
    }
    // A consumer of partitions led by both brokers takes each leader's records as they come:
    // a leader with nothing new long-polls (30 s, the broker's cap) without holding back
    // what the other one has.
    let mut tail = client
        .consumer("orders")
        .config(rustmq_client::ConsumerConfig {
            fetch_max_wait: Duration::from_secs(60),
            start_position: rustmq_client::StartPosition::Latest,
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let m = tail.receive().await;
        (tail, m)
    });
    // Both leaders hold a fetch of this consumer by now (sequencing, not a measurement).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let on_2 = t
        .assignments
        .iter()
        .find(|a| a.leader == 2)
        .unwrap()
        .partition;
    let producer = client.create_producer("orders").await.unwrap();
    let sent = producer
        .send(
            Message::builder()
                .topic("orders")
                .partition(on_2)
                .payload("while broker 1 long-polls")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    producer.close().await.unwrap();
    let (tail, m) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("broker 2's record arrives before broker 1's 30 s long poll ends")
        .unwrap();
    let m = m.unwrap();
    assert_eq!((m.partition, m.offset), (on_2, sent.offset));
    drop(tail);
    // A consumer group whose members reach different brokers is still one group: both
    // brokers name the same coordinator and the members split the partitions.
    let client2 = client_of(&b2, &certs).await;
    let coordinators: BTreeSet<u32> = [&b1, &b2]
        .iter()
        .map(|b| {
            b.node
                .broker()
                .groups()
                .coordinator_of("shared")
                .expect("a coordinator")
                .id
        })
        .collect();
    assert_eq!(coordinators.len(), 1, "{coordinators:?}");
    let config = || rustmq_client::GroupConfig {
        session_timeout: Duration::from_secs(6),
        heartbeat_interval: Duration::from_millis(200),
        rebalance_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut m1 = client
        .create_group_consumer("orders", "shared", config())
        .await
        .unwrap();
    let mut m2 = client2
        .create_group_consumer("orders", "shared", config())
        .await
        .unwrap();
    let mut seen = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while seen.len() < acked.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "group read {} of {}",
            seen.len(),
            acked.len()
        );
        for (i, m) in [&mut m1, &mut m2].into_iter().enumerate() {
            if let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_millis(100), m.receive())
                .await
                .map(|r| r.transpose())
            {
                seen.insert((msg.message.partition, msg.message.offset), i);
                msg.ack().await.unwrap();
            }
        }
    }
    let a1 = m1.assigned_partitions().await;
    let a2 = m2.assigned_partitions().await;
    assert_eq!(a1.len() + a2.len(), 4, "{a1:?} {a2:?}");
    assert!(a1.iter().all(|p| !a2.contains(p)), "{a1:?} {a2:?}");
    m1.close().await.unwrap();
    m2.close().await.unwrap();
    client2.close().await;

    // Each broker holds only its own partitions.
    for (b, id) in [(&b1, 1u32), (&b2, 2)] {
        for a in &t.assignments {
            assert_eq!(
                b.node
                    .broker()
                    .partition_bounds("orders", a.partition)
                    .is_some(),
                a.leader == id,
                "broker {id}, partition {}",
                a.partition
            );
        }
    }
    client.close().await;
    b1.stop().await;
    b2.stop().await;
    ctl.local.shutdown().await;
}
