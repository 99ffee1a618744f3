//! Deciding a request against one version of the ACL rules, and the decision cache in front
//! of it. Evaluation: a super-user is allowed; otherwise any matching deny refuses; otherwise
//! any matching allow grants; otherwise the request is refused (or, with
//! `allow_if_no_acl`, allowed when no rule at all names the resource, Kafka's
//! `allow.everyone.if.no.acl.found`).
//!
//! The cache is exact: its key carries the epoch of the rule set the decision was computed
//! from (every replacement, of the ACL version or of settings such as super-users, is a new
//! epoch), and a lookup uses the epoch of the set it evaluates against, so a decision made
//! before a change is never served after it. Decisions that depend on a time window are not
//! cached. A per-thread table in front of the shared cache follows the same rule.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::model::{AclRule, Effect, PatternType, Request, ResourceType};

/// Why a request was allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reason {
    /// The principal is a super-user.
    SuperUser,
    /// A deny rule matched (its index in the rule set).
    DeniedByRule {
        /// Index of the rule.
        rule: usize,
    },
    /// An allow rule matched and no deny did.
    AllowedByRule {
        /// Index of the rule.
        rule: usize,
    },
    /// No rule allows it.
    NoMatchingAllow,
    /// No rule names the resource and `allow_if_no_acl` is on.
    NoAclForResource,
}

/// A decision, with the ACL version it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Why.
    pub reason: Reason,
    /// The version of the rules it was computed from.
    pub acl_version: u64,
}

/// One version of the rules, indexed by resource for lookups that do not scan them all.
#[derive(Debug, Default)]
pub struct AclSet {
    version: u64,
    /// Which replacement in this process put the set in force (the cache's key): settings
    /// such as super-users can change while the version stays.
    epoch: u64,
    rules: Vec<AclRule>,
    super_users: HashSet<String>,
    allow_if_no_acl: bool,
    /// (type, literal name) -> rules; the name `*` is the wildcard.
    literal: HashMap<(ResourceType, String), Vec<usize>>,
    /// (type, prefix) -> rules.
    prefixed: HashMap<(ResourceType, String), Vec<usize>>,
    /// Lengths of the prefixes present, per type, so a lookup tries only those.
    prefix_lengths: HashMap<ResourceType, Vec<usize>>,
}

