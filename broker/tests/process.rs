//! The real `rustmq-broker --dev` binary as a subprocess: kill -9 during load loses nothing
//! acknowledged; Ctrl-C shuts down cleanly; restarting on the same data directory keeps
//! topics and messages.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rustmq_client::{
    AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient, TlsConfig,
};

struct Broker {
    child: Child,
    quic: String,
    admin: String,
}

fn start(dir: &Path) -> Broker {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustmq-broker"))
        .args(["--dev", "--data-dir"])
        .arg(dir)
        .env("RUSTMQ_NETWORK__QUIC_LISTEN", "127.0.0.1:0")
        .env("RUSTMQ_ADMIN__HTTP_LISTEN", "127.0.0.1:0")
        .env("RUSTMQ_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("broker binary starts");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let (mut quic, mut admin) = (None, None);
    while quic.is_none() || admin.is_none() {
        let line = lines.next().expect("broker printed its addresses").unwrap();
        if let Some(v) = line.split("QUIC (clients) : ").nth(1) {
            quic = Some(v.trim().to_string());
        }
        if let Some(v) = line.split("admin REST API : ").nth(1) {
            admin = Some(v.trim().to_string());
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Broker {
        child,
        quic: quic.unwrap(),
        admin: admin.unwrap(),
    }
}

async fn client(dir: &Path, b: &Broker) -> RustMqClient {
    RustMqClient::new(ClientConfig {
        brokers: vec![b.quic.clone()],
        tls: TlsConfig {
            ca_cert: Some(dir.join("tls/ca.pem")),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    })
    .await
    .expect("client connects")
}

async fn create_topic(b: &Broker, name: &str, partitions: u32) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/topics", b.admin))
        .json(&serde_json::json!({"name": name, "partitions": partitions}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = start(dir.path());
    create_topic(&b, "load", 4).await;
    let c = client(dir.path(), &b).await;
    let acked: Arc<Mutex<BTreeMap<(u32, i64), Bytes>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..4 {
        let producer = ProducerBuilder::new()
            .topic("load")
            .config(ProducerConfig {
                ack_level: AckLevel::Leader,
                max_retries: 0,
                batch_timeout: Duration::from_millis(1),
                ..Default::default()
            })
            .client(c.clone())
            .build()
            .await
            .unwrap();
        let acked = acked.clone();
        workers.push(tokio::spawn(async move {
            for i in 0u64.. {
                let payload = Bytes::from(format!("w{w}-{i}-{}", "x".repeat((i % 50) as usize)));
                let f = match producer
                    .send_async(
                        Message::builder()
                            .topic("load")
                            .payload(payload.clone())
                            .build()
                            .unwrap(),
                    )
                    .await
                {
                    Ok(f) => f,
                    Err(_) => return,
                };
                match f.await {
                    Ok(r) => {
                        acked.lock().insert((r.partition, r.offset), payload);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b.child.kill().unwrap(); // SIGKILL
    b.child.wait().unwrap();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let acked = acked.lock().clone();
    assert!(acked.len() > 100, "load ran: {} acked", acked.len());

    let mut b = start(dir.path());
    let c = client(dir.path(), &b).await;
    let mut found = BTreeMap::new();
    for p in 0..4u32 {
        let hw = c.list_offset("load", p, -1).await.unwrap();
        let mut consumer = c
            .consumer("load")
            .partitions(vec![p])
            .build()
            .await
            .unwrap();
        for _ in 0..hw {
            let m = consumer.receive().await.unwrap();
            // Nothing appears that was not sent.
            assert!(
                m.payload.starts_with(b"w"),
                "unexpected payload {:?}",
                m.payload
            );
            found.insert((p, m.offset), m.payload);
        }
    }
    for (k, v) in &acked {
        assert_eq!(
            found.get(k),
            Some(v),
            "acknowledged message at {k:?} lost or changed"
        );
    }
    println!(
        "acknowledged {} messages before kill -9; all present after restart ({} stored)",
        acked.len(),
        found.len()
    );
    b.child.kill().unwrap();
    b.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_shuts_down_cleanly_and_restart_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = start(dir.path());
    create_topic(&b, "kept", 1).await;
    let c = client(dir.path(), &b).await;
    let p = c.create_producer("kept").await.unwrap();
    for i in 0..10 {
        p.send(
            Message::builder()
                .topic("kept")
                .payload(format!("m{i}"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    }
    let pid = b.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = b.child.wait().unwrap();
    assert!(status.success(), "clean exit on Ctrl-C: {status}");

    let mut b = start(dir.path());
    let c = client(dir.path(), &b).await;
    let mut consumer = c.consumer("kept").build().await.unwrap();
    for i in 0..10 {
        assert_eq!(
            consumer.receive().await.unwrap().payload,
            Bytes::from(format!("m{i}"))
        );
    }
    b.child.kill().unwrap();
    b.child.wait().unwrap();
}
