//! Any bytes as a recording, pushed in pieces: the WAV parser ends, never
//! panics, and gives the same answer however the bytes are cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use playback_core::peaks::PeaksBuilder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut whole = PeaksBuilder::new();
    whole.push(bytes);
    let mut pieces = PeaksBuilder::new();
    for piece in bytes.chunks(usize::from(cut).max(1)) {
        pieces.push(piece);
    }
    assert_eq!(whole.finish(), pieces.finish());
});
