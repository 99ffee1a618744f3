//! A real OpenTelemetry Collector (built from the Go module proxy by `.ci/build-otelcol.sh`:
//! the OTLP receiver on gRPC and HTTP, the file exporter) and the spans it wrote.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running collector writing every span it receives to `spans.jsonl` in its directory.
pub struct Collector {
    child: Child,
    /// OTLP/gRPC, `http://127.0.0.1:port`.
    pub grpc: String,
    /// OTLP/HTTP base URL (`/v1/traces` is added by the exporters).
    pub http: String,
    file: PathBuf,
}

/// One span as the collector's file exporter wrote it (OTLP JSON).
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// `service.name` of the process that sent it.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The collector binary, built once into `~/.cache`.
fn binary() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join(".ci/build-otelcol.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run .ci/build-otelcol.sh");
    assert!(out.status.success(), ".ci/build-otelcol.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim()).join("rustmq-otelcol")
}

fn wait_for_port(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the collector exited before listening on {addr}: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the collector did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Collector {
    /// Starts a collector in `dir`.
    pub fn start(dir: &Path) -> Self {
        let grpc = rustmq_transport::testing::loopback_addr();
        let http = rustmq_transport::testing::loopback_addr();
        let file = dir.join("spans.jsonl");
        let config = dir.join("otelcol.yaml");
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: {grpc}\n      http:\n        endpoint: {http}\n\
                 exporters:\n  file:\n    path: {}\n    flush_interval: 100ms\n\
                 service:\n  telemetry:\n    metrics:\n      level: none\n    logs:\n      level: warn\n  \
                 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
                file.display()
            ),
        )
        .expect("write the collector's config");
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the collector starts");
        wait_for_port(grpc, &mut child);
        wait_for_port(http, &mut child);
        Self {
            child,
            grpc: format!("http://{grpc}"),
            http: format!("http://{http}"),
            file,
        }
    }

    /// Every span written so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        let mut out = Vec::new();
        // A line being written may be incomplete: only whole JSON lines count.
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                let service = rs["resource"]["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["key"] == "service.name")
                    .and_then(|a| a["value"]["stringValue"].as_str())
                    .unwrap_or_default()
                    .to_string();
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for s in ss["spans"].as_array().into_iter().flatten() {
                        let str_of = |k: &str| s[k].as_str().unwrap_or_default().to_string();
                        out.push(ExportedSpan {
                            service: service.clone(),
                            name: str_of("name"),
                            trace_id: str_of("traceId"),
                            span_id: str_of("spanId"),
                            parent_span_id: str_of("parentSpanId"),
                            links: s["links"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|l| {
                                    (
                                        l["traceId"].as_str().unwrap_or_default().to_string(),
                                        l["spanId"].as_str().unwrap_or_default().to_string(),
                                    )
                                })
                                .collect(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Polls [`Self::spans`] until `found` returns something (60 s at most).
    pub fn wait_for<T>(&self, what: &str, found: impl Fn(&[ExportedSpan]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.spans();
            if let Some(t) = found(&spans) {
                return t;
            }
            if Instant::now() > deadline {
                let names: Vec<String> = spans
                    .iter()
                    .map(|s| format!("{}:{}:{}", s.service, s.name, s.trace_id))
                    .collect();
                panic!("no {what} among the exported spans: {names:#?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
