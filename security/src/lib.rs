//! RustMQ security shared by brokers and controllers.
//!
//! - [`principal`]: the principal a client certificate stands for, by Kafka-style ordered
//!   mapping rules.
//! - [`acl`]: ACL rules (principal, resource pattern, operations, allow/deny, host ranges and
//!   time windows) and the authorizer that decides requests with an exact decision cache.

pub mod acl;
pub mod principal;
