//! The real `rustmq-broker --dev` binary as a subprocess: kill -9 during load loses nothing
//! acknowledged; Ctrl-C shuts down cleanly; restarting on the same data directory keeps
//! topics and messages; a changed `--config` file applies its runtime keys in place.

#[path = "common/disks.rs"]
#[allow(dead_code)]
mod disks;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rustmq_broker::child::DevBroker;
use rustmq_client::{
    AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient, TlsConfig,
};

fn start(dir: &Path) -> DevBroker {
    start_with(dir, &[])
}

fn start_with(dir: &Path, env: &[(&str, &str)]) -> DevBroker {
    DevBroker::spawn_with_env(env!("CARGO_BIN_EXE_rustmq-broker").as_ref(), dir, env)
        .expect("broker binary starts")
}

async fn client(dir: &Path, b: &DevBroker) -> RustMqClient {
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

async fn create_topic(b: &DevBroker, name: &str, partitions: u32) {
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
    kill_9_under_load(&[], 50, false).await;
}

/// Small segments uploaded as soon as they fill: segments are kept as spares and written
/// over while the load runs, so the kill lands with recycled files holding old entries
/// after the new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_wal_segments_are_recycled_loses_nothing_acknowledged() {
    kill_9_under_load(
        &[
            ("RUSTMQ_WAL__SEGMENT_SIZE_BYTES", "1048576"),
            ("RUSTMQ_WAL__RECYCLE_SEGMENTS", "1"),
            ("RUSTMQ_WAL__UPLOAD_BYTES", "262144"),
            ("RUSTMQ_WAL__UPLOAD_INTERVAL_MS", "100"),
        ],
        8192,
        true,
    )
    .await;
}

/// A counter or gauge from the broker's `/metrics`.
async fn metric(b: &DevBroker, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", b.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// Without fsync, acknowledged data is in the page cache: a killed process (unlike a machine
/// crash) still loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_without_fsync_loses_nothing_acknowledged() {
    kill_9_under_load(&[("RUSTMQ_WAL__FSYNC_ON_WRITE", "false")], 50, false).await;
}

