//! `AclRule` and `Certificate` resources on the running e2e cluster: rules reach the
//! controllers' ACLs (and a spec change replaces them in one version), a change made
//! through the admin API behind the operator's back is put back, deleting the resource
//! removes its rules; a certificate is issued by the cluster CA into a Secret, validates
//! against the cluster, is renewed before it expires and after a revocation, and is revoked
//! when its resource is deleted (its Secret garbage-collected).

use k8s_openapi::api::core::v1::Secret;
use rustmq_controller::api::{ValidateRequest, ValidationView};
use rustmq_operator::admin::AdminApi;
use rustmq_operator::crd::{AclRule, Certificate};
use rustmq_security::acl::{Operation, ResourceType};
use rustmq_security::ca::RevocationReason;

use super::*;

/// What the step needs from the running test.
pub struct Env<'a> {
    pub client: &'a Client,
    pub admin: &'a AdminApi,
    pub admin_url: &'a str,
}

fn acl_rule(name: &str, spec: serde_json::Value) -> AclRule {
    serde_json::from_value(json!({
        "apiVersion": "rustmq.io/v1alpha1", "kind": "AclRule",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .unwrap()
}

fn certificate(name: &str, spec: serde_json::Value) -> Certificate {
    serde_json::from_value(json!({
        "apiVersion": "rustmq.io/v1alpha1", "kind": "Certificate",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    }))
    .unwrap()
}

/// Asks the cluster whether `pem` is a valid certificate of its CA.
async fn validate(admin_url: &str, pem: &str) -> ValidationView {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{admin_url}/api/v1/certificates/validate"))
        .json(&ValidateRequest {
            pem: pem.to_string(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(body["data"].clone()).unwrap()
}

/// Waits until `api` has no object `name`.
async fn gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    wait_for(&format!("{name} gone"), Duration::from_secs(60), || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

fn tls_crt(s: &Secret) -> Option<String> {
    let data = s.data.as_ref()?;
    String::from_utf8(data.get("tls.crt")?.0.clone()).ok()
}

pub async fn acls_and_certificates(env: Env<'_>) {
    let Env {
        client,
        admin,
        admin_url,
    } = env;
    let source = format!("kubernetes:{NS}:orders-writers");

    // An AclRule becomes the cluster's rules, under its source.
    let rules: Api<AclRule> = Api::namespaced(client.clone(), NS);
    apply(
        &rules,
        &acl_rule(
            "orders-writers",
            json!({
                "clusterRef": "rmq", "principal": "orders-app",
                "resources": [
                    {"type": "topic", "name": "orders", "patternType": "prefixed"},
                    {"type": "group", "name": "orders-consumers"},
                ],
                "operations": ["write", "read"],
            }),
        ),
    )
    .await;
    let rule_ready = |count: i32| {
        let rules = rules.clone();
        async move {
            wait_for(
                &format!("AclRule Ready with {count} rules"),
                Duration::from_secs(60),
                || async {
                    let r = rules.get("orders-writers").await.ok()?;
                    let st = r.status?;
                    (condition(&st.conditions, "Ready")?.status == "True"
                        && st.rules == count
                        && st.observed_generation == r.metadata.generation)
                        .then_some(st)
                },
            )
            .await
        }
    };
    let first = rule_ready(2).await;
    assert_eq!(first.source.as_deref(), Some(source.as_str()));
    let held = admin.acls_of(&source).await.unwrap();
    assert_eq!(held.rules.len(), 2, "{held:?}");
    assert!(held.rules.iter().all(
        |r| r.principal == "orders-app" && r.operations == [Operation::Read, Operation::Write]
    ));
    assert!(
        held.rules
            .iter()
            .any(|r| r.resource.resource_type == ResourceType::Group)
    );

    // A spec change replaces the rules in one ACL version.
    apply(
        &rules,
        &acl_rule(
            "orders-writers",
            json!({
                "clusterRef": "rmq", "principal": "orders-app",
                "resources": [{"type": "topic", "name": "orders", "patternType": "prefixed"}],
                "operations": ["write"],
                "conditions": {"hosts": ["10.0.0.0/8"]},
            }),
        ),
    )
    .await;
    let second = rule_ready(1).await;
    assert_eq!(
        second.acl_version,
        first.acl_version.map(|v| v + 1),
        "one replacement, one version"
    );
    let held = admin.acls_of(&source).await.unwrap();
    assert_eq!(held.rules.len(), 1);
    assert_eq!(held.rules[0].conditions.hosts.len(), 1);

    // Rules removed behind the operator's back come back, with an Event saying so.
    admin.replace_acls(&source, Vec::new()).await.unwrap();
    wait_for(
        "the AclRule's rules put back",
        Duration::from_secs(30),
        || async { (admin.acls_of(&source).await.ok()?.rules.len() == 1).then_some(()) },
    )
    .await;
    wait_for("DriftCorrected event", Duration::from_secs(30), || async {
        events_with_reason(client, "DriftCorrected")
            .await
            .iter()
            .any(|m| m.contains(&source))
            .then_some(())
    })
    .await;

    // A rule the cluster cannot hold is a condition, not a retry loop.
    apply(
        &rules,
        &acl_rule(
            "bad-window",
            json!({
                "clusterRef": "rmq", "principal": "x",
                "resources": [{"type": "cluster"}], "operations": ["describe"],
                "conditions": {"window": "Mon-Fri 09:00-17:00 Mars/Olympus"},
            }),
        ),
    )
    .await;
    let refused = wait_for("InvalidRule", Duration::from_secs(30), || async {
        let st = rules.get("bad-window").await.ok()?.status?;
        let c = condition(&st.conditions, "Ready")?.clone();
        (c.reason == "InvalidRule").then_some(c)
    })
    .await;
    assert!(refused.message.contains("conditions.window"), "{refused:?}");
    rules
        .delete("bad-window", &DeleteParams::default())
        .await
        .unwrap();

    // Deleting the resource removes its rules (the finalizer), and only its rules.
    rules
        .delete("orders-writers", &DeleteParams::default())
        .await
        .unwrap();
    gone(&rules, "orders-writers").await;
    assert!(admin.acls_of(&source).await.unwrap().rules.is_empty());

    // A Certificate: issued by the cluster CA into a Secret the resource owns.
    let certs: Api<Certificate> = Api::namespaced(client.clone(), NS);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    apply(
        &certs,
        &certificate(
            "orders-app",
            json!({
                "clusterRef": "rmq", "principal": "orders-app",
                "duration": "10m", "renewBefore": "2m",
                "secretName": "orders-app-tls",
            }),
        ),
    )
    .await;
    let issued = |after: Option<String>| {
        let certs = certs.clone();
        async move {
            wait_for(
                "Certificate Ready with a new serial",
                Duration::from_secs(60),
                || async {
                    let st = certs.get("orders-app").await.ok()?.status?;
                    (condition(&st.conditions, "Ready")?.status == "True"
                        && st.serial.is_some()
                        && st.serial != after)
                        .then_some(st)
                },
            )
            .await
        }
    };
    let first = issued(None).await;
    let serial = first.serial.clone().unwrap();
    let secret = secrets.get("orders-app-tls").await.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.clone().unwrap();
    assert!(
        ["tls.crt", "tls.key", "ca.crt"]
            .iter()
            .all(|k| data.contains_key(*k))
    );
    let pem = tls_crt(&secret).unwrap();
    let v = validate(admin_url, &pem).await;
    assert!(v.valid, "{v:?}");
    let record = v.record.expect("the cluster recorded it");
    assert_eq!(record.info.serial, serial);
    assert_eq!(record.info.principal, "orders-app");
    // Valid for the spec's 10 minutes from about now.
    let not_after = first.not_after.clone().unwrap().0.as_second();
    let left = not_after - k8s_openapi::jiff::Timestamp::now().as_second();
    assert!((480..=600).contains(&left), "{left} s left: {first:?}");
    assert_eq!(
        first.renewal_time.clone().unwrap().0.as_second(),
        not_after - 120
    );

    // Revoked behind the operator's back: a new certificate replaces it.
    admin
        .revoke_certificate(&serial, RevocationReason::KeyCompromise)
        .await
        .unwrap();
    let second = issued(Some(serial.clone())).await;
    assert_eq!(second.issued, 2);
    assert!(
        !validate(admin_url, &pem).await.valid,
        "the revoked one is refused"
    );
    let renewed_pem = tls_crt(&secrets.get("orders-app-tls").await.unwrap()).unwrap();
    assert!(validate(admin_url, &renewed_pem).await.valid);

    // Renewal: once less than renewBefore is left, a new key pair replaces it (a 10-minute
    // certificate renewed 9m30s before expiry is renewed about 30 s after it is issued).
    let second_serial = second.serial.clone().unwrap();
    apply(
        &certs,
        &certificate(
            "orders-app",
            json!({
                "clusterRef": "rmq", "principal": "orders-app",
                "duration": "10m", "renewBefore": "9m30s",
                "secretName": "orders-app-tls",
            }),
        ),
    )
    .await;
    let third = issued(Some(second_serial.clone())).await;
    let record = admin
        .certificate(third.serial.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.replaces.as_deref(),
        Some(second_serial.as_str()),
        "a renewal names the certificate it renews"
    );
    let old = admin.certificate(&second_serial).await.unwrap().unwrap();
    assert!(
        !old.is_revoked(),
        "the renewed one stays valid until it expires"
    );

    // Deleting the resource revokes its certificate; the Secret goes with it.
    let last_pem = tls_crt(&secrets.get("orders-app-tls").await.unwrap()).unwrap();
    certs
        .delete("orders-app", &DeleteParams::default())
        .await
        .unwrap();
    gone(&certs, "orders-app").await;
    let v = validate(admin_url, &last_pem).await;
    assert!(!v.valid, "{v:?}");
    assert!(v.record.unwrap().is_revoked());
    // The garbage collector removes the Secret it owned.
    gone(&secrets, "orders-app-tls").await;
    assert!(
        !events_with_reason(client, "Revoked").await.is_empty(),
        "an Event says the certificate was revoked"
    );
}
