//! The Rust side of the Go SDK's interoperability tests (`sdk/go`): produces or consumes a
//! deterministic set of messages so the Go test can compare them byte for byte.
//!
//! ```text
//! interop produce BROKER CA TOPIC COUNT COMPRESSION   # none, gzip, snappy, lz4, zstd
//! interop consume BROKER CA TOPIC COUNT               # JSON lines, bytes as hex
//! ```
//! Message `i`: key `k{i % 7}` (none when `i % 11 == 3`), payload `i * 13 % 500` bytes with
//! byte `j` = `(i * 31 + j) % 256`, header `i` = the decimal `i`, and for `i % 3 == 0` a header
//! `bin` = `[0, 255, i % 256]`. The Go test builds the same messages.

use std::time::Duration;

use rustmq_client::{
    AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient, StartPosition,
    TlsConfig,
};

fn message(topic: &str, i: u64) -> Result<Message, rustmq_client::ClientError> {
    let payload: Vec<u8> = (0..(i * 13 % 500))
        .map(|j| ((i * 31 + j) % 256) as u8)
        .collect();
    let mut b = Message::builder()
        .topic(topic)
        .payload(payload)
        .header("i", i.to_string().into_bytes());
    if i % 11 != 3 {
        b = b.key(format!("k{}", i % 7).into_bytes());
    }
    if i % 3 == 0 {
        b = b.header("bin", vec![0u8, 255, (i % 256) as u8]);
    }
    b.build()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| "a rustls crypto provider was already installed")?;
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: interop produce|consume BROKER CA TOPIC COUNT [COMPRESSION]".into());
    }
    let (mode, broker, ca, topic) = (&args[1], &args[2], &args[3], &args[4]);
    let count: u64 = args[5].parse()?;
    let client = RustMqClient::new(ClientConfig {
        brokers: vec![broker.clone()],
        tls: TlsConfig {
            ca_cert: Some(ca.into()),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .await?;
    match mode.as_str() {
        "produce" => {
            let compression = rustmq_protocol::records::parse_compression(
                args.get(6).map(String::as_str).unwrap_or("none"),
            )?;
            let producer = ProducerBuilder::new()
                .topic(topic.as_str())
                .client(client.clone())
                .config(ProducerConfig {
                    ack_level: AckLevel::All,
                    compression,
                    idempotent: true,
                    ..Default::default()
                })
                .build()
                .await?;
            let msgs = (0..count)
                .map(|i| message(topic, i))
                .collect::<Result<Vec<_>, _>>()?;
            producer.send_batch(msgs).await?;
            producer.close().await?;
        }
        "consume" => {
            let mut consumer = client
                .consumer(topic)
                .start_position(StartPosition::Earliest)
                .build()
                .await?;
            for _ in 0..count {
                let m = tokio::time::timeout(Duration::from_secs(30), consumer.receive()).await??;
                let headers: Vec<(String, String)> =
                    m.headers.iter().map(|(k, v)| (k.clone(), hex(v))).collect();
                let key = m.key.as_ref().map(|k| hex(k));
                println!(
                    "{}",
                    serde_json::json!({
                        "partition": m.partition, "offset": m.offset, "key": key,
                        "payload": hex(&m.payload), "headers": headers,
                    })
                );
            }
        }
        other => return Err(format!("mode {other}").into()),
    }
    client.close().await;
    Ok(())
}
