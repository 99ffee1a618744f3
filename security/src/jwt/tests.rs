use std::io::Write;

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header, encode};
use proptest::prelude::*;
use serde_json::json;

use super::*;

const ISS: &str = "https://issuer.test";
const AUD: &str = "rustmq";

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// An ES256 key pair: the signing key and its public JWK with `kid`.
fn es256(kid: &str) -> (EncodingKey, Jwk) {
    let der = rcgen::KeyPair::generate().unwrap().serialize_der();
    let key = EncodingKey::from_ec_der(&der);
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.into());
    (key, jwk)
}

/// RFC 7517 appendix A.1's RSA public key (only its public half is needed: tokens that
/// abuse it are forged with HMAC).
fn rsa_public(kid: &str) -> serde_json::Value {
    json!({
        "kty": "RSA",
        "kid": kid,
        "alg": "RS256",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB"
    })
}

struct Fixture {
    _dir: tempfile::TempDir,
    jwks: PathBuf,
    key: EncodingKey,
}

fn write_jwks(path: &std::path::Path, keys: Vec<serde_json::Value>) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(json!({ "keys": keys }).to_string().as_bytes())
        .unwrap();
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let (key, jwk) = es256("k1");
    write_jwks(
        &jwks,
        vec![serde_json::to_value(&jwk).unwrap(), rsa_public("rsa-1")],
    );
    Fixture {
        _dir: dir,
        jwks,
        key,
    }
}

