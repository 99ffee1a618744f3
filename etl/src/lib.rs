//! RustMQ's WebAssembly ETL: modules built for ABI `rustmq_etl_v1` (`docs/etl-abi.md`) that
//! keep, drop, rewrite or split records, each in a sandbox with no imports, a memory cap,
//! a time limit enforced by epoch interruption and a bounded number of executions at once;
//! topic filters of five kinds; pipelines ordered by priority with a per-module policy for
//! failures.
//!
//! ```
//! use rustmq_etl::abi::Record;
//! use rustmq_etl::filter::TopicFilterSpec;
//! use rustmq_etl::pipeline::{DeployedModule, ModuleSpec, OnError, Pipeline, Slots};
//! use rustmq_etl::runtime::Runtime;
//! use std::sync::Arc;
//!
//! // A module that drops every record.
//! let wasm = wat::parse_str(r#"(module (memory (export "memory") 1)
//!     (func (export "rustmq_etl_v1"))
//!     (func (export "alloc") (param i32) (result i32) i32.const 1024)
//!     (func (export "process") (param i32 i32) (result i64) i64.const 1))"#).unwrap();
//! let rt = Runtime::new(8, 1 << 20).unwrap();
//! let spec = ModuleSpec {
//!     name: "drop-debug".into(),
//!     priority: 0,
//!     topic_filters: vec![TopicFilterSpec::Suffix(".debug".into())],
//!     config: vec![],
//!     on_error: OnError::Reject,
//!     memory_limit_bytes: None,
//!     execution_timeout_ms: None,
//! };
//! let m = Arc::new(DeployedModule::new(&rt, spec, &wasm).unwrap());
//! let p = Pipeline::new(vec![m], Default::default(), Slots::new(4));
//! let out = p.run("app.debug", 0, vec![Record::default()]).unwrap();
//! assert!(out.records.is_empty());
//! assert!(!p.applies_to("app.info"));
//! ```

pub mod abi;
#[cfg(feature = "examples")]
pub mod examples;
pub mod filter;
pub mod pipeline;
pub mod runtime;
pub mod stats;
