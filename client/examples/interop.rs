//! The Rust side of the Go SDK's interoperability tests (`sdk/go`): produces or consumes a
//! deterministic set of messages so the Go test can compare them byte for byte.
//!
//! ```text
//! interop produce BROKER CA TOPIC COUNT COMPRESSION   # none, gzip, snappy, lz4, zstd
//! interop consume BROKER CA TOPIC COUNT               # JSON lines, bytes as hex
//! interop group BROKER CA TOPIC GROUP                 # a group member until stdin closes
//! ```
//! A group member prints `{"assigned": [...]}` whenever its partitions change and each
//! message as `consume` does; it acknowledges every message and, when its standard input
//! closes, commits, leaves the group and exits.
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
    if i.is_multiple_of(3) {
        b = b.header("bin", vec![0u8, 255, (i % 256) as u8]);
    }
    b.build()
}

fn print_message(m: &rustmq_client::ConsumedMessage) {
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

/// A member of `group` with the default settings (those the Go SDK's GroupConfig mirrors).
async fn group_member(
    client: &RustMqClient,
    topic: &str,
    group: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut member = client.consumer(topic).consumer_group(group).build().await?;
    // Standard input is read on a thread of its own; its end is the signal to stop.
    let (closed_tx, mut stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = closed_tx.send(());
    });
    let mut assigned = Vec::new();
    loop {
        let now = member.assigned_partitions().await;
        if now != assigned {
            assigned = now;
            println!("{}", serde_json::json!({ "assigned": assigned }));
        }
        tokio::select! {
            _ = &mut stdin_closed => break,
            m = tokio::time::timeout(Duration::from_millis(200), member.receive()) => {
                if let Ok(m) = m
                    && let Some(m) = m?
                {
                    print_message(&m.message);
                    m.ack().await?;
                }
            }
        }
    }
    member.commit().await?;
    member.close().await?;
    Ok(())
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
        "group" => group_member(&client, topic, &args[5]).await?,
        "produce" => {
            let count: u64 = args[5].parse()?;
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
            let count: u64 = args[5].parse()?;
            let mut consumer = client
                .consumer(topic)
                .start_position(StartPosition::Earliest)
                .build()
                .await?;
            for _ in 0..count {
                let m = tokio::time::timeout(Duration::from_secs(30), consumer.receive()).await??;
                print_message(&m);
            }
        }
        other => return Err(format!("mode {other}").into()),
    }
    client.close().await;
    Ok(())
}
