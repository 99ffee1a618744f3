//! The OpenAPI document is generated from the handlers and checked in as `docs/openapi.json`:
//! this test fails when they drift apart. `RUSTMQ_UPDATE_OPENAPI=1 cargo test -p
//! rustmq-controller --test openapi` rewrites the file.

use std::path::Path;

#[test]
fn checked_in_openapi_matches_the_handlers() {
    let generated = rustmq_controller::api::openapi_json() + "\n";
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    if std::env::var_os("RUSTMQ_UPDATE_OPENAPI").is_some() {
        std::fs::write(&file, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is stale: run RUSTMQ_UPDATE_OPENAPI=1 cargo test -p rustmq-controller --test openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    // Every route of the router is documented (the router and this list change together).
    for (path, methods) in [
        ("/health", &["get"][..]),
        ("/metrics", &["get"]),
        ("/api/v1/cluster", &["get"]),
        ("/api/v1/brokers", &["get"]),
        ("/api/v1/controllers", &["get", "post"]),
        ("/api/v1/controllers/{id}", &["delete"]),
        ("/api/v1/topics", &["get", "post"]),
        ("/api/v1/topics/{name}", &["get", "patch", "delete"]),
        ("/api/v1/groups", &["get"]),
        ("/api/v1/groups/{id}", &["get"]),
        ("/api/v1/storage", &["get"]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{} {path} is not in the OpenAPI document",
                m.to_uppercase()
            );
        }
    }
    let topic = &doc["components"]["schemas"]["TopicView"]["properties"];
    for field in [
        "name",
        "partitions",
        "replication_factor",
        "config",
        "created_at",
        "partition_assignments",
    ] {
        assert!(
            topic[field].is_object(),
            "TopicView.{field} missing: {topic}"
        );
    }
}
