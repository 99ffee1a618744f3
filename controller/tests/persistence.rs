//! The one-voter controller keeps its metadata across restarts, through both the Raft log
//! and snapshots (with the log purged behind them).

use rustmq_controller::metadata::{BrokerRegistration, MetadataError, TopicConfig};
use rustmq_controller::{Controller, ControllerError, ControllerOptions};

fn broker() -> BrokerRegistration {
    BrokerRegistration {
        id: 1,
        host: "127.0.0.1".into(),
        port_quic: 9092,
        port_rpc: 9093,
        rack_id: "local".into(),
        incarnation: 0,
        empty_log: false,
    }
}

#[tokio::test]
async fn metadata_survives_restart_with_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ControllerOptions::single_node(dir.path().to_path_buf());
    opts.snapshot_after_logs = 5;
    {
        let c = Controller::open(opts.clone()).await.unwrap();
        c.register_broker(broker()).await.unwrap();
        for i in 0..23 {
            c.create_topic(&format!("t{i}"), 2, 1, TopicConfig::default())
                .await
                .unwrap();
        }
        c.delete_topic("t3").await.unwrap();
        let err = c
            .create_topic("t4", 1, 1, TopicConfig::default())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ControllerError::Metadata(MetadataError::TopicExists(_))
        ));
        c.shutdown().await;
    }
    assert!(
        dir.path().join("snapshot.bin").exists(),
        "a snapshot was taken"
    );
    let c = Controller::open(opts).await.unwrap();
    let md = c.metadata();
    assert_eq!(md.topics.len(), 22);
    assert!(!md.topics.contains_key("t3"));
    assert_eq!(md.brokers.len(), 1);
    // Ids are never reused, even after a restart.
    let t = c
        .create_topic("t3", 1, 1, TopicConfig::default())
        .await
        .unwrap();
    assert_eq!(t.id, 23);
    assert!(c.status().is_leader);
    c.shutdown().await;
}
