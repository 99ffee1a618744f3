//! A pipeline: the modules in force, in priority order (0 validate, 1 transform and enrich,
//! 2 format; ties by name), each applied to the topics its filters match, with a bounded
//! number of executions at once and each module's policy for records it fails on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::abi::Record;
use crate::filter::{FilterError, TopicFilter, TopicFilterSpec};
use crate::runtime::{ExecError, Instance, Limits, LoadError, LoadedModule, Outcome, Runtime};
pub use crate::stats::ModuleStats;

/// What happens to a record a module fails on (a trap, a timeout, a rejection, bad output).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "topic")]
pub enum OnError {
    /// Refuse the whole produce with a typed error (the producer sees which module).
    #[default]
    Reject,
    /// Keep the record as it came.
    Pass,
    /// Drop the record.
    Drop,
    /// Send the record, as it came, to this topic instead.
    DeadLetter(String),
}

/// How a module is deployed: everything but its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSpec {
    /// Its name (unique in the cluster).
    pub name: String,
    /// 0 validate, 1 transform and enrich, 2 format (lower runs first).
    pub priority: u8,
    /// Topics it applies to (any filter matching is enough; none: no topic).
    pub topic_filters: Vec<TopicFilterSpec>,
    /// Bytes given to the module's `init`.
    #[serde(default)]
    pub config: Vec<u8>,
    /// What to do with a record it fails on.
    #[serde(default)]
    pub on_error: OnError,
    /// Memory cap of its instances (none: the pipeline's).
    #[serde(default)]
    pub memory_limit_bytes: Option<usize>,
    /// Time limit of one call in milliseconds (none: the pipeline's).
    #[serde(default)]
    pub execution_timeout_ms: Option<u64>,
}

/// A module in a pipeline: its spec, compiled filters and code, content hash and counters.
pub struct DeployedModule {
    /// How it is deployed.
    pub spec: ModuleSpec,
    /// SHA-256 of its bytes, hex: the version every output of it is tagged with.
    pub digest: String,
    filters: Vec<TopicFilter>,
    code: LoadedModule,
    /// Its counters.
    pub stats: ModuleStats,
}

/// Why a module cannot be deployed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// The bytes are not a usable module.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A topic filter does not compile.
    #[error(transparent)]
    Filter(#[from] FilterError),
}

impl DeployedModule {
    /// Compiles `wasm` and its filters (slow: off the produce path).
    pub fn new(runtime: &Runtime, spec: ModuleSpec, wasm: &[u8]) -> Result<Self, DeployError> {
        let filters = spec
            .topic_filters
            .iter()
            .map(TopicFilter::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let code = runtime.load(wasm)?;
        let digest = sha2::Sha256::digest(wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            spec,
            digest,
            filters,
            code,
            stats: ModuleStats::default(),
        })
    }

    /// Whether it applies to `topic`.
    pub fn applies_to(&self, topic: &str) -> bool {
        self.filters.iter().any(|f| f.matches(topic))
    }
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtlError {
    /// All execution slots are taken: retry.
    #[error("too many ETL executions at once ({0}); retry")]
    Busy(usize),
    /// A module with the `reject` policy failed on a record.
    #[error("ETL module {module} refused the batch: {error}")]
    Refused {
        /// The module.
        module: String,
        /// What it did.
        error: ExecError,
    },
}

/// What a batch became.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutput {
    /// The records to append, in order.
    pub records: Vec<Record>,
    /// Records for dead-letter topics: (topic, record as it came, why).
    pub dead_letters: Vec<(String, Record, String)>,
    /// The modules that ran, by name and digest.
    pub ran: Vec<(String, String)>,
}

/// Execution slots shared by every pipeline of a runtime.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    used: AtomicUsize,
}

impl Slots {
    /// At most `max` executions at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            used: AtomicUsize::new(0),
        })
    }

    fn take(self: &Arc<Self>) -> Option<Slot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The modules in force, sorted by priority then name.
///
/// ```
/// use rustmq_etl::pipeline::{Pipeline, Slots};
/// let p = Pipeline::new(vec![], Default::default(), Slots::new(100));
/// assert!(!p.applies_to("orders"));
/// ```
#[derive(Clone)]
pub struct Pipeline {
    modules: Vec<Arc<DeployedModule>>,
    limits: Limits,
    slots: Arc<Slots>,
}

impl Pipeline {
    /// A pipeline of `modules` under `limits` (a module's own limits may only be lower).
    pub fn new(mut modules: Vec<Arc<DeployedModule>>, limits: Limits, slots: Arc<Slots>) -> Self {
        modules
            .sort_by(|a, b| (a.spec.priority, &a.spec.name).cmp(&(b.spec.priority, &b.spec.name)));
        Self {
            modules,
            limits,
            slots,
        }
    }

