//! The example modules shipped in `etl/modules/`, built from source for tests, benchmarks and
//! the CLI's documentation: C with Debian's clang for `wasm32` (no libc), WAT through the
//! `wat` crate. Behind the `examples` feature: it runs a compiler, which no broker does.

use std::path::{Path, PathBuf};

/// An example that did not build.
#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    /// clang could not be run (not installed).
    #[error("cannot run clang (Debian's clang and lld build the C examples): {0}")]
    NoCompiler(std::io::Error),
    /// clang refused the source.
    #[error("clang failed on {0}")]
    Compile(PathBuf),
    /// The WAT text does not parse.
    #[error("{0}")]
    Wat(#[from] wat::Error),
    /// The built module could not be read back.
    #[error("reading the built module: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the examples' sources are.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("modules")
}

/// Builds the C example `name` (`etl/modules/<name>.c`).
///
/// ```no_run
/// let wasm = rustmq_etl::examples::c("json_filter").unwrap();
/// assert_eq!(&wasm[..4], b"\0asm");
/// ```
pub fn c(name: &str) -> Result<Vec<u8>, ExampleError> {
    static BUILT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out =
        std::env::temp_dir().join(format!("rustmq-etl-{}-{n}-{name}.wasm", std::process::id()));
    let source = dir().join(format!("{name}.c"));
    let status = std::process::Command::new("clang")
        .args(["--target=wasm32", "-O2", "-mbulk-memory", "-nostdlib"])
        .args(["-Wall", "-Wextra", "-Werror", "-Wl,--no-entry", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .map_err(ExampleError::NoCompiler)?;
    if !status.success() {
        return Err(ExampleError::Compile(source));
    }
    let wasm = std::fs::read(&out)?;
    let _ = std::fs::remove_file(&out);
    Ok(wasm)
}

/// Builds the WAT example `name` (`etl/modules/<name>.wat`).
///
/// ```
/// let wasm = rustmq_etl::examples::wat("noop").unwrap();
/// assert_eq!(&wasm[..4], b"\0asm");
/// ```
pub fn wat(name: &str) -> Result<Vec<u8>, ExampleError> {
    Ok(wat::parse_file(dir().join(format!("{name}.wat")))?)
}

/// A module whose `process` body is `body` (WAT, with `$ptr` and `$len` in scope and an
/// `i64` to leave), with the ABI's other exports: one 64 KiB page of memory and an `alloc`
/// that always answers 1024. For hostile modules in tests (loops, traps, bad answers).
///
/// ```
/// let spin = rustmq_etl::examples::with_process("(loop $l (br $l)) i64.const 0").unwrap();
/// assert_eq!(&spin[..4], b"\0asm");
/// ```
pub fn with_process(body: &str) -> Result<Vec<u8>, ExampleError> {
    Ok(wat::parse_str(format!(
        r#"(module
            (memory (export "memory") 1)
            (global $calls (mut i32) (i32.const 0))
            (func (export "rustmq_etl_v1"))
            (func (export "alloc") (param i32) (result i32) i32.const 1024)
            (func (export "process") (param $ptr i32) (param $len i32) (result i64) {body}))"#
    ))?)
}
