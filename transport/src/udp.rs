//! UDP sockets for QUIC endpoints, with receive and send buffers sized for bulk traffic.
//!
//! Why: QUIC endpoints here send datagrams of up to [`MAX_UDP_PAYLOAD`] bytes, in bursts of
//! ten per system call, on loopback and fast links (path MTU discovery goes that high), and
//! Linux's default socket receive buffer (212,992 bytes) holds only a few such bursts. A
//! receiver that is off the CPU for a moment, such as a broker pinned
//! to one core or held by a CPU quota, then drops datagrams, and QUIC's loss recovery turns
//! each drop into a retransmission timeout and a smaller congestion window: produce p99 was
//! 150-980 ms at 110 MB/s on a pinned broker, with thousands of `RcvbufErrors` per run.
//! The kernel grants at most `net.core.rmem_max` / `wmem_max` to an unprivileged process; one
//! with `CAP_NET_ADMIN` (root on a host, not a default pod) may go past them, and [`bind`]
//! does so when the cap would shrink the buffers (as quic-go does).

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// The receive and send buffer a client asks for by default (8 MiB).
pub const DEFAULT_UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// The receive and send buffer a broker asks for by default (32 MiB): all its clients'
/// datagrams arrive on one socket, and memory is taken only while datagrams wait.
pub const BROKER_UDP_BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// The largest UDP payload an endpoint accepts, and so the largest datagram its peers send
/// it once path MTU discovery found the path can carry it.
///
/// Why not quinn's default (1,472, Ethernet's): every QUIC packet costs its header, its
/// AEAD tag and header protection, its ACK bookkeeping and a pass through the connection's
/// state, whatever its size; on loopback a 1 KiB-message broker spent a third of its CPU
/// there. Why not 64 KB: quinn hands the kernel up to ten datagrams per `sendmsg` (UDP
/// segmentation offload), and the kernel refuses a send above 64 KB, which quinn then
/// drops as it would a lost MTU probe. Ten of these fit. Paths with a smaller MTU (any real
/// Ethernet) are unaffected: discovery stops at what the path carries.
pub const MAX_UDP_PAYLOAD: u16 = 6_500;

/// quinn's endpoint settings: [`MAX_UDP_PAYLOAD`].
///
/// ```
/// let cfg = rustmq_transport::udp::endpoint_config();
/// assert_eq!(cfg.get_max_udp_payload_size(), 6_500);
/// ```
pub fn endpoint_config() -> quinn::EndpointConfig {
    let mut cfg = quinn::EndpointConfig::default();
    // In range (1,200..=65,527): the constant is checked by the doctest above.
    if cfg.max_udp_payload_size(MAX_UDP_PAYLOAD).is_err() {
        tracing::warn!(MAX_UDP_PAYLOAD, "quinn refused the UDP payload size");
    }
    cfg
}

/// Path MTU discovery up to [`MAX_UDP_PAYLOAD`]: it stops at the real path MTU, so ordinary
/// networks are unaffected, while loopback and jumbo-frame networks carry several times
/// fewer packets. Both ends need it (with [`endpoint_config`]) for datagrams to grow.
///
/// ```
/// let mut t = quinn::TransportConfig::default();
/// t.mtu_discovery_config(Some(rustmq_transport::udp::mtu_discovery()));
/// ```
pub fn mtu_discovery() -> quinn::MtuDiscoveryConfig {
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    mtu
}

/// A bound, non-blocking UDP socket and the buffer sizes the kernel granted.
#[derive(Debug)]
pub struct UdpSocketWithBuffers {
    /// The socket, ready for `quinn::Endpoint::new`.
    pub socket: std::net::UdpSocket,
    /// Receive buffer granted (as the kernel reports it: Linux doubles what it grants for
    /// its own bookkeeping).
    pub recv_buffer: usize,
    /// Send buffer granted (as the kernel reports it).
    pub send_buffer: usize,
}

/// Binds a UDP socket at `addr` with receive and send buffers of `buffer_bytes` (0 keeps
/// the system's defaults). A size the kernel refuses is not an error: it grants what it
/// allows, and [`UdpSocketWithBuffers`] says how much; the endpoint works either way.
///
/// ```
/// let s = rustmq_transport::udp::bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
/// assert!(s.recv_buffer > 0);
/// assert!(s.socket.local_addr().unwrap().port() > 0);
/// ```
pub fn bind(addr: SocketAddr, buffer_bytes: usize) -> std::io::Result<UdpSocketWithBuffers> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // As std's bind does: an IPv6 wildcard takes IPv4 too where the system allows it.
        let _ = socket.set_only_v6(false);
    }
    if buffer_bytes > 0 {
        if let Err(e) = socket.set_recv_buffer_size(buffer_bytes) {
            tracing::debug!(error = %e, buffer_bytes, "UDP receive buffer size refused");
        }
        if let Err(e) = socket.set_send_buffer_size(buffer_bytes) {
            tracing::debug!(error = %e, buffer_bytes, "UDP send buffer size refused");
        }
        force_past_the_cap(&socket, buffer_bytes);
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    let recv_buffer = socket.recv_buffer_size()?;
    let send_buffer = socket.send_buffer_size()?;
    if buffer_bytes > 0 && recv_buffer < granted_in_full(buffer_bytes) {
        tracing::warn!(
            asked = buffer_bytes,
            granted = recv_buffer / 2,
            "UDP receive buffer capped by the kernel (net.core.rmem_max, and no CAP_NET_ADMIN \
             to go past it): QUIC may drop datagrams under load; raise net.core.rmem_max"
        );
    }
    Ok(UdpSocketWithBuffers {
        socket: socket.into(),
        recv_buffer,
        send_buffer,
    })
}

