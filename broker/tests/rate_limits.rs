//! Admin API rate limiting on a dev node: per-IP, per-endpoint and global buckets, the
//! `X-RateLimit-*` headers, 429 with `Retry-After` and the envelope, `X-Forwarded-For` honoured
//! only from trusted proxies, idle buckets cleaned up, figures in `/health`.

mod common;

use std::time::Duration;

use common::TestNode;
use rustmq_transport::ratelimit::EndpointLimit;
use serde_json::{Value, json};

async fn node(
    dir: &std::path::Path,
    tune: impl FnOnce(&mut rustmq_transport::ratelimit::RateLimitConfig),
) -> TestNode {
    let mut c = common::config(dir);
    c.admin.rate_limiting = Default::default();
    tune(&mut c.admin.rate_limiting);
    TestNode::start_with(c).await
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

async fn get_as(http: &reqwest::Client, url: &str, client_ip: &str) -> reqwest::Response {
    http.get(url)
        .header("x-forwarded-for", client_ip)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_burst_then_429_with_headers_and_no_spoofing_without_trusted_proxies() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path(), |r| {
        r.per_ip_burst_size = 5;
        r.per_ip_refill_rate = 1;
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/topics", n.admin_url());
    for remaining in (0..5).rev() {
        let r = get_as(&http, &url, "10.0.0.1").await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-type"), "per_ip");
        assert_eq!(header(&r, "x-ratelimit-limit"), "5");
        assert_eq!(header(&r, "x-ratelimit-remaining"), remaining.to_string());
        assert!(header(&r, "x-ratelimit-reset").parse::<u64>().unwrap() > 0);
    }
    let r = get_as(&http, &url, "10.0.0.1").await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-type"), "per_ip");
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["data"], Value::Null);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("rate limit exceeded"),
        "{body}"
    );
    // No trusted proxies: the header cannot buy a fresh bucket.
    let r = get_as(&http, &url, "10.0.0.2").await;
    assert_eq!(r.status(), 429);
    // The server keeps serving: a different endpoint, same IP, still limited per IP...
    let health = common::get_json(&http, &format!("{}/health", n.admin_url())).await;
    // ... and /health's own 429 carries the envelope too.
    assert_eq!(health["success"], false, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_separate_clients_by_forwarded_for() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path(), |r| {
        r.per_ip_burst_size = 3;
        r.per_ip_refill_rate = 1;
        r.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/topics", n.admin_url());
    for _ in 0..3 {
        assert_eq!(get_as(&http, &url, "10.0.0.1").await.status(), 200);
    }
    assert_eq!(get_as(&http, &url, "10.0.0.1").await.status(), 429);
    // Another client behind the same proxy has its own bucket.
    let r = get_as(&http, &url, "10.0.0.2").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), "2");
    // The rightmost address that is not a trusted proxy is the client.
    let r = get_as(&http, &url, "10.0.0.1, 10.0.0.3, 127.0.0.5").await;
    assert_eq!(r.status(), 200, "10.0.0.3 is the client, not 10.0.0.1");

    let h: Value = get_as(&http, &format!("{}/health", n.admin_url()), "10.9.9.9")
        .await
        .json()
        .await
        .unwrap();
    let rl = &h["rate_limiting"];
    assert_eq!(rl["enabled"], true, "{h}");
    assert_eq!(rl["rejected_per_ip"], 1, "{h}");
    assert!(rl["tracked_ips"].as_u64().unwrap() >= 4, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_and_global_buckets() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path(), |r| {
        r.per_ip_burst_size = 1000;
        r.global_burst_size = 12;
        r.global_refill_rate = 1;
        r.endpoints.insert(
            "POST:/api/v1/topics".into(),
            EndpointLimit {
                burst_size: 2,
                refill_rate: 1,
            },
        );
    })
    .await;
    let http = reqwest::Client::new();
    let base = n.admin_url();
    let create = |name: &str| {
        http.post(format!("{base}/api/v1/topics"))
            .json(&json!({"name": name, "partitions": 1, "replication_factor": 1}))
            .send()
    };
    assert_eq!(create("a").await.unwrap().status(), 201);
    let r = create("b").await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "x-ratelimit-type"), "endpoint");
    let r = create("c").await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-type"), "endpoint");
    // Other endpoints are not held back by the topic-creation bucket: 2 + 8 requests use
    // 10 of the 12 global tokens (the refused create took none).
    for _ in 0..8 {
        assert_eq!(
            http.get(format!("{base}/api/v1/groups"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let mut last = None;
    for _ in 0..3 {
        let r = http
            .get(format!("{base}/api/v1/groups"))
            .send()
            .await
            .unwrap();
        last = Some((r.status(), header(&r, "x-ratelimit-type")));
    }
    assert_eq!(
        last,
        Some((reqwest::StatusCode::TOO_MANY_REQUESTS, "global".to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_per_ip_buckets_are_cleaned_up() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path(), |r| {
        r.per_ip_burst_size = 2;
        // A bucket refills in 20 ms and is idle soon after.
        r.per_ip_refill_rate = 6000;
        r.cleanup_interval_seconds = 1;
        r.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/topics", n.admin_url());
    for i in 0..20 {
        assert_eq!(
            get_as(&http, &url, &format!("10.1.0.{i}")).await.status(),
            200
        );
    }
    let tracked = |h: Value| h["rate_limiting"]["tracked_ips"].as_u64().unwrap();
    let health = format!("{}/health", n.admin_url());
    let h = common::get_json(&http, &health).await;
    assert!(tracked(h) >= 20);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = common::get_json(&http, &health).await;
        // Only the health checker's own bucket (127.0.0.1) may remain.
        if tracked(h) <= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "idle buckets never cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
