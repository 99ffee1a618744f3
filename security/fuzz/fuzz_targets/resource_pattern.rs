//! Resource patterns and operations as rules and the CLI write them (`topic.orders`,
//! `topic.events.*`, `group.x-*`, `cluster`): parsed or refused, and a parsed pattern
//! matched against any name without panicking; its display parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustmq_security::acl::{Operation, ResourcePattern, ResourceType};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, name) = text.split_once('\n').unwrap_or((text, "orders"));
    if let Ok(p) = pattern.parse::<ResourcePattern>() {
        for t in [
            ResourceType::Topic,
            ResourceType::Group,
            ResourceType::Cluster,
            ResourceType::TransactionalId,
        ] {
            let _ = p.matches(t, name);
        }
        let again: ResourcePattern = p.to_string().parse().expect("a pattern's display parses");
        assert_eq!(again, p);
    }
    let _ = pattern.parse::<Operation>();
});