impl AclSet {
    /// Indexes `rules` as version `version`.
    ///
    /// ```
    /// use rustmq_security::acl::{AclRule, AclSet, Conditions, Effect, Operation, Request, ResourceType};
    /// let rule = AclRule {
    ///     principal: "orders-app".into(),
    ///     resource: "topic.orders.*".parse().unwrap(),
    ///     operations: vec![Operation::Write],
    ///     effect: Effect::Allow,
    ///     conditions: Conditions::default(),
    ///     source: None,
    /// };
    /// let set = AclSet::new(1, vec![rule], ["admin".to_string()], false);
    /// let req = Request {
    ///     principal: "orders-app".into(),
    ///     host: None,
    ///     operation: Operation::Write,
    ///     resource_type: ResourceType::Topic,
    ///     resource: "orders.eu".into(),
    /// };
    /// assert!(set.evaluate(&req, jiff::Timestamp::now()).0.allowed);
    /// ```
    pub fn new(
        version: u64,
        rules: Vec<AclRule>,
        super_users: impl IntoIterator<Item = String>,
        allow_if_no_acl: bool,
    ) -> Self {
        let mut set = Self {
            version,
            super_users: super_users.into_iter().collect(),
            allow_if_no_acl,
            ..Default::default()
        };
        for (i, r) in rules.iter().enumerate() {
            let key = (r.resource.resource_type, r.resource.name.clone());
            match r.resource.pattern_type {
                PatternType::Literal => set.literal.entry(key).or_default().push(i),
                PatternType::Prefixed => {
                    let lengths = set.prefix_lengths.entry(key.0).or_default();
                    if !lengths.contains(&key.1.len()) {
                        lengths.push(key.1.len());
                    }
                    set.prefixed.entry(key).or_default().push(i)
                }
            }
        }
        set.rules = rules;
        set
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The rules, in their order.
    pub fn rules(&self) -> &[AclRule] {
        &self.rules
    }

    /// Indexes of the rules whose resource pattern matches the request's resource.
    fn candidates<'a>(&'a self, req: &'a Request) -> impl Iterator<Item = usize> + 'a {
        let t = req.resource_type;
        let literal = [req.resource.as_str(), "*"]
            .into_iter()
            .filter_map(move |n| self.literal.get(&(t, n.to_string())))
            .flatten()
            .copied();
        let prefixed = self
            .prefix_lengths
            .get(&t)
            .into_iter()
            .flatten()
            .filter_map(move |&len| {
                let prefix = req.resource.get(..len)?;
                self.prefixed.get(&(t, prefix.to_string()))
            })
            .flatten()
            .copied();
        literal.chain(prefixed)
    }

    /// Decides `req` at `now`; the second value says whether the decision may be cached
    /// (no rule concerning it has a time window).
    pub fn evaluate(&self, req: &Request, now: Timestamp) -> (Decision, bool) {
        let decide = |allowed, reason| Decision {
            allowed,
            reason,
            acl_version: self.version,
        };
        if self.super_users.contains(&req.principal) {
            return (decide(true, Reason::SuperUser), true);
        }
        let mut cacheable = true;
        let mut allow = None;
        let mut deny = None;
        let mut any_for_resource = false;
        for i in self.candidates(req) {
            any_for_resource = true;
            let r = &self.rules[i];
            if !r.concerns(req) {
                continue;
            }
            if let Some(w) = &r.conditions.window {
                cacheable = false;
                if !w.contains(now) {
                    continue;
                }
            }
            match r.effect {
                // The lowest index, so the reported rule does not depend on index order.
                Effect::Deny => deny = Some(deny.map_or(i, |d: usize| d.min(i))),
                Effect::Allow => allow = Some(allow.map_or(i, |a: usize| a.min(i))),
            }
        }
        let d = match (deny, allow) {
            (Some(rule), _) => decide(false, Reason::DeniedByRule { rule }),
            (None, Some(rule)) => decide(true, Reason::AllowedByRule { rule }),
            (None, None) if self.allow_if_no_acl && !any_for_resource => {
                decide(true, Reason::NoAclForResource)
            }
            (None, None) => decide(false, Reason::NoMatchingAllow),
        };
        (d, cacheable)
    }
}

/// The rules in force and the decision cache: brokers and controllers hold one, replace its
/// rules whole when the controllers commit a change, and ask it for every request.
///
/// Two cache levels, both exact: a small per-thread table checked first (no lock, no shared
/// cache line: a repeated request from the same connection costs a hash and a comparison)
/// and the shared moka cache behind it. An entry of either serves only a request equal to
/// the one it was computed for, by this authorizer, under the epoch in force.
pub struct Authorizer {
    /// Tells this authorizer's entries in the per-thread tables from other instances'.
    id: u64,
    current: ArcSwap<AclSet>,
    epochs: AtomicU64,
    /// Keyed by a hash of (epoch, request) so a lookup allocates nothing; the entry keeps
    /// both, and a hit counts only when they are equal (a hash collision is a miss).
    cache: moka::sync::Cache<u64, Arc<Cached>>,
}

struct Cached {
    epoch: u64,
    request: Request,
    decision: Decision,
}

/// Slots of the per-thread table (direct-mapped by the key's low bits).
const NEAR_SLOTS: usize = 256;

/// An entry of the shared cache, shared (not copied) into a per-thread slot.
struct NearEntry {
    authorizer: u64,
    key: u64,
    cached: Arc<Cached>,
}

thread_local! {
    static NEAR: RefCell<Vec<Option<NearEntry>>> =
        RefCell::new((0..NEAR_SLOTS).map(|_| None).collect());
}

static AUTHORIZER_IDS: AtomicU64 = AtomicU64::new(1);

fn cache_key(epoch: u64, req: &Request) -> u64 {
    use std::hash::BuildHasher;
    // A fixed seed: the same request hashes alike in every process run.
    foldhash::fast::FixedState::with_seed(0x5275_7374_4d51).hash_one((epoch, req))
}

impl Authorizer {
    /// Starts with `set`; the cache holds up to `capacity` decisions.
    pub fn new(set: AclSet, capacity: u64) -> Self {
        Self {
            id: AUTHORIZER_IDS.fetch_add(1, Ordering::Relaxed),
            current: ArcSwap::from_pointee(set),
            epochs: AtomicU64::new(0),
            cache: moka::sync::Cache::new(capacity),
        }
    }

