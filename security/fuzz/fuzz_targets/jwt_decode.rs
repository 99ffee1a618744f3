//! Bearer tokens: whatever the bytes, the broker's verifier refuses them (no key signs
//! them), never panics. The verifier holds a real ES256 key and an RSA public key, so the
//! header, key lookup and algorithm checks all run.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rustmq_security::jwt::{JwtConfig, JwtVerifier};

struct Fixture {
    _dir: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
    verifier: JwtVerifier,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("rustmq-jwt-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let jwks = dir.join("jwks.json");
    // RFC 7517 A.1's RSA key and RFC 7517 A.1's EC P-256 key: public halves only.
    std::fs::write(
        &jwks,
        r#"{"keys": [
          {"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256",
           "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
           "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
          {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "e": "AQAB",
           "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
        ]}"#,
    )
    .expect("jwks file");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let verifier = runtime
        .block_on(JwtVerifier::new(JwtConfig {
            enabled: true,
            issuer: "https://issuer.test".into(),
            audience: "rustmq".into(),
            algorithms: vec!["ES256".into(), "RS256".into()],
            jwks_file: Some(jwks),
            // An unknown kid re-reads the file at most this often: keep the fuzzer off the disk.
            jwks_refresh_min_secs: 3600,
            ..Default::default()
        }))
        .expect("verifier");
    Fixture {
        _dir: dir,
        runtime,
        verifier,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let token = String::from_utf8_lossy(data);
    let verified = f.runtime.block_on(f.verifier.verify(&token));
    assert!(verified.is_err(), "an unsigned token verified: {token:?}");
});
