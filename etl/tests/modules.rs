//! The example modules (C built here with clang for wasm32, WAT through the `wat` crate) and
//! hostile ones, run by the real wasmtime runtime: what each example does, and every limit
//! and failure policy.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustmq_etl::abi::Record;
use rustmq_etl::filter::TopicFilterSpec;
use rustmq_etl::pipeline::{DeployedModule, EtlError, ModuleSpec, OnError, Pipeline, Slots};
use rustmq_etl::runtime::{ExecError, Limits, LoadError, Runtime};

/// A C example built with Debian's clang for wasm32 (no libc: `-nostdlib`, copies as
/// bulk-memory instructions).
fn c_module(name: &str) -> Vec<u8> {
    rustmq_etl::examples::c(name).unwrap()
}

fn wat_module(name: &str) -> Vec<u8> {
    rustmq_etl::examples::wat(name).unwrap()
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(64, 8 << 20).unwrap())
}

fn spec(name: &str, priority: u8, on_error: OnError) -> ModuleSpec {
    ModuleSpec {
        name: name.into(),
        priority,
        topic_filters: vec![TopicFilterSpec::Prefix(String::new())],
        config: vec![],
        on_error,
        memory_limit_bytes: None,
        execution_timeout_ms: None,
    }
}

fn deploy(spec: ModuleSpec, wasm: &[u8]) -> Arc<DeployedModule> {
    Arc::new(DeployedModule::new(runtime(), spec, wasm).unwrap())
}

fn pipeline(modules: Vec<Arc<DeployedModule>>) -> Pipeline {
    pipeline_with(modules, Limits::default())
}

fn pipeline_with(modules: Vec<Arc<DeployedModule>>, limits: Limits) -> Pipeline {
    Pipeline::new(modules, limits, Slots::new(16))
}

fn record(value: &str) -> Record {
    Record {
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"k1")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: vec![("trace".into(), Some(Bytes::from_static(b"abc")))],
    }
}

fn values(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"<none>")).into_owned())
        .collect()
}

/// A module whose `process` body is `body` (WAT), with the ABI's other exports.
fn hostile(body: &str) -> Vec<u8> {
    rustmq_etl::examples::with_process(body).unwrap()
}

