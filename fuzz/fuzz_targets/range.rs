//! Any `Range` / `If-Range` / `If-None-Match` header and any size: no panic,
//! and every partial answer lies inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use playback_core::range::{decide, Conditions, ServeDecision};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap());
    let text = String::from_utf8_lossy(&data[8..]);
    let mut parts = text.splitn(3, '\n');
    let range = parts.next();
    let if_range = parts.next();
    let if_none_match = parts.next();
    let d = decide(Conditions { range, if_range, if_none_match }, size, "\"etag\"");
    if let ServeDecision::Partial { first, last } = d {
        assert!(first <= last && last < size);
    }
});
