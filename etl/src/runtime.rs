//! Running modules: one wasmtime engine per process with epoch interruption (a background
//! thread ticks it, so a call past its deadline traps), compiled modules checked against the
//! ABI when loaded, and one instance per batch from the pooling allocator, whose memory is
//! capped by a store limiter (`memory.grow` fails past the cap; the host lives on).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, Linker, Memory, Module,
    PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

use crate::abi::{self, Record};

/// The export that marks a module as built for ABI v1.
pub const ABI_MARKER: &str = "rustmq_etl_v1";
/// How often the engine's epoch moves: a timeout is honoured within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits of every execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory an instance may reach.
    pub memory_bytes: usize,
    /// Time one call (`init`, or `process` of one record) may take.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            timeout: Duration::from_millis(5000),
        }
    }
}

/// A module that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not WebAssembly, or invalid.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    /// It imports something (ABI v1 grants nothing).
    #[error("the module imports {0}; rustmq_etl_v1 grants no imports")]
    Imports(String),
    /// An export the ABI requires is missing or has the wrong type.
    #[error("the module lacks {0}")]
    Missing(String),
}

/// What went wrong running a module on one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The module refused the record (validation): `process` returned -1.
    #[error("the module rejected the record")]
    Rejected,
    /// The module failed with its own code (`process` returned another negative value, or
    /// `init` a nonzero one).
    #[error("the module failed with code {0}")]
    Failed(i64),
    /// The call ran past its time limit and was stopped.
    #[error("the module ran past its {0:?} limit")]
    Timeout(Duration),
    /// The module trapped (out-of-bounds access, `unreachable`, a failed allocation...).
    #[error("the module trapped: {0}")]
    Trap(String),
    /// The module's answer does not follow the layout.
    #[error(transparent)]
    Malformed(#[from] abi::MalformedOutput),
}

/// Linear memory of a pooled instance kept mapped between uses (reset by zeroing).
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// The process-wide engine: compiled modules and their instances share it.
pub struct Runtime {
    engine: Engine,
    ticking: Arc<AtomicBool>,
}

impl Runtime {
    /// An engine with epoch interruption, ticked every [`EPOCH_TICK`] by a thread that ends
    /// with the runtime, and the pooling allocator sized for `max_instances` instances of
    /// at most `max_memory_bytes` each.
    ///
    /// ```
    /// let rt = rustmq_etl::runtime::Runtime::new(4, 1 << 20).unwrap();
    /// let wasm = wat::parse_str(r#"(module (memory (export "memory") 1)
    ///     (func (export "rustmq_etl_v1"))
    ///     (func (export "alloc") (param i32) (result i32) i32.const 1024)
    ///     (func (export "process") (param i32 i32) (result i64) i64.const 0))"#).unwrap();
    /// assert!(rt.load(&wasm).is_ok());
    /// ```
    pub fn new(max_instances: u32, max_memory_bytes: usize) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(max_instances.max(1))
            .total_memories(max_instances.max(1))
            .total_tables(max_instances.max(1))
            .max_memory_size(max_memory_bytes)
            // Each batch gets a fresh instance: zeroing the first pages in place on reuse
            // costs less than giving them back to the kernel and faulting them in again.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES.min(max_memory_bytes));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| LoadError::Invalid(e.to_string()))?;
        let ticking = Arc::new(AtomicBool::new(true));
        {
            let engine = engine.clone();
            let ticking = ticking.clone();
            std::thread::Builder::new()
                .name("etl-epoch".into())
                .spawn(move || {
                    while ticking.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Invalid(format!("epoch thread: {e}")))?;
        }
        Ok(Self { engine, ticking })
    }

