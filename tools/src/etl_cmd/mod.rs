//! `rustmq-admin etl ...`: WebAssembly ETL modules. `test` runs one locally on sample
//! records; `deploy`, `list`, `describe` and `remove` manage the modules the cluster runs.

mod local_test;
mod modules;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::admin_api::Api;
use crate::output::Out;

/// `rustmq-admin etl ...`
#[derive(Subcommand, Debug)]
pub enum EtlCmd {
    /// Run a module (`.wasm`, or `.wat` text) on sample records and print the output.
    Test(local_test::TestRun),
    /// Deploy a module (`.wasm`, or `.wat` text) to every broker, or replace the one of the
    /// same name. The controllers compile it first and refuse it with the reason when it
    /// would not load; brokers swap their pipeline once they compiled it.
    Deploy {
        /// The module.
        module: PathBuf,
        /// Its name (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
        /// 0 validate, 1 transform and enrich, 2 format (lower runs first).
        #[arg(long, default_value_t = 1)]
        priority: u8,
        /// Topics it applies to, repeatable: exact:NAME, wildcard:logs.*.error,
        /// regex:^sensor-\d+\., prefix:NAME, suffix:NAME.
        #[arg(long = "filter", required = true)]
        filters: Vec<String>,
        /// Configuration given to the module's `init` (often JSON).
        #[arg(long, conflicts_with = "config_file")]
        config: Option<String>,
        /// Read the configuration from this file.
        #[arg(long)]
        config_file: Option<PathBuf>,
        /// What to do with a record the module fails on: reject (the produce fails), pass,
        /// drop, or dead-letter:TOPIC.
        #[arg(long, default_value = "reject")]
        on_error: String,
        /// Memory cap of its instances (at most the brokers' `etl.memory_limit_bytes`).
        #[arg(long)]
        memory_limit_bytes: Option<usize>,
        /// Time limit of one call (at most the brokers' `etl.execution_timeout_ms`).
        #[arg(long)]
        execution_timeout_ms: Option<u64>,
    },
    /// The deployed modules, in the order they run.
    List,
    /// One module's deployment.
    Describe {
        /// Its name.
        name: String,
    },
    /// Remove a module from every broker's pipeline.
    Remove {
        /// Its name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
}

/// Runs an `etl` command.
pub async fn etl(api: &Api, cmd: EtlCmd, out: Out) -> anyhow::Result<()> {
    match cmd {
        EtlCmd::Test(t) => local_test::run(t, out),
        EtlCmd::Deploy {
            module,
            name,
            priority,
            filters,
            config,
            config_file,
            on_error,
            memory_limit_bytes,
            execution_timeout_ms,
        } => {
            let config = match (config, config_file) {
                (Some(c), _) => c,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?,
                (None, None) => String::new(),
            };
            let d = modules::Deploy {
                name: name.unwrap_or_else(|| stem(&module)),
                wasm: read_module(&module)?,
                priority,
                filters,
                config,
                on_error,
                memory_limit_bytes,
                execution_timeout_ms,
            };
            modules::deploy(api, d, out).await
        }
        EtlCmd::List => modules::list(api, out).await,
        EtlCmd::Describe { name } => modules::describe(api, &name, out).await,
        EtlCmd::Remove { name, force } => modules::remove(api, &name, force, out).await,
    }
}

/// A module's bytes: `.wat` files are compiled from text, anything else is read as is.
fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "wat") {
        wat::parse_file(path).with_context(|| format!("{}", path.display()))
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// The file name without its extension.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".into())
}
