//! Internal RPC accepts brokers and controllers only: a client or admin certificate of the
//! same cluster CA is refused, and a certificate of another CA never gets through the
//! handshake. Real QUIC and TLS on loopback.

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{DAY, issue_files};
use futures::future::BoxFuture;
use rustmq_security::ca::CertificateAuthority;
use rustmq_security::identity::Role;
use rustmq_transport::rpc::{self, Handler, RpcClient, WireMessage};

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Ping(u32);
impl WireMessage for Ping {}

struct Echo;
impl Handler<Ping, Ping> for Echo {
    fn handle(&self, request: Ping) -> BoxFuture<'_, Ping> {
        Box::pin(async move { Ping(request.0 + 1) })
    }
    fn failed(&self, _reason: String) -> Ping {
        Ping(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_brokers_and_controllers_speak_internal_rpc() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::new_root("cluster", DAY).unwrap();
    let server = issue_files(dir.path(), &ca, "controller-1", Role::Controller);
    let endpoint = rpc::bind("127.0.0.1:0".parse().unwrap(), &server).unwrap();
    let addr = endpoint.local_addr().unwrap().to_string();
    tokio::spawn(rpc::serve::<Ping, Ping>(endpoint, Arc::new(Echo)));

    for role in [Role::Broker, Role::Controller] {
        let me = issue_files(dir.path(), &ca, &format!("peer-{role}"), role);
        let c: RpcClient<Ping, Ping> = RpcClient::new(&me).unwrap();
        let r = c.call(&addr, &Ping(1), Duration::from_secs(5)).await;
        assert_eq!(r.unwrap(), Ping(2), "{role}");
    }
    for role in [Role::Client, Role::Admin] {
        let me = issue_files(dir.path(), &ca, &format!("app-{role}"), role);
        let c: RpcClient<Ping, Ping> = RpcClient::new(&me).unwrap();
        let e = c
            .call(&addr, &Ping(1), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("may not speak internal RPC"),
            "{role}: {e}"
        );
    }
    // Another CA's broker certificate fails the handshake.
    let other = CertificateAuthority::new_root("other", DAY).unwrap();
    let mut foreign = issue_files(dir.path(), &other, "stranger", Role::Broker);
    // It trusts the right CA (so it would accept the server); only its own certificate is
    // foreign.
    foreign.ca_cert = server.ca_cert.clone();
    let c: RpcClient<Ping, Ping> = RpcClient::new(&foreign).unwrap();
    assert!(
        c.call(&addr, &Ping(1), Duration::from_secs(5))
            .await
            .is_err()
    );
}
