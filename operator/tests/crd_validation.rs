//! The CRDs on a real kube-apiserver: they are accepted and become established, and the API
//! server itself enforces their schema rules (CEL), so a bad spec is refused at
//! `kubectl apply` with the rule's message, before the operator sees it.

mod common;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use rustmq_operator::crd::{AclRule, Certificate, RustMQCluster, Topic};

fn refusal(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422, "refused as invalid: {s:?}");
            s.message
        }
        other => panic!("expected the API server to refuse: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_enforces_the_crd_rules() {
    let cp = common::ControlPlane::start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(cp.client.clone());
    let apply = PatchParams::apply("rustmq-test").force();
    for (_, crd) in rustmq_operator::crd::all() {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(&name, &apply, &Patch::Apply(&crd))
            .await
            .unwrap();
        await_condition(crds.clone(), &name, conditions::is_crd_established())
            .await
            .unwrap();
    }

    let clusters: Api<RustMQCluster> = Api::namespaced(cp.client.clone(), "default");
    let cluster = |controllers: i32, storage: &str| {
        serde_json::from_value::<RustMQCluster>(serde_json::json!({
            "apiVersion": "rustmq.io/v1alpha1",
            "kind": "RustMQCluster",
            "metadata": {"name": "demo"},
            "spec": {
                "version": "0.1.0",
                "controllers": {"replicas": controllers},
                "objectStorage": serde_json::from_str::<serde_json::Value>(storage).unwrap(),
            }
        }))
        .unwrap()
    };
    let pp = PostParams::default();
    let e = clusters
        .create(&pp, &cluster(4, r#"{"gcs": {"bucket": "b"}}"#))
        .await
        .unwrap_err();
    assert!(refusal(e).contains("controllers.replicas must be 3 or 5"));
    let e = clusters
        .create(&pp, &cluster(3, r#"{"gcs": {"bucket": "b"}, "local": {}}"#))
        .await
        .unwrap_err();
    assert!(refusal(e).contains("objectStorage needs exactly one of gcs, s3, local"));

    let created = clusters
        .create(&pp, &cluster(3, r#"{"gcs": {"bucket": "b"}}"#))
        .await
        .unwrap();
    // Defaults are the schema's too, so `kubectl get -o yaml` shows them.
    assert_eq!(created.spec.brokers.replicas, 3);
    assert_eq!(created.spec.image, "rustmq/rustmq");
    let e = clusters
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"controllers": {"replicas": 4}}})),
        )
        .await
        .unwrap_err();
    assert!(refusal(e).contains("controllers.replicas must be 3 or 5"));
    let e = clusters
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"brokers": {"wal": {"size": "20Gi"}}}})),
        )
        .await
        .unwrap_err();
    assert!(refusal(e).contains("brokers.wal cannot change after creation"));
    // What may change does.
    clusters
        .patch(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {
                "brokers": {"replicas": 4}, "controllers": {"replicas": 5}, "version": "0.2.0",
            }})),
        )
        .await
        .unwrap();

    let topics: Api<Topic> = Api::namespaced(cp.client.clone(), "default");
    let topic = |partitions: i32| {
        serde_json::from_value::<Topic>(serde_json::json!({
            "apiVersion": "rustmq.io/v1alpha1",
            "kind": "Topic",
            "metadata": {"name": "orders"},
            "spec": {"clusterRef": "demo", "partitions": partitions, "replicationFactor": 3},
        }))
        .unwrap()
    };
    let e = topics.create(&pp, &topic(0)).await.unwrap_err();
    assert!(refusal(e).contains("partitions must be at least 1"));
    topics.create(&pp, &topic(6)).await.unwrap();
    let e = topics
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicationFactor": 1}})),
        )
        .await
        .unwrap_err();
    assert!(refusal(e).contains("replicationFactor cannot change"));

    // AclRules as raw objects: some of these would not even deserialize into the Rust type.
    let rules: Api<kube::api::DynamicObject> = Api::namespaced_with(
        cp.client.clone(),
        "default",
        &kube::api::ApiResource::erase::<AclRule>(&()),
    );
    let rule = |spec: serde_json::Value| {
        serde_json::from_value::<kube::api::DynamicObject>(serde_json::json!({
            "apiVersion": "rustmq.io/v1alpha1", "kind": "AclRule",
            "metadata": {"name": "writers"}, "spec": spec,
        }))
        .unwrap()
    };
    let e = rules
        .create(
            &pp,
            &rule(serde_json::json!({
                "clusterRef": "demo", "principal": "app",
                "resources": [{"type": "topic"}], "operations": ["write"],
            })),
        )
        .await
        .unwrap_err();
    assert!(refusal(e).contains("name is required for topics"));
    let e = rules
        .create(
            &pp,
            &rule(serde_json::json!({
                "clusterRef": "demo", "principal": "app",
                "resources": [{"type": "topic", "name": "t"}], "operations": ["fly"],
            })),
        )
        .await
        .unwrap_err();
    let message = refusal(e);
    assert!(message.contains("Unsupported value: \"fly\""), "{message}");
    let e = rules
        .create(
            &pp,
            &rule(serde_json::json!({
                "clusterRef": "demo", "principal": "two words",
                "resources": [{"type": "cluster"}], "operations": [],
            })),
        )
        .await
        .unwrap_err();
    let message = refusal(e);
    assert!(message.contains("principal must be non-empty"), "{message}");
    assert!(message.contains("at least one operation"), "{message}");
    let created = rules
        .create(
            &pp,
            &rule(serde_json::json!({
                "clusterRef": "demo", "principal": "*",
                "resources": [{"type": "cluster"}], "operations": ["describe"],
            })),
        )
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"]["effect"], "allow",
        "the schema's default"
    );

    let certs: Api<Certificate> = Api::namespaced(cp.client.clone(), "default");
    let cert = serde_json::from_value::<Certificate>(serde_json::json!({
        "apiVersion": "rustmq.io/v1alpha1", "kind": "Certificate",
        "metadata": {"name": "app"},
        "spec": {"clusterRef": "demo", "principal": "app/x"},
    }))
    .unwrap();
    let e = certs.create(&pp, &cert).await.unwrap_err();
    assert!(refusal(e).contains("without spaces or '/'"));
    let mut ok = cert.clone();
    ok.spec.principal = "app".into();
    let created = certs.create(&pp, &ok).await.unwrap();
    assert_eq!(created.spec.duration, "2160h");
    let e = certs
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"clusterRef": "other"}})),
        )
        .await
        .unwrap_err();
    assert!(refusal(e).contains("clusterRef cannot change"));
}
