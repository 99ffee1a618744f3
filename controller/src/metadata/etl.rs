//! WebAssembly ETL modules as Raft holds them: each module's deployment (priority, topic
//! filters, configuration, limits, failure policy), its bytes and their SHA-256, and a
//! version that grows with every deployment or removal. Brokers build one pipeline per
//! version, so a produce sees exactly one set of modules.

use base64::Engine as _;
use bytes::Bytes;
use rustmq_etl::pipeline::ModuleSpec;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::MetadataError;

/// Largest module the cluster stores (the bytes travel in the Raft log and snapshots).
pub const MAX_ETL_MODULE_BYTES: usize = 16 << 20;

/// Most modules deployed at once.
pub const MAX_ETL_MODULES: usize = 256;

/// One deployed module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtlModuleRecord {
    /// How it runs.
    pub spec: ModuleSpec,
    /// SHA-256 of `wasm`, hex.
    pub digest: String,
    /// The module (base64 in the log and snapshots).
    #[serde(with = "base64_bytes")]
    pub wasm: Bytes,
    /// The ETL version its deployment made.
    pub version: u64,
    /// When it was deployed (ms since the epoch, the proposing controller's clock).
    pub deployed_at_ms: i64,
}

/// The modules in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtlState {
    /// Grows by one with every deployment or removal (0: never changed).
    pub version: u64,
    /// Modules by name.
    pub modules: imbl::OrdMap<String, EtlModuleRecord>,
}

/// The SHA-256 of a module's bytes, hex: the version its outputs are tagged with.
///
/// ```
/// let d = rustmq_controller::metadata::etl_digest(b"");
/// assert!(d.starts_with("e3b0c442"));
/// ```
pub fn etl_digest(wasm: &[u8]) -> String {
    sha2::Sha256::digest(wasm)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks what can be checked without compiling (the API compiles the module too).
pub fn validate_etl_module(spec: &ModuleSpec, wasm: &[u8]) -> Result<(), MetadataError> {
    let bad = |why: String| Err(MetadataError::InvalidEtlModule(why));
    if spec.name.is_empty()
        || spec.name.len() > 128
        || !spec
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return bad(format!(
            "name {:?}: 1 to 128 ASCII letters, digits, '.', '_' or '-'",
            spec.name
        ));
    }
    if spec.priority > 2 {
        return bad(format!(
            "priority {}: 0 validate, 1 transform and enrich, 2 format",
            spec.priority
        ));
    }
    if spec.topic_filters.is_empty() {
        return bad("no topic filter: the module would apply to no topic".into());
    }
    if wasm.is_empty() || wasm.len() > MAX_ETL_MODULE_BYTES {
        return bad(format!(
            "{} bytes of module: between 1 and {MAX_ETL_MODULE_BYTES}",
            wasm.len()
        ));
    }
    if let rustmq_etl::pipeline::OnError::DeadLetter(t) = &spec.on_error {
        super::validate_topic_name(t)?;
    }
    Ok(())
}

impl EtlState {
    /// Deploys (or replaces) a module; returns the new version.
    pub fn deploy(
        &mut self,
        spec: ModuleSpec,
        wasm: Bytes,
        deployed_at_ms: i64,
    ) -> Result<u64, MetadataError> {
        validate_etl_module(&spec, &wasm)?;
        if !self.modules.contains_key(&spec.name) && self.modules.len() >= MAX_ETL_MODULES {
            return Err(MetadataError::InvalidEtlModule(format!(
                "{MAX_ETL_MODULES} modules are deployed already"
            )));
        }
        let digest = etl_digest(&wasm);
        if let Some(m) = self.modules.get(&spec.name)
            && m.spec == spec
            && m.digest == digest
        {
            // The same deployment again changes nothing (the operator re-applies).
            return Ok(self.version);
        }
        self.version += 1;
        self.modules.insert(
            spec.name.clone(),
            EtlModuleRecord {
                spec,
                digest,
                wasm,
                version: self.version,
                deployed_at_ms,
            },
        );
        Ok(self.version)
    }

    /// Removes a module; returns the new version.
    pub fn remove(&mut self, name: &str) -> Result<u64, MetadataError> {
        if self.modules.remove(name).is_none() {
            return Err(MetadataError::UnknownEtlModule(name.to_string()));
        }
        self.version += 1;
        Ok(self.version)
    }
}

pub(super) mod base64_bytes {
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

/// Decodes a module sent as base64 (the admin API's form).
pub fn decode_module_base64(text: &str) -> Result<Bytes, MetadataError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map(Bytes::from)
        .map_err(|e| MetadataError::InvalidEtlModule(format!("wasm is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustmq_etl::filter::TopicFilterSpec;
    use rustmq_etl::pipeline::OnError;

    fn spec(name: &str) -> ModuleSpec {
        ModuleSpec {
            name: name.into(),
            priority: 1,
            topic_filters: vec![TopicFilterSpec::Prefix("logs.".into())],
            config: b"{}".to_vec(),
            on_error: OnError::Reject,
            memory_limit_bytes: None,
            execution_timeout_ms: None,
        }
    }

    #[test]
    fn deploys_replace_by_name_and_the_same_deploy_changes_nothing() {
        let mut s = EtlState::default();
        assert_eq!(s.deploy(spec("a"), Bytes::from_static(b"x"), 1), Ok(1));
        assert_eq!(s.deploy(spec("a"), Bytes::from_static(b"x"), 2), Ok(1));
        assert_eq!(s.deploy(spec("a"), Bytes::from_static(b"y"), 3), Ok(2));
        assert_eq!(s.modules["a"].digest, etl_digest(b"y"));
        assert_eq!(s.modules["a"].version, 2);
        assert_eq!(s.remove("a"), Ok(3));
        assert_eq!(
            s.remove("a"),
            Err(MetadataError::UnknownEtlModule("a".into()))
        );
    }

    #[test]
    fn bad_deployments_are_refused_whole() {
        let mut s = EtlState::default();
        let mut bad_name = spec("has space");
        assert!(
            s.deploy(bad_name.clone(), Bytes::from_static(b"x"), 1)
                .is_err()
        );
        bad_name.name = "ok".into();
        bad_name.priority = 3;
        assert!(s.deploy(bad_name, Bytes::from_static(b"x"), 1).is_err());
        let mut no_filter = spec("f");
        no_filter.topic_filters.clear();
        assert!(s.deploy(no_filter, Bytes::from_static(b"x"), 1).is_err());
        let mut dlq = spec("d");
        dlq.on_error = OnError::DeadLetter("bad topic".into());
        assert!(s.deploy(dlq, Bytes::from_static(b"x"), 1).is_err());
        assert!(s.deploy(spec("e"), Bytes::new(), 1).is_err());
        assert_eq!(s, EtlState::default());
    }

    #[test]
    fn module_bytes_survive_json_and_msgpack_as_base64() {
        let mut s = EtlState::default();
        s.deploy(spec("a"), Bytes::from_static(b"\0asm\x01\0\0\0"), 1)
            .unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("AGFzbQEAAAA="), "{json}");
        assert_eq!(serde_json::from_str::<EtlState>(&json).unwrap(), s);
        let mp = rmp_serde::to_vec_named(&s).unwrap();
        assert_eq!(rmp_serde::from_slice::<EtlState>(&mp).unwrap(), s);
    }
}
