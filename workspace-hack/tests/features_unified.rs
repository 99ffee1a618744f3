//! Every workspace crate depends on this one, so building any one of them resolves the
//! shared dependencies' features alike (`cargo build -p rustmq-broker` followed by
//! `-p rustmq-tools`, the README's two commands, rebuilds nothing shared).
//!
//! What it cannot check: `cargo tree` resolves features with dev-dependencies included, so
//! it shows the union even where `cargo build -p X` would not. Measure instead (building the
//! broker, then the tools, into a fresh target directory; see docs/architecture.md).

#[test]
fn every_workspace_crate_depends_on_the_workspace_hack() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = ["))
        .expect("a members line");
    let mut checked = 0;
    for member in members.trim_end_matches(']').split(',') {
        let member = member.trim().trim_matches('"');
        if member.is_empty() || member == "workspace-hack" {
            continue;
        }
        let toml = std::fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
        let deps = toml
            .split("\n[dependencies]\n")
            .nth(1)
            .unwrap_or_default()
            .split("\n[")
            .next()
            .unwrap_or_default();
        assert!(
            deps.lines()
                .any(|l| l.trim() == "rustmq-workspace-hack.workspace = true"),
            "{member}/Cargo.toml: add `rustmq-workspace-hack.workspace = true` to [dependencies]"
        );
        checked += 1;
    }
    assert!(checked >= 5, "checked {checked} members");
}
