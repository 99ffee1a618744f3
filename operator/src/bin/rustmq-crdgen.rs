//! Writes the CRDs generated from `operator/src/crd/`: to `--out DIR` (one file each, as
//! committed under `crds/`) or, without it, as one multi-document YAML on standard output
//! (`rustmq-crdgen | kubectl apply -f -`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(about = "Generate RustMQ's CustomResourceDefinitions")]
struct Args {
    /// Directory to write one YAML file per CRD into.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for (file, crd) in rustmq_operator::crd::all() {
        let yaml = rustmq_operator::crd::to_yaml(&crd)?;
        match &args.out {
            Some(dir) => {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
