//! Bearer tokens (JWT), verified by the broker alone: the client sends a token and never a
//! key. The algorithms come from the configuration, never from the token: a token whose
//! header names another algorithm (`none`, `HS256` against an RSA key) is refused. Issuer
//! and audience are required; `exp` is required and `nbf` honoured, with a bounded leeway.
//! Keys come from a JWKS (a file or a URL) and are picked by the token's `kid`; an unknown
//! `kid` makes the set be read again (at most once per `jwks_refresh_min_secs`) before the
//! token is refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Largest leeway the configuration may give `exp` and `nbf`.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// `[security.jwt]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Accept bearer tokens (clients without a certificate authenticate with one).
    pub enabled: bool,
    /// The `iss` every token must carry (required).
    pub issuer: String,
    /// An `aud` every token must carry (required).
    pub audience: String,
    /// The algorithms accepted, e.g. `["RS256", "ES256"]` (required; `none` does not exist).
    pub algorithms: Vec<String>,
    /// A JWKS file with the verification keys.
    pub jwks_file: Option<PathBuf>,
    /// Or a JWKS URL (the issuer's `jwks_uri`).
    pub jwks_url: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, at most [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u64,
    /// The claim that names the principal.
    pub principal_claim: String,
    /// Least time between two reads of the JWKS for an unknown `kid`.
    pub jwks_refresh_min_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: String::new(),
            audience: String::new(),
            algorithms: Vec::new(),
            jwks_file: None,
            jwks_url: None,
            leeway_secs: 30,
            principal_claim: "sub".into(),
            jwks_refresh_min_secs: 30,
        }
    }
}

/// Why a token was refused, or the configuration is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// The configuration cannot verify tokens safely.
    #[error("jwt configuration: {0}")]
    Config(String),
    /// The key set could not be read.
    #[error("jwks: {0}")]
    Jwks(String),
    /// Not a well-formed token.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header's algorithm is not one the configuration accepts.
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    /// The token names no key, or one the key set does not have.
    #[error("unknown key id {0:?}")]
    UnknownKey(Option<String>),
    /// Signature, issuer, audience, expiry or not-before check failed.
    #[error("token refused: {0}")]
    Invalid(String),
    /// No usable principal claim.
    #[error("the token has no '{0}' claim to name its principal")]
    NoPrincipal(String),
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The principal.
    pub principal: String,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// The key it was signed with.
    pub key_id: String,
}

struct Keys {
    by_kid: HashMap<String, (jsonwebtoken::jwk::Jwk, DecodingKey)>,
    read_at: Option<Instant>,
}

/// Verifies tokens against the configured issuer, audience, algorithms and keys.
pub struct JwtVerifier {
    config: JwtConfig,
    algorithms: Vec<Algorithm>,
    keys: RwLock<Keys>,
    http: reqwest::Client,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Checks a JWT configuration; the broker refuses to start with one that fails.
pub fn validate_config(c: &JwtConfig) -> Result<Vec<Algorithm>, JwtError> {
    if c.issuer.trim().is_empty() {
        return Err(JwtError::Config("issuer is required".into()));
    }
    if c.audience.trim().is_empty() {
        return Err(JwtError::Config("audience is required".into()));
    }
    if c.algorithms.is_empty() {
        return Err(JwtError::Config(
            "algorithms is required (e.g. [\"RS256\"])".into(),
        ));
    }
    if c.leeway_secs > MAX_LEEWAY_SECS {
        return Err(JwtError::Config(format!(
            "leeway_secs may be at most {MAX_LEEWAY_SECS}"
        )));
    }
    if c.jwks_file.is_some() == c.jwks_url.is_some() {
        return Err(JwtError::Config(
            "set exactly one of jwks_file and jwks_url".into(),
        ));
    }
    if c.principal_claim.trim().is_empty() {
        return Err(JwtError::Config("principal_claim is empty".into()));
    }
    c.algorithms
        .iter()
        .map(|a| {
            a.parse::<Algorithm>()
                .map_err(|_| JwtError::Config(format!("unknown algorithm '{a}'")))
        })
        .collect()
}

fn read_jwks_text(
    text: &str,
) -> Result<HashMap<String, (jsonwebtoken::jwk::Jwk, DecodingKey)>, JwtError> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| JwtError::Jwks(format!("not a JWKS: {e}")))?;
    let mut out = HashMap::new();
    for jwk in set.keys {
        // A key without an id cannot be picked safely; skip it.
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| JwtError::Jwks(format!("key {kid}: {e}")))?;
        out.insert(kid, (jwk, key));
    }
    Ok(out)
}

