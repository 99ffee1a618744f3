//! Compiles `proto/*.proto` with protox (pure Rust), so no system `protoc` is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["proto/rustmq.proto"], ["proto"])?;
    let mut config = prost_build::Config::new();
    // Record batches stay `Bytes` end to end: decoding a frame does not copy them.
    config.bytes(["."]);
    config.compile_fds(fds)?;
    Ok(())
}
