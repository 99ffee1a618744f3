//! Pod networking for the node agent: a bridge on the host, one network namespace per pod
//! with its own address, and one hosts file (standing in for cluster DNS) that every pod,
//! and the test process itself, resolves names through.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Runs `ip` with `args`; panics with its output when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bridge, its /24 and the shared hosts file; removed when dropped.
pub struct PodNetwork {
    /// A short tag unique to this test process (names of namespaces and links).
    pub tag: String,
    bridge: String,
    /// The first three octets of the /24.
    prefix: [u8; 3],
    next: AtomicU32,
    /// The hosts file every pod and the test process use.
    pub hosts: PathBuf,
}

impl PodNetwork {
    /// A bridge with address `.1` of a /24 picked from the test's process id; `hosts` is
    /// the shared hosts file (the test process has it bind-mounted over its /etc/hosts).
    pub fn new(hosts: &Path) -> Self {
        let pid = std::process::id();
        let tag = format!("{:x}", pid % 0xffff);
        let bridge = format!("rmqbr{tag}");
        let prefix = [10, 213, (pid % 250) as u8 + 1];
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}.{}.{}.1/24", prefix[0], prefix[1], prefix[2]),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        let hosts = hosts.to_path_buf();
        std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
        Self {
            tag,
            bridge,
            prefix,
            next: AtomicU32::new(10),
            hosts,
        }
    }

    /// The host's address on the bridge (pods reach test servers there).
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], 1)
    }

    /// A network namespace with a fresh address on the bridge, `/etc/hosts` from the
    /// shared file.
    pub fn namespace(&self, pod: &str) -> PodNamespace {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        assert!(n < 250, "out of pod addresses");
        let addr = Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], n as u8);
        let name = format!("rmq{}-{pod}", self.tag);
        let host_link = format!("rv{}x{n}", self.tag);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        ip(&["link", "set", &host_link, "master", &self.bridge, "up"]);
        let exec = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &name];
            a.extend_from_slice(args);
            ip(&a);
        };
        exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        exec(&["ip", "link", "set", "eth0", "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
        exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &self.host_ip().to_string(),
        ]);
        // `ip netns exec` bind-mounts /etc/netns/<name>/hosts over /etc/hosts; a symbolic
        // link makes every pod read the one file the agent keeps up to date.
        let etc = Path::new("/etc/netns").join(&name);
        std::fs::create_dir_all(&etc).unwrap();
        let _ = std::fs::remove_file(etc.join("hosts"));
        std::os::unix::fs::symlink(&self.hosts, etc.join("hosts")).unwrap();
        PodNamespace { name, addr, etc }
    }

    /// Replaces the hosts file's content in place (the same inode stays bind-mounted).
    pub fn write_hosts(&self, text: &str) {
        let current = std::fs::read_to_string(&self.hosts).unwrap_or_default();
        if current != text {
            std::fs::write(&self.hosts, text).unwrap();
        }
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// One pod's network namespace; deleted when dropped.
pub struct PodNamespace {
    /// Its name (`ip netns exec <name>`).
    pub name: String,
    /// The pod's address.
    pub addr: Ipv4Addr,
    etc: PathBuf,
}

impl Drop for PodNamespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth pair, and so the pair.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}