impl JwtVerifier {
    /// A verifier for `config` (checked, see [`validate_config`]), its keys read now.
    ///
    /// ```no_run
    /// # async fn f() {
    /// use rustmq_security::jwt::{JwtConfig, JwtVerifier};
    /// let v = JwtVerifier::new(JwtConfig {
    ///     enabled: true,
    ///     issuer: "https://issuer.example".into(),
    ///     audience: "rustmq".into(),
    ///     algorithms: vec!["ES256".into()],
    ///     jwks_file: Some("/etc/rustmq/jwks.json".into()),
    ///     ..Default::default()
    /// })
    /// .await
    /// .unwrap();
    /// let verified = v.verify("eyJ...").await;
    /// # }
    /// ```
    pub async fn new(config: JwtConfig) -> Result<Self, JwtError> {
        let algorithms = validate_config(&config)?;
        let me = Self {
            config,
            algorithms,
            keys: RwLock::new(Keys {
                by_kid: HashMap::new(),
                read_at: None,
            }),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| JwtError::Jwks(e.to_string()))?,
        };
        me.refresh().await?;
        Ok(me)
    }

    /// Reads the key set again.
    pub async fn refresh(&self) -> Result<(), JwtError> {
        let text = match (&self.config.jwks_file, &self.config.jwks_url) {
            (Some(f), _) => std::fs::read_to_string(f)
                .map_err(|e| JwtError::Jwks(format!("{}: {e}", f.display())))?,
            (None, Some(u)) => self
                .http
                .get(u)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| JwtError::Jwks(format!("{u}: {e}")))?
                .text()
                .await
                .map_err(|e| JwtError::Jwks(format!("{u}: {e}")))?,
            (None, None) => return Err(JwtError::Config("no key set".into())),
        };
        let by_kid = read_jwks_text(&text)?;
        *self.keys.write() = Keys {
            by_kid,
            read_at: Some(Instant::now()),
        };
        Ok(())
    }

    /// Verifies `token` now.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        // The header is read only to pick the key; nothing in it is trusted.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.clone().ok_or(JwtError::UnknownKey(None))?;
        let found = self.keys.read().by_kid.contains_key(&kid);
        if !found {
            let stale = self.keys.read().read_at.is_none_or(|t| {
                t.elapsed() >= Duration::from_secs(self.config.jwks_refresh_min_secs)
            });
            if stale {
                self.refresh().await?;
            }
        }
        let keys = self.keys.read();
        let (jwk, key) = keys
            .by_kid
            .get(&kid)
            .ok_or_else(|| JwtError::UnknownKey(Some(kid.clone())))?;
        // A key published for one algorithm is used for that one only.
        if let Some(declared) = jwk.common.key_algorithm
            && format!("{declared:?}") != format!("{:?}", header.alg)
        {
            return Err(JwtError::Algorithm(format!(
                "{:?} with a key for {declared:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = self.config.leeway_secs;
        v.validate_exp = true;
        v.validate_nbf = true;
        let data =
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, key, &v)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                        JwtError::Algorithm(format!("{:?} does not fit the key", header.alg))
                    }
                    _ => JwtError::Invalid(e.to_string()),
                })?;
        let principal = data
            .claims
            .get(&self.config.principal_claim)
            .and_then(|p| p.as_str())
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| JwtError::NoPrincipal(self.config.principal_claim.clone()))?
            .to_string();
        let expires_at = data
            .claims
            .get("exp")
            .and_then(|e| e.as_i64())
            .ok_or_else(|| JwtError::Invalid("exp is not a number".into()))?;
        Ok(VerifiedToken {
            principal,
            expires_at,
            key_id: kid,
        })
    }
}

#[cfg(test)]
mod tests;
