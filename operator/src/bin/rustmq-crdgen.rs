//! Writes the CRDs generated from `operator/src/crd/`: to each `--out DIR` (one file each, as
//! committed under `crds/` and the chart's `charts/rustmq-operator/crds/`) or, without it, as
//! one multi-document YAML on standard output (`rustmq-crdgen | kubectl apply -f -`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Generate RustMQ's CustomResourceDefinitions")]
struct Args {
    /// Directory to write one YAML file per CRD into (repeatable).
    #[arg(long)]
    out: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for (file, crd) in rustmq_operator::crd::all() {
        let yaml = rustmq_operator::crd::to_yaml(&crd)?;
        if args.out.is_empty() {
            print!("---\n{yaml}");
        }
        for dir in &args.out {
            let path = dir.join(file);
            std::fs::write(&path, &yaml).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
