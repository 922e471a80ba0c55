//! Any bytes as a session token: no panic, and nothing but a token signed
//! with the secret is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use playback_core::session::{verify, Expect, Keys};

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let keys = Keys {
        current: &b"fuzz-secret"[..],
        previous: Some(&b"fuzz-secret-before"[..]),
    };
    if let Ok(claims) = verify(&token, keys, Expect::default(), 0) {
        // Reaching here means the fuzzer forged an HMAC-SHA256: a finding.
        panic!("accepted a forged token for {:?}", claims.bid);
    }
});
