//! `broker.toml` and `controller.toml` as the operator renders them from the spec, with the
//! user's dotted overrides on top, checked by the processes' own config loaders before any
//! pod sees them.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::names::{Names, ports};
use crate::crd::RustMQClusterSpec;
use crate::error::{Error, Result};

/// Where the pods mount what the operator gives them.
pub mod paths {
    /// The ConfigMap.
    pub const CONFIG_DIR: &str = "/etc/rustmq/config";
    /// The certificates Secret.
    pub const TLS_DIR: &str = "/etc/rustmq/tls";
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
        ("tls", Value::Table(tls_files(spec))),
    ]);
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
    overlay(&mut doc, &spec.broker_config, "brokerConfig")?;
    render(&doc)
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

/// Loads both files with the broker's and the controller's own loaders (unknown keys and
/// bad values are refused there, naming the key), as a pod would with its variables set
/// (`per_pod_certificates`: the operator's certificates, named by those variables).
pub fn validate(
    broker_toml: &str,
    controller_toml: &str,
    per_pod_certificates: bool,
) -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::InvalidSpec {
        reason: "ConfigCheckFailed",
        message: e.to_string(),
    })?;
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).map(|_| p)
    };
    // The pods' per-pod variables, as files: a controller needs its certificate to load.
    let pod_tls = format!(
        "\n[tls]\ncert = \"{0}/pod.crt\"\nkey = \"{0}/pod.key\"\n",
        paths::TLS_DIR
    );
    let controller = if per_pod_certificates {
        merge_tls(controller_toml, &pod_tls)
    } else {
        controller_toml.to_string()
    };
    let io = |e: std::io::Error| Error::InvalidSpec {
        reason: "ConfigCheckFailed",
        message: e.to_string(),
    };
    let b = write("broker.toml", broker_toml).map_err(io)?;
    let c = write("controller.toml", &controller).map_err(io)?;
    rustmq_broker::config::BrokerConfig::load(
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
    Ok(())
}

fn merge_tls(controller_toml: &str, pod_tls: &str) -> String {
    let mut doc: Table = controller_toml.parse().unwrap_or_default();
    let extra: Table = pod_tls.parse().unwrap_or_default();
    if let (Some(Value::Table(tls)), Some(Value::Table(add))) =
        (doc.get_mut("tls"), extra.get("tls"))
    {
        tls.extend(add.clone());
    }
    toml::to_string(&doc).unwrap_or_else(|_| controller_toml.to_string())
}
