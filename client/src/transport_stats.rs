//! A broker connection's QUIC figures, from quinn: what tells a lossy or congested path (lost
//! packets, congestion events, a shrunken window) from a slow broker.

use std::time::Duration;

/// One live broker connection's QUIC path, as [`crate::RustMqClient::transport_stats`]
/// returns it. Counters run from the connection's start.
///
/// ```no_run
/// # async fn demo(client: rustmq_client::RustMqClient) {
/// for s in client.transport_stats().await {
///     println!("{}: rtt {:?}, {} of {} packets lost", s.broker, s.rtt, s.lost_packets, s.sent_packets);
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportStats {
    /// The broker's `host:port`.
    pub broker: String,
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// Packets declared lost (a late acknowledgement counts too: QUIC cannot tell).
    pub lost_packets: u64,
    /// Times the congestion controller cut its window.
    pub congestion_events: u64,
    /// Largest UDP payload the path carries, bytes.
    pub mtu: u16,
}

impl TransportStats {
    pub(crate) fn of(broker: &str, conn: &quinn::Connection) -> Self {
        let path = conn.stats().path;
        Self {
            broker: broker.to_string(),
            rtt: path.rtt,
            cwnd: path.cwnd,
            sent_packets: path.sent_packets,
            lost_packets: path.lost_packets,
            congestion_events: path.congestion_events,
            mtu: path.current_mtu,
        }
    }
}
