//! RustMQ security shared by brokers and controllers.
//!
//! - [`principal`]: the principal a client certificate stands for, by Kafka-style ordered
//!   mapping rules.
//! - [`ca`]: the certificate authority (root, intermediates, leaves with a role and a
//!   principal, revocation lists, validation).
//! - [`audit`]: the audit log (JSON lines, rotated by size, recent records in memory).
//! - [`jwt`]: bearer tokens verified against the configured issuer, audience, algorithms
//!   and key set.
//! - [`identity`]: the role and principal a certificate speaks for.
//! - [`acl`]: ACL rules (principal, resource pattern, operations, allow/deny, host ranges and
//!   time windows) and the authorizer that decides requests with an exact decision cache.

pub mod acl;
pub mod audit;
pub mod ca;
pub mod identity;
pub mod jwt;
pub mod principal;
