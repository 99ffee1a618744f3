//! `broker.toml` and `controller.toml` as the operator renders them from the spec, with the
//! user's dotted overrides on top, checked by the processes' own config loaders before any
//! pod sees them.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::names::{Names, ports};
use crate::crd::{OtlpProtocolSpec, RustMQClusterSpec};
use crate::error::{Error, Result};

/// Where the pods mount what the operator gives them.
pub mod paths {
    /// The ConfigMap.
    pub const CONFIG_DIR: &str = "/etc/rustmq/config";
    /// The certificates Secret.
    pub const TLS_DIR: &str = "/etc/rustmq/tls";
    /// The operator's CA key (controllers only: they issue certificates with it).
    pub const CA_KEY_DIR: &str = "/etc/rustmq/ca";
    /// The persistent volume.
    pub const DATA_DIR: &str = "/var/lib/rustmq";
}

fn table(entries: &[(&str, Value)]) -> Table {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// The controllers' `controller.toml`. Each pod adds its node id and certificate through
/// `RUSTMQ_*` variables.
pub fn controller_toml(spec: &RustMQClusterSpec, names: &Names) -> Result<String> {
    let peers: Vec<Value> = (0..spec.controllers.replicas)
        .map(|i| {
            s(format!(
                "controller-{}@{}:{}",
                i + 1,
                names.controller_host(i),
                ports::RAFT
            ))
        })
        .collect();
    let listen = format!("0.0.0.0:{}", ports::RAFT);
    let mut doc = table(&[
        (
            "controller",
            Value::Table(table(&[
                ("data_dir", s(format!("{}/controller", paths::DATA_DIR))),
                ("raft_listen", s(&listen)),
                // One listener for Raft and the brokers' RPC.
                ("rpc_listen", s(&listen)),
                ("http_listen", s(format!("0.0.0.0:{}", ports::ADMIN))),
            ])),
        ),
        (
            "raft",
            Value::Table(table(&[("peers", Value::Array(peers))])),
        ),
        ("tls", Value::Table(controller_tls(spec))),
        ("admin", Value::Table(controller_admin(spec))),
    ]);
    if let Some(t) = telemetry(spec)? {
        doc.insert("telemetry".into(), Value::Table(t));
    }
    // The controllers pace replica moves; the rate is the brokers' `[scaling]` setting.
    if let Some(rate) = spec.broker_config.get("scaling.traffic_migration_rate") {
        let rate: f64 = rate.parse().map_err(|_| Error::InvalidSpec {
            reason: "InvalidBrokerConfig",
            message: format!(
                "brokerConfig scaling.traffic_migration_rate: '{rate}' is not a number"
            ),
        })?;
        doc.insert(
            "autobalancer".into(),
            Value::Table(table(&[("migration_rate", Value::Float(rate))])),
        );
    }
    overlay(&mut doc, &spec.controller_config, "controllerConfig")?;
    render(&doc)
}

/// The brokers' `broker.toml`. Each pod adds its id, advertised host and certificate
/// through `RUSTMQ_*` variables.
pub fn broker_toml(spec: &RustMQClusterSpec, names: &Names) -> Result<String> {
    let endpoints: Vec<Value> = (0..spec.controllers.replicas)
        .map(|i| s(format!("{}:{}", names.controller_host(i), ports::RAFT)))
        .collect();
    let mut controller = table(&[("endpoints", Value::Array(endpoints))]);
    controller.extend(tls_files(spec));
    let mut network = table(&[
        ("quic_listen", s(format!("0.0.0.0:{}", ports::QUIC))),
        ("rpc_listen", s(format!("0.0.0.0:{}", ports::BROKER_RPC))),
    ]);
    if spec.tls.existing_secret.is_some() {
        network.insert(
            "tls_cert_path".into(),
            s(format!("{}/tls.crt", paths::TLS_DIR)),
        );
        network.insert(
            "tls_key_path".into(),
            s(format!("{}/tls.key", paths::TLS_DIR)),
        );
    }
    let mut doc = table(&[
        (
            "broker",
            Value::Table(table(&[("data_dir", s(paths::DATA_DIR))])),
        ),
        ("network", Value::Table(network)),
        (
            "admin",
            Value::Table(table(&[(
                "http_listen",
                s(format!("0.0.0.0:{}", ports::BROKER_ADMIN)),
            )])),
        ),
        ("controller", Value::Table(controller)),
        ("object_storage", Value::Table(object_storage(spec))),
    ]);
    if spec.security.enabled {
        let sec = &spec.security;
        doc.insert(
            "security".into(),
            Value::Table(table(&[
                ("enabled", Value::Boolean(true)),
                ("super_users", strings(&sec.super_users)),
                ("allow_if_no_acl", Value::Boolean(sec.allow_if_no_acl)),
                ("principal_mapping_rules", mapping_rules(spec)),
            ])),
        );
    }
    if let Some(t) = telemetry(spec)? {
        doc.insert("telemetry".into(), Value::Table(t));
    }
    overlay(&mut doc, &spec.broker_config, "brokerConfig")?;
    render(&doc)
}

/// `[telemetry]` of brokers and controllers, when `spec.telemetry` names a collector.
fn telemetry(spec: &RustMQClusterSpec) -> Result<Option<toml::Table>> {
    let t = &spec.telemetry;
    if t.endpoint.is_empty() {
        return Ok(None);
    }
    let invalid = |message: String| Error::InvalidSpec {
        reason: "InvalidTelemetry",
        message,
    };
    if !(t.endpoint.starts_with("http://") || t.endpoint.starts_with("https://")) {
        return Err(invalid(format!(
            "telemetry.endpoint '{}': expected an http:// or https:// URL",
            t.endpoint
        )));
    }
    let ratio = t.sampling_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&ratio) {
        return Err(invalid(format!(
            "telemetry.samplingRatio {ratio}: expected a number from 0 to 1"
        )));
    }
    let protocol = match t.protocol {
        OtlpProtocolSpec::Grpc => "grpc",
        OtlpProtocolSpec::HttpProtobuf => "http/protobuf",
    };
    Ok(Some(table(&[
        ("endpoint", s(&t.endpoint)),
        ("protocol", s(protocol)),
        ("sampling_ratio", Value::Float(ratio)),
    ])))
}

