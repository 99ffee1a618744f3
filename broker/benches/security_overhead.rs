//! What security costs (`cargo bench -p rustmq-broker --bench security_overhead`).
//!
//! Two dev nodes in this process, one plain (TLS, no client certificates, no ACLs) and one
//! secured (mutual TLS, every request checked against the ACLs, denials audited). In
//! alternating rounds of `RUSTMQ_BENCH_SECS` seconds (default 5), a producer sends 1 KiB
//! messages (`acks=leader`) to each; then raw QUIC connections are made and closed for the
//! same time (a full TLS or mTLS handshake plus one Health request each). Reports both per
//! node, and handshakes per CPU-second of this process (client and broker share it).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestNode;
use common::pki::{DAY, Pki};
use rustmq_controller::metadata::AclChange;
use rustmq_security::acl::{AclRule, Conditions, Effect, Operation};
use rustmq_security::identity::Role;
use support::{produce_rate, secs};

/// The TLS side of a bench connection: the node's CA, and `client` as the certificate.
fn tls(ca: &std::path::Path, client: Option<&common::pki::Files>) -> rustls::ClientConfig {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("ca")).expect("ca");
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .expect("tls 1.3")
    .with_root_certificates(roots);
    let mut cfg = match client {
        Some(f) => b
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(&f.cert)
                    .expect("cert")
                    .map(|c| c.expect("cert"))
                    .collect(),
                PrivateKeyDer::from_pem_file(&f.key).expect("key"),
            )
            .expect("client cert"),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![rustmq_protocol::ALPN.to_vec()];
    cfg
}

/// CPU time the whole process has used (client and broker together).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Full handshakes (each followed by one Health request, so the broker has verified the
/// client) per wall second and per CPU second over `window`.
async fn handshake_rate(
    addr: std::net::SocketAddr,
    tls: rustls::ClientConfig,
    window: Duration,
) -> (f64, f64) {
    use rustmq_protocol::{ApiKey, frame, proto};
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let health = frame::encode(ApiKey::Health as u16, 1, 1, 0, &proto::HealthRequest {});
    let (t0, cpu0, mut n) = (Instant::now(), process_cpu(), 0u64);
    while t0.elapsed() < window {
        let conn = ep
            .connect(addr, "localhost")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, mut recv) = conn.open_bi().await.expect("stream");
        send.write_all(&health).await.expect("send");
        send.finish().expect("finish");
        let answer = recv.read_to_end(1 << 20).await.expect("answer");
        assert!(answer.len() > frame::HEADER_LEN);
        conn.close(quinn::VarInt::from_u32(0), b"");
        n += 1;
    }
    let (wall, cpu) = (
        t0.elapsed().as_secs_f64(),
        (process_cpu() - cpu0).as_secs_f64(),
    );
    (n as f64 / wall, n as f64 / cpu)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new(&dir.path().join("pki"));
    let plain = TestNode::start(&dir.path().join("plain")).await;
    let mut cfg = common::config(&dir.path().join("secure"));
    pki.secure(&mut cfg);
    let secure = TestNode::start_with(cfg).await;
    for n in [&plain, &secure] {
        n.create_topic("bench", 1).await;
    }
    secure
        .node
        .controller()
        .change_acls(AclChange {
            remove: vec![],
            add: vec![AclRule {
                principal: "bench-app".into(),
                resource: "topic.bench".parse().expect("pattern"),
                operations: vec![Operation::Write],
                effect: Effect::Allow,
                conditions: Conditions::default(),
                source: None,
            }],
            warm_principals: None,
        })
        .await
        .expect("acl");
    while secure.node.security().acl_version() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let files = pki.issue("bench-app", Role::Client, DAY);
    let plain_cfg = plain.client_config();
    let secure_cfg = pki.client(secure.node.quic_addr(), Some(&files));
    let window = secs();
    let payload = vec![b'x'; 1024];
    let (mut p_off, mut p_on, mut h_off, mut h_on) = (vec![], vec![], vec![], vec![]);
    for round in 0..2 {
        p_off.push(produce_rate(plain_cfg.clone(), "bench", &payload, window).await);
        p_on.push(produce_rate(secure_cfg.clone(), "bench", &payload, window).await);
        h_off.push(
            handshake_rate(
                plain.node.quic_addr(),
                tls(plain.node.ca_cert().expect("dev ca"), None),
                window,
            )
            .await,
        );
        h_on.push(
            handshake_rate(
                secure.node.quic_addr(),
                tls(&pki.ca_file, Some(&files)),
                window,
            )
            .await,
        );
        println!(
            "round {round}: produce off {:.0} msg/s, on {:.0} msg/s; handshakes TLS {:.0}/s ({:.0} per CPU-s), mTLS {:.0}/s ({:.0} per CPU-s)",
            p_off[round], p_on[round], h_off[round].0, h_off[round].1, h_on[round].0, h_on[round].1
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (po, pn) = (mean(&p_off), mean(&p_on));
    let first = |v: &[(f64, f64)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
    let second = |v: &[(f64, f64)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
    let (ho, hn) = (mean(&first(&h_off)), mean(&first(&h_on)));
    let (hoc, hnc) = (mean(&second(&h_off)), mean(&second(&h_on)));
    println!(
        "produce, 1 KiB acks=leader: security off {po:.0} msg/s ({:.1} MB/s), on {pn:.0} msg/s ({:.1} MB/s): {:+.1}%",
        po * 1024.0 / 1e6,
        pn * 1024.0 / 1e6,
        (pn / po - 1.0) * 100.0
    );
    println!(
        "full handshakes (+ one request): TLS {ho:.0}/s ({hoc:.0} per CPU-second, client and broker together), mutual TLS {hn:.0}/s ({hnc:.0} per CPU-second); denials during the run: {}",
        secure.node.security().denials()
    );
    secure.stop().await;
    plain.stop().await;
}
