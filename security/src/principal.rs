//! The principal a client certificate stands for, by Kafka's ordered mapping rules
//! (`ssl.principal.mapping.rules`): each `RULE:regex/replacement/[L|U]` is tried in order
//! against the certificate's identity (the principal in its SAN URI, or its subject), the
//! first whose regex matches the whole identity gives the principal, and `DEFAULT` takes the
//! identity as it is.

use regex::Regex;

/// A rule list that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// Not `DEFAULT` nor `RULE:pattern/replacement/[L|U]`.
    #[error("principal mapping rule {index} '{rule}': {reason}")]
    Syntax {
        /// Position in the list, from 0.
        index: usize,
        /// The rule as given.
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// No rule matched and the list has no `DEFAULT`.
    #[error("no principal mapping rule matches '{0}'")]
    NoMatch(String),
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// Ordered mapping rules.
///
/// ```
/// use rustmq_security::principal::MappingRules;
/// let rules = MappingRules::parse(&[
///     r"RULE:^CN=([a-z]+),OU=apps,O=example$/$1@apps/L",
///     "DEFAULT",
/// ])
/// .unwrap();
/// assert_eq!(rules.map("CN=orders,OU=apps,O=example").unwrap(), "orders@apps");
/// assert_eq!(rules.map("spiffe://example/ns/x").unwrap(), "spiffe://example/ns/x");
/// ```
#[derive(Debug, Clone)]
pub struct MappingRules {
    rules: Vec<Rule>,
}

impl Default for MappingRules {
    /// `DEFAULT` alone: the identity is the principal.
    fn default() -> Self {
        Self {
            rules: vec![Rule::Default],
        }
    }
}

impl MappingRules {
    /// Parses each rule; the list must end with `DEFAULT` or every identity must match a
    /// rule (otherwise [`MappingRules::map`] refuses the identities that match none).
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Self, RuleError> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(index, r)| parse_rule(index, r.as_ref().trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// The principal of `identity`.
    pub fn map(&self, identity: &str) -> Result<String, RuleError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(identity.to_string()),
                Rule::Replace {
                    pattern,
                    replacement,
                    case,
                } => {
                    let Some(caps) = pattern.captures(identity) else {
                        continue;
                    };
                    // Kafka's rules match the whole identity, not a part of it.
                    if caps.get(0).map(|m| m.as_str().len()) != Some(identity.len()) {
                        continue;
                    }
                    let mut out = String::new();
                    caps.expand(replacement, &mut out);
                    return Ok(match case {
                        Case::Keep => out,
                        Case::Lower => out.to_lowercase(),
                        Case::Upper => out.to_uppercase(),
                    });
                }
            }
        }
        Err(RuleError::NoMatch(identity.to_string()))
    }
}

/// Splits `text` at `/` not escaped as `\/`, unescaping those.
fn split_slashes(text: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push('/');
                }
            }
            '/' => parts.push(String::new()),
            c => {
                if let Some(p) = parts.last_mut() {
                    p.push(c)
                }
            }
        }
    }
    parts
}

fn parse_rule(index: usize, rule: &str) -> Result<Rule, RuleError> {
    let bad = |reason: &str| RuleError::Syntax {
        index,
        rule: rule.to_string(),
        reason: reason.to_string(),
    };
    if rule == "DEFAULT" {
        return Ok(Rule::Default);
    }
    let Some(body) = rule.strip_prefix("RULE:") else {
        return Err(bad("expected DEFAULT or RULE:pattern/replacement/[L|U]"));
    };
    let parts = split_slashes(body);
    let (pattern, replacement, flag) = match parts.as_slice() {
        [p, r] => (p, r, ""),
        [p, r, f] => (p, r, f.as_str()),
        _ => return Err(bad("expected pattern/replacement/ with an optional L or U")),
    };
    let case = match flag {
        "" => Case::Keep,
        "L" => Case::Lower,
        "U" => Case::Upper,
        other => return Err(bad(&format!("unknown flag '{other}' (L or U)"))),
    };
    if pattern.is_empty() {
        return Err(bad("empty pattern"));
    }
    let pattern = Regex::new(pattern).map_err(|e| bad(&e.to_string()))?;
    Ok(Rule::Replace {
        pattern,
        replacement: replacement.clone(),
        case,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order_and_default_ends_them() {
        let rules = MappingRules::parse(&[
            r"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            r"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            r"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ])
        .unwrap();
        assert_eq!(
            rules.map("CN=kafka-svc,OU=ServiceUsers,O=Org").unwrap(),
            "kafka-svc"
        );
        assert_eq!(
            rules
                .map("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Palo Alto,ST=CA,C=US")
                .unwrap(),
            "duke@javasoft"
        );
        assert_eq!(rules.map("OU=x,cn=someone.else").unwrap(), "SOMEONE.ELSE");
        assert_eq!(rules.map("no common name").unwrap(), "no common name");
    }

    #[test]
    fn a_rule_must_match_the_whole_identity() {
        let rules = MappingRules::parse(&["RULE:alice/admin/"]).unwrap();
        assert_eq!(rules.map("alice").unwrap(), "admin");
        assert_eq!(
            rules.map("alice-impostor"),
            Err(RuleError::NoMatch("alice-impostor".into()))
        );
    }

    #[test]
    fn escaped_slashes_belong_to_the_pattern() {
        let rules =
            MappingRules::parse(&[r"RULE:^rustmq:\/\/principal\/(.+)$/$1/", "DEFAULT"]).unwrap();
        assert_eq!(rules.map("rustmq://principal/orders").unwrap(), "orders");
    }

    #[test]
    fn malformed_rules_are_refused_with_their_position() {
        for (rule, why) in [
            ("RULE:abc", "expected pattern/replacement/"),
            ("RULE:a/b/X", "unknown flag 'X'"),
            ("RULE:(/b/", "regex"),
            ("RULE:/x/", "empty pattern"),
            ("SOMETHING", "expected DEFAULT"),
        ] {
            let e = MappingRules::parse(&["DEFAULT", rule]).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("rule 1"), "{text}");
            assert!(
                text.contains(why) || (why == "regex" && text.contains("unclosed")),
                "{rule}: {text}"
            );
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any rule text parses or is refused with its position; a parsed list maps any
        /// identity without panicking.
        #[test]
        fn any_rule_text_is_parsed_or_refused(
            rule in "(RULE:|DEFAULT|)[^\\n]{0,30}",
            identity in ".{0,40}",
        ) {
            match MappingRules::parse(&[rule.as_str(), "DEFAULT"]) {
                Ok(rules) => {
                    prop_assert!(rules.map(&identity).is_ok());
                }
                Err(RuleError::Syntax { index, .. }) => prop_assert_eq!(index, 0),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