/// The controllers' `[admin]`. The operator is the admin API's main client (every Topic
/// is read and written through it) and the API sits behind a ClusterIP Service: per-client
/// limits would throttle the operator, not strangers (`controllerConfig` can turn them back
/// on). With security on: HTTPS, and every request but probes and scrapes authenticated.
fn controller_admin(spec: &RustMQClusterSpec) -> Table {
    let mut t = table(&[(
        "rate_limiting",
        Value::Table(table(&[("enabled", Value::Boolean(false))])),
    )]);
    if spec.security.enabled {
        t.insert("https".into(), Value::Boolean(true));
        t.insert("require_authentication".into(), Value::Boolean(true));
        t.insert("super_users".into(), strings(&spec.security.super_users));
        t.insert("principal_mapping_rules".into(), mapping_rules(spec));
    }
    t
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(s).collect())
}

/// The spec's mapping rules, `DEFAULT` when it gives none.
fn mapping_rules(spec: &RustMQClusterSpec) -> Value {
    let rules = &spec.security.principal_mapping_rules;
    if rules.is_empty() {
        strings(&["DEFAULT".to_string()])
    } else {
        strings(rules)
    }
}

/// The controllers' `[tls]`: with the operator's CA, its key too, so that the admin API
/// issues certificates (`Certificate` resources, `rustmq-admin certs issue`).
fn controller_tls(spec: &RustMQClusterSpec) -> Table {
    let mut t = tls_files(spec);
    if spec.tls.existing_secret.is_none() {
        t.insert("ca_key".into(), s(format!("{}/ca.key", paths::CA_KEY_DIR)));
    }
    t
}

/// The CA file always; the certificate and key only from an existing Secret (the
/// operator's own certificates are per pod and named by the pod's variables).
fn tls_files(spec: &RustMQClusterSpec) -> Table {
    let mut t = table(&[("ca_cert", s(format!("{}/ca.crt", paths::TLS_DIR)))]);
    if spec.tls.existing_secret.is_some() {
        t.insert("cert".into(), s(format!("{}/tls.crt", paths::TLS_DIR)));
        t.insert("key".into(), s(format!("{}/tls.key", paths::TLS_DIR)));
    }
    t
}

fn object_storage(spec: &RustMQClusterSpec) -> Table {
    let o = &spec.object_storage;
    if let Some(g) = &o.gcs {
        table(&[
            ("storage_type", s("Gcs")),
            ("bucket", s(&g.bucket)),
            ("prefix", s(&g.prefix)),
        ])
    } else if let Some(b) = &o.s3 {
        let mut t = table(&[
            ("storage_type", s("S3")),
            ("bucket", s(&b.bucket)),
            ("prefix", s(&b.prefix)),
        ]);
        if let Some(r) = &b.region {
            t.insert("region".into(), s(r));
        }
        if let Some(e) = &b.endpoint {
            t.insert("endpoint".into(), s(e));
            if e.starts_with("http://") {
                t.insert("allow_http".into(), Value::Boolean(true));
            }
        }
        t
    } else {
        let path = o.local.as_ref().map_or("objects", |l| l.path.as_str());
        table(&[
            ("storage_type", s("Local")),
            (
                "local_path",
                s(format!(
                    "{}/{}",
                    paths::DATA_DIR,
                    path.trim_start_matches('/')
                )),
            ),
        ])
    }
}

