//! The group coordinator through the client's low-level group API on a real dev node:
//! assignment, cooperative-sticky rebalances, session expiry, zombie fencing, static
//! membership, durable offsets, bad input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::TestNode;
use rustmq_client::{ClientError, ErrorCode, JoinGroup, RustMqClient};

const GROUP: &str = "order-processors";
/// Session timeout of the test members: short, so a dead member is noticed quickly.
const SESSION_MS: u64 = 1500;

#[derive(Debug, Clone)]
struct Member {
    id: String,
    generation: i32,
    owned: Vec<(String, u32)>,
    instance: Option<String>,
}

fn join_req(m: &Member, assignor: &str, session_ms: u64) -> JoinGroup {
    JoinGroup {
        group_id: GROUP.into(),
        member_id: m.id.clone(),
        group_instance_id: m.instance.clone(),
        session_timeout: Duration::from_millis(session_ms),
        rebalance_timeout: Duration::from_secs(5),
        topics: vec!["orders".into()],
        assignor: assignor.into(),
        owned: m.owned.clone(),
    }
}

/// Joins (or rejoins) and syncs, rejoining when the sync says another rebalance started (as
/// a real member does); returns the member with its generation and partitions.
async fn join_and_sync(c: &RustMqClient, mut m: Member, assignor: &str, session_ms: u64) -> Member {
    loop {
        let j = c
            .join_group(&join_req(&m, assignor, session_ms))
            .await
            .expect("join");
        m.id = j.member_id.clone();
        match c.sync_group(GROUP, &j.member_id, j.generation).await {
            Ok(owned) => {
                return Member {
                    id: j.member_id,
                    generation: j.generation,
                    owned,
                    instance: m.instance,
                };
            }
            Err(e) => assert_eq!(code(e), ErrorCode::RebalanceInProgress),
        }
    }
}

fn new_member() -> Member {
    Member {
        id: String::new(),
        generation: -1,
        owned: vec![],
        instance: None,
    }
}

