//! A controller cluster inside one process, on 127.0.0.1: real Raft over QUIC with mutual
//! TLS between the voters, for examples and for tests of the pieces around the controllers
//! (brokers joining, the CLI). Production runs one `rustmq-controller` per node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Controller, ControllerError, ControllerOptions};
use rustmq_transport::tls::InternalTls;

/// Running voters and how to reach them.
pub struct LocalCluster {
    /// The voters, node ids 1..=n in order.
    pub controllers: Vec<Arc<Controller>>,
    /// Their internal RPC (Raft) addresses, same order.
    pub rpc: Vec<SocketAddr>,
    /// `node id -> address`, as `ControllerOptions::peers` wants it.
    pub peers: BTreeMap<u64, String>,
    /// The certificates every voter uses (a development CA under the directory given).
    pub tls: InternalTls,
}

impl LocalCluster {
    /// Starts `voters` controllers with state under `dir` and a development CA in
    /// `dir/certs`, and waits (up to 15 s) until one leads.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rustmq_controller::ControllerError> {
    /// let dir = std::path::Path::new("/tmp/rustmq-local");
    /// let c = rustmq_controller::local::LocalCluster::start(dir, 3).await?;
    /// assert_eq!(c.controllers.len(), 3);
    /// # Ok(()) }
    /// ```
    pub async fn start(dir: &Path, voters: u64) -> Result<Self, ControllerError> {
        let tls: InternalTls = rustmq_transport::tls::ensure_dev_certificates(&dir.join("certs"))
            .map_err(|e| ControllerError::Raft(e.to_string()))?
            .into();
        let rpc = (0..voters)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ControllerError::Raft(format!("no free port: {e}")))?;
        let peers: BTreeMap<u64, String> = rpc
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, a.to_string()))
            .collect();
        let opens = rpc.iter().enumerate().map(|(i, addr)| {
            let mut o = ControllerOptions::single_node(dir.join(format!("controller-{}", i + 1)));
            o.node_id = i as u64 + 1;
            o.advertised_addr = addr.to_string();
            o.peers = peers.clone();
            o.rpc_listen = vec![*addr];
            o.tls = Some(tls.clone());
            o.heartbeat_interval = Duration::from_millis(100);
            o.election_timeout = Duration::from_millis(500);
            Controller::open(o)
        });
        let controllers = futures::future::try_join_all(opens).await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !controllers.iter().any(|c| c.status().is_leader) {
            if Instant::now() > deadline {
                return Err(ControllerError::NoLeader(Duration::from_secs(15)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            controllers,
            rpc,
            peers,
            tls,
        })
    }

    /// Index of the voter that leads now.
    pub fn leader(&self) -> Option<usize> {
        self.controllers.iter().position(|c| c.status().is_leader)
    }

    /// Stops every voter.
    pub async fn shutdown(&self) {
        for c in &self.controllers {
            c.shutdown().await;
        }
    }
}
