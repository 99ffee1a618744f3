use std::collections::HashSet;
use std::time::Duration;

use super::*;
use crate::identity::Identity;

const DAY: Duration = Duration::from_secs(86_400);

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn leaf_der(pem: &str) -> CertificateDer<'static> {
    parse_pem_chain(pem).unwrap().remove(0)
}

#[test]
fn a_leaf_carries_its_role_and_principal_and_the_key_usages_of_its_role() {
    let root = CertificateAuthority::new_root("test root", DAY).unwrap();
    for role in Role::ALL {
        let issued = root
            .issue(&IssueRequest::new("orders app", role, DAY))
            .unwrap();
        assert_eq!(issued.info.principal, "orders app");
        assert_eq!(issued.info.role, Some(role));
        assert!(!issued.info.is_ca);
        let der = leaf_der(&issued.cert_pem);
        let id = Identity::from_certificate(&der, &MappingRules::default()).unwrap();
        assert_eq!((id.principal.as_str(), id.role), ("orders app", role));
        assert_eq!(id.serial, issued.info.serial);
        let (_, x) = X509Certificate::from_der(&der).unwrap();
        let eku = x.extended_key_usage().unwrap().unwrap().value;
        assert!(
            eku.client_auth,
            "{role}: every role authenticates as a client"
        );
        assert_eq!(eku.server_auth, role.is_cluster_member(), "{role}");
        let ku = x.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        // ECDSA P-256.
        let key = KeyPair::from_pem(&issued.key_pem).unwrap();
        assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
        validate(&issued.cert_pem, root.root_pem(), &[], unix_now()).unwrap();
    }
}

#[test]
fn serials_are_random_128_bit_numbers() {
    let root = CertificateAuthority::new_root("test root", DAY).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..64 {
        let s = root
            .issue(&IssueRequest::new("a", Role::Client, DAY))
            .unwrap()
            .info
            .serial;
        assert_eq!(s.len(), 34, "{s}");
        assert!(s.starts_with("01"));
        assert!(seen.insert(s));
    }
}

#[test]
fn refused_expired_not_yet_valid_wrong_ca_and_revoked() {
    let root = CertificateAuthority::new_root("test root", DAY).unwrap();
    let other = CertificateAuthority::new_root("other root", DAY).unwrap();
    let issued = root
        .issue(&IssueRequest::new(
            "alice",
            Role::Client,
            Duration::from_secs(600),
        ))
        .unwrap();
    let now = unix_now();
    let expired = validate(&issued.cert_pem, root.root_pem(), &[], now + 3_600).unwrap_err();
    assert!(expired.to_string().contains("expired"), "{expired}");
    let early = validate(&issued.cert_pem, root.root_pem(), &[], now - 3_600).unwrap_err();
    assert!(early.to_string().contains("not valid yet"), "{early}");
    let wrong = validate(&issued.cert_pem, other.root_pem(), &[], now).unwrap_err();
    assert!(wrong.to_string().contains("trusted CA"), "{wrong}");

    let crl = root
        .revocation_list(
            &[Revocation {
                serial: issued.info.serial.clone(),
                revoked_at: now,
                reason: RevocationReason::KeyCompromise,
            }],
            1,
            DAY,
        )
        .unwrap();
    let revoked = validate(
        &issued.cert_pem,
        root.root_pem(),
        std::slice::from_ref(&crl),
        now,
    )
    .unwrap_err();
    assert!(revoked.to_string().contains("revoked"), "{revoked}");
    // Another certificate of the same CA is not affected by the list.
    let bob = root
        .issue(&IssueRequest::new("bob", Role::Client, DAY))
        .unwrap();
    validate(&bob.cert_pem, root.root_pem(), &[crl], now).unwrap();
}

