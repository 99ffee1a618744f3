//! Traces end to end, into a real OpenTelemetry Collector (built from the Go module proxy,
//! OTLP receiver, file exporter): a `rustmq-broker --dev` process exporting over OTLP/HTTP
//! (its `[telemetry]`), this test's client over OTLP/gRPC. One trace must hold the client's
//! send span and the broker's WAL fdatasync span, through the trace context the QUIC frame
//! carries; a consumer's processing span links to the producer's through the record's
//! `traceparent` header.

#[path = "common/collector.rs"]
mod collector;

use std::time::Duration;

use collector::{Collector, ExportedSpan};
use rustmq_broker::child::DevBroker;
use rustmq_client::{
    AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient, StartPosition,
    TlsConfig,
};
use rustmq_transport::telemetry::{self, TelemetryConfig};

const TEST_SERVICE: &str = "rustmq-traces-test";

fn by<'a>(spans: &'a [ExportedSpan], service: &str, name: &str) -> Vec<&'a ExportedSpan> {
    spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect()
}

/// The chain of parents from `span` up to its trace's root (or the first parent not
/// exported), by name.
fn ancestry(spans: &[ExportedSpan], span: &ExportedSpan) -> Vec<String> {
    let mut out = vec![span.name.clone()];
    let mut parent = span.parent_span_id.clone();
    while !parent.is_empty() {
        let Some(p) = spans
            .iter()
            .find(|s| s.span_id == parent && s.trace_id == span.trace_id)
        else {
            break;
        };
        out.push(format!("{}:{}", p.service, p.name));
        parent = p.parent_span_id.clone();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_holds_the_clients_send_and_the_brokers_wal_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    let otel_dir = dir.path().join("otel");
    std::fs::create_dir_all(&otel_dir).unwrap();
    let collector = Collector::start(&otel_dir);

    let data = dir.path().join("broker");
    let broker = DevBroker::spawn_with_env(
        env!("CARGO_BIN_EXE_rustmq-broker").as_ref(),
        &data,
        &[
            ("RUSTMQ_TELEMETRY__ENDPOINT", collector.http.as_str()),
            ("RUSTMQ_TELEMETRY__PROTOCOL", "http/protobuf"),
            // Export within 100 ms rather than the SDK's 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .expect("broker starts");

    // This process is the client; it exports over gRPC.
    let exporting = telemetry::init(
        TEST_SERVICE,
        &TelemetryConfig {
            endpoint: collector.grpc.clone(),
            // The client's per-message send spans are debug spans.
            filter: "info,rustmq_client=debug".into(),
            ..Default::default()
        },
    )
    .expect("telemetry starts");
    assert!(exporting);

    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/topics", broker.admin))
        .json(&serde_json::json!({"name": "traced", "partitions": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let client = RustMqClient::new(ClientConfig {
        brokers: vec![broker.quic.clone()],
        tls: TlsConfig {
            ca_cert: Some(data.join("tls/ca.pem")),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .await
    .unwrap();
    let producer = ProducerBuilder::new()
        .topic("traced")
        .client(client.clone())
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            trace_headers: true,
            batch_timeout: Duration::from_millis(1),
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    producer
        .send(
            Message::builder()
                .topic("traced")
                .payload("traced record")
                .build()
                .unwrap(),
        )
        .await
        .expect("acknowledged");
    telemetry::flush().await;

    // The client's send span and the broker's fdatasync in one trace.
    let (send, fsync) = collector.wait_for("trace with a send and a WAL fdatasync", |spans| {
        by(spans, TEST_SERVICE, "rustmq.send")
            .into_iter()
            .find_map(|send| {
                by(spans, "rustmq-broker", "rustmq.wal.fdatasync")
                    .into_iter()
                    .find(|f| f.trace_id == send.trace_id)
                    .map(|f| (send.clone(), f.clone()))
            })
    });
    let spans = collector.spans();
    let chain = ancestry(&spans, &fsync);
    assert_eq!(
        chain,
        [
            "rustmq.wal.fdatasync",
            "rustmq-broker:rustmq.wal.group_commit",
            "rustmq-broker:rustmq.produce.partition",
            "rustmq-broker:rustmq.produce",
            &format!("{TEST_SERVICE}:rustmq.produce"),
            &format!("{TEST_SERVICE}:rustmq.send"),
        ],
        "the fdatasync's parents, up to the client's send"
    );
    assert!(
        send.parent_span_id.is_empty(),
        "the send is the trace's root"
    );
    for name in ["rustmq.produce.admit", "rustmq.produce.durable"] {
        assert!(
            by(&spans, "rustmq-broker", name)
                .iter()
                .any(|s| s.trace_id == send.trace_id),
            "no broker span {name} in the send's trace"
        );
    }

    // The admin API request that made the topic, and the Raft apply of it, are traced too.
    collector.wait_for("the admin API's and the controller's spans", |spans| {
        let admin = by(spans, "rustmq-broker", "POST /api/v1/topics");
        let apply = by(spans, "rustmq-broker", "rustmq.controller.apply");
        (!admin.is_empty() && !apply.is_empty()).then_some(())
    });

    // A consumer's processing span links to the producer's send through the header.
    let mut consumer = client
        .consumer("traced")
        .start_position(StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(10), consumer.receive())
        .await
        .expect("a message within 10 s")
        .unwrap();
    let producer_trace = msg
        .producer_trace()
        .expect("the record carries a traceparent");
    assert_eq!(hex(&producer_trace.trace_id), send.trace_id);
    assert_eq!(hex(&producer_trace.span_id), send.span_id);
    {
        let process = tracing::info_span!("test.process", offset = msg.offset);
        assert!(msg.link_to_producer(&process));
    }
    telemetry::flush().await;
    collector.wait_for("processing span linked to the send", |spans| {
        by(spans, TEST_SERVICE, "test.process")
            .into_iter()
            .find(|p| {
                p.links
                    .contains(&(send.trace_id.clone(), send.span_id.clone()))
            })
            .map(drop)
    });
    drop(broker);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
