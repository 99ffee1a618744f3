//! QUIC datagrams on loopback grow to `udp::MAX_UDP_PAYLOAD` with the endpoint settings every
//! RustMQ process uses, and stay at Ethernet's 1,472 bytes when the receiver keeps quinn's
//! default endpoint settings: MTU discovery alone is not enough, the receiver has to accept
//! larger datagrams too. Real QUIC and TLS on loopback.

use std::sync::Arc;

mod common;

use common::{DAY, issue_files};
use rustmq_security::ca::CertificateAuthority;
use rustmq_security::identity::Role;
use rustmq_transport::udp::{self, MAX_UDP_PAYLOAD};

const ALPN: &[u8] = b"rustmq-datagram-test";
/// Quinn's default largest UDP payload: Ethernet's 1,500-byte MTU less IPv4 and UDP headers.
const ETHERNET_PAYLOAD: u16 = 1_472;

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.mtu_discovery_config(Some(udp::mtu_discovery()));
    Arc::new(t)
}

/// Sends 8 MiB from a client to a server (the server's endpoint built with
/// `server_endpoint_config`) and returns the client connection's path MTU afterwards, with
/// its average datagram size.
async fn send_bulk(server_endpoint_config: quinn::EndpointConfig) -> (u16, u64) {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::new_root("cluster", DAY).unwrap();
    let server_tls = issue_files(dir.path(), &ca, "server", Role::Broker);
    let client_tls = issue_files(dir.path(), &ca, "client", Role::Broker);

    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(server_tls.server_config(ALPN).unwrap())
            .unwrap();
    let mut server_cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server_cfg.transport_config(transport());
    let socket = udp::bind(
        "127.0.0.1:0".parse().unwrap(),
        udp::DEFAULT_UDP_BUFFER_BYTES,
    )
    .unwrap();
    let server = quinn::Endpoint::new(
        server_endpoint_config,
        Some(server_cfg),
        socket.socket,
        Arc::new(quinn::TokioRuntime),
    )
    .unwrap();
    let server_addr = server.local_addr().unwrap();
    let received = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let mut stream = conn.accept_uni().await.unwrap();
        let bytes = stream.read_to_end(64 << 20).await.unwrap();
        conn.close(0u32.into(), b"done");
        bytes.len()
    });

    let client = udp::endpoint(
        "127.0.0.1:0".parse().unwrap(),
        udp::DEFAULT_UDP_BUFFER_BYTES,
        None,
    )
    .unwrap();
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(client_tls.client_config(ALPN).unwrap())
            .unwrap();
    let mut client_cfg = quinn::ClientConfig::new(Arc::new(crypto));
    client_cfg.transport_config(transport());
    let conn = client
        .connect_with(client_cfg, server_addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    // Discovery starts with the handshake and takes a few round trips: by the end of 8 MiB
    // it has long settled, and the first datagrams sent at 1,200 bytes weigh little.
    let before = conn.stats().udp_tx;
    let mut stream = conn.open_uni().await.unwrap();
    let payload = vec![7u8; 8 << 20];
    stream.write_all(&payload).await.unwrap();
    stream.finish().unwrap();
    assert_eq!(received.await.unwrap(), payload.len());
    let after = conn.stats().udp_tx;
    let average = (after.bytes - before.bytes) / (after.datagrams - before.datagrams).max(1);
    (conn.stats().path.current_mtu, average)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_grow_past_ethernet_size_on_loopback() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mtu, average) = send_bulk(udp::endpoint_config()).await;
    // Discovery probes the upper bound first; a lost probe would end its search a little
    // lower, never near Ethernet's size.
    assert!(
        mtu > 4 * ETHERNET_PAYLOAD && mtu <= MAX_UDP_PAYLOAD,
        "path MTU {mtu}"
    );
    // Bulk data fills its datagrams; the acknowledgements and the handshake are few.
    assert!(
        average > u64::from(ETHERNET_PAYLOAD),
        "average datagram {average} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_with_quinns_default_endpoint_keeps_datagrams_at_ethernet_size() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mtu, average) = send_bulk(quinn::EndpointConfig::default()).await;
    // The sender discovers as before, but the receiver announced 1,472 bytes as the
    // largest datagram it takes.
    assert!(mtu <= ETHERNET_PAYLOAD, "path MTU {mtu}");
    assert!(
        average <= u64::from(ETHERNET_PAYLOAD),
        "average datagram {average} bytes"
    );
}
