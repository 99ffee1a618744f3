//! The Kubernetes objects one `RustMQCluster` becomes: ServiceAccount, ConfigMap, Services,
//! StatefulSets and PodDisruptionBudgets, each owned by the cluster (so deleting it lets
//! the garbage collector remove them) and applied server-side as a whole.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::config::paths;
use super::names::{Names, ports};
use crate::crd::{RustMQCluster, VolumeSpec};
use crate::error::Result;

/// Which StatefulSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The Raft voters.
    Controller,
    /// The brokers.
    Broker,
}

impl Component {
    /// The `app.kubernetes.io/component` label.
    pub fn label(self) -> &'static str {
        match self {
            Component::Controller => "controller",
            Component::Broker => "broker",
        }
    }
}

/// The labels that select a component's pods (stable: they are part of selectors).
pub fn selector(names: &Names, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "rustmq".into()),
        ("app.kubernetes.io/instance".into(), names.cluster.clone()),
        (
            "app.kubernetes.io/component".into(),
            component.label().into(),
        ),
    ])
}

fn labels(names: &Names, component: Option<Component>) -> Value {
    let mut l = match component {
        Some(c) => selector(names, c),
        None => BTreeMap::from([
            ("app.kubernetes.io/name".into(), "rustmq".into()),
            ("app.kubernetes.io/instance".into(), names.cluster.clone()),
        ]),
    };
    l.insert(
        "app.kubernetes.io/managed-by".into(),
        "rustmq-operator".into(),
    );
    json!(l)
}

fn meta(cluster: &RustMQCluster, names: &Names, name: &str, c: Option<Component>) -> Value {
    json!({
        "name": name,
        "namespace": names.namespace,
        "labels": labels(names, c),
        "ownerReferences": [cluster.controller_owner_ref(&())],
    })
}

fn typed<T: DeserializeOwned>(v: Value) -> Result<T> {
    Ok(serde_json::from_value(v)?)
}

/// The pods' ServiceAccount, bound to a Google service account through Workload Identity
/// when the spec names one.
pub fn service_account(cluster: &RustMQCluster, names: &Names) -> Result<ServiceAccount> {
    let mut m = meta(cluster, names, &names.service_account(), None);
    if let Some(gsa) = cluster
        .spec
        .object_storage
        .gcs
        .as_ref()
        .and_then(|g| g.google_service_account.as_ref())
    {
        m["annotations"] = json!({ "iam.gke.io/gcp-service-account": gsa });
    }
    typed(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": m}))
}

/// The rendered `broker.toml` and `controller.toml`.
pub fn config_map(
    cluster: &RustMQCluster,
    names: &Names,
    broker_toml: &str,
    controller_toml: &str,
) -> Result<ConfigMap> {
    typed(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta(cluster, names, &names.config(), None),
        "data": {"broker.toml": broker_toml, "controller.toml": controller_toml},
    }))
}

/// The headless Service giving each pod of `component` its stable DNS name. Not-ready pods
/// are published too: Raft voters and brokers must find each other before they are ready.
pub fn headless_service(
    cluster: &RustMQCluster,
    names: &Names,
    component: Component,
) -> Result<Service> {
    let (name, ports) = match component {
        Component::Controller => (
            names.controllers(),
            json!([
                {"name": "raft", "port": ports::RAFT, "protocol": "UDP"},
                {"name": "admin", "port": ports::ADMIN, "protocol": "TCP"},
            ]),
        ),
        Component::Broker => (
            names.brokers(),
            json!([
                {"name": "quic", "port": ports::QUIC, "protocol": "UDP"},
                {"name": "rpc", "port": ports::BROKER_RPC, "protocol": "UDP"},
                {"name": "admin", "port": ports::BROKER_ADMIN, "protocol": "TCP"},
            ]),
        ),
    };
    typed(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(cluster, names, &name, Some(component)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector(names, component),
            "ports": ports,
        },
    }))
}

/// The client Service: QUIC to ready brokers, of the spec's type.
pub fn bootstrap_service(cluster: &RustMQCluster, names: &Names) -> Result<Service> {
    let l = &cluster.spec.listeners.client;
    let mut m = meta(cluster, names, &names.bootstrap(), Some(Component::Broker));
    m["annotations"] = json!(l.annotations);
    typed(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": m,
        "spec": {
            "type": l.service_type,
            "selector": selector(names, Component::Broker),
            "ports": [{"name": "quic", "port": ports::QUIC, "protocol": "UDP"}],
        },
    }))
}

