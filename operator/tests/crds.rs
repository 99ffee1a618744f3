//! The CRD YAML under `crds/` (and its copy in the Helm chart) is what the Rust types
//! generate: change the types, run `make crds`, commit both.

use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in ["crds", "charts/rustmq-operator/crds"] {
        for (file, crd) in rustmq_operator::crd::all() {
            let generated = rustmq_operator::crd::to_yaml(&crd).unwrap();
            let committed = std::fs::read_to_string(root.join(dir).join(file))
                .unwrap_or_else(|e| panic!("{dir}/{file}: {e}; run make crds"));
            assert!(
                committed == generated,
                "{dir}/{file} differs from the Rust types; run `make crds`"
            );
        }
    }
}

#[test]
fn a_minimal_cluster_gets_the_documented_defaults() {
    let yaml = r#"
apiVersion: rustmq.io/v1alpha1
kind: RustMQCluster
metadata:
  name: demo
spec:
  version: "0.1.0"
  objectStorage:
    gcs:
      bucket: demo-bucket
"#;
    let c: rustmq_operator::crd::RustMQCluster = serde_norway::from_str(yaml).unwrap();
    assert_eq!(c.spec.image, "rustmq/rustmq");
    assert_eq!(c.spec.controllers.replicas, 3);
    assert_eq!(c.spec.brokers.replicas, 3);
    assert_eq!(c.spec.brokers.wal.size, "10Gi");
    assert_eq!(c.spec.brokers.rack_label, "topology.kubernetes.io/zone");
    assert_eq!(c.spec.listeners.client.service_type, "ClusterIP");
    let gcs = c.spec.object_storage.gcs.unwrap();
    assert_eq!(
        (gcs.bucket.as_str(), gcs.prefix.as_str()),
        ("demo-bucket", "")
    );
}

#[test]
fn a_topic_defaults_to_delete_and_one_replica() {
    let yaml = r#"
apiVersion: rustmq.io/v1alpha1
kind: Topic
metadata:
  name: orders
spec:
  clusterRef: demo
  partitions: 6
  config:
    retention.ms: "604800000"
"#;
    let t: rustmq_operator::crd::Topic = serde_norway::from_str(yaml).unwrap();
    assert_eq!(t.spec.replication_factor, 1);
    assert_eq!(
        t.spec.deletion_policy,
        rustmq_operator::crd::DeletionPolicy::Delete
    );
    assert_eq!(t.spec.config["retention.ms"], "604800000");
}

#[test]
fn the_schema_carries_the_validation_rules() {
    let crds = rustmq_operator::crd::all();
    let cluster = serde_json::to_string(&crds[0].1).unwrap();
    for rule in [
        "self == 3 || self == 5",
        "self == oldSelf",
        "[has(self.gcs), has(self.s3), has(self.local)].filter(x, x).size() == 1",
    ] {
        assert!(cluster.contains(rule), "missing rule {rule}");
    }
    let topic = serde_json::to_string(&crds[1].1).unwrap();
    assert!(topic.contains("replicationFactor cannot change"));
}
