//! `rustmq-node-label --node NODE --label KEY --out FILE`: writes the value of one label of a
//! Node to a file. The brokers' init container runs it with its own Node's name (downward
//! API `spec.nodeName`) and the zone label, and the broker reads the file as its rack
//! (`broker.rack_id_file`): pods cannot read their Node's labels by themselves.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The Node.
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// The label (e.g. `topology.kubernetes.io/zone`).
    #[arg(long)]
    label: String,
    /// Where to write its value.
    #[arg(long)]
    out: PathBuf,
    /// Written when the Node has no such label (unset: that is an error).
    #[arg(long)]
    default: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client::try_default()
        .await
        .context("no in-cluster Kubernetes configuration")?;
    let node = Api::<Node>::all(client)
        .get(&args.node)
        .await
        .with_context(|| format!("reading Node {}", args.node))?;
    let value = match node.metadata.labels.unwrap_or_default().get(&args.label) {
        Some(v) if !v.is_empty() => v.clone(),
        _ => args
            .default
            .clone()
            .with_context(|| format!("Node {} has no label {}", args.node, args.label))?,
    };
    std::fs::write(&args.out, format!("{value}\n"))
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}={value}", args.label);
    Ok(())
}
