//! A `RustMQCluster` with `spec.security.enabled`: the operator reaches the HTTPS admin API
//! with its own admin certificate (the cluster becomes Ready, a Topic is created), strangers
//! are refused by the admin API, and a client whose certificate comes from a `Certificate`
//! resource produces and consumes what an `AclRule` grants it, while a certificate without
//! a grant is refused.

use rustmq_client::{ClientError, ErrorCode};
use rustmq_operator::crd::{AclRule, Certificate};

use super::*;

/// What the step needs from the running test.
pub struct Env<'a> {
    pub client: &'a Client,
    pub s3: &'a str,
    pub dir: &'a Path,
}

fn object<K: serde::de::DeserializeOwned>(kind: &str, name: &str, spec: serde_json::Value) -> K {
    serde_json::from_value(json!({
        "apiVersion": "rustmq.io/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .unwrap()
}

/// Waits until the resource `name` of `api` has a `Ready` condition `True`.
async fn ready<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    wait_for(
        &format!("{name} Ready"),
        Duration::from_secs(90),
        || async {
            let v = serde_json::to_value(api.get(name).await.ok()?).ok()?;
            v["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                .then_some(())
        },
    )
    .await;
}

/// Writes the Secret `name`'s certificate and key into `dir`; their paths.
async fn certificate_files(secrets: &Api<Secret>, name: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let data = secrets.get(name).await.unwrap().data.unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &data["tls.crt"].0).unwrap();
    std::fs::write(&key, &data["tls.key"].0).unwrap();
    (cert, key)
}

async fn client_with(bootstrap: &str, ca: &str, files: &(PathBuf, PathBuf)) -> RustMqClient {
    RustMqClient::new(ClientConfig {
        brokers: vec![bootstrap.to_string()],
        tls: TlsConfig {
            ca_cert_pem: Some(ca.to_string()),
            client_cert: Some(files.0.clone()),
            client_key: Some(files.1.clone()),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .await
    .expect("a client with a certificate connects")
}

pub async fn a_secured_cluster(env: Env<'_>) {
    let Env { client, s3, dir } = env;
    let clusters: Api<RustMQCluster> = Api::namespaced(client.clone(), NS);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let mut spec = cluster_spec("secure", s3, json!({}));
    spec.spec.brokers.replicas = 1;
    spec.spec.security.enabled = true;
    apply(&clusters, &spec).await;
    let status = wait_for(
        "the secured cluster Ready",
        Duration::from_secs(240),
        || async {
            let st = clusters.get("secure").await.ok()?.status?;
            (condition(&st.conditions, "Ready")?.status == "True").then_some(st)
        },
    )
    .await;
    let admin_url = status.admin_url.clone().unwrap();
    assert!(admin_url.starts_with("https://"), "{admin_url}");
    let bootstrap = status.bootstrap_servers.clone().unwrap();
    let ca = String::from_utf8(
        secrets.get("secure-tls").await.unwrap().data.unwrap()["ca.crt"]
            .0
            .clone(),
    )
    .unwrap();
    assert!(
        secrets
            .get_opt("secure-operator-admin")
            .await
            .unwrap()
            .is_some(),
        "the operator's admin certificate"
    );

    // The admin API: probes open, everything else needs a caller.
    let tls = rustmq_transport::https::client_tls(ca.as_bytes(), None).unwrap();
    let anon = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap();
    let health = anon
        .get(format!("{admin_url}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let topics = anon
        .get(format!("{admin_url}/api/v1/topics"))
        .send()
        .await
        .unwrap();
    assert_eq!(topics.status(), 401);
    let write = anon
        .post(format!("{admin_url}/api/v1/topics"))
        .json(&json!({"name": "sneaky", "partitions": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 401);

    // The operator writes through it with its certificate: a Topic, rules, certificates.
    let topics: Api<Topic> = Api::namespaced(client.clone(), NS);
    apply(
        &topics,
        &object::<Topic>(
            "Topic",
            "payments",
            json!({"clusterRef": "secure", "partitions": 1, "replicationFactor": 1}),
        ),
    )
    .await;
    let rules: Api<AclRule> = Api::namespaced(client.clone(), NS);
    apply(
        &rules,
        &object::<AclRule>(
            "AclRule",
            "payments-app",
            json!({
                "clusterRef": "secure", "principal": "payments-app",
                "resources": [{"type": "topic", "name": "payments"}],
                "operations": ["write", "read"],
            }),
        ),
    )
    .await;
    let certs: Api<Certificate> = Api::namespaced(client.clone(), NS);
    for who in ["payments-app", "stranger"] {
        apply(
            &certs,
            &object::<Certificate>(
                "Certificate",
                who,
                json!({"clusterRef": "secure", "principal": who, "secretName": format!("{who}-tls")}),
            ),
        )
        .await;
    }
    ready(&topics, "payments").await;
    ready(&rules, "payments-app").await;
    ready(&certs, "payments-app").await;
    ready(&certs, "stranger").await;

    // The granted client produces and reads back; the stranger's certificate is refused.
    let app = certificate_files(&secrets, "payments-app-tls", dir).await;
    let app = client_with(&bootstrap, &ca, &app).await;
    let producer = ProducerBuilder::new()
        .topic("payments")
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(app.clone())
        .build()
        .await
        .unwrap();
    producer
        .send(
            Message::builder()
                .topic("payments")
                .partition(0)
                .payload(Bytes::from_static(b"paid"))
                .build()
                .unwrap(),
        )
        .await
        .expect("a granted produce");
    let read = read_all(&app, "payments", 0).await;
    assert_eq!(read.values().next().map(|b| b.as_ref()), Some(&b"paid"[..]));
    let stranger = certificate_files(&secrets, "stranger-tls", dir).await;
    let stranger = client_with(&bootstrap, &ca, &stranger).await;
    let refused = stranger.list_offset("payments", 0, -1).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Server {
                code: ErrorCode::Unauthorized,
                ..
            })
        ),
        "{refused:?}"
    );

    clusters
        .delete("secure", &DeleteParams::default())
        .await
        .unwrap();
    for t in ["payments"] {
        let _ = topics.delete(t, &DeleteParams::default()).await;
    }
}