#[test]
fn intermediates_chain_to_the_root_and_a_loaded_ca_issues_like_the_original() {
    let root = CertificateAuthority::new_root("test root", DAY).unwrap();
    let inter = root.new_intermediate("issuing 1", DAY).unwrap();
    assert!(inter.info().is_ca);
    let leaf = inter
        .issue(&IssueRequest {
            dns_names: vec!["broker-0.rustmq".into()],
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            ..IssueRequest::new("broker-0", Role::Broker, DAY)
        })
        .unwrap();
    // The chain a peer presents: leaf, then the intermediate.
    assert_eq!(parse_pem_chain(&leaf.chain_pem).unwrap().len(), 2);
    let info = validate(&leaf.chain_pem, root.root_pem(), &[], unix_now()).unwrap();
    assert_eq!(info.role, Some(Role::Broker));
    // Without the intermediate the root cannot be reached.
    assert!(validate(&leaf.cert_pem, root.root_pem(), &[], unix_now()).is_err());
    // An intermediate may not issue further CAs' leaves' CAs: path length 0.
    let sub = inter.new_intermediate("too deep", DAY).unwrap();
    let deep = sub
        .issue(&IssueRequest::new("x", Role::Client, DAY))
        .unwrap();
    assert!(validate(&deep.chain_pem, root.root_pem(), &[], unix_now()).is_err());

    let loaded = CertificateAuthority::from_pem(
        &format!("{}{}", inter.certificate_pem(), root.root_pem()),
        &inter.key_pem(),
    )
    .unwrap();
    assert_eq!(loaded.info(), inter.info());
    let again = loaded
        .issue(&IssueRequest::new("carol", Role::Admin, DAY))
        .unwrap();
    validate(&again.chain_pem, root.root_pem(), &[], unix_now()).unwrap();
    let not_ca = CertificateAuthority::from_pem(&again.cert_pem, &again.key_pem).unwrap_err();
    assert!(matches!(not_ca, CaError::NotACa(_)), "{not_ca}");
}

#[test]
fn mapping_rules_apply_to_the_uri_principal_and_to_foreign_subjects() {
    let root = CertificateAuthority::new_root("test root", DAY).unwrap();
    let issued = root
        .issue(&IssueRequest::new("Orders@Apps", Role::Client, DAY))
        .unwrap();
    let rules = MappingRules::parse(&[
        "RULE:^([A-Za-z]+)@Apps$/$1/L",
        "RULE:^CN=([^,]+),.*$/$1/",
        "DEFAULT",
    ])
    .unwrap();
    let id = Identity::from_certificate(&leaf_der(&issued.cert_pem), &rules).unwrap();
    assert_eq!(id.principal, "orders");
    assert_eq!(id.subject, "CN=Orders@Apps,OU=client,O=RustMQ");

    // A certificate without an identity URI (another CA's): a client named by its subject.
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "Example, Inc.");
    p.distinguished_name.push(DnType::CommonName, "legacy");
    let key = KeyPair::generate().unwrap();
    let foreign = p.self_signed(&key).unwrap();
    let id = Identity::from_certificate(foreign.der(), &rules).unwrap();
    assert_eq!(id.role, Role::Client);
    assert_eq!(id.subject, r"CN=legacy,O=Example\, Inc.");
    assert_eq!(id.principal, "legacy");
    let strict = MappingRules::parse(&["RULE:^CN=admin,.*$/admin/"]).unwrap();
    assert!(Identity::from_certificate(foreign.der(), &strict).is_err());
}

#[test]
fn bad_requests_and_bad_pem_are_typed_errors() {
    let root = CertificateAuthority::new_root("test root", DAY).unwrap();
    assert!(matches!(
        root.issue(&IssueRequest::new(" ", Role::Client, DAY)),
        Err(CaError::Request(_))
    ));
    assert!(matches!(
        root.issue(&IssueRequest::new("a", Role::Client, Duration::ZERO)),
        Err(CaError::Request(_))
    ));
    assert!(matches!(parse_pem_chain("hello"), Err(CaError::Pem(_))));
    assert!(matches!(
        root.revocation_list(
            &[Revocation {
                serial: "xyz".into(),
                revoked_at: 0,
                reason: RevocationReason::Unspecified
            }],
            1,
            DAY
        ),
        Err(CaError::Serial(_))
    ));
}
