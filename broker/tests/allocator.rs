//! The broker binary's jemalloc options: the decay compiled into `rustmq-broker` is the one
//! jemalloc runs with, and `_RJEM_MALLOC_CONF` in the environment still overrides it. Read
//! from jemalloc's own statistics (`stats_print` at exit, as JSON) of the real binary.

use std::process::Command;

/// jemalloc's `opt` section as the binary reports it at exit, with `extra` appended to
/// `_RJEM_MALLOC_CONF` after the options that make it print (only its general section).
fn jemalloc_options(extra: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    // `--check-wal-uring` exits through `main` right after its check, so jemalloc's exit
    // hook runs; whether io_uring works here does not matter.
    let out = Command::new(env!("CARGO_BIN_EXE_rustmq-broker"))
        .arg("--check-wal-uring")
        .arg(dir.path())
        .env(
            "_RJEM_MALLOC_CONF",
            format!("stats_print:true,stats_print_opts:Jmdablxeh{extra}"),
        )
        .output()
        .expect("broker binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let start = stderr
        .find("{\"jemalloc\"")
        .unwrap_or_else(|| panic!("no jemalloc statistics in stderr:\n{stderr}"));
    let mut stream =
        serde_json::Deserializer::from_str(&stderr[start..]).into_iter::<serde_json::Value>();
    let stats = stream
        .next()
        .expect("one JSON document")
        .expect("jemalloc's statistics parse as JSON");
    stats["jemalloc"]["opt"].clone()
}

#[test]
fn freed_pages_go_back_over_a_minute_from_a_background_thread_by_default() {
    let opt = jemalloc_options("");
    assert_eq!(opt["dirty_decay_ms"], 60_000, "{opt}");
    assert_eq!(opt["background_thread"], true, "{opt}");
}

#[test]
fn the_environment_overrides_the_compiled_in_decay() {
    let opt = jemalloc_options(",dirty_decay_ms:10000,background_thread:false");
    assert_eq!(opt["dirty_decay_ms"], 10_000, "{opt}");
    assert_eq!(opt["background_thread"], false, "{opt}");
}
