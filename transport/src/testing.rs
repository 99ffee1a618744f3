//! Loopback ports for multi-process tests that stop and restart nodes.
//!
//! A port found by binding port 0 comes from the kernel's ephemeral range; once the node
//! holding it is killed, any other bind to port 0 (a client socket, another test's node) may
//! get it before the node restarts, and the restart fails with "address in use". Ports from
//! below the ephemeral range are never handed out that way.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out (above the well-known and common service ports).
const FIRST: u32 = 10_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|p| *p > FIRST + 1_000)
        .unwrap_or(32_768)
}

/// A 127.0.0.1 address whose port is free for both TCP and UDP now and is not in the
/// kernel's ephemeral range, so it stays free while its owner restarts. Successive calls in a
/// process return distinct ports; processes start at different offsets (from their pid).
///
/// ```
/// let a = rustmq_transport::testing::loopback_addr();
/// let b = rustmq_transport::testing::loopback_addr();
/// assert_ne!(a.port(), b.port());
/// assert!(std::net::TcpListener::bind(a).is_ok());
/// ```
pub fn loopback_addr() -> SocketAddr {
    let span = ephemeral_start() - FIRST;
    let offset = std::process::id().wrapping_mul(7_919) % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < span, "no free loopback port below the ephemeral range");
        let port = FIRST + (offset + n) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok() {
            return addr;
        }
    }
}
