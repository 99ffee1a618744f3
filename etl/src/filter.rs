//! Which topics a module applies to: exact names, wildcards (`logs.*.error`, where `*` is one
//! dot-separated segment or part of one), regular expressions, prefixes and suffixes. Each
//! filter is compiled once, when the module is loaded.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A topic filter as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "pattern")]
pub enum TopicFilterSpec {
    /// Exactly this topic.
    Exact(String),
    /// A pattern where `*` stands for any run of characters without a `.`.
    Wildcard(String),
    /// A regular expression (unanchored unless it anchors itself).
    Regex(String),
    /// Topics starting with this.
    Prefix(String),
    /// Topics ending with this.
    Suffix(String),
}

/// A filter that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topic filter {pattern:?}: {reason}")]
pub struct FilterError {
    /// The pattern given.
    pub pattern: String,
    /// Why it does not compile.
    pub reason: String,
}

/// A compiled topic filter.
///
/// ```
/// use rustmq_etl::filter::{TopicFilter, TopicFilterSpec};
/// let f = TopicFilter::compile(&TopicFilterSpec::Wildcard("logs.*.error".into())).unwrap();
/// assert!(f.matches("logs.api.error"));
/// assert!(!f.matches("logs.api.v2.error"));
/// ```
#[derive(Debug, Clone)]
pub enum TopicFilter {
    /// Exactly this topic.
    Exact(String),
    /// A wildcard, compiled into an anchored expression.
    Wildcard(Regex),
    /// A regular expression.
    Regex(Regex),
    /// A prefix.
    Prefix(String),
    /// A suffix.
    Suffix(String),
}

impl TopicFilter {
    /// Compiles `spec`.
    pub fn compile(spec: &TopicFilterSpec) -> Result<Self, FilterError> {
        let bad = |pattern: &str, reason: String| FilterError {
            pattern: pattern.to_string(),
            reason,
        };
        Ok(match spec {
            TopicFilterSpec::Exact(t) if t.is_empty() => {
                return Err(bad(t, "an empty topic name".into()));
            }
            TopicFilterSpec::Exact(t) => Self::Exact(t.clone()),
            TopicFilterSpec::Wildcard(w) => {
                let body: Vec<String> = w.split('*').map(regex::escape).collect();
                let re = format!("^{}$", body.join("[^.]*"));
                Self::Wildcard(Regex::new(&re).map_err(|e| bad(w, e.to_string()))?)
            }
            TopicFilterSpec::Regex(r) => Self::Regex(
                regex::RegexBuilder::new(r)
                    // A hostile pattern cannot make a filter huge.
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| bad(r, e.to_string()))?,
            ),
            TopicFilterSpec::Prefix(p) => Self::Prefix(p.clone()),
            TopicFilterSpec::Suffix(s) => Self::Suffix(s.clone()),
        })
    }

    /// Whether `topic` passes.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Exact(t) => t == topic,
            Self::Wildcard(re) | Self::Regex(re) => re.is_match(topic),
            Self::Prefix(p) => topic.starts_with(p.as_str()),
            Self::Suffix(s) => topic.ends_with(s.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_matches_as_documented() {
        use TopicFilterSpec::*;
        let table: &[(TopicFilterSpec, &str, bool)] = &[
            (Exact("events.user.login".into()), "events.user.login", true),
            (
                Exact("events.user.login".into()),
                "events.user.login2",
                false,
            ),
            (Exact("events.user.login".into()), "events.user", false),
            (Wildcard("logs.*.error".into()), "logs.api.error", true),
            (Wildcard("logs.*.error".into()), "logs..error", true),
            (Wildcard("logs.*.error".into()), "logs.api.v2.error", false),
            (Wildcard("logs.*.error".into()), "logs.api.errors", false),
            (Wildcard("logs.*".into()), "logs.api", true),
            (Wildcard("a+b.*".into()), "a+b.x", true),
            (Wildcard("a+b.*".into()), "aab.x", false),
            (Regex(r"^sensor-\d+\.".into()), "sensor-17.temp", true),
            (Regex(r"^sensor-\d+\.".into()), "sensor-x.temp", false),
            (Regex(r"temp".into()), "sensor-1.temp.raw", true),
            (Prefix("orders.".into()), "orders.eu", true),
            (Prefix("orders.".into()), "orders", false),
            (Suffix(".dlq".into()), "orders.dlq", true),
            (Suffix(".dlq".into()), "orders.dlq.v2", false),
        ];
        for (spec, topic, expected) in table {
            let f = TopicFilter::compile(spec).unwrap();
            assert_eq!(f.matches(topic), *expected, "{spec:?} on {topic}");
        }
    }

    #[test]
    fn bad_filters_are_refused_at_compile_time() {
        let e = TopicFilter::compile(&TopicFilterSpec::Regex("sensor-(".into())).unwrap_err();
        assert_eq!(e.pattern, "sensor-(");
        assert!(TopicFilter::compile(&TopicFilterSpec::Exact(String::new())).is_err());
        let huge = TopicFilterSpec::Regex(r"(\w{1000}){1000}".into());
        assert!(TopicFilter::compile(&huge).is_err(), "size-limited");
    }

    #[test]
    fn specs_read_as_the_admin_api_writes_them() {
        let s: TopicFilterSpec =
            serde_json::from_str(r#"{"kind": "wildcard", "pattern": "logs.*.error"}"#).unwrap();
        assert_eq!(s, TopicFilterSpec::Wildcard("logs.*.error".into()));
    }
}