/// What Linux reports for a buffer granted in full: twice what was asked (the other half
/// is for its own bookkeeping).
fn granted_in_full(asked: usize) -> usize {
    asked.saturating_mul(2)
}

/// Where `net.core.rmem_max` / `wmem_max` shrank the buffers, asks again with
/// `SO_RCVBUFFORCE` / `SO_SNDBUFFORCE`, which only a process with `CAP_NET_ADMIN` may use
/// (refused otherwise, and the capped size stays). At 130 MB/s into a broker pinned to a
/// busy core the capped 4 MiB receive buffer dropped 300-470 datagrams in 20 s, each one a
/// loss recovery and a congestion-window cut; 32 MiB dropped none (docs/benchmarks.md).
fn force_past_the_cap(socket: &Socket, bytes: usize) {
    use rustix::net::sockopt;
    if socket
        .recv_buffer_size()
        .is_ok_and(|g| g < granted_in_full(bytes))
        && let Err(e) = sockopt::set_socket_recv_buffer_size_force(socket, bytes)
    {
        tracing::debug!(error = %e, bytes, "SO_RCVBUFFORCE refused");
    }
    if socket
        .send_buffer_size()
        .is_ok_and(|g| g < granted_in_full(bytes))
        && let Err(e) = sockopt::set_socket_send_buffer_size_force(socket, bytes)
    {
        tracing::debug!(error = %e, bytes, "SO_SNDBUFFORCE refused");
    }
}

/// A QUIC endpoint on a socket from [`bind`], driven by the current tokio runtime.
///
/// ```no_run
/// # fn f(server: quinn::ServerConfig) -> std::io::Result<()> {
/// let ep = rustmq_transport::udp::endpoint(
///     "127.0.0.1:0".parse().unwrap(),
///     rustmq_transport::udp::DEFAULT_UDP_BUFFER_BYTES,
///     Some(server),
/// )?;
/// # Ok(()) }
/// ```
pub fn endpoint(
    addr: SocketAddr,
    buffer_bytes: usize,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    let s = bind(addr, buffer_bytes)?;
    quinn::Endpoint::new(
        endpoint_config(),
        server,
        s.socket,
        std::sync::Arc::new(quinn::TokioRuntime),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_for_larger_buffers_than_the_default_and_binds_both_families() {
        let default = bind("127.0.0.1:0".parse().unwrap(), 0).unwrap();
        let asked = bind("127.0.0.1:0".parse().unwrap(), 4 << 20).unwrap();
        // Whatever net.core.rmem_max allows, asking never gives less than the default.
        assert!(asked.recv_buffer >= default.recv_buffer);
        assert!(asked.send_buffer >= default.send_buffer);
        assert!(!asked.socket.local_addr().unwrap().ip().is_unspecified());
        if let Ok(v6) = bind("[::1]:0".parse().unwrap(), 1 << 20) {
            assert!(v6.socket.local_addr().unwrap().is_ipv6());
        }
    }

    /// Whether this process has CAP_NET_ADMIN (bit 12 of its effective capabilities).
    fn may_force() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let caps = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
                u64::from_str_radix(caps.trim(), 16).ok()
            })
            .is_some_and(|caps| caps & (1 << 12) != 0)
    }

    #[test]
    fn a_privileged_process_gets_buffers_past_rmem_max() {
        let cap = |name: &str| -> usize {
            std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(212_992)
        };
        let asked = 2 * cap("rmem_max").max(cap("wmem_max"));
        let s = bind("127.0.0.1:0".parse().unwrap(), asked).unwrap();
        if may_force() {
            assert_eq!(s.recv_buffer, granted_in_full(asked));
            assert_eq!(s.send_buffer, granted_in_full(asked));
        } else {
            // Without CAP_NET_ADMIN the cap holds, and binding still works.
            eprintln!("no CAP_NET_ADMIN: checking only that the capped socket binds");
            assert!(s.recv_buffer <= granted_in_full(cap("rmem_max")));
        }
    }
}
