//! Real, playable audio: a 16-bit mono PCM WAV at 8 kHz (telephone quality)
//! holding a sequence of half-second tones chosen from the call's seed.
//!
//! Any byte range of a recording can be produced on its own, so the
//! hour-long recording is generated chunk by chunk while it is sent and is
//! never held in memory whole.

use std::sync::OnceLock;

use crate::catalog::splitmix;

pub const SAMPLE_RATE: u32 = 8_000;
const BYTES_PER_SAMPLE: u64 = 2;
const HEADER_LEN: u64 = 44;
const SAMPLES_PER_TONE: u64 = SAMPLE_RATE as u64 / 2;
const AMPLITUDE: f64 = 9_000.0;
/// Tones from 300 Hz to 1150 Hz in 50 Hz steps: whole numbers of hertz, so
/// a sample's phase is an exact index into one second of a sine table.
const TONE_BASE_HZ: u64 = 300;
const TONE_STEP_HZ: u64 = 50;
const TONE_COUNT: u64 = 18;

pub const CONTENT_TYPE: &str = "audio/wav";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    seed: u64,
    samples: u64,
}

impl Recording {
    pub fn new(seed: u64, duration_s: u32) -> Self {
        Recording {
            seed,
            samples: duration_s as u64 * SAMPLE_RATE as u64,
        }
    }

    /// Length of the whole WAV file in bytes.
    pub fn len(&self) -> u64 {
        HEADER_LEN + self.samples * BYTES_PER_SAMPLE
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// A strong validator that changes whenever the bytes would.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", splitmix(self.seed ^ self.len()))
    }

    /// Writes the file's bytes from `offset` into `buf` (as many as fit and
    /// exist) and returns how many were written.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let end = self.len().min(offset.saturating_add(buf.len() as u64));
        if offset >= end {
            return 0;
        }
        let header = self.header();
        for (i, pos) in (offset..end).enumerate() {
            buf[i] = if pos < HEADER_LEN {
                header[pos as usize]
            } else {
                let sample = self
                    .sample((pos - HEADER_LEN) / BYTES_PER_SAMPLE)
                    .to_le_bytes();
                sample[((pos - HEADER_LEN) % BYTES_PER_SAMPLE) as usize]
            };
        }
        (end - offset) as usize
    }

    /// The whole file; for short recordings and tests.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len() as usize];
        self.read_at(0, &mut v);
        v
    }

    fn sample(&self, index: u64) -> i16 {
        let tone = splitmix(self.seed ^ (index / SAMPLES_PER_TONE)) % TONE_COUNT;
        let hz = TONE_BASE_HZ + tone * TONE_STEP_HZ;
        let phase = (hz * index) % SAMPLE_RATE as u64;
        sine_table()[phase as usize]
    }

    fn header(&self) -> [u8; HEADER_LEN as usize] {
        let data_len = (self.samples * BYTES_PER_SAMPLE) as u32;
        let mut h = [0u8; HEADER_LEN as usize];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
        h[8..16].copy_from_slice(b"WAVEfmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
        h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
        h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
        h[28..32].copy_from_slice(&(SAMPLE_RATE * BYTES_PER_SAMPLE as u32).to_le_bytes());
        h[32..34].copy_from_slice(&(BYTES_PER_SAMPLE as u16).to_le_bytes());
        h[34..36].copy_from_slice(&16u16.to_le_bytes());
        h[36..40].copy_from_slice(b"data");
        h[40..44].copy_from_slice(&data_len.to_le_bytes());
        h
    }
}

fn sine_table() -> &'static [i16] {
    static TABLE: OnceLock<Vec<i16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..SAMPLE_RATE)
            .map(|i| {
                (AMPLITUDE * (std::f64::consts::TAU * i as f64 / SAMPLE_RATE as f64).sin()) as i16
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_is_a_valid_wav_of_its_duration() {
        let r = Recording::new(7, 3);
        let bytes = r.to_vec();
        assert_eq!(bytes.len() as u64, 44 + 3 * 8000 * 2);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        assert_eq!(
            u32::from_le_bytes(bytes[40..44].try_into().unwrap()) as usize,
            bytes.len() - 44
        );
    }

    #[test]
    fn any_range_equals_the_same_slice_of_the_whole() {
        let r = Recording::new(99, 2);
        let whole = r.to_vec();
        for (offset, len) in [
            (0, 10),
            (40, 9),
            (43, 1),
            (45, 3),
            (1000, 4096),
            (whole.len() - 3, 10),
        ] {
            let mut buf = vec![0; len];
            let n = r.read_at(offset as u64, &mut buf);
            assert_eq!(&buf[..n], &whole[offset..(offset + len).min(whole.len())]);
        }
        assert_eq!(r.read_at(whole.len() as u64, &mut [0; 4]), 0);
    }

    #[test]
    fn different_seeds_sound_different_and_etags_differ() {
        let (a, b) = (Recording::new(1, 2), Recording::new(2, 2));
        assert_ne!(a.to_vec(), b.to_vec());
        assert_ne!(a.etag(), b.etag());
        assert_eq!(a.etag(), Recording::new(1, 2).etag());
    }
}
