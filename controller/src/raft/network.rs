//! Controller-to-controller Raft transport over internal RPC ([`crate::rpc`]).
//!
//! A one-voter controller (dev mode) has no peers and no client: every peer is reported
//! unreachable, which openraft never asks about with a single voter.

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::TypeConfig;
use crate::rpc::{Request, Response, RpcClient, RpcError};

/// Creates peer connections for openraft.
#[derive(Clone, Default)]
pub struct Network {
    client: Option<RpcClient>,
}

impl Network {
    /// A transport calling peers through `client`.
    pub fn new(client: RpcClient) -> Self {
        Self {
            client: Some(client),
        }
    }

    /// A transport for a controller without peers.
    pub fn none() -> Self {
        Self { client: None }
    }
}

/// One peer, as openraft sees it.
pub struct Peer {
    target: u64,
    addr: String,
    client: Option<RpcClient>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            client: self.client.clone(),
        }
    }
}

impl Peer {
    async fn call<E: std::error::Error>(
        &self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<u64, BasicNode, E>> {
        let Some(client) = &self.client else {
            return Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!(
                        "controller {} unreachable: this controller has no peers",
                        self.target
                    ),
                ),
            )));
        };
        client
            .call(&self.addr, &request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                // Unreachable makes openraft back off before retrying this peer.
                RpcError::Connection { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                _ => RPCError::Network(NetworkError::new(&e)),
            })
    }
}

fn unexpected<E: std::error::Error>(r: Response) -> RPCError<u64, BasicNode, E> {
    let msg = match r {
        Response::Failed(m) => m,
        other => format!("unexpected response {other:?}"),
    };
    RPCError::Network(NetworkError::new(&std::io::Error::other(msg)))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(Request::RaftAppend(rpc), &option).await? {
            Response::RaftAppend(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self.call(Request::RaftSnapshot(rpc), &option).await? {
            Response::RaftSnapshot(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(Request::RaftVote(rpc), &option).await? {
            Response::RaftVote(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            other => Err(unexpected(other)),
        }
    }
}
