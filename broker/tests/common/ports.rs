//! Ports for servers a test starts as other processes. Such a process binds its port after
//! the test picked it; a port from the kernel's ephemeral range (what binding `:0` returns)
//! can be taken meanwhile by any outgoing connection, and once was (a broker's admin API
//! found its port in use and the broker never started). So ports come from below that range,
//! each checked free for both TCP and UDP. Shared by the broker's and the tools' tests.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// A loopback address whose port is free for TCP and UDP, below the ephemeral range.
pub fn free_loopback_port() -> SocketAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let (low, span) = (10_000, ephemeral_low.saturating_sub(10_000).max(1_000));
    // Apart from another test process picking at the same time.
    let offset = std::process::id() % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (low + (offset + n) % span) as u16;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free port between {low} and {}", low + span);
}