    /// Puts `set` in force in one step: a request sees either the old rules or the new ones,
    /// never a mixture (replacing a principal's rules never shows a moment of denial).
    pub fn replace(&self, mut set: AclSet) {
        set.epoch = self.epochs.fetch_add(1, Ordering::Relaxed) + 1;
        self.current.store(Arc::new(set));
        // Entries of older epochs can never be hit again; free their room.
        self.cache.invalidate_all();
    }

    /// The rules in force.
    pub fn current(&self) -> Arc<AclSet> {
        self.current.load_full()
    }

    /// Computes the decisions of `requests` under the rules in force and keeps them in the
    /// shared cache (`acl cache warm`), so their first asking finds them; returns how many
    /// of them are cached now (computed here or found). Decisions that depend on the clock (time windows) are not cached and are
    /// left out. A change of the rules meanwhile makes these entries unreachable, never
    /// wrong: they carry the epoch they were computed under.
    ///
    /// ```
    /// use rustmq_security::acl::{AclSet, Authorizer, Operation, Request, ResourceType};
    /// let a = Authorizer::new(AclSet::default(), 1_000);
    /// let req = Request {
    ///     principal: "alice".into(),
    ///     host: None,
    ///     operation: Operation::Read,
    ///     resource_type: ResourceType::Topic,
    ///     resource: "orders".into(),
    /// };
    /// assert_eq!(a.warm([req.clone()]), 1);
    /// assert!(!a.authorize(&req).allowed);
    /// ```
    pub fn warm(&self, requests: impl IntoIterator<Item = Request>) -> usize {
        let set = self.current.load_full();
        let now = Timestamp::now();
        let mut cached = 0;
        for req in requests {
            let key = cache_key(set.epoch, &req);
            if self
                .cache
                .get(&key)
                .is_some_and(|c| c.epoch == set.epoch && c.request == req)
            {
                cached += 1;
                continue;
            }
            let (decision, cacheable) = set.evaluate(&req, now);
            if cacheable {
                self.cache.insert(
                    key,
                    Arc::new(Cached {
                        epoch: set.epoch,
                        request: req,
                        decision,
                    }),
                );
                cached += 1;
            }
        }
        cached
    }

    /// Decides `req` now, from the cache when it can.
    pub fn authorize(&self, req: &Request) -> Decision {
        self.authorize_at(req, Timestamp::now())
    }

    /// Decides `req` at `now`, from the cache when it can.
    pub fn authorize_at(&self, req: &Request, now: Timestamp) -> Decision {
        let set = self.current.load();
        let key = cache_key(set.epoch, req);
        let slot = key as usize % NEAR_SLOTS;
        let near = NEAR.with_borrow(|table| {
            table[slot]
                .as_ref()
                .filter(|e| {
                    e.authorizer == self.id
                        && e.key == key
                        && e.cached.epoch == set.epoch
                        && e.cached.request == *req
                })
                .map(|e| e.cached.decision.clone())
        });
        if let Some(d) = near {
            return d;
        }
        let cached = match self
            .cache
            .get(&key)
            .filter(|c| c.epoch == set.epoch && c.request == *req)
        {
            Some(c) => c,
            None => {
                let (d, cacheable) = set.evaluate(req, now);
                if !cacheable {
                    return d;
                }
                let c = Arc::new(Cached {
                    epoch: set.epoch,
                    request: req.clone(),
                    decision: d,
                });
                self.cache.insert(key, c.clone());
                c
            }
        };
        let d = cached.decision.clone();
        NEAR.with_borrow_mut(|table| {
            table[slot] = Some(NearEntry {
                authorizer: self.id,
                key,
                cached,
            });
        });
        d
    }
}
