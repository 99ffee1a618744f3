//! `[etl]`: WebAssembly ETL on the produce path (modules are deployed through the admin API;
//! this section sets what every module runs under on this broker). Off by default: with it
//! off, batches are stored exactly as produced.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[etl]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtlSection {
    /// Run the deployed modules on produced batches (on the partition leader, before the
    /// WAL append).
    pub enabled: bool,
    /// Linear memory one module instance may reach; `memory.grow` past it fails inside the
    /// module. A module's own limit may only be lower.
    pub memory_limit_bytes: usize,
    /// Time one call into a module may take before it is stopped (epoch interruption, 10 ms
    /// ticks). A module's own limit may only be lower.
    pub execution_timeout_ms: u64,
    /// Module executions at once on this broker (each holds one pooled instance); a batch
    /// finding none free is refused as THROTTLED.
    pub max_concurrent_executions: u32,
}

impl Default for EtlSection {
    fn default() -> Self {
        Self {
            enabled: false,
            memory_limit_bytes: 64 << 20,
            execution_timeout_ms: 5000,
            max_concurrent_executions: 100,
        }
    }
}

impl EtlSection {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: &str| {
            Err(ConfigError::Value {
                key: format!("etl.{key}"),
                reason: reason.to_string(),
            })
        };
        if !(64 << 10..=4 << 30).contains(&self.memory_limit_bytes) {
            return bad("memory_limit_bytes", "must be between 64 KiB and 4 GiB");
        }
        if !(1..=600_000).contains(&self.execution_timeout_ms) {
            return bad("execution_timeout_ms", "must be between 1 and 600000");
        }
        if !(1..=10_000).contains(&self.max_concurrent_executions) {
            return bad("max_concurrent_executions", "must be between 1 and 10000");
        }
        Ok(())
    }
}
