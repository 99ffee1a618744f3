//! The README's workflow with the real binaries: `rustmq-broker --dev` as a subprocess, driven
//! by `rustmq-admin` subprocesses.

use std::io::Write;

use rustmq_broker::child::DevBroker;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn broker_binary() -> PathBuf {
    // Cargo builds every binary of the workspace for `cargo test --workspace`; the broker's
    // sits next to ours.
    let p = Path::new(env!("CARGO_BIN_EXE_rustmq-admin")).with_file_name("rustmq-broker");
    assert!(
        p.exists(),
        "{} not built: run `cargo build -p rustmq-broker` or `cargo test --workspace`",
        p.display()
    );
    p
}

fn start(dir: &Path) -> DevBroker {
    DevBroker::spawn(&broker_binary(), dir).expect("broker binary starts")
}

/// `rustmq-admin` pointed at `dev`, with piped standard streams.
fn admin_command(dev: &DevBroker, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rustmq-admin"));
    cmd.arg("--api-url")
        .arg(&dev.admin)
        .arg("--brokers")
        .arg(&dev.quic)
        .arg("--ca-cert")
        .arg(dev.ca_cert())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn admin(dev: &DevBroker, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = admin_command(dev, args).spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn topic_produce_consume_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let dev = start(dir.path());

    assert!(
        ok(&admin(
            &dev,
            &[
                "topic",
                "create",
                "events",
                "--partitions",
                "3",
                "--config",
                "retention.ms=60000"
            ],
            None
        ))
        .contains("Topic 'events' created")
    );
    assert!(ok(&admin(&dev, &["create-topic", "legacy", "2", "1"], None)).contains("created"));
    let list = ok(&admin(&dev, &["topic", "list"], None));
    assert!(list.contains("events") && list.contains("legacy"), "{list}");
    let described = ok(&admin(
        &dev,
        &["--format", "json", "describe-topic", "events"],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(v["partitions"], 3);
    assert_eq!(v["config"]["retention_ms"], 60000);
    assert_eq!(v["partition_assignments"].as_array().unwrap().len(), 3);

    let input: String = (0..25).map(|i| format!("line {i}\n")).collect();
    let out = admin(&dev, &["produce", "events", "--key", "k1"], Some(&input));
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("produced 25 messages"));
    // Piped: no progress bar is drawn, only the summary line.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );

    let consumed = ok(&admin(
        &dev,
        &[
            "consume",
            "events",
            "--from-beginning",
            "--max-messages",
            "25",
        ],
        None,
    ));
    let lines: Vec<&str> = consumed.lines().collect();
    // One key: one partition, so order is the produce order.
    assert_eq!(
        lines,
        (0..25).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );

    // Typed, readable errors.
    let e = admin(&dev, &["topic", "describe", "nope"], None);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("topic 'nope' not found"));
    let e = admin(
        &dev,
        &["topic", "create", "bad name", "--partitions", "1"],
        None,
    );
    assert!(String::from_utf8_lossy(&e.stderr).contains("invalid topic name"));
    let e = admin(
        &dev,
        &[
            "topic",
            "create",
            "x",
            "--partitions",
            "1",
            "--config",
            "colour=blue",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&e.stderr).contains("unknown topic config"));

    assert!(ok(&admin(&dev, &["topic", "delete", "legacy"], None)).contains("deleted"));
    assert!(!ok(&admin(&dev, &["list-topics"], None)).contains("legacy"));

    // A wrong API URL names the URL that failed.
    let out = Command::new(env!("CARGO_BIN_EXE_rustmq-admin"))
        .args(["--api-url", "http://127.0.0.1:1", "topic", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:1"));
}

#[test]
fn group_offsets_reset_describe_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let dev = start(dir.path());
    ok(&admin(
        &dev,
        &["topic", "create", "events", "--partitions", "2"],
        None,
    ));
    let input: String = (0..10).map(|i| format!("m{i}\n")).collect();
    ok(&admin(
        &dev,
        &["produce", "events", "--partition", "1"],
        Some(&input),
    ));

    // Dry run changes nothing.
    let r = admin(
        &dev,
        &[
            "group",
            "reset-offsets",
            "g1",
            "--topic",
            "events",
            "--to-latest",
        ],
        None,
    );
    let plan = ok(&r);
    assert!(plan.contains("NEW OFFSET"), "{plan}");
    // Status lines go to stderr so stdout stays parseable.
    let status = String::from_utf8_lossy(&r.stderr);
    assert!(status.contains("dry run"), "{status}");
    let e = admin(&dev, &["group", "describe", "g1"], None);
    assert!(String::from_utf8_lossy(&e.stderr).contains("group 'g1' not found"));

    ok(&admin(
        &dev,
        &[
            "group",
            "reset-offsets",
            "g1",
            "--topic",
            "events",
            "--to-earliest",
            "--execute",
        ],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&ok(&admin(
        &dev,
        &["--format", "json", "group", "describe", "g1"],
        None,
    )))
    .unwrap();
    assert_eq!(v["state"], "Empty");
    assert_eq!(v["total_lag"], 10);
    let p1 = v["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["partition"] == 1)
        .unwrap();
    assert_eq!(
        (
            p1["committed_offset"].as_i64(),
            p1["high_watermark"].as_i64(),
            p1["lag"].as_i64()
        ),
        (Some(0), Some(10), Some(10))
    );

    ok(&admin(
        &dev,
        &[
            "group",
            "reset-offsets",
            "g1",
            "--topic",
            "events",
            "--to-latest",
            "--execute",
        ],
        None,
    ));
    let list = ok(&admin(&dev, &["--format", "json", "group", "list"], None));
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v[0]["group_id"], "g1");
    assert_eq!(v[0]["total_lag"], 0);
    let table = ok(&admin(&dev, &["group", "describe", "g1"], None));
    assert!(table.contains("HIGH WATERMARK"), "{table}");

    // By timestamp: everything was produced just now, so a time in the past resets to 0.
    ok(&admin(
        &dev,
        &[
            "group",
            "reset-offsets",
            "g1",
            "--topic",
            "events",
            "--to-timestamp",
            "2020-01-01T00:00:00Z",
            "--execute",
        ],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&ok(&admin(
        &dev,
        &["--format", "json", "group", "describe", "g1"],
        None,
    )))
    .unwrap();
    assert_eq!(v["total_lag"], 10);
    let e = admin(
        &dev,
        &[
            "group",
            "reset-offsets",
            "g1",
            "--topic",
            "events",
            "--to-timestamp",
            "soon",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&e.stderr).contains("neither milliseconds nor an RFC 3339"));
}

#[test]
fn consume_as_a_group_commits_what_it_printed() {
    let dir = tempfile::tempdir().unwrap();
    let bin = broker_binary();
    // No initial rebalance delay: each CLI run is the group's only member.
    let dev = DevBroker::spawn_with_env(
        &bin,
        dir.path(),
        &[("RUSTMQ_GROUPS__INITIAL_REBALANCE_DELAY_MS", "0")],
    )
    .expect("broker starts");
    ok(&admin(
        &dev,
        &["topic", "create", "jobs", "--partitions", "1"],
        None,
    ));
    let input: String = (0..10).map(|i| format!("job {i}\n")).collect();
    ok(&admin(&dev, &["produce", "jobs"], Some(&input)));

    let first = ok(&admin(
        &dev,
        &[
            "consume",
            "jobs",
            "--group",
            "workers",
            "--from-beginning",
            "--max-messages",
            "6",
        ],
        None,
    ));
    assert_eq!(
        first.lines().collect::<Vec<_>>(),
        (0..6).map(|i| format!("job {i}")).collect::<Vec<_>>()
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&admin(
        &dev,
        &["--format", "json", "group", "describe", "workers"],
        None,
    )))
    .unwrap();
    assert_eq!(v["offsets"][0]["committed_offset"], 6);
    assert_eq!(v["total_lag"], 4);
    // The next member continues after what was printed.
    let second = ok(&admin(
        &dev,
        &[
            "consume",
            "jobs",
            "--group",
            "workers",
            "--max-messages",
            "4",
        ],
        None,
    ));
    assert_eq!(
        second.lines().collect::<Vec<_>>(),
        (6..10).map(|i| format!("job {i}")).collect::<Vec<_>>()
    );
}

/// `rustmq-admin storage` shows uploads happening (upload interval shortened to 100 ms).
#[test]
fn storage_shows_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevBroker::spawn_with_env(
        &broker_binary(),
        dir.path(),
        &[("RUSTMQ_WAL__UPLOAD_INTERVAL_MS", "100")],
    )
    .expect("broker binary starts");
    ok(&admin(
        &dev,
        &["topic", "create", "tiered", "--partitions", "2"],
        None,
    ));
    ok(&admin(
        &dev,
        &["produce", "tiered"],
        Some("one\ntwo\nthree\n"),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = ok(&admin(&dev, &["storage", "--format", "json"], None));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if v["broker"]["uploads"].as_u64().unwrap_or(0) >= 1 && v["broker"]["upload_lag_bytes"] == 0
        {
            assert!(v["catalog"]["objects"].as_u64().unwrap() >= 1, "{v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no upload: {v}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let table = ok(&admin(&dev, &["storage"], None));
    for k in ["upload_lag_bytes", "Local", "pending_deletes", "puts"] {
        assert!(table.contains(k), "{k} missing:\n{table}");
    }
}

#[test]
fn topic_alter_grows_partitions_and_merges_settings() {
    let dir = tempfile::tempdir().unwrap();
    let dev = start(dir.path());
    ok(&admin(
        &dev,
        &[
            "topic",
            "create",
            "grow",
            "--partitions",
            "1",
            "--config",
            "retention.ms=60000",
        ],
        None,
    ));
    let out = ok(&admin(
        &dev,
        &[
            "topic",
            "alter",
            "grow",
            "--partitions",
            "3",
            "--config",
            "max.message.bytes=2048",
        ],
        None,
    ));
    assert!(out.contains("3 partitions"), "{out}");
    // The setting not named stays; the new one is added.
    assert!(out.contains("\"retention.ms\": \"60000\""), "{out}");
    assert!(out.contains("\"max.message.bytes\": \"2048\""), "{out}");
    let out = ok(&admin(
        &dev,
        &["topic", "alter", "grow", "--delete-config", "retention.ms"],
        None,
    ));
    assert!(!out.contains("retention.ms"), "{out}");
    // Partitions can't shrink; a new partition takes messages.
    let e = admin(&dev, &["topic", "alter", "grow", "--partitions", "2"], None);
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("cannot shrink"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    ok(&admin(
        &dev,
        &["produce", "grow", "--partition", "2"],
        Some("into the new partition\n"),
    ));
    let got = ok(&admin(
        &dev,
        &[
            "consume",
            "grow",
            "--partition",
            "2",
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        None,
    ));
    assert!(got.contains("into the new partition"), "{got}");
}

/// The security commands against a dev node, whose development CA issues certificates.
#[test]
fn acl_and_certificate_commands() {
    let dir = tempfile::tempdir().unwrap();
    let dev = start(dir.path());
    let json = |args: &[&str]| -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        serde_json::from_str(&ok(&admin(&dev, &a, None))).unwrap()
    };

    let created = json(&[
        "acl",
        "create",
        "--principal",
        "alice",
        "--resource",
        "topic.orders.*",
        "--operations",
        "write,read",
        "--host",
        "10.0.0.0/8",
        "--window",
        "Mon-Fri 09:00-17:00 Europe/Berlin",
    ]);
    assert_eq!(created["added"], 1);
    json(&[
        "acl",
        "create",
        "--principal",
        "*",
        "--resource",
        "group.billing",
        "--operations",
        "consume_group",
    ]);
    let listed = json(&["acl", "list"]);
    assert_eq!(listed["version"], 2);
    assert_eq!(listed["rules"][0]["resource"]["pattern_type"], "prefixed");
    assert_eq!(
        listed["rules"][0]["conditions"]["window"],
        "mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin"
    );
    let table = ok(&admin(
        &dev,
        &["acl", "list", "--principal", "alice", "--no-color"],
        None,
    ));
    assert!(
        table.contains("topic.orders.*") && table.contains("hosts 10.0.0.0/8"),
        "{table}"
    );
    let perms = json(&["acl", "permissions", "--principal", "alice"]);
    assert_eq!(
        perms.as_array().unwrap().len(),
        2,
        "alice's rule and the rule for *"
    );
    // Decisions, one by one and in bulk (a YAML file).
    let t = json(&[
        "acl",
        "test",
        "--principal",
        "bob",
        "--resource",
        "topic.orders.eu",
        "--operation",
        "write",
    ]);
    assert_eq!(t[0]["decision"]["allowed"], false);
    let requests = dir.path().join("requests.yaml");
    std::fs::write(
        &requests,
        "- {principal: bob, resource_type: group, resource: billing, operation: read}\n\
         - {principal: carol, resource_type: topic, resource: orders.eu, operation: read}\n",
    )
    .unwrap();
    let bulk = json(&["acl", "bulk-test", requests.to_str().unwrap()]);
    assert_eq!(
        bulk[0]["decision"]["allowed"], true,
        "consume_group is read on a group"
    );
    assert_eq!(bulk[1]["decision"]["allowed"], false);
    // The principals brokers warm decisions for: replaced, shown, cleared; the version
    // stays (no decision changes).
    let warmed = json(&["acl", "cache", "warm", "--principals", "bob, alice,bob"]);
    assert_eq!(
        warmed["warm_principals"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(warmed["version"], 2);
    let status = ok(&admin(
        &dev,
        &["acl", "cache", "status", "--no-color"],
        None,
    ));
    assert!(status.contains("alice,bob"), "{status}");
    let cleared = json(&["acl", "cache", "warm", "--clear"]);
    assert_eq!(cleared["warm_principals"], serde_json::json!([]));
    // Deleting asks first; without a terminal only --force goes on.
    let refused = admin(&dev, &["acl", "delete", "--principal", "alice"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let deleted = json(&["acl", "delete", "--principal", "alice", "--force"]);
    assert_eq!(deleted["removed"], 1);
    // Sync replaces a principal's rules from a file.
    let file = dir.path().join("acls.json");
    std::fs::write(
        &file,
        r#"[{"principal": "app", "resource": {"resource_type": "topic", "pattern_type": "literal", "name": "events"}, "operations": ["write"], "effect": "allow"}]"#,
    )
    .unwrap();
    let synced = json(&["acl", "sync", file.to_str().unwrap(), "--force"]);
    assert_eq!(synced[0]["result"]["added"], 1);
    // With a source, the file is the truth for that source's rules only: syncing twice
    // changes nothing the second time, and a smaller file removes what it no longer has.
    let gitops = dir.path().join("gitops.yaml");
    std::fs::write(
        &gitops,
        "- {principal: app, resource: {resource_type: topic, pattern_type: literal, name: events}, operations: [read], effect: allow}\n\
         - {principal: dan, resource: {resource_type: topic, pattern_type: prefixed, name: logs.}, operations: [write], effect: allow}\n",
    )
    .unwrap();
    let sync_source = || {
        json(&[
            "acl",
            "sync",
            gitops.to_str().unwrap(),
            "--source",
            "git:acls",
            "--force",
        ])
    };
    let first = sync_source();
    assert_eq!(first["result"]["added"], 2, "{first}");
    let again = sync_source();
    assert_eq!(
        again["result"]["version"], first["result"]["version"],
        "an unchanged file keeps the ACL version"
    );
    std::fs::write(
        &gitops,
        "- {principal: dan, resource: {resource_type: topic, pattern_type: prefixed, name: logs.}, operations: [write], effect: allow}\n",
    )
    .unwrap();
    let shrunk = sync_source();
    assert_eq!(
        (&shrunk["result"]["removed"], &shrunk["result"]["added"]),
        (&serde_json::json!(1), &serde_json::json!(0)),
        "only the rule the file no longer has goes: {shrunk}"
    );
    let listed = json(&["acl", "list", "--principal", "app"]);
    let rules = listed["rules"].as_array().unwrap();
    assert_eq!(
        rules.len(),
        1,
        "the hand-synced rule of app stays: {listed}"
    );
    assert!(rules[0].get("source").is_none(), "{listed}");
    let managed = json(&["acl", "list", "--source", "git:acls"]);
    assert_eq!(managed["rules"].as_array().unwrap().len(), 1, "{managed}");
    // An empty file takes every rule of the source away.
    std::fs::write(&gitops, "[]\n").unwrap();
    assert_eq!(sync_source()["result"]["removed"], 1);

    // Certificates from the development CA.
    let out_dir = dir.path().join("certs");
    let issued = json(&[
        "certs",
        "issue",
        "--principal",
        "orders-app",
        "--role",
        "client",
        "--validity-days",
        "7",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    let serial = issued["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let cert = out_dir.join("orders-app.pem");
    assert!(out_dir.join("ca.pem").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out_dir.join("orders-app.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        issued.get("private_key_pem").is_none(),
        "the key is written, not printed"
    );
    assert_eq!(json(&["certs", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(
        json(&["certs", "expiring", "--days", "30"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&["certs", "expiring", "--days", "1"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        json(&["certs", "validate", cert.to_str().unwrap()])["valid"],
        true
    );
    let rotated = json(&[
        "certs",
        "rotate",
        &serial,
        "--out-dir",
        dir.path().join("rotated").to_str().unwrap(),
    ]);
    assert_eq!(rotated["certificate"]["replaces"], serial.as_str());
    let revoked = json(&[
        "certs",
        "revoke",
        &serial,
        "--reason",
        "key_compromise",
        "--force",
    ]);
    assert_eq!(revoked["status"]["state"], "revoked");
    let invalid = admin(&dev, &["certs", "validate", cert.to_str().unwrap()], None);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("revoked"));
    let crl = ok(&admin(&dev, &["ca", "crl"], None));
    assert!(crl.starts_with("-----BEGIN X509 CRL-----"), "{crl}");
    let chain = json(&["ca", "list"]);
    assert_eq!(
        chain.as_array().unwrap().len(),
        1,
        "the dev CA is a root: {chain}"
    );
    // A CA of one's own, offline: a root, an intermediate under it, a leaf from that.
    let root_dir = dir.path().join("root-ca");
    let inter_dir = dir.path().join("inter-ca");
    let root = json(&[
        "ca",
        "init",
        "--cn",
        "Acme Root",
        "--out-dir",
        root_dir.to_str().unwrap(),
    ]);
    assert!(
        root["subject"].as_str().unwrap().contains("CN=Acme Root"),
        "{root}"
    );
    let again = admin(
        &dev,
        &["ca", "init", "--out-dir", root_dir.to_str().unwrap()],
        None,
    );
    assert!(
        !again.status.success(),
        "an existing CA key is not overwritten"
    );
    let inter = json(&[
        "ca",
        "intermediate",
        "--ca-dir",
        root_dir.to_str().unwrap(),
        "--cn",
        "Acme Issuing",
        "--out-dir",
        inter_dir.to_str().unwrap(),
    ]);
    assert!(
        inter["issuer"].as_str().unwrap().contains("CN=Acme Root"),
        "{inter}"
    );
    let leaf_dir = dir.path().join("acme-leaf");
    json(&[
        "certs",
        "issue",
        "--ca-dir",
        inter_dir.to_str().unwrap(),
        "--principal",
        "acme-app",
        "--role",
        "client",
        "--out-dir",
        leaf_dir.to_str().unwrap(),
    ]);
    let leaf_chain = std::fs::read_to_string(leaf_dir.join("acme-app.pem")).unwrap();
    assert_eq!(
        leaf_chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "the leaf comes with its intermediate"
    );
    let root_pem = std::fs::read_to_string(root_dir.join("root.pem")).unwrap();
    assert_eq!(
        std::fs::read_to_string(leaf_dir.join("ca.pem")).unwrap(),
        root_pem
    );
    let csv = ok(&admin(
        &dev,
        &["certs", "list", "--status", "revoked", "--format", "csv"],
        None,
    ));
    assert!(
        csv.starts_with("SERIAL,PRINCIPAL,ROLE,NOT AFTER,STATUS"),
        "{csv}"
    );
    assert!(csv.contains(&serial));

    // The audit log saw every change made above (the sync that changed nothing is not one).
    let acl_changes = json(&["audit", "acl"]);
    assert_eq!(acl_changes.as_array().unwrap().len(), 7, "{acl_changes}");
    let cert_changes = json(&["audit", "certificates"]);
    let reasons: Vec<&str> = cert_changes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[1].starts_with("issued, replacing"), "{reasons:?}");
    assert!(reasons[2].starts_with("revoked"), "{reasons:?}");
    let status = json(&["security", "status"]);
    assert_eq!(status["acl_rules"], 2);
    assert_eq!(status["certificates_revoked"], 1);
    // The rotated certificate (7 days) expires within 30 days: health says so.
    let health = admin(&dev, &["security", "health"], None);
    assert!(!health.status.success());
    assert!(String::from_utf8_lossy(&health.stderr).contains("expire within 30 days"));
    // Backup, lose the rules, restore.
    let backup = dir.path().join("backup.json");
    ok(&admin(
        &dev,
        &["security", "backup", "--out", backup.to_str().unwrap()],
        None,
    ));
    json(&["acl", "delete", "--principal", "app", "--force"]);
    assert_eq!(json(&["acl", "list"])["rules"].as_array().unwrap().len(), 1);
    ok(&admin(
        &dev,
        &["security", "restore", backup.to_str().unwrap(), "--force"],
        None,
    ));
    assert_eq!(json(&["acl", "list"])["rules"].as_array().unwrap().len(), 2);
    // Nothing has expired long enough to be forgotten; a dry run and a real run agree.
    let dry = json(&["security", "cleanup", "--expired-certs", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed"].as_array().unwrap().len(), 0);
    let cleaned = json(&["security", "cleanup", "--expired-certs", "--force"]);
    assert_eq!(cleaned["removed"].as_array().unwrap().len(), 0);
    assert_eq!(json(&["certs", "list"]).as_array().unwrap().len(), 2);
}

/// The README's secured dev walk-through: the first admin certificate issued offline with
/// the dev CA, then everything through the HTTPS admin API and mutual TLS.
#[test]
fn a_secured_dev_node_from_the_first_admin_certificate_to_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevBroker::spawn_with_env(
        &broker_binary(),
        dir.path(),
        &[
            ("RUSTMQ_SECURITY__ENABLED", "true"),
            ("RUSTMQ_ADMIN__HTTPS", "true"),
        ],
    )
    .expect("secured dev broker starts");
    assert!(dev.admin.starts_with("https://localhost:"), "{}", dev.admin);
    let certs = dir.path().join("certs");
    let tls_dir = dir.path().join("tls");
    let run = |args: &[&str], admin_cert: bool, client_cert: Option<&str>, stdin: Option<&str>| {
        let mut cmd = admin_command(&dev, args);
        if admin_cert {
            cmd.env("RUSTMQ_ADMIN_CERT", certs.join("ops.pem"))
                .env("RUSTMQ_ADMIN_KEY", certs.join("ops.key"));
        }
        if let Some(name) = client_cert {
            cmd.env("RUSTMQ_CLIENT_CERT", certs.join(format!("{name}.pem")))
                .env("RUSTMQ_CLIENT_KEY", certs.join(format!("{name}.key")));
        }
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    };
    let certs_s = certs.to_str().unwrap();
    // Without credentials, writes are refused.
    let refused = run(&["topic", "create", "orders", "-p", "1"], false, None, None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    // The first admin certificate, offline with the dev CA.
    ok(&run(
        &[
            "certs",
            "issue",
            "--ca-dir",
            tls_dir.to_str().unwrap(),
            "--principal",
            "ops",
            "--role",
            "admin",
            "--validity-days",
            "1",
            "--out-dir",
            certs_s,
        ],
        false,
        None,
        None,
    ));
    ok(&run(
        &["topic", "create", "orders", "-p", "1"],
        true,
        None,
        None,
    ));
    ok(&run(
        &[
            "certs",
            "issue",
            "--principal",
            "app",
            "--role",
            "client",
            "--out-dir",
            certs_s,
        ],
        true,
        None,
        None,
    ));
    ok(&run(
        &[
            "acl",
            "create",
            "--principal",
            "app",
            "--resource",
            "topic.orders",
            "--operations",
            "read,write",
        ],
        true,
        None,
        None,
    ));
    // A produce without a client certificate fails at the handshake; with app's, it works.
    let anon = run(&["produce", "orders"], false, None, Some("nope\n"));
    assert!(!anon.status.success());
    ok(&run(
        &["produce", "orders"],
        false,
        Some("app"),
        Some("hello\n"),
    ));
    let got = ok(&run(
        &[
            "consume",
            "orders",
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        false,
        Some("app"),
        None,
    ));
    assert_eq!(got.trim(), "hello");
}

/// `etl test` runs a module on sample records without any cluster, under the brokers'
/// runtime and limits.
#[test]
fn etl_test_runs_a_module_on_sample_records() {
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.yaml");
    std::fs::write(
        &samples,
        "- {key: a, value: kept, headers: [[trace, \"1\"]], timestamp: 5}\n\
         - {key: b, value: null}\n\
         - {value: also kept}\n",
    )
    .unwrap();
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etl/modules/drop_tombstones.wat");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rustmq-admin"))
            .args(["--format", "json", "etl", "test"])
            .arg(&module)
            .arg("--input")
            .arg(&samples)
            .args(extra)
            .output()
            .unwrap()
    };
    let out: serde_json::Value = serde_json::from_str(&ok(&run(&[]))).unwrap();
    assert_eq!(
        out,
        serde_json::json!([
            {"key": "a", "value": "kept", "headers": [["trace", "1"]], "timestamp": 5},
            {"key": null, "value": "also kept", "headers": [], "timestamp": 0},
        ])
    );
    // A module that is not one is refused with the reason.
    let bad = dir.path().join("bad.wat");
    std::fs::write(&bad, "(module)").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_rustmq-admin"))
        .args(["etl", "test"])
        .arg(&bad)
        .arg("--input")
        .arg(&samples)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("rustmq_etl_v1"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The dev node's ETL version in force (`rustmq_etl_pipeline_version`).
fn pipeline_version(dev: &DevBroker) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = rt.block_on(async {
        reqwest::get(format!("{}/metrics", dev.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    text.lines()
        .find_map(|l| l.strip_prefix("rustmq_etl_pipeline_version "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn wait_pipeline(dev: &DevBroker, version: u64) {
    for _ in 0..1000 {
        if pipeline_version(dev) >= version {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the node never put ETL version {version} in force");
}

#[test]
fn etl_deploy_list_describe_remove_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevBroker::spawn_with_env(
        &broker_binary(),
        &dir.path().join("node"),
        &[("RUSTMQ_ETL__ENABLED", "true")],
    )
    .expect("broker binary starts");
    ok(&admin(
        &dev,
        &["topic", "create", "users.signup", "--partitions", "1"],
        None,
    ));
    let module = dir.path().join("mask.wasm");
    std::fs::write(&module, rustmq_etl::examples::c("pii_mask").unwrap()).unwrap();
    let deployed: serde_json::Value = serde_json::from_str(&ok(&admin(
        &dev,
        &[
            "--format",
            "json",
            "etl",
            "deploy",
            module.to_str().unwrap(),
            "--filter",
            "prefix:users.",
            "--filter",
            "exact:audit",
            "--priority",
            "0",
            "--on-error",
            "dead-letter:users.dlq",
            "--execution-timeout-ms",
            "250",
        ],
        None,
    )))
    .unwrap();
    let version = deployed["version"].as_u64().unwrap();
    assert_eq!(deployed["digest"].as_str().unwrap().len(), 64);
    wait_pipeline(&dev, version);

    let listed = ok(&admin(&dev, &["etl", "list"], None));
    assert!(listed.contains(&format!("ETL version {version}: 1 module(s)")));
    let row = listed.lines().find(|l| l.contains("mask")).expect(&listed);
    assert!(row.contains("prefix:users. exact:audit"), "{row}");
    assert!(row.contains("dead-letter:users.dlq"), "{row}");
    let described: serde_json::Value = serde_json::from_str(&ok(&admin(
        &dev,
        &["--format", "json", "etl", "describe", "mask"],
        None,
    )))
    .unwrap();
    assert_eq!(described["priority"], 0);
    assert_eq!(described["execution_timeout_ms"], 250);
    assert_eq!(described["memory_limit_bytes"], serde_json::Value::Null);
    assert_eq!(described["digest"], deployed["digest"]);

    // What the CLI produces comes back masked.
    ok(&admin(
        &dev,
        &["produce", "users.signup"],
        Some("bob@example.com card 4111111111111111\n"),
    ));
    let consumed = ok(&admin(
        &dev,
        &[
            "consume",
            "users.signup",
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        None,
    ));
    assert_eq!(consumed.trim(), "***@example.com card ****************");

    // Bad input is refused with the reason: a bad filter by the CLI, a module that is not
    // one by the controllers.
    let e = admin(
        &dev,
        &[
            "etl",
            "deploy",
            module.to_str().unwrap(),
            "--filter",
            "glob:x",
        ],
        None,
    );
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("unknown kind"));
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm but not really").unwrap();
    let e = admin(
        &dev,
        &[
            "etl",
            "deploy",
            garbage.to_str().unwrap(),
            "--filter",
            "exact:a",
        ],
        None,
    );
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("not a valid WebAssembly module"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    let e = admin(&dev, &["etl", "describe", "nope"], None);
    assert!(!e.status.success());
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );

    // Removal asks first; --force does not.
    let e = admin(&dev, &["etl", "remove", "mask"], Some("n\n"));
    assert!(!e.status.success());
    let removed: serde_json::Value = serde_json::from_str(&ok(&admin(
        &dev,
        &["--format", "json", "etl", "remove", "mask", "--force"],
        None,
    )))
    .unwrap();
    assert_eq!(removed["version"].as_u64().unwrap(), version + 1);
    wait_pipeline(&dev, version + 1);
    ok(&admin(
        &dev,
        &["produce", "users.signup"],
        Some("carol@example.com\n"),
    ));
    let consumed = ok(&admin(
        &dev,
        &[
            "consume",
            "users.signup",
            "--from-beginning",
            "--max-messages",
            "2",
        ],
        None,
    ));
    assert_eq!(consumed.lines().nth(1), Some("carol@example.com"));
    let listed = ok(&admin(&dev, &["etl", "list"], None));
    assert!(listed.contains("0 module(s)"), "{listed}");
}

#[test]
fn watch_shows_a_view_again_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let dev = start(dir.path());
    ok(&admin(
        &dev,
        &["topic", "create", "seen", "--partitions", "2"],
        None,
    ));
    for args in [
        &["topic", "describe", "seen", "--watch", "300ms"][..],
        &["cluster-health", "--watch", "300ms"][..],
    ] {
        let mut child = admin_command(&dev, args).spawn().unwrap();
        // Read what it shows as it comes, until it has shown the view twice.
        let mut stdout = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while seen.lock().unwrap().matches("Every 300ms: ").count() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "{args:?}: {}",
                seen.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Ctrl-C ends a watch normally.
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        assert!(status.success(), "{args:?}: {status}");
        let text = seen.lock().unwrap().clone();
        // Piped: the showings follow each other, no screen control codes.
        assert!(!text.contains('\x1b'), "{text:?}");
    }
    let e = admin(
        &dev,
        &["cluster-health", "--watch", "1s", "--wait", "5s"],
        None,
    );
    assert!(!e.status.success());
}