/// The admin API Service in front of the controllers (any of them answers; writes are
/// forwarded to the Raft leader).
pub fn admin_service(cluster: &RustMQCluster, names: &Names) -> Result<Service> {
    let l = &cluster.spec.listeners.admin;
    let mut m = meta(cluster, names, &names.admin(), Some(Component::Controller));
    m["annotations"] = json!(l.annotations);
    typed(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": m,
        "spec": {
            "type": l.service_type,
            "selector": selector(names, Component::Controller),
            "ports": [{"name": "admin", "port": ports::ADMIN, "protocol": "TCP"}],
        },
    }))
}

/// At most one pod of `component` down through voluntary disruptions (drains, upgrades):
/// a Raft majority and every partition's ISR survive it.
pub fn disruption_budget(
    cluster: &RustMQCluster,
    names: &Names,
    component: Component,
) -> Result<PodDisruptionBudget> {
    let name = match component {
        Component::Controller => names.controllers(),
        Component::Broker => names.brokers(),
    };
    typed(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": meta(cluster, names, &name, Some(component)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(names, component)},
        },
    }))
}

/// Where the brokers' init container writes the Node's zone, and the broker reads its rack.
const RACK_DIR: &str = "/var/run/rustmq/rack";
const RACK_FILE: &str = "/var/run/rustmq/rack/rack";

fn env_field(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

fn env(name: &str, value: impl Into<String>) -> Value {
    json!({"name": name, "value": value.into()})
}

fn claim(v: &VolumeSpec) -> Value {
    let mut spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": v.size}},
    });
    if let Some(class) = &v.storage_class_name {
        spec["storageClassName"] = json!(class);
    }
    json!({"metadata": {"name": "data"}, "spec": spec})
}