/// Four producers send payloads of up to `pad` bytes until the broker is killed: once more
/// than 100 more are acknowledged after the start (or, with `recycled`, after a WAL spare has
/// been written over), while they are still sending.
async fn kill_9_under_load(env: &[(&str, &str)], pad: u64, recycled: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = start_with(dir.path(), env);
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
                let payload =
                    Bytes::from(format!("w{w}-{i}-{}", "x".repeat((i * 97 % pad) as usize)));
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
    if recycled {
        // With one spare at most, a second segment kept means the first was written over.
        let t = std::time::Instant::now();
        while metric(&b, "rustmq_wal_segments_recycled_total").await < 2.0 {
            assert!(t.elapsed() < Duration::from_secs(60), "no segment recycled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Killed by count, not by the clock: on a slow machine 100 acknowledgements take longer.
    let before = acked.lock().len();
    let t = std::time::Instant::now();
    while acked.lock().len() < before + 100 {
        assert!(t.elapsed() < Duration::from_secs(120), "the load stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.kill().unwrap(); // SIGKILL
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let acked = acked.lock().clone();
    // The kill came once `before + 100` were acknowledged; later ones may only add to that.
    assert!(
        acked.len() >= before + 100,
        "load ran: {} acked",
        acked.len()
    );

    let mut b = start_with(dir.path(), env);
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
    b.kill().unwrap();
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
    let status = b.interrupt().unwrap();
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
    b.kill().unwrap();
}

/// A misspelled key or a bad value stops the binary at start with one line naming the key.
#[test]
fn bad_config_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("broker.toml");
    std::fs::write(&cfg, "[wal]\nfsync_on_wrte = true\n").unwrap();
    let run = |extra_env: &[(&str, &str)], with_file: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rustmq-broker"));
        cmd.args(["--dev", "--data-dir"])
            .arg(dir.path().join("data"));
        if with_file {
            cmd.arg("--config").arg(&cfg);
        }
        cmd.envs(extra_env.iter().copied()).output().unwrap()
    };
    let out = run(&[], true);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key 'wal.fsync_on_wrte'"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let out = run(&[("RUSTMQ_WAL__SEGMENT_SIZE_BYTES", "abc")], false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wal.segment_size_bytes"));
}

async fn storage_view(b: &DevBroker) -> serde_json::Value {
    let r: serde_json::Value = reqwest::get(format!("{}/api/v1/storage", b.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["data"].clone()
}

fn object_files(dir: &Path) -> Vec<String> {
    let d = dir.join("objects/rustmq/wal/b1");
    match std::fs::read_dir(d) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".obj"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The process dies after an object's PUT and before its catalog registration (fault hook).
/// After a restart the same data is uploaded again under a new key, the catalog holds exactly
/// that one, the orphan is deleted by the collector, and every acknowledged message is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_put_and_registration_leaves_a_consistent_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let fast = [
        ("RUSTMQ_WAL__UPLOAD_INTERVAL_MS", "100"),
        ("RUSTMQ_OBJECT_STORAGE__GC_GRACE_MS", "300"),
        ("RUSTMQ_OBJECT_STORAGE__MAINTENANCE_INTERVAL_MS", "100"),
    ];
    // The first upload waits 3 s, so every produce below is acknowledged before it.
    let mut env = fast.to_vec();
    env[0] = ("RUSTMQ_WAL__UPLOAD_INTERVAL_MS", "3000");
    env.push(("RUSTMQ_FAULT_ABORT_AFTER_PUT", "1"));
    let mut b = start_with(dir.path(), &env);
    create_topic(&b, "crash", 2).await;
    let c = client(dir.path(), &b).await;
    let producer = ProducerBuilder::new()
        .topic("crash")
        .client(c.clone())
        .build()
        .await
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..100u32 {
        let body = Bytes::from(format!("message-{i}"));
        let f = producer
            .send_async(
                Message::builder()
                    .topic("crash")
                    .partition(i % 2)
                    .payload(body.clone())
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        pending.push((body, f));
    }
    let mut acked = BTreeMap::new();
    for (body, f) in pending {
        let r = f.await.unwrap();
        acked.insert((r.partition, r.offset), body);
    }
    // The first upload aborts the process right after its PUT.
    let status = b.wait().unwrap();
    assert!(!status.success(), "the fault hook aborts: {status}");
    let orphans = object_files(dir.path());
    assert_eq!(orphans.len(), 1, "the PUT happened: {orphans:?}");

    let b = start_with(dir.path(), &fast);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // Files first: the collector counts a deletion after it happened, so a view read
        // after the orphan is gone may still show 0 once; the loop waits for the count.
        let files = object_files(dir.path());
        let v = storage_view(&b).await;
        let uploaded = v["broker"]["upload_lag_bytes"] == 0 && v["catalog"]["objects"] == 1;
        let collected = v["broker"]["orphans_deleted"].as_u64().unwrap_or(0);
        if uploaded && files.len() == 1 && !files.contains(&orphans[0]) && collected >= 1 {
            assert_eq!(collected, 1, "only the orphan is collected: {v}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "catalog/orphan never settled: {v} files {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = client(dir.path(), &b).await;
    for p in 0..2 {
        let mut consumer = c
            .consumer("crash")
            .partitions(vec![p])
            .start_position(rustmq_client::StartPosition::Earliest)
            .build()
            .await
            .unwrap();
        for ((_, offset), body) in acked.range((p, 0)..(p, i64::MAX)) {
            let m = consumer.receive().await.unwrap();
            assert_eq!((m.offset, &m.payload), (*offset, body));
        }
    }
}

/// A failed `fdatasync` after writes were acknowledged without fsync stops the WAL, and the
/// broker process exits with an error (its supervisor restarts it and recovery reads what
/// really is on disk), instead of acknowledging on as if nothing happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_without_fsync_on_write_exits_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let disk = disks::ThinDisk::mount(dir.path(), "24m");
    let wal = disk.mnt.join("wal");
    let wal = wal.to_str().unwrap();
    let mut b = start_with(
        dir.path(),
        &[
            ("RUSTMQ_WAL__PATH", wal),
            // Buffered writes: the full volume underneath is found by the fdatasync after
            // they were acknowledged. Direct writes (`uring`, which `auto` takes on this
            // kernel) may be refused by the volume before anything is acknowledged, and the
            // broker then serves on; `full_disk.rs` covers both backends' outcomes.
            ("RUSTMQ_WAL__IO_BACKEND", "std"),
            ("RUSTMQ_WAL__FSYNC_ON_WRITE", "false"),
            ("RUSTMQ_WAL__FLUSH_INTERVAL_MS", "20"),
            ("RUSTMQ_WAL__SEGMENT_SIZE_BYTES", "2097152"),
        ],
    );
    create_topic(&b, "nosync", 1).await;
    let c = client(dir.path(), &b).await;
    let p = ProducerBuilder::new()
        .topic("nosync")
        .config(ProducerConfig {
            batch_size: 1,
            max_retries: 0,
            ..Default::default()
        })
        .client(c.clone())
        .build()
        .await
        .unwrap();
    let mut acked = 0;
    for i in 0..20_000 {
        let m = Message::builder()
            .topic("nosync")
            .payload(Bytes::from(format!("{i:06}-{}", "n".repeat(20_000))))
            .build()
            .unwrap();
        if p.send(m).await.is_err() {
            break;
        }
        acked += 1;
    }
    assert!(acked > 50, "{acked} acknowledged before the disk failed");
    // Bounded, so a broker that serves on fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while b.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the broker still runs 120 s after a produce failed on its full disk"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = b.wait().unwrap();
    assert!(
        !status.success(),
        "the broker exits with an error: {status}"
    );
    drop(disk);
}

/// Waits until the counter `name` reaches `at_least` (the file is polled every 2 s).
async fn metric_reaches(b: &DevBroker, name: &str, at_least: f64) {
    for _ in 0..300 {
        if metric(b, name).await >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} did not reach {at_least}: {}", metric(b, name).await);
}

async fn send(c: &RustMqClient, size: usize) -> Result<(), rustmq_client::ClientError> {
    let p = ProducerBuilder::new()
        .topic("live")
        .config(ProducerConfig {
            max_retries: 0,
            ..Default::default()
        })
        .client(c.clone())
        .build()
        .await?;
    let m = Message::builder()
        .topic("live")
        .payload(Bytes::from(vec![b'c'; size]))
        .build()?;
    let r = p.send(m).await.map(drop);
    let _ = p.close().await;
    r
}

/// Writes `path` whole, as a ConfigMap update does (a reader never sees half a file).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn too_large(r: Result<(), rustmq_client::ClientError>) -> bool {
    matches!(
        r,
        Err(rustmq_client::ClientError::Server {
            code: rustmq_client::ErrorCode::MessageTooLarge,
            ..
        })
    )
}

/// `log.max_message_bytes` changes in the file while the broker runs: it applies at once,
/// a key read only at start is reported as waiting for a restart, a broken file changes
/// nothing, and `SIGHUP` reads the file again instead of ending the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_file_applies_its_runtime_keys_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broker.toml");
    std::fs::write(&file, "[log]\nmax_message_bytes = 4096\n").unwrap();
    let mut b = DevBroker::spawn_with(
        env!("CARGO_BIN_EXE_rustmq-broker").as_ref(),
        &dir.path().join("data"),
        &["--config".as_ref(), file.as_os_str()],
        &[],
    )
    .unwrap();
    create_topic(&b, "live", 1).await;
    let c = client(&dir.path().join("data"), &b).await;
    assert!(
        too_large(send(&c, 10_000).await),
        "4 kB limit from the file"
    );

    // A runtime key and a start-only key change together.
    replace(
        &file,
        "[log]\nmax_message_bytes = 65536\n[wal]\ncapacity_bytes = 2147483648\n",
    );
    metric_reaches(&b, "rustmq_config_reloads_applied_total", 1.0).await;
    send(&c, 10_000).await.expect("the new limit is in effect");
    assert_eq!(metric(&b, "rustmq_config_restart_pending_keys").await, 1.0);
    let capacity = metric(&b, "rustmq_wal_capacity_bytes").await;
    assert_ne!(
        capacity, 2147483648.0,
        "wal.capacity_bytes waits for a restart"
    );

    // A file that does not load changes nothing; the broker keeps serving.
    replace(&file, "[log]\nmax_message_bytes = \"lots\"\n");
    metric_reaches(&b, "rustmq_config_reloads_refused_total", 1.0).await;
    send(&c, 10_000).await.expect("the last good limit stays");

    // SIGHUP reads the file again (unchanged here) and the process lives on.
    replace(&file, "[log]\nmax_message_bytes = 4096\n");
    metric_reaches(&b, "rustmq_config_reloads_applied_total", 2.0).await;
    assert!(too_large(send(&c, 10_000).await), "back to 4 kB");
    assert_eq!(metric(&b, "rustmq_config_restart_pending_keys").await, 0.0);
    let loads = metric(&b, "rustmq_config_reloads_total").await;
    b.signal("HUP").unwrap();
    metric_reaches(&b, "rustmq_config_reloads_total", loads + 1.0).await;
    assert!(b.is_running(), "SIGHUP does not end the broker");
    assert!(too_large(send(&c, 10_000).await));
}

/// `RUSTMQ_LOG_FORMAT=json` makes every log line one JSON object; the admin API reads and
/// changes the log filter while the broker runs (a bad filter is refused and changes
/// nothing), and a request's log lines carry its id and API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_a_log_filter_changed_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("broker.log");
    let b = DevBroker::spawn_logging_to(
        env!("CARGO_BIN_EXE_rustmq-broker").as_ref(),
        &dir.path().join("data"),
        &[("RUSTMQ_LOG_FORMAT", "json"), ("RUSTMQ_LOG", "info")],
        &log,
    )
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/log-level", b.admin);
    let get = async || -> serde_json::Value {
        http.get(&url).send().await.unwrap().json().await.unwrap()
    };
    assert_eq!(get().await["data"]["filter"], "info");
    let put = async |filter: &str| {
        let r = http
            .put(&url)
            .json(&serde_json::json!({ "filter": filter }))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let (code, body) = put("rustmq_broker=[[nonsense").await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(get().await["data"]["filter"], "info");
    let (code, body) = put("debug").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["previous"], "info");
    assert_eq!(get().await["data"]["filter"], "debug");

    // A request now logs (at debug) inside its span.
    let dir_data = dir.path().join("data");
    let c = client(&dir_data, &b).await;
    c.health_check().await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "log filter changed"),
        "{text}"
    );
    let request = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["span"]["api"] == "Health")
        .unwrap_or_else(|| panic!("no request line: {text}"));
    assert!(request["span"]["id"].is_u64(), "{request}");
    assert_eq!(request["level"], "DEBUG");
    c.close().await;
}
