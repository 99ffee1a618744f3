//! WebAssembly ETL on this broker: the runtime (`[etl]` limits), the pipeline in force and
//! the task that keeps it in step with the modules deployed through the controllers.
//!
//! A new ETL version is compiled here off the produce path (modules whose bytes and
//! deployment did not change are kept, with their counters), then the pipeline is swapped
//! whole behind an atomic pointer: a produce request loads it once, so it sees exactly one
//! version. A module that does not compile on this broker keeps the previous pipeline in
//! force and is reported in the log and `/metrics` (`etl_compile_failures`).
//! [`transform`] applies the pipeline to a partition's batches.

pub mod metrics;
mod transform;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rustmq_controller::Controller;
use rustmq_controller::metadata::EtlState;
use rustmq_etl::pipeline::{DeployedModule, Pipeline, Slots};
use rustmq_etl::runtime::{Limits, LoadError, Runtime};
use tokio::sync::watch;

pub use transform::{DeadLetter, Transformed, transform};

use crate::config::EtlSection;

/// The pipeline of one ETL version.
pub struct ActivePipeline {
    /// The ETL version it was built from (0: none deployed).
    pub version: u64,
    /// The modules, in the order they run.
    pub pipeline: Pipeline,
}

/// The ETL engine of a broker.
pub struct Etl {
    runtime: Runtime,
    limits: Limits,
    slots: Arc<Slots>,
    active: ArcSwap<ActivePipeline>,
    /// Compiled modules by name, with the digest and deployment they were compiled from.
    compiled: Mutex<HashMap<String, Arc<DeployedModule>>>,
    /// Module versions that failed to compile here.
    compile_failures: AtomicU64,
}

impl Etl {
    /// An engine under `cfg`'s limits, with no module yet.
    pub fn new(cfg: &EtlSection) -> Result<Arc<Self>, LoadError> {
        let runtime = Runtime::new(cfg.max_concurrent_executions, cfg.memory_limit_bytes)?;
        let limits = Limits {
            memory_bytes: cfg.memory_limit_bytes,
            timeout: std::time::Duration::from_millis(cfg.execution_timeout_ms),
        };
        let slots = Slots::new(cfg.max_concurrent_executions as usize);
        let empty = Pipeline::new(vec![], limits, slots.clone());
        Ok(Arc::new(Self {
            runtime,
            limits,
            slots,
            active: ArcSwap::from_pointee(ActivePipeline {
                version: 0,
                pipeline: empty,
            }),
            compiled: Mutex::new(HashMap::new()),
            compile_failures: AtomicU64::new(0),
        }))
    }

    /// The pipeline in force (load it once per request).
    pub fn current(&self) -> Arc<ActivePipeline> {
        self.active.load_full()
    }

    /// Module versions that failed to compile on this broker.
    pub fn compile_failures(&self) -> u64 {
        self.compile_failures.load(Ordering::Relaxed)
    }

    /// Builds the pipeline of `state` and puts it in force (blocking: compiles new modules).
    /// When a module does not compile, the pipeline in force stays.
    pub fn apply(&self, state: &EtlState) {
        if self.active.load().version == state.version {
            return;
        }
        let mut compiled = self.compiled.lock();
        let mut modules = Vec::with_capacity(state.modules.len());
        for m in state.modules.values() {
            let reuse = compiled
                .get(&m.spec.name)
                .filter(|c| c.digest == m.digest && c.spec == m.spec)
                .cloned();
            let module = match reuse {
                Some(c) => c,
                None => match DeployedModule::new(&self.runtime, m.spec.clone(), &m.wasm) {
                    Ok(c) => Arc::new(c),
                    Err(error) => {
                        self.compile_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(module = %m.spec.name, version = state.version, %error,
                            "ETL module does not compile on this broker; the previous pipeline stays in force");
                        return;
                    }
                },
            };
            modules.push(module);
        }
        compiled.clear();
        compiled.extend(modules.iter().map(|m| (m.spec.name.clone(), m.clone())));
        let pipeline = Pipeline::new(modules, self.limits, self.slots.clone());
        tracing::info!(
            version = state.version,
            modules = pipeline.modules().len(),
            "ETL pipeline in force"
        );
        self.active.store(Arc::new(ActivePipeline {
            version: state.version,
            pipeline,
        }));
    }

    /// Keeps the pipeline in step with the replicated metadata until `stop`.
    pub async fn follow(
        self: Arc<Self>,
        controller: Arc<Controller>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut rx = controller.subscribe();
        loop {
            let state = rx.borrow_and_update().etl.clone();
            if state.version != self.active.load().version {
                let me = self.clone();
                // Compiling takes milliseconds to seconds: never on the async workers.
                if let Err(e) = tokio::task::spawn_blocking(move || me.apply(&state)).await {
                    tracing::error!(error = %e, "ETL compile task failed");
                }
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }
}
