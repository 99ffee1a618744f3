//! Messages as applications send and receive them.

use bytes::Bytes;

use crate::ClientError;

/// A message to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Key: messages with the same key go to the same partition (Kafka's murmur2).
    pub key: Option<Bytes>,
    /// Payload.
    pub payload: Bytes,
    /// Headers, in order.
    pub headers: Vec<(String, Bytes)>,
    /// Explicit partition; overrides the key.
    pub partition: Option<u32>,
    /// Creation time in ms; now when unset.
    pub timestamp: Option<i64>,
}

impl Message {
    /// Starts building a message.
    ///
    /// ```
    /// use rustmq_client::Message;
    /// let m = Message::builder().topic("orders").key("user-1").payload("hi").header("a", "b").build().unwrap();
    /// assert_eq!(m.headers.len(), 1);
    /// ```
    pub fn builder() -> MessageBuilder {
        MessageBuilder::default()
    }

    /// Bytes the message takes in a batch, roughly (for size limits and batching).
    pub fn size(&self) -> usize {
        self.payload.len()
            + self.key.as_ref().map_or(0, |k| k.len())
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// Builds a [`Message`].
#[derive(Debug, Default)]
pub struct MessageBuilder {
    msg: Message,
}

impl MessageBuilder {
    /// Topic.
    pub fn topic(mut self, t: impl Into<String>) -> Self {
        self.msg.topic = t.into();
        self
    }
    /// Key.
    pub fn key(mut self, k: impl Into<Bytes>) -> Self {
        self.msg.key = Some(k.into());
        self
    }
    /// Payload.
    pub fn payload(mut self, p: impl Into<Bytes>) -> Self {
        self.msg.payload = p.into();
        self
    }
    /// Adds a header.
    pub fn header(mut self, k: impl Into<String>, v: impl Into<Bytes>) -> Self {
        self.msg.headers.push((k.into(), v.into()));
        self
    }
    /// Explicit partition.
    pub fn partition(mut self, p: u32) -> Self {
        self.msg.partition = Some(p);
        self
    }
    /// Timestamp in ms.
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.msg.timestamp = Some(ts);
        self
    }
    /// Finishes; the topic is required.
    pub fn build(self) -> Result<Message, ClientError> {
        if self.msg.topic.is_empty() {
            return Err(ClientError::InvalidMessage("topic is required".into()));
        }
        Ok(self.msg)
    }
}

/// Where a produced message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendResult {
    /// Client-side sequence number of the message in this producer.
    pub message_id: u64,
    /// Partition.
    pub partition: u32,
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp stored with the message.
    pub timestamp: i64,
}

/// A consumed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedMessage {
    /// Topic (shared by all messages of a consumer, not copied per message).
    pub topic: std::sync::Arc<str>,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Payload (empty for a null value).
    pub payload: Bytes,
    /// Headers.
    pub headers: Vec<(String, Bytes)>,
}

impl ConsumedMessage {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The producer's send span, when it was sent with
    /// [`crate::ProducerConfig::trace_headers`] (a W3C `traceparent` header).
    pub fn producer_trace(&self) -> Option<rustmq_transport::telemetry::TraceParent> {
        let v = self.header(rustmq_transport::telemetry::HEADER)?;
        rustmq_transport::telemetry::TraceParent::parse(std::str::from_utf8(v).ok()?)
    }

    /// Links `span` (the consumer's processing of this message) to the producer's send span;
    /// returns whether the message carried one. A link, not a parent: the processing is its
    /// own trace, found from the producer's and back.
    ///
    /// ```
    /// # let msg = rustmq_client::ConsumedMessage { topic: "t".into(), partition: 0, offset: 0,
    /// #     timestamp: 0, key: None, payload: Default::default(), headers: vec![(
    /// #     "traceparent".into(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into())] };
    /// let span = tracing::info_span!("process", offset = msg.offset);
    /// assert!(msg.link_to_producer(&span));
    /// ```
    pub fn link_to_producer(&self, span: &tracing::Span) -> bool {
        match self.producer_trace() {
            Some(tp) => {
                tp.link(span);
                true
            }
            None => false,
        }
    }
}
