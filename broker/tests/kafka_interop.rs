//! Record batches are Kafka RecordBatch v2 end to end: batches our client writes decode with
//! the `kafka-protocol` crate, and batches built by `kafka-protocol` are accepted by the
//! broker and read back by our consumer, for every compression codec, with headers.

mod common;

use bytes::{Bytes, BytesMut};
use common::TestNode;
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rustmq_client::{Message, ProducerBuilder, ProducerConfig};
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame;
use rustmq_protocol::proto;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_batches_decode_with_kafka_protocol() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    let client = n.client().await;
    for (i, codec) in CODECS.into_iter().enumerate() {
        let topic = format!("ours-{i}");
        n.create_topic(&topic, 1).await;
        let producer = ProducerBuilder::new()
            .topic(&topic)
            .config(ProducerConfig {
                compression: codec,
                ..Default::default()
            })
            .client(client.clone())
            .build()
            .await
            .unwrap();
        let msgs: Vec<Message> = (0..20)
            .map(|j| {
                Message::builder()
                    .topic(&topic)
                    .partition(0)
                    .key(format!("k{j}"))
                    .payload(format!("value-{j}").repeat(20))
                    .header("h1", format!("v{j}"))
                    .header("h2", "x")
                    .timestamp(1_600_000_000_000 + j)
                    .build()
                    .unwrap()
            })
            .collect();
        producer.send_batch(msgs).await.unwrap();
        // Fetch the raw bytes and decode them with kafka-protocol.
        let req = proto::FetchRequest {
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1 << 20,
            topics: vec![proto::FetchTopic {
                topic: topic.clone(),
                partitions: vec![proto::FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                }],
            }],
        };
        let raw = client
            .raw_request(
                &n.node.quic_addr().to_string(),
                frame::encode(ApiKey::Fetch as u16, 1, 1, 0, &req),
            )
            .await
            .unwrap();
        let (_, body) = frame::decode(raw, 1 << 24).unwrap();
        let resp: proto::FetchResponse = frame::decode_body(body).unwrap();
        let mut records = resp.topics[0].partitions[0].records.clone();
        let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
        let recs: Vec<Record> = sets
            .into_iter()
            .flat_map(|s| {
                assert_eq!(s.compression, codec);
                s.records
            })
            .collect();
        assert_eq!(recs.len(), 20, "{codec:?}");
        for (j, r) in recs.iter().enumerate() {
            assert_eq!(r.offset, j as i64);
            assert_eq!(r.timestamp, 1_600_000_000_000 + j as i64);
            assert_eq!(r.key.as_deref(), Some(format!("k{j}").as_bytes()));
            assert_eq!(
                r.value.as_deref(),
                Some(format!("value-{j}").repeat(20).as_bytes())
            );
            assert_eq!(
                r.headers
                    .get(&StrBytes::from_static_str("h1"))
                    .cloned()
                    .flatten(),
                Some(Bytes::from(format!("v{j}")))
            );
            assert_eq!(r.headers.len(), 2);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_protocol_batches_are_accepted_and_consumed() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    let client = n.client().await;
    for (i, codec) in CODECS.into_iter().enumerate() {
        let topic = format!("theirs-{i}");
        n.create_topic(&topic, 1).await;
        let records: Vec<Record> = (0..10)
            .map(|j| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: j,
                sequence: j as i32 - 1,
                timestamp: 1_650_000_000_000 + j,
                key: if j % 2 == 0 {
                    Some(Bytes::from(format!("key{j}")))
                } else {
                    None
                },
                value: Some(Bytes::from(format!("kafka-{j}"))),
                headers: IndexMap::from([(
                    StrBytes::from_string(format!("n{j}")),
                    Some(Bytes::from("hv")),
                )]),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: codec,
            },
        )
        .unwrap();
        // Produce the same batch twice: the broker stamps offsets 0..9 and 10..19.
        for _ in 0..2 {
            let req = proto::ProduceRequest {
                acks: proto::Acks::Leader as i32,
                timeout_ms: 5000,
                topics: vec![proto::TopicProduceData {
                    topic: topic.clone(),
                    partitions: vec![proto::PartitionProduceData {
                        partition: 0,
                        records: buf.clone().freeze(),
                    }],
                }],
                acks_replicas: 0,
            };
            let raw = client
                .raw_request(
                    &n.node.quic_addr().to_string(),
                    frame::encode(ApiKey::Produce as u16, 1, 2, 0, &req),
                )
                .await
                .unwrap();
            let (_, body) = frame::decode(raw, 1 << 20).unwrap();
            let resp: proto::ProduceResponse = frame::decode_body(body).unwrap();
            assert_eq!(
                resp.topics[0].partitions[0].error_code, 0,
                "{codec:?}: {}",
                resp.topics[0].partitions[0].error_message
            );
        }
        let mut consumer = client.consumer(&topic).build().await.unwrap();
        for k in 0..20i64 {
            let j = k % 10;
            let m = consumer.receive().await.unwrap();
            assert_eq!(m.offset, k, "{codec:?}");
            assert_eq!(m.payload, Bytes::from(format!("kafka-{j}")));
            assert_eq!(m.timestamp, 1_650_000_000_000 + j);
            assert_eq!(
                m.key,
                if j % 2 == 0 {
                    Some(Bytes::from(format!("key{j}")))
                } else {
                    None
                }
            );
            assert_eq!(m.header(&format!("n{j}")), Some(&Bytes::from("hv")));
        }
    }
}
