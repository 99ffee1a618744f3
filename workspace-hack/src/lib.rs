//! Nothing to call: this crate exists for its `Cargo.toml`, which pins the features of the
//! dependencies the broker, the controller and the tools share, so that building one of
//! them after another reuses what was built (see the manifest for why).