/// The StatefulSet of `component`. `config_hash` goes into the pod template so that a
/// changed ConfigMap rolls the pods, one at a time.
pub fn stateful_set(
    cluster: &RustMQCluster,
    names: &Names,
    component: Component,
    config_hash: &str,
    pod_count: i32,
    grace_seconds: i64,
) -> Result<StatefulSet> {
    let spec = &cluster.spec;
    let per_pod_certs = spec.tls.existing_secret.is_none();
    let tls_secret = spec
        .tls
        .existing_secret
        .clone()
        .unwrap_or_else(|| names.tls_secret());
    let pod_cert = |var: &str, ext: &str| env(var, format!("{}/$(POD_NAME).{ext}", paths::TLS_DIR));
    let mut envs = vec![
        env_field("POD_NAME", "metadata.name"),
        env_field("POD_NAMESPACE", "metadata.namespace"),
    ];
    let (name, binary, config_file, resources, volume, probe_port, ports) = match component {
        Component::Controller => {
            envs.push(env("RUSTMQ_CONTROLLER__NODE_ID", "$(POD_NAME)"));
            if per_pod_certs {
                envs.push(pod_cert("RUSTMQ_TLS__CERT", "crt"));
                envs.push(pod_cert("RUSTMQ_TLS__KEY", "key"));
            }
            (
                names.controllers(),
                "rustmq-controller",
                "controller.toml",
                &spec.controllers.resources,
                &spec.controllers.storage,
                ports::ADMIN,
                json!([
                    {"name": "raft", "containerPort": ports::RAFT, "protocol": "UDP"},
                    {"name": "admin", "containerPort": ports::ADMIN, "protocol": "TCP"},
                ]),
            )
        }
        Component::Broker => {
            envs.push(env("RUSTMQ_BROKER__ID", "$(POD_NAME)"));
            envs.push(env("RUSTMQ_BROKER__RACK_ID_FILE", RACK_FILE));
            envs.push(env(
                "RUSTMQ_BROKER__ADVERTISED_HOST",
                format!(
                    "$(POD_NAME).{}.$(POD_NAMESPACE).svc.{}",
                    names.brokers(),
                    names.domain
                ),
            ));
            if per_pod_certs {
                envs.push(pod_cert("RUSTMQ_NETWORK__TLS_CERT_PATH", "crt"));
                envs.push(pod_cert("RUSTMQ_NETWORK__TLS_KEY_PATH", "key"));
                envs.push(pod_cert("RUSTMQ_CONTROLLER__CERT", "crt"));
                envs.push(pod_cert("RUSTMQ_CONTROLLER__KEY", "key"));
            }
            (
                names.brokers(),
                "rustmq-broker",
                "broker.toml",
                &spec.brokers.resources,
                &spec.brokers.wal,
                ports::BROKER_ADMIN,
                json!([
                    {"name": "quic", "containerPort": ports::QUIC, "protocol": "UDP"},
                    {"name": "rpc", "containerPort": ports::BROKER_RPC, "protocol": "UDP"},
                    {"name": "admin", "containerPort": ports::BROKER_ADMIN, "protocol": "TCP"},
                ]),
            )
        }
    };
    // With security the controllers serve the admin API (and /health) over HTTPS; the
    // kubelet's HTTPS probe does not verify the certificate.
    let probe_scheme = if component == Component::Controller && spec.security.enabled {
        "HTTPS"
    } else {
        "HTTP"
    };
    let mut env_from = Vec::new();
    if component == Component::Broker
        && let Some(secret) = spec
            .object_storage
            .s3
            .as_ref()
            .and_then(|s| s.credentials_secret.as_ref())
    {
        env_from.push(json!({"secretRef": {"name": secret}}));
    }
    let overrides = &spec.pod_template;
    let mut pod_labels = json!(overrides.labels);
    for (k, v) in selector(names, component) {
        pod_labels[k] = json!(v);
    }
    let mut annotations = json!(overrides.annotations);
    annotations["rustmq.io/config-hash"] = json!(config_hash);
    let mut container = json!({
        "name": component.label(),
        "image": format!("{}:{}", spec.image, spec.version),
        "command": [binary, "--config", format!("{}/{config_file}", paths::CONFIG_DIR)],
        "env": envs,
        "envFrom": env_from,
        "ports": ports,
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": probe_port, "scheme": probe_scheme},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "volumeMounts": [
            {"name": "config", "mountPath": paths::CONFIG_DIR, "readOnly": true},
            {"name": "tls", "mountPath": paths::TLS_DIR, "readOnly": true},
            {"name": "data", "mountPath": paths::DATA_DIR},
        ],
        "securityContext": container_security(),
    });
    if component == Component::Broker
        && let Some(mounts) = container["volumeMounts"].as_array_mut()
    {
        mounts.push(json!({"name": "rack", "mountPath": RACK_DIR, "readOnly": true}));
    }
    // Controllers of the operator's CA issue certificates with its key (the brokers never
    // see it).
    let ca_key = component == Component::Controller && per_pod_certs;
    if ca_key && let Some(mounts) = container["volumeMounts"].as_array_mut() {
        mounts.push(json!({"name": "ca-key", "mountPath": paths::CA_KEY_DIR, "readOnly": true}));
    }
    if let Some(r) = resources {
        container["resources"] = serde_json::to_value(r)?;
    }
    let (node_selector, own_tolerations) = match component {
        Component::Controller => (
            &spec.controllers.node_selector,
            &spec.controllers.tolerations,
        ),
        Component::Broker => (&spec.brokers.node_selector, &spec.brokers.tolerations),
    };
    let tolerations: Vec<_> = overrides
        .tolerations
        .iter()
        .chain(own_tolerations)
        .cloned()
        .collect();
    let mut pod_spec = json!({
        "serviceAccountName": names.service_account(),
        // Brokers: `operations.graceful_shutdown_timeout_ms`, which the config check keeps
        // above the controlled shutdown's own timeout.
        "terminationGracePeriodSeconds": grace_seconds,
        "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": names.config()}},
            {"name": "tls", "secret": {"secretName": tls_secret}},
        ],
        "tolerations": tolerations,
    });
    if ca_key && let Some(volumes) = pod_spec["volumes"].as_array_mut() {
        volumes.push(json!({"name": "ca-key", "secret": {
            "secretName": names.ca_secret(),
            "items": [{"key": "ca.key", "path": "ca.key"}],
            // Owner (root) and the pod's fsGroup only.
            "defaultMode": 0o440,
        }}));
    }
    if !node_selector.is_empty() {
        pod_spec["nodeSelector"] = json!(node_selector);
    }
    if component == Component::Broker {
        // Pods cannot read their Node's labels: an init container asks the API for the
        // zone (`rackLabel`) and leaves it in a file the broker reads as its rack.
        pod_spec["initContainers"] = json!([{
            "name": "rack",
            "image": format!("{}:{}", spec.image, spec.version),
            "command": [
                "rustmq-node-label",
                "--node", "$(NODE_NAME)",
                "--label", spec.brokers.rack_label,
                "--out", RACK_FILE,
                "--default", "default",
            ],
            "env": [env_field("NODE_NAME", "spec.nodeName")],
            "volumeMounts": [{"name": "rack", "mountPath": RACK_DIR}],
            "securityContext": container_security(),
        }]);
        if let Some(volumes) = pod_spec["volumes"].as_array_mut() {
            volumes.push(json!({"name": "rack", "emptyDir": {}}));
        }
    }
    if let Some(a) = &overrides.affinity {
        pod_spec["affinity"] = serde_json::to_value(a)?;
    }
    if let Some(p) = &overrides.priority_class_name {
        pod_spec["priorityClassName"] = json!(p);
    }
    typed(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": meta(cluster, names, &name, Some(component)),
        "spec": {
            "serviceName": name,
            "replicas": pod_count,
            // Voters must all start to elect a leader; brokers need no order either.
            "podManagementPolicy": "Parallel",
            // The operator deletes old pods itself, in the order that keeps a quorum and
            // every partition's minimum ISR (`cluster/roll.rs`).
            "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": selector(names, component)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": pod_spec,
            },
            "volumeClaimTemplates": [claim(volume)],
        },
    }))
}

