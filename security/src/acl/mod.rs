//! Access control: rules ([`model`]), their weekly time windows ([`window`]), and the
//! [`Authorizer`] that decides requests against one version of them with an exact cache.

mod authorizer;
mod model;
mod window;

#[cfg(test)]
mod tests;

pub use authorizer::{AclSet, Authorizer, Decision, Reason};
pub use model::{
    AclRule, Conditions, Effect, Operation, ParseError, PatternType, Request, ResourcePattern,
    ResourceType, resource_label,
};
pub use window::TimeWindow;