#[test]
fn the_json_filter_keeps_matching_records_only() {
    let mut s = spec("errors-only", 0, OnError::Reject);
    s.config = b"level=error".to_vec();
    let p = pipeline(vec![deploy(s, &c_module("json_filter"))]);
    let input = vec![
        record(r#"{"level": "error", "msg": "disk"}"#),
        record(r#"{"level":"info"}"#),
        record(r#"{"msg": "x", "level":"error"}"#),
        record(r#"{"level": "errors"}"#),
        record("not json"),
    ];
    let out = p.run("app.logs", 0, input).unwrap();
    assert_eq!(
        values(&out.records),
        [
            r#"{"level": "error", "msg": "disk"}"#,
            r#"{"msg": "x", "level":"error"}"#
        ]
    );
    assert_eq!(
        p.modules()[0]
            .stats
            .drops
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn a_module_whose_init_refuses_its_config_refuses_the_batch() {
    let mut s = spec("bad-config", 0, OnError::Reject);
    s.config = b"no equals sign".to_vec();
    let p = pipeline(vec![deploy(s, &c_module("json_filter"))]);
    let e = p.run("t", 0, vec![record("{}")]).unwrap_err();
    assert_eq!(
        e,
        EtlError::Refused {
            module: "bad-config".into(),
            error: ExecError::Failed(1)
        }
    );
}

#[test]
fn the_pii_masker_hides_numbers_and_mail_names() {
    let p = pipeline(vec![deploy(
        spec("pii", 1, OnError::Reject),
        &c_module("pii_mask"),
    )]);
    let out = p
        .run(
            "users",
            2,
            vec![
                record("card 4111111111111111 of jane.doe@example.com, room 12"),
                record("nothing personal"),
            ],
        )
        .unwrap();
    assert_eq!(
        values(&out.records),
        [
            "card **************** of ********@example.com, room 12",
            "nothing personal"
        ]
    );
    // Key, timestamp and headers are kept.
    assert_eq!(out.records[0].key, record("").key);
    assert_eq!(out.records[0].headers, record("").headers);
    assert_eq!(out.records[0].timestamp, record("").timestamp);
}

#[test]
fn modules_run_in_priority_order_the_splitter_feeds_the_enricher() {
    let mut enrich = spec("enrich", 2, OnError::Reject);
    enrich.config = b"etl-test".to_vec();
    // Given in the wrong order: the pipeline sorts by priority.
    let p = pipeline(vec![
        deploy(enrich, &c_module("enrich")),
        deploy(spec("split", 1, OnError::Reject), &c_module("split")),
    ]);
    let out = p
        .run(
            "lines",
            0,
            vec![record("one\ntwo\n\nthree"), record("single")],
        )
        .unwrap();
    assert_eq!(values(&out.records), ["one", "two", "three", "single"]);
    for r in &out.records {
        assert_eq!(
            r.headers,
            vec![
                ("trace".to_string(), Some(Bytes::from_static(b"abc"))),
                (
                    "enriched-by".to_string(),
                    Some(Bytes::from_static(b"etl-test"))
                ),
            ]
        );
        assert_eq!(r.key, record("").key);
    }
    let ran: Vec<&str> = out.ran.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(ran, ["split", "enrich"]);
}

#[test]
fn wat_examples_keep_and_drop() {
    let p = pipeline(vec![
        deploy(spec("noop", 0, OnError::Reject), &wat_module("noop")),
        deploy(
            spec("no-tombstones", 1, OnError::Reject),
            &wat_module("drop_tombstones"),
        ),
    ]);
    let mut tombstone = record("");
    tombstone.value = None;
    let mut keyless = record("kept");
    keyless.key = None;
    let out = p
        .run("t", 0, vec![record("a"), tombstone, keyless.clone()])
        .unwrap();
    assert_eq!(out.records, vec![record("a"), keyless]);
}

#[test]
fn topic_filters_decide_which_batches_a_module_sees() {
    let mut s = spec("only-logs", 0, OnError::Reject);
    s.topic_filters = vec![TopicFilterSpec::Wildcard("logs.*.error".into())];
    let p = pipeline(vec![deploy(s, &hostile("i64.const 1"))]);
    assert!(p.applies_to("logs.api.error"));
    assert!(!p.applies_to("logs.api.info"));
    let untouched = p.run("logs.api.info", 0, vec![record("x")]).unwrap();
    assert_eq!(untouched.records.len(), 1);
    assert!(untouched.ran.is_empty());
    assert!(
        p.run("logs.api.error", 0, vec![record("x")])
            .unwrap()
            .records
            .is_empty()
    );
}

#[test]
fn an_infinite_loop_is_stopped_at_the_time_limit() {
    let looping = hostile("(loop $forever (br $forever)) i64.const 0");
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let p = pipeline_with(
        vec![deploy(spec("spin", 0, OnError::Reject), &looping)],
        limits,
    );
    let started = Instant::now();
    let e = p.run("t", 0, vec![record("x")]).unwrap_err();
    println!(
        "stopped after {:?} (limit 200 ms, tick 10 ms)",
        started.elapsed()
    );
    assert_eq!(
        e,
        EtlError::Refused {
            module: "spin".into(),
            error: ExecError::Timeout(Duration::from_millis(200))
        }
    );
    // A module's own lower limit applies.
    let mut own = spec("spin-fast", 0, OnError::Drop);
    own.execution_timeout_ms = Some(50);
    let p = pipeline(vec![deploy(own, &looping)]);
    let out = p.run("t", 0, vec![record("x"), record("y")]).unwrap();
    assert!(out.records.is_empty());
    assert_eq!(
        p.modules()[0]
            .stats
            .timeouts
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[test]
fn a_memory_bomb_hits_the_cap_and_the_host_lives() {
    // Grows one page at a time until memory.grow fails, then traps.
    let bomb = hostile(
        "(loop $more (br_if $more (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0)))) unreachable",
    );
    let mut s = spec("bomb", 0, OnError::Pass);
    s.memory_limit_bytes = Some(2 << 20);
    let p = pipeline(vec![deploy(s, &bomb)]);
    let out = p.run("t", 0, vec![record("x")]).unwrap();
    assert_eq!(values(&out.records), ["x"], "passed through unchanged");
    let peak = p.modules()[0]
        .stats
        .peak_memory
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(peak <= 2 << 20, "grew to {peak} bytes past the 2 MiB cap");
    assert_eq!(
        p.modules()[0]
            .stats
            .errors
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn every_failure_policy_does_what_it_says() {
    let trap = hostile("unreachable");
    let run = |on_error: OnError| {
        let p = pipeline(vec![deploy(spec("trap", 0, on_error), &trap)]);
        p.run("orders", 0, vec![record("a"), record("b")])
    };
    match run(OnError::Reject).unwrap_err() {
        EtlError::Refused {
            module,
            error: ExecError::Trap(why),
        } => {
            assert_eq!(module, "trap");
            assert!(why.contains("unreachable"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(values(&run(OnError::Pass).unwrap().records), ["a", "b"]);
    assert!(run(OnError::Drop).unwrap().records.is_empty());
    let dlq = run(OnError::DeadLetter("orders.dlq".into())).unwrap();
    assert!(dlq.records.is_empty());
    assert_eq!(dlq.dead_letters.len(), 2);
    assert_eq!(dlq.dead_letters[0].0, "orders.dlq");
    assert_eq!(dlq.dead_letters[0].1, record("a"));
    assert!(dlq.dead_letters[0].2.starts_with("trap: "));
    // -1 is a rejection, the module's own verdict.
    let p = pipeline(vec![deploy(
        spec("no", 0, OnError::Reject),
        &hostile("i64.const -1"),
    )]);
    assert!(matches!(
        p.run("t", 0, vec![record("x")]),
        Err(EtlError::Refused {
            error: ExecError::Rejected,
            ..
        })
    ));
}

#[test]
fn a_module_that_traps_is_recycled() {
    // Traps on the first call of an instance only: with a fresh instance after each trap,
    // every record traps.
    let first_call_traps = hostile(
        "(if (i32.eqz (global.get $calls)) (then (global.set $calls (i32.const 1)) unreachable)) i64.const 0",
    );
    let p = pipeline(vec![deploy(
        spec("flaky", 0, OnError::Pass),
        &first_call_traps,
    )]);
    p.run("t", 0, vec![record("a"), record("b"), record("c")])
        .unwrap();
    assert_eq!(
        p.modules()[0]
            .stats
            .errors
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn malformed_output_is_a_typed_error() {
    for (body, what) in [
        // Out of the module's memory.
        ("i64.const 0x7fff000000000010", "outside"),
        // 1000 records in 8 bytes.
        (
            "(i32.store (i32.const 64) (i32.const 1000)) i64.const 0x0000004000000008",
            "more records than bytes",
        ),
        // A reserved answer.
        ("i64.const 7", "code 7"),
    ] {
        let p = pipeline(vec![deploy(
            spec("bad", 0, OnError::Reject),
            &hostile(body),
        )]);
        let e = p.run("t", 0, vec![record("x")]).unwrap_err().to_string();
        assert!(e.contains(what), "{body}: {e}");
    }
}

#[test]
fn modules_outside_the_abi_are_refused_when_loaded() {
    let rt = runtime();
    let importing = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1) (func (export "rustmq_etl_v1"))
            (func (export "alloc") (param i32) (result i32) i32.const 0)
            (func (export "process") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    assert_eq!(
        rt.load(&importing).err(),
        Some(LoadError::Imports(
            "wasi_snapshot_preview1::fd_write".into()
        ))
    );
    let unmarked = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) i32.const 0)
            (func (export "process") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    assert!(
        matches!(rt.load(&unmarked), Err(LoadError::Missing(m)) if m.contains("rustmq_etl_v1"))
    );
    let wrong_type = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "rustmq_etl_v1"))
            (func (export "alloc") (param i32) (result i32) i32.const 0)
            (func (export "process") (param i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    assert!(matches!(rt.load(&wrong_type), Err(LoadError::Missing(m)) if m.contains("process")));
    assert!(matches!(rt.load(b"not wasm"), Err(LoadError::Invalid(_))));
    // The C examples import nothing.
    for name in ["json_filter", "pii_mask", "enrich", "split"] {
        rt.load(&c_module(name)).unwrap();
    }
}