/// Sets each `section.key` of `overrides` in `doc`. A value is read as TOML (`500`,
/// `true`, `["a"]`) and otherwise taken as a string.
fn overlay(doc: &mut Table, overrides: &BTreeMap<String, String>, field: &str) -> Result<()> {
    for (key, raw) in overrides {
        let parts: Vec<&str> = key.split('.').collect();
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::InvalidSpec {
                reason: "InvalidConfigOverride",
                message: format!(
                    "{field} key '{key}' must be 'section.key' (for example wal.capacity_bytes)"
                ),
            });
        }
        let value = format!("v = {raw}")
            .parse::<Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| s(raw));
        let mut at = &mut *doc;
        for part in &parts[..parts.len() - 1] {
            let next = at
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            at = match next {
                Value::Table(t) => t,
                _ => {
                    return Err(Error::InvalidSpec {
                        reason: "InvalidConfigOverride",
                        message: format!("{field} key '{key}': '{part}' is a value, not a section"),
                    });
                }
            };
        }
        at.insert(parts[parts.len() - 1].to_string(), value);
    }
    Ok(())
}

fn render(doc: &Table) -> Result<String> {
    toml::to_string(doc).map_err(|e| Error::InvalidSpec {
        reason: "InvalidConfigOverride",
        message: e.to_string(),
    })
}

/// The part of `broker.toml` whose change needs the brokers restarted: the file without the
/// keys brokers apply at runtime ([`rustmq_broker::config::RUNTIME_KEYS`]) when `runtime`
/// (`operations.allow_runtime_config_updates`) is on, the whole file otherwise. The brokers'
/// pod template carries its hash, so changing only runtime keys rolls no pod.
pub fn restart_relevant(broker_toml: &str, runtime: bool) -> Result<String> {
    if !runtime {
        return Ok(broker_toml.to_string());
    }
    fn strip(t: &mut Table, prefix: &str) {
        t.retain(|k, v| {
            let key = format!("{prefix}{k}");
            match v {
                Value::Table(inner) => {
                    strip(inner, &format!("{key}."));
                    !inner.is_empty()
                }
                _ => !rustmq_broker::config::is_runtime_key(&key),
            }
        });
    }
    let mut doc: Table = broker_toml.parse().map_err(|e| Error::InvalidSpec {
        reason: "InvalidBrokerConfig",
        message: format!("broker.toml: {e}"),
    })?;
    strip(&mut doc, "");
    render(&doc)
}

/// Loads both files with the broker's and the controller's own loaders (unknown keys and
/// bad values are refused there, naming the key), as a pod would with its variables set
/// (`per_pod_certificates`: the operator's certificates, named by those variables).
pub fn validate(
    broker_toml: &str,
    controller_toml: &str,
    per_pod_certificates: bool,
) -> Result<rustmq_broker::config::BrokerConfig> {
    let check = |e: std::io::Error| Error::InvalidSpec {
        reason: "ConfigCheckFailed",
        message: e.to_string(),
    };
    let dir = tempfile::tempdir().map_err(check)?;
    let cert = format!("{}/pod.crt", paths::TLS_DIR);
    let key = format!("{}/pod.key", paths::TLS_DIR);
    let (broker, controller) = if per_pod_certificates {
        (
            with_keys(
                broker_toml,
                &[
                    ("controller", "cert", &cert),
                    ("controller", "key", &key),
                    ("network", "tls_cert_path", &cert),
                    ("network", "tls_key_path", &key),
                ],
            ),
            with_keys(
                controller_toml,
                &[("tls", "cert", &cert), ("tls", "key", &key)],
            ),
        )
    } else {
        (broker_toml.to_string(), controller_toml.to_string())
    };
    let b = dir.path().join("broker.toml");
    let c = dir.path().join("controller.toml");
    std::fs::write(&b, broker).map_err(check)?;
    std::fs::write(&c, controller).map_err(check)?;
    let broker = rustmq_broker::config::BrokerConfig::load(
        rustmq_broker::config::BrokerConfig::default(),
        Some(&b),
    )
    .map_err(|e| Error::InvalidSpec {
        reason: "InvalidBrokerConfig",
        message: format!("broker.toml: {e}"),
    })?;
    rustmq_controller::config::ControllerConfig::load(Some(&c)).map_err(|e| {
        Error::InvalidSpec {
            reason: "InvalidControllerConfig",
            message: format!("controller.toml: {e}"),
        }
    })?;
    Ok(broker)
}

