//! The Helm chart and the plain manifests: `helm lint` and `helm template` (helm v4 built by
//! `.ci/build-helm.sh`), the rendered objects checked against the Kubernetes schemas offline
//! (kubernetes-validate, installed by `.ci/test-deps`) and applied with a server-side dry run
//! to a real kube-apiserver (which runs the CRDs' CEL rules on the examples), and
//! `manifests/` compared with what the chart renders.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::Discovery;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn helm() -> PathBuf {
    let script = root().join(".ci/build-helm.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run .ci/build-helm.sh");
    assert!(out.status.success(), "{} failed", script.display());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("helm")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The chart rendered as the committed manifests are (`helm template` with `sets`).
fn render(sets: &[&str]) -> String {
    let mut cmd = Command::new(helm());
    cmd.current_dir(root()).args([
        "template",
        "rustmq-operator",
        "charts/rustmq-operator",
        "--namespace",
        "rustmq-system",
        "--include-crds",
    ]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    run(&mut cmd)
}

/// A BigQuery subscriber with Workload Identity and the brokers' CA.
const SUBSCRIBER: &[&str] = &[
    "bigQuerySubscribers[0].name=events",
    "bigQuerySubscribers[0].topic=user-events",
    "bigQuerySubscribers[0].brokers=rustmq-brokers.rustmq.svc.cluster.local:9092",
    "bigQuerySubscribers[0].projectId=my-project",
    "bigQuerySubscribers[0].dataset=analytics",
    "bigQuerySubscribers[0].table=events",
    "bigQuerySubscribers[0].replicas=2",
    "bigQuerySubscribers[0].gcpServiceAccount=bq-writer@my-project.iam.gserviceaccount.com",
    "bigQuerySubscribers[0].caSecret=rustmq-ca",
    "bigQuerySubscribers[0].env.SCHEMA_MAPPING=nested",
];

/// The value sets the tests render with: the defaults, one namespace watched, a cluster and
/// a ServiceMonitor, a BigQuery subscriber, the monitoring of the clusters.
const VARIANTS: &[&[&str]] = &[
    &[],
    &["watchNamespace=apps"],
    &[
        "cluster.enabled=true",
        "metrics.serviceMonitor.enabled=true",
    ],
    SUBSCRIBER,
    MONITORING,
    TRACING,
];

/// The operator's traces, and a cluster whose brokers and controllers export theirs.
const TRACING: &[&str] = &[
    "tracing.endpoint=http://otel-collector.observability:4317",
    "tracing.samplingRatio=0.25",
    "cluster.enabled=true",
    "cluster.spec.telemetry.endpoint=http://otel-collector.observability:4317",
    // `--set` keeps a decimal a string (helm parses only integers); 1 is a number.
    "cluster.spec.telemetry.samplingRatio=1",
    "cluster.spec.telemetry.protocol=http/protobuf",
];

#[test]
fn tracing_sets_the_operators_otel_variables_and_the_clusters_telemetry() {
    let objects = documents(&render(TRACING));
    let deployment = objects
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "Deployment")
        .unwrap();
    let env = deployment.data["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    assert_eq!(
        var("OTEL_EXPORTER_OTLP_ENDPOINT").as_deref(),
        Some("http://otel-collector.observability:4317")
    );
    assert_eq!(var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref(), Some("grpc"));
    assert_eq!(var("OTEL_TRACES_SAMPLER_ARG").as_deref(), Some("0.25"));
    let cluster = objects
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "RustMQCluster")
        .unwrap();
    let spec: rustmq_operator::crd::RustMQClusterSpec =
        serde_json::from_value(cluster.data["spec"].clone()).unwrap();
    assert_eq!(spec.telemetry.sampling_ratio, Some(1.0));
    assert_eq!(
        spec.telemetry.protocol,
        rustmq_operator::crd::OtlpProtocolSpec::HttpProtobuf
    );
    // Without the value, no OTEL variable: the operator exports nothing.
    let plain = documents(&render(&[]));
    let d = plain
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "Deployment")
        .unwrap();
    assert!(!serde_json::to_string(&d.data).unwrap().contains("OTEL_"));
}

/// PodMonitors (controllers over HTTPS), the PrometheusRule and the dashboards.
const MONITORING: &[&str] = &[
    "monitoring.podMonitors.enabled=true",
    "monitoring.podMonitors.controllersScheme=https",
    "monitoring.prometheusRule.enabled=true",
    "monitoring.dashboards.enabled=true",
];

#[test]
fn monitoring_renders_the_rules_and_dashboards_files() {
    let objects = documents(&render(MONITORING));
    let kinds: Vec<String> = objects
        .iter()
        .map(|o| o.types.clone().unwrap().kind)
        .collect();
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert_eq!(count("PodMonitor"), 2, "{kinds:?}");
    assert_eq!(count("PrometheusRule"), 1, "{kinds:?}");
    // The rule file verbatim: alert templates stay templates, not rendered by helm.
    let rule = objects
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "PrometheusRule")
        .unwrap();
    let file: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("charts/rustmq-operator/files/prometheus-rules.yaml"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rule.data["spec"], file);
    // One ConfigMap per dashboard, its JSON unchanged.
    let dashboards: Vec<&DynamicObject> = objects
        .iter()
        .filter(|o| o.name_any().contains("-dashboard-"))
        .collect();
    assert_eq!(dashboards.len(), 6);
    for d in dashboards {
        let data = d.data["data"].as_object().unwrap();
        let (file, json) = data.iter().next().unwrap();
        let on_disk = std::fs::read_to_string(
            root()
                .join("charts/rustmq-operator/files/dashboards")
                .join(file),
        )
        .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json.as_str().unwrap()).unwrap(),
            serde_json::from_str::<serde_json::Value>(&on_disk).unwrap()
        );
        assert_eq!(
            d.labels().get("grafana_dashboard").map(String::as_str),
            Some("1")
        );
    }
}