fn config(f: &Fixture) -> JwtConfig {
    JwtConfig {
        enabled: true,
        issuer: ISS.into(),
        audience: AUD.into(),
        algorithms: vec!["ES256".into()],
        jwks_file: Some(f.jwks.clone()),
        jwks_refresh_min_secs: 0,
        ..Default::default()
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn claims() -> serde_json::Value {
    json!({"sub": "orders-app", "iss": ISS, "aud": AUD, "exp": now() + 600})
}

fn sign(key: &EncodingKey, kid: &str, claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.into());
    encode(&h, claims, key).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_good_token_names_its_principal_and_expiry() {
    let f = fixture();
    rt().block_on(async {
        let v = JwtVerifier::new(config(&f)).await.unwrap();
        let c = claims();
        let t = v.verify(&sign(&f.key, "k1", &c)).await.unwrap();
        assert_eq!(t.principal, "orders-app");
        assert_eq!(t.expires_at, c["exp"].as_i64().unwrap());
        assert_eq!(t.key_id, "k1");
    });
}

#[test]
fn the_configuration_must_name_issuer_audience_algorithms_and_keys() {
    let f = fixture();
    let ok = config(&f);
    let cases: Vec<(JwtConfig, &str)> = vec![
        (
            JwtConfig {
                issuer: " ".into(),
                ..ok.clone()
            },
            "issuer",
        ),
        (
            JwtConfig {
                audience: String::new(),
                ..ok.clone()
            },
            "audience",
        ),
        (
            JwtConfig {
                algorithms: vec![],
                ..ok.clone()
            },
            "algorithms",
        ),
        (
            JwtConfig {
                algorithms: vec!["none".into()],
                ..ok.clone()
            },
            "unknown algorithm",
        ),
        (
            JwtConfig {
                leeway_secs: 3600,
                ..ok.clone()
            },
            "leeway",
        ),
        (
            JwtConfig {
                jwks_file: None,
                ..ok.clone()
            },
            "jwks",
        ),
    ];
    for (c, what) in cases {
        let e = validate_config(&c).unwrap_err();
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    validate_config(&ok).unwrap();
}

#[test]
fn forged_tampered_and_out_of_date_tokens_are_refused() {
    let f = fixture();
    rt().block_on(async {
        let v = JwtVerifier::new(config(&f)).await.unwrap();
        let good = sign(&f.key, "k1", &claims());
        let parts: Vec<&str> = good.split('.').collect();

        // alg none, with or without a signature.
        let none_header = b64(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        for t in [
            format!("{none_header}.{}.", parts[1]),
            format!("{none_header}.{}.{}", parts[1], parts[2]),
        ] {
            assert!(v.verify(&t).await.is_err(), "alg none accepted");
        }
        // HS256 signed with the RSA key's public bytes, against a config that only takes
        // RS256/ES256, and against one that also takes HS256 (the key's family decides).
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("rsa-1".into());
        let secret = rsa_public("rsa-1")["n"].as_str().unwrap().to_string();
        let forged = encode(
            &h,
            &claims(),
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            v.verify(&forged).await,
            Err(JwtError::Algorithm(_))
        ));
        let lax = JwtVerifier::new(JwtConfig {
            algorithms: vec!["RS256".into(), "HS256".into()],
            ..config(&f)
        })
        .await
        .unwrap();
        assert!(matches!(
            lax.verify(&forged).await,
            Err(JwtError::Algorithm(_))
        ));

        // Unknown or missing kid.
        let (other_key, _) = es256("k9");
        assert_eq!(
            v.verify(&sign(&other_key, "k9", &claims())).await,
            Err(JwtError::UnknownKey(Some("k9".into())))
        );
        let mut no_kid = Header::new(Algorithm::ES256);
        no_kid.kid = None;
        let t = encode(&no_kid, &claims(), &f.key).unwrap();
        assert_eq!(v.verify(&t).await, Err(JwtError::UnknownKey(None)));
        // Signed by another key under a known kid.
        assert!(matches!(
            v.verify(&sign(&other_key, "k1", &claims())).await,
            Err(JwtError::Invalid(_))
        ));
        // A tampered payload (principal changed) or signature.
        let evil = b64(
            json!({"sub": "admin", "iss": ISS, "aud": AUD, "exp": now() + 600})
                .to_string()
                .as_bytes(),
        );
        assert!(matches!(
            v.verify(&format!("{}.{evil}.{}", parts[0], parts[2])).await,
            Err(JwtError::Invalid(_))
        ));
        let mut sig = parts[2].as_bytes().to_vec();
        sig[5] = if sig[5] == b'A' { b'B' } else { b'A' };
        let t = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(sig).unwrap()
        );
        assert!(v.verify(&t).await.is_err());

        // Claims: issuer, audience, expiry (with the bounded leeway), not-before, principal.
        let with = |patch: serde_json::Value| {
            let mut c = claims();
            for (k, val) in patch.as_object().unwrap() {
                if val.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = val.clone();
                }
            }
            sign(&f.key, "k1", &c)
        };
        for (patch, what) in [
            (json!({"iss": "https://evil.test"}), "issuer"),
            (json!({"aud": "other"}), "audience"),
            (json!({"exp": now() - 100}), "expired"),
            (json!({"exp": null}), "no exp"),
            (json!({"nbf": now() + 100}), "not yet valid"),
        ] {
            assert!(
                matches!(v.verify(&with(patch)).await, Err(JwtError::Invalid(_))),
                "{what} accepted"
            );
        }
        // Within the leeway (30 s) an expiry just past is still taken.
        v.verify(&with(json!({"exp": now() - 10}))).await.unwrap();
        assert_eq!(
            v.verify(&with(json!({"sub": null}))).await,
            Err(JwtError::NoPrincipal("sub".into()))
        );
    });
}

#[test]
fn a_new_key_id_is_found_by_reading_the_key_set_again() {
    let f = fixture();
    rt().block_on(async {
        let v = JwtVerifier::new(config(&f)).await.unwrap();
        let (k2, jwk2) = es256("k2");
        let token = sign(&k2, "k2", &claims());
        assert!(v.verify(&token).await.is_err());
        write_jwks(&f.jwks, vec![serde_json::to_value(&jwk2).unwrap()]);
        assert_eq!(v.verify(&token).await.unwrap().key_id, "k2");
    });
}

/// One verifier for the fuzz cases (its key set is read once).
static FUZZ: std::sync::LazyLock<(Fixture, JwtVerifier)> = std::sync::LazyLock::new(|| {
    let f = fixture();
    let v = rt().block_on(JwtVerifier::new(config(&f))).unwrap();
    (f, v)
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Whatever the bytes, a token is refused or accepted, never a panic.
    #[test]
    fn any_text_is_decoded_or_refused(s in ".{0,200}", dots in prop::collection::vec(".{0,40}", 0..4)) {
        let token = if dots.is_empty() { s } else { dots.join(".") };
        let r = rt().block_on(FUZZ.1.verify(&token));
        prop_assert!(r.is_err(), "random text verified: {token:?}");
    }

    /// Header and payload parts that are base64 of arbitrary JSON-ish text, with a real
    /// signature part: refused, never a panic.
    #[test]
    fn near_tokens_are_refused(h in "[ -~]{0,60}", p in "[ -~]{0,80}") {
        let good = sign(&FUZZ.0.key, "k1", &claims());
        let sig = good.rsplit('.').next().unwrap().to_string();
        let token = format!("{}.{}.{sig}", b64(h.as_bytes()), b64(p.as_bytes()));
        let r = rt().block_on(FUZZ.1.verify(&token));
        prop_assert!(r.is_err());
    }
}