/// `text` with `section.key = value` set for each entry (as the pod's variables set them).
fn with_keys(text: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut doc: Table = text.parse().unwrap_or_default();
    for (section, key, value) in entries {
        if let Value::Table(t) = doc
            .entry(section.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
        {
            t.insert(key.to_string(), s(*value));
        }
    }
    toml::to_string(&doc).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::RustMQCluster;

    fn spec(extra: serde_json::Value) -> RustMQClusterSpec {
        let mut spec = serde_json::json!({
            "version": "1.0.0",
            "objectStorage": {"gcs": {"bucket": "b", "prefix": "p"}},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let c: RustMQCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "rustmq.io/v1alpha1", "kind": "RustMQCluster",
            "metadata": {"name": "rmq", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap();
        c.spec
    }

    #[test]
    fn the_default_rendering_loads_in_both_processes() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let s = spec(serde_json::json!({}));
        let b = broker_toml(&s, &names).unwrap();
        let c = controller_toml(&s, &names).unwrap();
        assert!(b.contains("rmq-controller-2.rmq-controller.ns.svc.cluster.local:9095"));
        assert!(b.contains("storage_type = \"Gcs\""));
        assert!(
            c.contains("controller-3@rmq-controller-2.rmq-controller.ns.svc.cluster.local:9095")
        );
        // Controllers issue certificates with the operator's CA; brokers never hold its key.
        assert!(c.contains("ca_key = \"/etc/rustmq/ca/ca.key\""), "{c}");
        assert!(!b.contains("ca_key"), "{b}");
        let own = spec(serde_json::json!({"tls": {"existingSecret": "mine"}}));
        assert!(!controller_toml(&own, &names).unwrap().contains("ca_key"));
        validate(&b, &c, true).unwrap();
    }

    #[test]
    fn telemetry_goes_to_brokers_and_controllers_and_bad_values_are_refused() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let plain = spec(serde_json::json!({}));
        assert!(!broker_toml(&plain, &names).unwrap().contains("[telemetry]"));
        let s = spec(serde_json::json!({"telemetry": {
            "endpoint": "http://otel.observability:4318",
            "protocol": "http/protobuf",
            "samplingRatio": 0.05,
        }}));
        let (broker, controller) = validate_loaded(
            &broker_toml(&s, &names).unwrap(),
            &controller_toml(&s, &names).unwrap(),
        );
        for t in [&broker.telemetry, &controller.telemetry] {
            assert_eq!(t.endpoint, "http://otel.observability:4318");
            assert_eq!(
                t.protocol,
                rustmq_transport::telemetry::OtlpProtocol::HttpProtobuf
            );
            assert_eq!(t.sampling_ratio, 0.05);
        }
        for bad in [
            serde_json::json!({"endpoint": "otel:4317"}),
            serde_json::json!({"endpoint": "http://otel:4317", "samplingRatio": 1.5}),
        ] {
            let s = spec(serde_json::json!({ "telemetry": bad }));
            assert!(matches!(
                broker_toml(&s, &names),
                Err(Error::InvalidSpec {
                    reason: "InvalidTelemetry",
                    ..
                })
            ));
        }
    }

    #[test]
    fn security_turns_on_client_authorization_and_the_admin_apis_https() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let plain = spec(serde_json::json!({}));
        assert!(!broker_toml(&plain, &names).unwrap().contains("[security]"));
        assert!(!controller_toml(&plain, &names).unwrap().contains("https"));
        let s = spec(serde_json::json!({"security": {
            "enabled": true,
            "superUsers": ["ops"],
            "principalMappingRules": ["RULE:^(.*)-app$/$1/", "DEFAULT"],
        }}));
        let b = broker_toml(&s, &names).unwrap();
        let c = controller_toml(&s, &names).unwrap();
        let (broker, controller) = validate_loaded(&b, &c);
        assert!(broker.security.enabled);
        assert_eq!(broker.security.super_users, ["ops"]);
        assert!(!broker.security.allow_if_no_acl);
        assert_eq!(broker.security.principal_mapping_rules.len(), 2);
        assert!(controller.admin.https && controller.admin.require_authentication);
        assert_eq!(controller.admin.super_users, ["ops"]);
        assert_eq!(controller.admin.principal_mapping_rules.len(), 2);
        // Without rules of its own, DEFAULT.
        let d = spec(serde_json::json!({"security": {"enabled": true}}));
        let (broker, _) = validate_loaded(
            &broker_toml(&d, &names).unwrap(),
            &controller_toml(&d, &names).unwrap(),
        );
        assert_eq!(broker.security.principal_mapping_rules, ["DEFAULT"]);
    }

    /// Both files as the processes load them.
    fn validate_loaded(
        b: &str,
        c: &str,
    ) -> (
        rustmq_broker::config::BrokerConfig,
        rustmq_controller::config::ControllerConfig,
    ) {
        let broker = validate(b, c, true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("controller.toml");
        std::fs::write(
            &path,
            with_keys(c, &[("tls", "cert", "/x.crt"), ("tls", "key", "/x.key")]),
        )
        .unwrap();
        let controller = rustmq_controller::config::ControllerConfig::load(Some(&path)).unwrap();
        (broker, controller)
    }

    #[test]
    fn only_keys_brokers_cannot_apply_at_runtime_change_what_a_restart_depends_on() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let render = |overrides: serde_json::Value| {
            broker_toml(
                &spec(serde_json::json!({"brokerConfig": overrides})),
                &names,
            )
            .unwrap()
        };
        let plain = render(serde_json::json!({}));
        let relevant = |text: &str| restart_relevant(text, true).unwrap();
        // Setting runtime keys (a whole section of them, too) leaves it as it was.
        let runtime = render(serde_json::json!({
            "log.retention_ms": "60000",
            "replication.min_in_sync_replicas": "2",
            "scaling.max_concurrent_additions": "1",
        }));
        assert_ne!(runtime, plain);
        assert_eq!(relevant(&runtime), relevant(&plain));
        assert_eq!(relevant(&plain), plain, "nothing to strip: the text itself");
        // A key the broker reads only at start changes it.
        let restart = render(serde_json::json!({
            "log.retention_ms": "60000",
            "wal.capacity_bytes": "1073741824",
        }));
        assert_ne!(relevant(&restart), relevant(&plain));
        // With runtime updates off every change counts.
        let off = render(serde_json::json!({
            "operations.allow_runtime_config_updates": "false",
            "log.retention_ms": "60000",
        }));
        let off_too = render(serde_json::json!({
            "operations.allow_runtime_config_updates": "false",
        }));
        assert_ne!(
            restart_relevant(&off, false).unwrap(),
            restart_relevant(&off_too, false).unwrap()
        );
    }

    #[test]
    fn overrides_are_typed_and_bad_ones_name_the_key() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let s = spec(serde_json::json!({
            "brokerConfig": {"wal.capacity_bytes": "1073741824", "wal.fsync_on_write": "false"},
            "controllerConfig": {"raft.election_timeout_ms": "900"},
        }));
        let b = broker_toml(&s, &names).unwrap();
        assert!(b.contains("capacity_bytes = 1073741824"), "{b}");
        assert!(b.contains("fsync_on_write = false"), "{b}");
        let c = controller_toml(&s, &names).unwrap();
        assert!(c.contains("election_timeout_ms = 900"), "{c}");
        validate(&b, &c, true).unwrap();

        let bad = spec(serde_json::json!({"brokerConfig": {"wal.capacty_bytes": "1"}}));
        let b = broker_toml(&bad, &names).unwrap();
        let e = validate(&b, &c, true).unwrap_err().to_string();
        assert!(
            e.contains("InvalidBrokerConfig") && e.contains("capacty_bytes"),
            "{e}"
        );
        let flat = spec(serde_json::json!({"controllerConfig": {"election": "1"}}));
        let e = controller_toml(&flat, &names).unwrap_err().to_string();
        assert!(e.contains("section.key"), "{e}");
    }

    #[test]
    fn s3_and_local_stores_render() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let s3 = spec(serde_json::json!({"objectStorage": {"s3": {
            "bucket": "b", "endpoint": "http://minio:9000", "region": "eu-west-1"}}}));
        let b = broker_toml(&s3, &names).unwrap();
        assert!(
            b.contains("storage_type = \"S3\"") && b.contains("allow_http = true"),
            "{b}"
        );
        let local = spec(serde_json::json!({"objectStorage": {"local": {}}}));
        let b = broker_toml(&local, &names).unwrap();
        assert!(
            b.contains("local_path = \"/var/lib/rustmq/objects\""),
            "{b}"
        );
        let c = controller_toml(&local, &names).unwrap();
        validate(&b, &c, true).unwrap();
    }
}