#[test]
fn the_chart_lints() {
    for sets in VARIANTS {
        let mut cmd = Command::new(helm());
        cmd.current_dir(root())
            .args(["lint", "--strict", "charts/rustmq-operator"]);
        for s in *sets {
            cmd.args(["--set", s]);
        }
        run(&mut cmd);
    }
}

const MANIFEST_HEADER: &str = "# Generated from charts/rustmq-operator by `make manifests` (helm template \
rustmq-operator charts/rustmq-operator --namespace rustmq-system --include-crds).\n# Do not edit by \
hand: change the chart and regenerate.\n";

#[test]
fn committed_manifests_are_the_chart_rendered() {
    let generated = format!("{MANIFEST_HEADER}{}", render(&[]));
    let file = root().join("manifests/rustmq-operator.yaml");
    if std::env::var_os("RUSTMQ_UPDATE_MANIFESTS").is_some() {
        std::fs::write(&file, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "manifests/rustmq-operator.yaml differs from the chart: run `make manifests`"
    );
}

#[test]
fn rendered_objects_match_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for (i, sets) in VARIANTS.iter().enumerate() {
        let file = dir.path().join(format!("render-{i}.yaml"));
        std::fs::write(&file, render(sets)).unwrap();
        let out = Command::new("kubernetes-validate")
            .args(["-k", "1.34.0", "--strict", "--quiet"])
            .arg(&file)
            .output()
            .expect("kubernetes-validate (make test installs it into target/ci-venv)");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // Its schemas are Kubernetes' own: the custom resources (RustMQCluster, and the
        // prometheus-operator's ServiceMonitor) are checked by the API server below.
        let unexpected: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| !l.contains("Couldn't find schema for kind"))
            .collect();
        assert!(
            unexpected.is_empty(),
            "kubernetes-validate with {sets:?}:\n{}",
            unexpected.join("\n")
        );
    }
}

/// Splits a multi-document YAML into objects (skipping empty documents).
fn documents(yaml: &str) -> Vec<DynamicObject> {
    yaml.split("\n---")
        .filter_map(|doc| {
            let v: serde_json::Value = serde_norway::from_str(doc).ok()?;
            (!v.is_null()).then(|| serde_json::from_value(v).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_and_the_examples_pass_a_server_side_dry_run() {
    let cp = common::ControlPlane::start().await;
    let client = cp.client.clone();
    // The namespaces the objects go to, and the CRDs for real (the custom resources need
    // them established).
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in ["rustmq-system", "rustmq", "apps"] {
        let n = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        namespaces.create(&PostParams::default(), &n).await.unwrap();
    }
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for (_, crd) in rustmq_operator::crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let mut discovery = None;
    for _ in 0..100 {
        // A group version being installed can answer 404 for a moment, and each CRD's kind
        // appears when that CRD is established: try again until every kind resolves.
        if let Ok(d) = Discovery::new(client.clone()).run().await
            && ["RustMQCluster", "Topic", "AclRule", "Certificate"]
                .iter()
                .all(|kind| {
                    d.resolve_gvk(&kube::api::GroupVersionKind::gvk(
                        "rustmq.io",
                        "v1alpha1",
                        kind,
                    ))
                    .is_some()
                })
        {
            discovery = Some(d);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let discovery = discovery.expect("every custom resource served");

    let mut yaml = String::new();
    for sets in [
        &[][..],
        &["watchNamespace=apps"],
        &["cluster.enabled=true"],
        SUBSCRIBER,
    ] {
        yaml.push_str("\n---\n");
        yaml.push_str(&render(sets));
    }
    for example in [
        "rustmqcluster-gke.yaml",
        "rustmqcluster-dev.yaml",
        "topics.yaml",
        "security.yaml",
    ] {
        yaml.push_str("\n---\n");
        yaml.push_str(
            &std::fs::read_to_string(root().join("manifests/examples").join(example)).unwrap(),
        );
    }
    let mut checked = 0;
    for obj in documents(&yaml) {
        let types = obj.types.clone().expect("apiVersion and kind");
        if types.kind == "CustomResourceDefinition" {
            continue;
        }
        let (group, version) = types
            .api_version
            .split_once('/')
            .unwrap_or(("", types.api_version.as_str()));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("the API server does not serve {gvk:?}"));
        let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            let ns = obj.namespace().unwrap_or_else(|| "default".into());
            Api::namespaced_with(client.clone(), &ns, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        api.patch(
            &obj.name_any(),
            &PatchParams::apply("rustmq-chart-test").dry_run(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("{} {}: {e}", types.kind, obj.name_any()));
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} objects checked");
}
