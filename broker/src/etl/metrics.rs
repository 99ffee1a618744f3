//! The ETL engine's figures at each scrape: the pipeline version in force, compile failures,
//! and per module (labelled with its name) records in, errors, drops, timeouts, the largest
//! instance memory and the per-record latency histogram.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use rustmq_etl::pipeline::DeployedModule;
use rustmq_transport::metrics::{counter, gauge};

use super::Etl;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleLabels {
    module: String,
}

/// Writes the engine's figures.
pub fn encode(etl: &Etl, e: &mut DescriptorEncoder) -> std::fmt::Result {
    let active = etl.current();
    gauge(
        e,
        "etl_pipeline_version",
        "The ETL version whose pipeline is in force on this broker",
        active.version as i64,
    )?;
    counter(
        e,
        "etl_compile_failures",
        "ETL module versions that did not compile on this broker (the previous pipeline stayed)",
        etl.compile_failures(),
    )?;
    let modules = active.pipeline.modules();
    let labels: Vec<ModuleLabels> = modules
        .iter()
        .map(|m| ModuleLabels {
            module: m.spec.name.clone(),
        })
        .collect();
    type Read = fn(&DeployedModule) -> u64;
    let counters: [(&str, &str, Read); 4] = [
        ("etl_module_records", "Records given to the module", |m| {
            m.stats.invocations.load(Ordering::Relaxed)
        }),
        (
            "etl_module_errors",
            "Records the module failed on (trap, timeout, rejection, bad output)",
            |m| m.stats.errors.load(Ordering::Relaxed),
        ),
        (
            "etl_module_drops",
            "Records the module dropped (by answer or by its drop policy)",
            |m| m.stats.drops.load(Ordering::Relaxed),
        ),
        (
            "etl_module_timeouts",
            "Calls stopped at the module's time limit",
            |m| m.stats.timeouts.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, read) in counters {
        let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (m, l) in modules.iter().zip(&labels) {
            ConstCounter::new(read(m)).encode(family.encode_family(l)?)?;
        }
    }
    let mut family = e.encode_descriptor(
        "etl_module_peak_memory_bytes",
        "The largest linear memory an instance of the module reached",
        None,
        MetricType::Gauge,
    )?;
    for (m, l) in modules.iter().zip(&labels) {
        ConstGauge::new(m.stats.peak_memory.load(Ordering::Relaxed) as i64)
            .encode(family.encode_family(l)?)?;
    }
    let mut family = e.encode_descriptor(
        "etl_module_record_seconds",
        "Time the module took per record",
        None,
        MetricType::Histogram,
    )?;
    for (m, l) in modules.iter().zip(&labels) {
        let (buckets, sum) = m.stats.histogram();
        let count = buckets.last().map_or(0, |b| b.1);
        family
            .encode_family(l)?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
    }
    Ok(())
}
