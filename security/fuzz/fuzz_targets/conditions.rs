//! Rule conditions: host CIDRs and weekly time windows in a named zone, as a rule's JSON
//! carries them. Parsed or refused naming the field; a parsed window is asked about any
//! instant without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustmq_security::acl::{Conditions, TimeWindow};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (window, hosts) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(w) = window.parse::<TimeWindow>() {
        let at = i64::from(u32::from_le_bytes(
            data.get(..4)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default(),
        ));
        if let Ok(t) = jiff::Timestamp::from_second(at) {
            let _ = w.contains(t);
        }
    }
    let json = serde_json::json!({
        "hosts": hosts.split(',').collect::<Vec<_>>(),
        "window": window,
    });
    let _ = serde_json::from_value::<Conditions>(json);
});