    /// The modules, in the order they run.
    pub fn modules(&self) -> &[Arc<DeployedModule>] {
        &self.modules
    }

    /// Whether any module applies to `topic` (when none does, batches keep their bytes).
    pub fn applies_to(&self, topic: &str) -> bool {
        self.modules.iter().any(|m| m.applies_to(topic))
    }

    fn limits_of(&self, m: &DeployedModule) -> Limits {
        Limits {
            memory_bytes: m
                .spec
                .memory_limit_bytes
                .map_or(self.limits.memory_bytes, |b| {
                    b.min(self.limits.memory_bytes)
                }),
            timeout: m
                .spec
                .execution_timeout_ms
                .map(std::time::Duration::from_millis)
                .map_or(self.limits.timeout, |t| t.min(self.limits.timeout)),
        }
    }

    /// Runs every module that applies to `topic` over `records`, in priority order.
    pub fn run(
        &self,
        topic: &str,
        partition: i32,
        mut records: Vec<Record>,
    ) -> Result<BatchOutput, EtlError> {
        let mut out = BatchOutput::default();
        for m in self.modules.iter().filter(|m| m.applies_to(topic)) {
            let _slot = self.slots.take().ok_or(EtlError::Busy(self.slots.max))?;
            let limits = self.limits_of(m);
            out.ran.push((m.spec.name.clone(), m.digest.clone()));
            let mut next = Vec::with_capacity(records.len());
            let mut instance: Option<Instance> = None;
            for record in records {
                m.stats.invocations.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let result = match instance.take() {
                    Some(i) => Ok(i),
                    None => m.code.instantiate(limits, &m.spec.config),
                }
                .and_then(|mut i| {
                    let r = i.process(&record, topic, partition);
                    m.stats
                        .peak_memory
                        .fetch_max(i.memory_bytes() as u64, Ordering::Relaxed);
                    // After a failure the instance's state is suspect: the next record gets
                    // a fresh one.
                    if r.is_ok() {
                        instance = Some(i);
                    }
                    r
                });
                m.stats.observe(started.elapsed());
                match result {
                    Ok(Outcome::Keep) => next.push(record),
                    Ok(Outcome::Drop) => {
                        m.stats.drops.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Outcome::Replace(rs)) => next.extend(rs),
                    Err(error) => {
                        m.stats.errors.fetch_add(1, Ordering::Relaxed);
                        if matches!(error, ExecError::Timeout(_)) {
                            m.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::debug!(module = %m.spec.name, %error, "etl record failed");
                        match &m.spec.on_error {
                            OnError::Reject => {
                                return Err(EtlError::Refused {
                                    module: m.spec.name.clone(),
                                    error,
                                });
                            }
                            OnError::Pass => next.push(record),
                            OnError::Drop => {
                                m.stats.drops.fetch_add(1, Ordering::Relaxed);
                            }
                            OnError::DeadLetter(t) => out.dead_letters.push((
                                t.clone(),
                                record,
                                format!("{}: {error}", m.spec.name),
                            )),
                        }
                    }
                }
            }
            records = next;
        }
        out.records = records;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;

    #[test]
    fn execution_slots_are_bounded_and_given_back() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }

    #[test]
    fn a_batch_finding_every_slot_taken_is_refused_as_busy() {
        let rt = Runtime::new(2, 1 << 20).unwrap();
        let wasm = wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "rustmq_etl_v1"))
                (func (export "alloc") (param i32) (result i32) i32.const 1024)
                (func (export "process") (param i32 i32) (result i64) i64.const 0))"#,
        )
        .unwrap();
        let spec = ModuleSpec {
            name: "noop".into(),
            priority: 0,
            topic_filters: vec![TopicFilterSpec::Exact("t".into())],
            config: vec![],
            on_error: OnError::Reject,
            memory_limit_bytes: None,
            execution_timeout_ms: None,
        };
        let m = Arc::new(DeployedModule::new(&rt, spec, &wasm).unwrap());
        let slots = Slots::new(1);
        let p = Pipeline::new(vec![m], Limits::default(), slots.clone());
        let held = slots.take().unwrap();
        assert_eq!(
            p.run("t", 0, vec![Record::default()]),
            Err(EtlError::Busy(1))
        );
        // A topic no module applies to needs no slot.
        assert!(p.run("other", 0, vec![Record::default()]).is_ok());
        drop(held);
        assert_eq!(
            p.run("t", 0, vec![Record::default()])
                .unwrap()
                .records
                .len(),
            1
        );
    }
}
