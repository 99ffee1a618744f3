//! The workspace's binaries for the tests that run them as processes.

use std::path::PathBuf;
use std::process::Command;

/// A workspace binary next to this test's directory, built when missing.
pub fn workspace_bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in <target>/<profile>/deps");
    let bin = target.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bin", name])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building {name}");
    }
    bin
}