    /// Compiles and checks a module (slow: do it off the produce path).
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedModule, LoadError> {
        let module =
            Module::new(&self.engine, wasm).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        if let Some(i) = module.imports().next() {
            return Err(LoadError::Imports(format!("{}::{}", i.module(), i.name())));
        }
        let export = |name: &str| module.get_export(name);
        if export(ABI_MARKER).is_none() {
            return Err(LoadError::Missing(format!(
                "the export {ABI_MARKER} (the ABI version marker)"
            )));
        }
        if !matches!(export("memory"), Some(ExternType::Memory(_))) {
            return Err(LoadError::Missing("an exported memory named memory".into()));
        }
        let func = |name: &str, params: usize, results: usize| match export(name) {
            Some(ExternType::Func(f))
                if f.params().len() == params && f.results().len() == results =>
            {
                Ok(())
            }
            _ => Err(LoadError::Missing(format!(
                "the function {name} ({params} parameters, {results} result)"
            ))),
        };
        func("alloc", 1, 1)?;
        func("process", 2, 1)?;
        let has_init = export("init").is_some();
        if has_init {
            func("init", 2, 1)?;
        }
        let pre = Linker::new(&self.engine)
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        Ok(LoadedModule {
            engine: self.engine.clone(),
            pre,
            has_init,
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// A compiled module, ready to instantiate.
#[derive(Clone)]
pub struct LoadedModule {
    engine: Engine,
    pre: wasmtime::InstancePre<StoreLimits>,
    has_init: bool,
}

/// What `process` answered for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Keep the record as it is.
    Keep,
    /// Drop it.
    Drop,
    /// Replace it with these (zero or more).
    Replace(Vec<Record>),
}

/// One live instance of a module (for one batch): `init` has run.
pub struct Instance {
    store: Store<StoreLimits>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    process: TypedFunc<(u32, u32), i64>,
    timeout: Duration,
    /// The envelope being built, reused from record to record.
    scratch: Vec<u8>,
}

fn ticks(timeout: Duration) -> u64 {
    timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

fn trap(e: wasmtime::Error, timeout: Duration) -> ExecError {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => ExecError::Timeout(timeout),
        _ => ExecError::Trap(format!("{e:#}")),
    }
}

impl LoadedModule {
    /// A fresh instance under `limits`, initialised with `config` when the module has
    /// `init`.
    pub fn instantiate(&self, limits: Limits, config: &[u8]) -> Result<Instance, ExecError> {
        let mut store = Store::new(
            &self.engine,
            StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(1)
                .build(),
        );
        store.limiter(|l| l);
        store.set_epoch_deadline(ticks(limits.timeout));
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| trap(e, limits.timeout))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| ExecError::Trap("no memory export".into()))?;
        let typed = |store: &mut Store<StoreLimits>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| ExecError::Trap(format!("no {name} export")))
        };
        let alloc = typed(&mut store, "alloc")?
            .typed::<u32, u32>(&store)
            .map_err(|e| ExecError::Trap(format!("alloc: {e}")))?;
        let process = typed(&mut store, "process")?
            .typed::<(u32, u32), i64>(&store)
            .map_err(|e| ExecError::Trap(format!("process: {e}")))?;
        let mut inst = Instance {
            store,
            memory,
            alloc,
            process,
            timeout: limits.timeout,
            scratch: Vec::new(),
        };
        if self.has_init {
            let init = typed(&mut inst.store, "init")?
                .typed::<(u32, u32), i32>(&inst.store)
                .map_err(|e| ExecError::Trap(format!("init: {e}")))?;
            let ptr = inst.write(config)?;
            inst.store.set_epoch_deadline(ticks(inst.timeout));
            match init
                .call(&mut inst.store, (ptr, config.len() as u32))
                .map_err(|e| trap(e, inst.timeout))?
            {
                0 => {}
                code => return Err(ExecError::Failed(i64::from(code))),
            }
        }
        Ok(inst)
    }
}

impl Instance {
    /// Copies `bytes` into memory the module allocated.
    fn write(&mut self, bytes: &[u8]) -> Result<u32, ExecError> {
        self.store.set_epoch_deadline(ticks(self.timeout));
        let ptr = self
            .alloc
            .call(&mut self.store, bytes.len() as u32)
            .map_err(|e| trap(e, self.timeout))?;
        if ptr == 0 && !bytes.is_empty() {
            return Err(ExecError::Trap("alloc returned 0 (out of memory)".into()));
        }
        self.memory
            .write(&mut self.store, ptr as usize, bytes)
            .map_err(|_| ExecError::Trap("alloc returned memory out of bounds".into()))?;
        Ok(ptr)
    }

    /// Runs `process` on one record.
    pub fn process(
        &mut self,
        record: &Record,
        topic: &str,
        partition: i32,
    ) -> Result<Outcome, ExecError> {
        let mut envelope = std::mem::take(&mut self.scratch);
        envelope.clear();
        abi::encode_envelope_into(&mut envelope, record, topic, partition);
        let written = self.write(&envelope);
        let len = envelope.len() as u32;
        self.scratch = envelope;
        let ptr = written?;
        self.store.set_epoch_deadline(ticks(self.timeout));
        let answer = self
            .process
            .call(&mut self.store, (ptr, len))
            .map_err(|e| trap(e, self.timeout))?;
        match answer {
            0 => Ok(Outcome::Keep),
            1 => Ok(Outcome::Drop),
            -1 => Err(ExecError::Rejected),
            n if n < 0 => Err(ExecError::Failed(n)),
            // Small positive values other than 0 and 1 are reserved.
            n if n < (1 << 32) => Err(ExecError::Failed(n)),
            n => {
                let (out_ptr, len) = ((n >> 32) as usize, (n & 0xffff_ffff) as usize);
                let data = self.memory.data(&self.store);
                let bytes = out_ptr
                    .checked_add(len)
                    .and_then(|end| data.get(out_ptr..end))
                    .ok_or(abi::MalformedOutput {
                        at: out_ptr,
                        what: "an output list outside the module's memory",
                    })?;
                Ok(Outcome::Replace(abi::decode_output(bytes)?))
            }
        }
    }

    /// The instance's linear memory now (for metrics).
    pub fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }
}
