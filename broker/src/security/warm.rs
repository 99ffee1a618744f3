//! `acl cache warm`: decisions of named principals computed ahead of their requests.
//!
//! Every rule change starts the decision cache afresh (its entries carry the version), so
//! the first requests of every principal after a change pay a full evaluation. For the
//! principals listed in the replicated ACL state, the broker computes their decisions on
//! every topic (read, write, describe) for every address they have connected from, on a
//! blocking thread: after every rule change, when the list or the topics change, and when a
//! listed principal connects from a new address. A decision is cached only for the exact
//! request it answers (the address is part of it), so the addresses every principal
//! connected from are remembered (bounded), and a principal listed while it is connected is
//! warmed at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustmq_controller::metadata::ClusterMetadata;
use rustmq_security::acl::{Authorizer, Operation, Request, ResourceType};

/// Addresses remembered per principal (the most recent ones).
const HOSTS_PER_PRINCIPAL: usize = 16;

/// Principals whose addresses are remembered; past it, only listed ones are.
const PRINCIPALS_REMEMBERED: usize = 10_000;

/// The topic operations a client's requests are checked for.
const TOPIC_OPERATIONS: [Operation; 3] = [Operation::Read, Operation::Write, Operation::Describe];

#[derive(Default)]
struct State {
    principals: Vec<String>,
    hosts: HashMap<String, Vec<IpAddr>>,
    topics: Arc<Vec<String>>,
    /// The rules version, principals and topics the last full warm-up ran for.
    warmed_for: Option<(u64, Vec<String>, Arc<Vec<String>>)>,
}

/// Computes listed principals' decisions ahead; see the module documentation.
pub(crate) struct CacheWarmer {
    authorizer: Arc<Authorizer>,
    state: parking_lot::Mutex<State>,
    /// Most decisions one warm-up computes: half the cache, so warming never evicts
    /// everything the cache held.
    budget: usize,
    warmed: AtomicU64,
}

impl CacheWarmer {
    pub(crate) fn new(authorizer: Arc<Authorizer>, cache_capacity: u64) -> Self {
        Self {
            authorizer,
            state: parking_lot::Mutex::default(),
            budget: usize::try_from(cache_capacity / 2).unwrap_or(usize::MAX),
            warmed: AtomicU64::new(0),
        }
    }

    /// Decisions computed ahead since start.
    pub(crate) fn warmed(&self) -> u64 {
        self.warmed.load(Ordering::Relaxed)
    }

    /// Takes the list, the topics and the rules version of `md` (after the rules in force
    /// were replaced), and warms everything again when any of them changed.
    pub(crate) fn follow(self: &Arc<Self>, md: &ClusterMetadata) {
        let pairs = {
            let mut st = self.state.lock();
            if md.acls.warm_principals.is_empty() {
                // Nothing to warm (the usual case): no comparing every topic name on every
                // metadata change. The topics are read again once a principal is listed.
                if !st.principals.is_empty() {
                    st.principals.clear();
                    st.warmed_for = None;
                }
                return;
            }
            if st.principals != md.acls.warm_principals {
                st.principals = md.acls.warm_principals.clone();
            }
            if st.topics.len() != md.topics.len()
                || st.topics.iter().zip(md.topics.keys()).any(|(a, b)| a != b)
            {
                st.topics = Arc::new(md.topics.keys().cloned().collect());
            }
            let now = (md.acls.version, st.principals.clone(), st.topics.clone());
            if st.warmed_for.as_ref() == Some(&now) {
                return;
            }
            st.warmed_for = Some(now);
            let pairs: Vec<(String, IpAddr)> = st
                .principals
                .iter()
                .filter_map(|p| st.hosts.get(p).map(|hs| (p, hs)))
                .flat_map(|(p, hs)| hs.iter().map(|h| (p.clone(), *h)))
                .collect();
            (pairs, st.topics.clone())
        };
        self.spawn(pairs.0, pairs.1);
    }

    /// A client authenticated as `principal` from `host`: remembers the address, and warms
    /// the principal's decisions there if it is listed and the address is new.
    pub(crate) fn connected(self: &Arc<Self>, principal: &str, host: IpAddr) {
        let topics = {
            let mut st = self.state.lock();
            let listed = st.principals.iter().any(|p| p == principal);
            if !listed
                && !st.hosts.contains_key(principal)
                && st.hosts.len() >= PRINCIPALS_REMEMBERED
            {
                return;
            }
            let hosts = st.hosts.entry(principal.to_string()).or_default();
            if hosts.contains(&host) {
                return;
            }
            if hosts.len() == HOSTS_PER_PRINCIPAL {
                hosts.remove(0);
            }
            hosts.push(host);
            if !listed {
                return;
            }
            st.topics.clone()
        };
        self.spawn(vec![(principal.to_string(), host)], topics);
    }

    fn spawn(self: &Arc<Self>, pairs: Vec<(String, IpAddr)>, topics: Arc<Vec<String>>) {
        if pairs.is_empty() || topics.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.clone();
        // Off the request threads: 100 principals on 10,000 topics are millions of
        // evaluations.
        rt.spawn_blocking(move || {
            let requests = pairs
                .iter()
                .flat_map(|(p, h)| {
                    topics.iter().flat_map(move |t| {
                        TOPIC_OPERATIONS.map(|operation| Request {
                            principal: p.clone(),
                            host: Some(*h),
                            operation,
                            resource_type: ResourceType::Topic,
                            resource: t.clone(),
                        })
                    })
                })
                .take(me.budget);
            let n = me.authorizer.warm(requests);
            me.warmed.fetch_add(n as u64, Ordering::Relaxed);
            tracing::debug!(decisions = n, "ACL decisions warmed");
        });
    }
}