fn container_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(extra: Value) -> RustMQCluster {
        let mut spec = json!({
            "version": "1.2.3",
            "objectStorage": {"s3": {"bucket": "b", "credentialsSecret": "s3-keys"}},
        });
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let mut c: RustMQCluster = serde_json::from_value(json!({
            "apiVersion": "rustmq.io/v1alpha1", "kind": "RustMQCluster",
            "metadata": {"name": "rmq", "namespace": "ns", "uid": "u-1"},
            "spec": spec,
        }))
        .unwrap();
        c.metadata.uid = Some("u-1".into());
        c
    }

    fn env_of(set: &StatefulSet, container: usize) -> BTreeMap<String, String> {
        let pod = set.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        pod.containers[container]
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| Some((e.name, e.value?)))
            .collect()
    }

    #[test]
    fn brokers_get_their_identity_rack_and_certificates_from_the_pod() {
        let c = cluster(json!({"brokers": {"replicas": 4, "rackLabel": "example.com/rack"}}));
        let names = Names::new("rmq", "ns", "cluster.local");
        let set = stateful_set(&c, &names, Component::Broker, "abc", 4, 45).unwrap();
        let pod = set.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(pod.termination_grace_period_seconds, Some(45));
        let spec = set.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(4));
        assert_eq!(spec.service_name.as_deref(), Some("rmq-broker"));
        // Placement of the component (its own node pool).
        let placed = cluster(json!({"brokers": {
            "nodeSelector": {"rustmq.io/role": "broker"},
            "tolerations": [{"key": "rustmq.io/role", "operator": "Equal", "value": "broker", "effect": "NoSchedule"}],
        }}));
        let on_pool = stateful_set(&placed, &names, Component::Broker, "abc", 3, 30).unwrap();
        let pod = on_pool.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.node_selector.unwrap()["rustmq.io/role"], "broker");
        assert_eq!(pod.tolerations.unwrap()[0].value.as_deref(), Some("broker"));
        let controllers =
            stateful_set(&placed, &names, Component::Controller, "abc", 3, 30).unwrap();
        assert!(
            controllers
                .spec
                .unwrap()
                .template
                .spec
                .unwrap()
                .node_selector
                .is_none()
        );
        // The operator, not Kubernetes, decides which pod restarts when.
        assert_eq!(
            spec.update_strategy
                .as_ref()
                .and_then(|u| u.type_.as_deref()),
            Some("OnDelete")
        );
        let owner = &set.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("RustMQCluster", Some(true))
        );
        let env = env_of(&set, 0);
        assert_eq!(env["RUSTMQ_BROKER__ID"], "$(POD_NAME)");
        assert_eq!(
            env["RUSTMQ_BROKER__ADVERTISED_HOST"],
            "$(POD_NAME).rmq-broker.$(POD_NAMESPACE).svc.cluster.local"
        );
        assert_eq!(
            env["RUSTMQ_NETWORK__TLS_CERT_PATH"],
            "/etc/rustmq/tls/$(POD_NAME).crt"
        );
        assert_eq!(env["RUSTMQ_BROKER__RACK_ID_FILE"], RACK_FILE);
        let pod = spec.template.spec.as_ref().unwrap();
        let init = &pod.init_containers.as_ref().unwrap()[0];
        let cmd = init.command.as_ref().unwrap();
        assert!(
            cmd.windows(2).any(|w| w == ["--label", "example.com/rack"]),
            "{cmd:?}"
        );
        let annotations = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref();
        assert_eq!(annotations.unwrap()["rustmq.io/config-hash"], "abc");
        assert_eq!(
            pod.containers[0].env_from.as_ref().unwrap()[0]
                .secret_ref
                .as_ref()
                .unwrap()
                .name,
            "s3-keys"
        );
        assert_eq!(
            pod.containers[0].image.as_deref(),
            Some("rustmq/rustmq:1.2.3")
        );
    }

    #[test]
    fn an_existing_secret_replaces_the_per_pod_certificates() {
        let c = cluster(json!({"tls": {"existingSecret": "mine"}}));
        let names = Names::new("rmq", "ns", "cluster.local");
        let set = stateful_set(&c, &names, Component::Controller, "h", 3, 30).unwrap();
        let env = env_of(&set, 0);
        assert!(!env.contains_key("RUSTMQ_TLS__CERT"));
        assert_eq!(env["RUSTMQ_CONTROLLER__NODE_ID"], "$(POD_NAME)");
        let pod = set.spec.unwrap().template.spec.unwrap();
        let volumes = pod.volumes.clone().unwrap();
        let tls = volumes.into_iter().find(|v| v.name == "tls").unwrap();
        assert_eq!(tls.secret.unwrap().secret_name.as_deref(), Some("mine"));
        assert!(pod.init_containers.is_none(), "controllers need no rack");
        assert!(
            !pod.volumes.iter().flatten().any(|v| v.name == "ca-key"),
            "no operator CA, no CA key"
        );
    }

    #[test]
    fn with_security_the_controllers_are_probed_over_https() {
        let names = Names::new("rmq", "ns", "cluster.local");
        let scheme = |spec: serde_json::Value, component| {
            let set = stateful_set(&cluster(spec), &names, component, "h", 3, 30).unwrap();
            let pod = set.spec.unwrap().template.spec.unwrap();
            pod.containers[0]
                .readiness_probe
                .clone()
                .and_then(|p| p.http_get)
                .and_then(|g| g.scheme)
        };
        let secured = json!({"security": {"enabled": true}});
        assert_eq!(
            scheme(secured.clone(), Component::Controller).as_deref(),
            Some("HTTPS")
        );
        assert_eq!(scheme(secured, Component::Broker).as_deref(), Some("HTTP"));
        assert_eq!(
            scheme(json!({}), Component::Controller).as_deref(),
            Some("HTTP")
        );
    }

    #[test]
    fn only_controllers_get_the_ca_key() {
        let c = cluster(json!({}));
        let names = Names::new("rmq", "ns", "cluster.local");
        let key_volume = |component| {
            let set = stateful_set(&c, &names, component, "h", 3, 30).unwrap();
            let pod = set.spec.unwrap().template.spec.unwrap();
            let mounted = pod.containers[0]
                .volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name == "ca-key" && m.mount_path == paths::CA_KEY_DIR);
            let volume = pod
                .volumes
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.name == "ca-key")
                .and_then(|v| v.secret);
            (mounted, volume)
        };
        let (mounted, volume) = key_volume(Component::Controller);
        let volume = volume.expect("controllers mount the CA key");
        assert!(mounted);
        assert_eq!(volume.secret_name.as_deref(), Some("rmq-ca"));
        let items = volume.items.unwrap();
        assert_eq!(
            items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(),
            ["ca.key"]
        );
        assert_eq!(key_volume(Component::Broker), (false, None));
    }

    #[test]
    fn workload_identity_and_service_types_come_from_the_spec() {
        let c = cluster(json!({
            "objectStorage": {"gcs": {"bucket": "b", "googleServiceAccount": "gsa@p.iam.gserviceaccount.com"}},
            "listeners": {"client": {"type": "LoadBalancer", "annotations": {"a": "b"}}},
        }));
        let names = Names::new("rmq", "ns", "cluster.local");
        let sa = service_account(&c, &names).unwrap();
        assert_eq!(
            sa.metadata.annotations.unwrap()["iam.gke.io/gcp-service-account"],
            "gsa@p.iam.gserviceaccount.com"
        );
        let svc = bootstrap_service(&c, &names).unwrap();
        assert_eq!(svc.spec.unwrap().type_.as_deref(), Some("LoadBalancer"));
        let headless = headless_service(&c, &names, Component::Broker).unwrap();
        let spec = headless.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
    }
}
