//! Principal mapping rules: any rule list parses or is refused with its position, and a
//! parsed list maps any identity without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustmq_security::principal::MappingRules;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Lines before the last are rules; the last is the identity to map.
    let mut lines: Vec<&str> = text.split('\n').collect();
    let identity = lines.pop().unwrap_or_default();
    if let Ok(rules) = MappingRules::parse(&lines) {
        let _ = rules.map(identity);
    }
});
