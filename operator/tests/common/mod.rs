//! Test support of the operator's tests: a real control plane, pod networks in network
//! namespaces, and a node agent that runs pods as real RustMQ processes.
// Each test binary uses a part of this module.
#![allow(dead_code)]

pub mod bins;
pub mod control_plane;
pub mod network;
pub mod node_agent;

#[allow(unused_imports)]
pub use control_plane::ControlPlane;