/// Rejoins every member concurrently (what members do on REBALANCE_IN_PROGRESS).
async fn rejoin_all(c: &RustMqClient, members: Vec<Member>, assignor: &str) -> Vec<Member> {
    let tasks: Vec<_> = members
        .into_iter()
        .map(|m| {
            let c = c.clone();
            let a = assignor.to_string();
            tokio::spawn(async move { join_and_sync(&c, m, &a, SESSION_MS).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn code(e: ClientError) -> ErrorCode {
    match e {
        ClientError::Server { code, .. } => code,
        other => panic!("expected a typed broker error, got {other}"),
    }
}

fn union(ms: &[Member]) -> BTreeSet<(String, u32)> {
    ms.iter().flat_map(|m| m.owned.iter().cloned()).collect()
}

fn assert_exclusive(ms: &[Member]) {
    let total: usize = ms.iter().map(|m| m.owned.len()).sum();
    assert_eq!(total, union(ms).len(), "a partition is owned twice: {ms:?}");
}

async fn setup() -> (tempfile::TempDir, TestNode, RustMqClient) {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 6).await;
    let c = n.client().await;
    (dir, n, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalance_moves_only_what_it_must_and_fences_zombies() {
    let (_d, n, c) = setup().await;
    // Three members: every partition owned by exactly one.
    let ms = rejoin_all(
        &c,
        vec![new_member(), new_member(), new_member()],
        "cooperative-sticky",
    )
    .await;
    assert!(ms.iter().all(|m| m.generation == ms[0].generation));
    assert_exclusive(&ms);
    assert_eq!(union(&ms).len(), 6);
    assert!(ms.iter().all(|m| m.owned.len() == 2));
    let gen1 = ms[0].generation;
    let before: BTreeMap<String, BTreeSet<(String, u32)>> = ms
        .iter()
        .map(|m| (m.id.clone(), m.owned.iter().cloned().collect()))
        .collect();

    // Members commit in their generation.
    c.commit_offsets(
        GROUP,
        Some((&ms[0].id, gen1)),
        &[("orders".into(), ms[0].owned[0].1, 42)],
    )
    .await
    .unwrap();

    // A fourth member joins; the others learn through heartbeats that they must rejoin.
    let c4 = c.clone();
    let fourth = tokio::spawn(async move {
        join_and_sync(&c4, new_member(), "cooperative-sticky", 10_000).await
    });
    let mut told = 0;
    for _ in 0..100 {
        match c.heartbeat(GROUP, &ms[0].id, gen1).await {
            Err(e) => {
                assert_eq!(code(e), ErrorCode::RebalanceInProgress);
                told += 1;
                break;
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!(told, 1, "heartbeat announced the rebalance");
    let mut round2 = rejoin_all(&c, ms.clone(), "cooperative-sticky").await;
    round2.push(fourth.await.unwrap());
    assert_exclusive(&round2);
    // First round: the newcomer gets nothing yet, one partition is being revoked, and every
    // other partition stayed where it was.
    assert!(round2[3].owned.is_empty());
    assert_eq!(union(&round2).len(), 5);
    for m in &round2[..3] {
        let now: BTreeSet<_> = m.owned.iter().cloned().collect();
        assert!(
            now.is_subset(&before[&m.id]),
            "{} gained a partition in the revoke round",
            m.id
        );
    }
    // Zombie fencing: the old generation can no longer commit or heartbeat.
    let e = c
        .commit_offsets(GROUP, Some((&ms[0].id, gen1)), &[("orders".into(), 0, 1)])
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::IllegalGeneration);

    // Everyone synced the revoke round: a follow-up rebalance hands the freed partition over.
    let gen2 = round2[0].generation;
    let e = c.heartbeat(GROUP, &round2[0].id, gen2).await.unwrap_err();
    assert_eq!(code(e), ErrorCode::RebalanceInProgress);
    let round3 = rejoin_all(&c, round2.clone(), "cooperative-sticky").await;
    assert_exclusive(&round3);
    assert_eq!(union(&round3).len(), 6);
    assert_eq!(
        round3[3].owned.len(),
        1,
        "the newcomer got the revoked partition"
    );
    let moved: usize = round3[..3]
        .iter()
        .map(|m| {
            before[&m.id].len()
                - m.owned
                    .iter()
                    .filter(|p| before[&m.id].contains(*p))
                    .count()
        })
        .sum();
    assert_eq!(moved, 1, "exactly one partition moved in total");
    let gen3 = round3[0].generation;
    for m in &round3 {
        c.heartbeat(GROUP, &m.id, gen3).await.unwrap();
    }

    // A member dies without leaving: after its session timeout its partitions move.
    let victim = round3[1].clone();
    let survivors: Vec<Member> = round3
        .iter()
        .filter(|m| m.id != victim.id)
        .cloned()
        .collect();
    // Keep the survivors alive; wait until they are told to rejoin.
    let mut rebalancing = false;
    for _ in 0..200 {
        let mut any = false;
        for m in &survivors {
            if let Err(e) = c.heartbeat(GROUP, &m.id, gen3).await {
                assert_eq!(code(e), ErrorCode::RebalanceInProgress);
                any = true;
            }
        }
        if any {
            rebalancing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rebalancing, "the dead member's session expired");
    let round4 = rejoin_all(&c, survivors, "cooperative-sticky").await;
    assert_exclusive(&round4);
    assert_eq!(
        union(&round4).len(),
        6,
        "the dead member's partitions are reassigned"
    );
    assert_eq!(round4.len(), 3);

    // The admin API shows the members, their partitions and the committed offset's lag.
    let v: serde_json::Value = reqwest::get(format!("{}/api/v1/groups/{GROUP}", n.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = &v["data"];
    assert_eq!(g["state"], "Stable");
    assert_eq!(g["assignor"], "cooperative-sticky");
    assert_eq!(g["generation"], round4[0].generation);
    let members = g["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    let assigned: usize = members
        .iter()
        .map(|m| m["assignment"].as_array().unwrap().len())
        .sum();
    assert_eq!(assigned, 6);
    assert_eq!(g["offsets"][0]["committed_offset"], 42);

    // A member that leaves is gone at once.
    c.leave_group(GROUP, &round4[2].id).await.unwrap();
    let e = c
        .heartbeat(GROUP, &round4[2].id, round4[2].generation)
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::UnknownMemberId);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_assignors_and_static_membership() {
    let (_d, _n, c) = setup().await;
    for assignor in ["range", "roundrobin"] {
        let group_members = rejoin_all(&c, vec![new_member(), new_member()], assignor).await;
        assert_exclusive(&group_members);
        assert_eq!(union(&group_members).len(), 6);
        if assignor == "range" {
            // Ranges are dealt in member-id order.
            let first = group_members.iter().min_by(|a, b| a.id.cmp(&b.id)).unwrap();
            let firsts: Vec<u32> = first.owned.iter().map(|x| x.1).collect();
            assert_eq!(firsts, vec![0, 1, 2]);
        }
        // Mixing assignors in one group is refused.
        let other = if assignor == "range" {
            "roundrobin"
        } else {
            "range"
        };
        let e = c
            .join_group(&join_req(&new_member(), other, 10_000))
            .await
            .unwrap_err();
        assert_eq!(code(e), ErrorCode::InconsistentAssignor);
        for m in &group_members {
            c.leave_group(GROUP, &m.id).await.unwrap();
        }
    }

    // Static membership: the same instance id rejoining with what it owned keeps its member
    // id and the generation (no rebalance).
    let statik = Member {
        instance: Some("pod-0".into()),
        ..new_member()
    };
    let first = join_and_sync(&c, statik, "cooperative-sticky", 10_000).await;
    let restarted = Member {
        id: String::new(),
        ..first.clone()
    };
    let again = join_and_sync(&c, restarted, "cooperative-sticky", 10_000).await;
    assert_eq!(again.id, first.id);
    assert_eq!(again.generation, first.generation);
    assert_eq!(again.owned, first.owned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_survive_restart_and_bad_input_is_typed() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 6).await;
    let c = n.client().await;
    // Offsets of a group without members (admin reset).
    c.commit_offsets(
        "resettable",
        None,
        &[("orders".into(), 0, 10), ("orders".into(), 5, 3)],
    )
    .await
    .unwrap();

    // Bad input.
    let bad_timeout = JoinGroup {
        session_timeout: Duration::from_millis(1),
        ..join_req(&new_member(), "range", 10)
    };
    assert_eq!(
        code(c.join_group(&bad_timeout).await.unwrap_err()),
        ErrorCode::InvalidSessionTimeout
    );
    let absurd = JoinGroup {
        session_timeout: Duration::from_secs(10 * 24 * 3600),
        ..join_req(&new_member(), "range", 10)
    };
    assert_eq!(
        code(c.join_group(&absurd).await.unwrap_err()),
        ErrorCode::InvalidSessionTimeout
    );
    let bad_assignor = join_req(&new_member(), "sticky-ish", 10_000);
    assert_eq!(
        code(c.join_group(&bad_assignor).await.unwrap_err()),
        ErrorCode::InconsistentAssignor
    );
    let empty_id = JoinGroup {
        group_id: String::new(),
        ..join_req(&new_member(), "range", 10_000)
    };
    assert_eq!(
        code(c.join_group(&empty_id).await.unwrap_err()),
        ErrorCode::InvalidGroupId
    );
    assert_eq!(
        code(c.heartbeat("no-such-group", "m", 1).await.unwrap_err()),
        ErrorCode::UnknownMemberId
    );
    let e = c
        .commit_offsets("resettable", None, &[("orders".into(), 99, 1)])
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::UnknownPartition);
    let e = c
        .commit_offsets("resettable", None, &[("orders".into(), 1, -5)])
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::InvalidOffset);
    let e = c
        .commit_offsets("resettable", None, &[("ghost".into(), 0, 1)])
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::UnknownTopic);

    // A member's commit while the group is active; the admin path is refused meanwhile.
    let m = join_and_sync(&c, new_member(), "cooperative-sticky", 10_000).await;
    c.commit_offsets(
        GROUP,
        Some((&m.id, m.generation)),
        &[("orders".into(), 2, 77)],
    )
    .await
    .unwrap();
    let e = c
        .commit_offsets(GROUP, None, &[("orders".into(), 2, 1)])
        .await
        .unwrap_err();
    assert_eq!(code(e), ErrorCode::UnknownMemberId);
    c.close().await;
    let d = n.stop().await;

    // The whole node restarts: committed offsets are still there.
    let n = TestNode::start(&d).await;
    let c = n.client().await;
    let got = c.fetch_offsets("resettable", &[]).await.unwrap();
    assert_eq!(
        got,
        BTreeMap::from([(("orders".into(), 0), 10), (("orders".into(), 5), 3)])
    );
    let got = c
        .fetch_offsets(GROUP, &[("orders".into(), 2), ("orders".into(), 3)])
        .await
        .unwrap();
    assert_eq!(got, BTreeMap::from([(("orders".into(), 2), 77)]));
    assert!(c.fetch_offsets("never-used", &[]).await.unwrap().is_empty());
}
