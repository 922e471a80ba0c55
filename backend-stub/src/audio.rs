//! Real, playable audio, telephone quality (8 kHz WAV), in three voices:
//! - `Tones`: 16-bit mono PCM, a sequence of half-second tones chosen from
//!   the call's seed (most calls);
//! - `Conversation`: 16-bit PCM on two channels, the agent's (first) and
//!   the customer's, speaking in turns (tones with a syllable-like
//!   envelope) with short pauses and silent stretches of 3.5 s and 4 s;
//! - `Float`: 32-bit float mono, a coding browsers play and the edge
//!   computes no waveform for.
//!
//! Any byte range of a recording can be produced on its own, so the
//! hour-long recording is generated chunk by chunk while it is sent and is
//! never held in memory whole.

use std::sync::OnceLock;

use crate::mix::splitmix;

pub const SAMPLE_RATE: u32 = 8_000;
const HEADER_LEN: u64 = 44;
const SAMPLES_PER_TONE: u64 = SAMPLE_RATE as u64 / 2;
const AMPLITUDE: f64 = 9_000.0;
/// Tones from 300 Hz to 1150 Hz in 50 Hz steps: whole numbers of hertz, so
/// a sample's phase is an exact index into one second of a sine table.
const TONE_BASE_HZ: u64 = 300;
const TONE_STEP_HZ: u64 = 50;
const TONE_COUNT: u64 = 18;

pub const CONTENT_TYPE: &str = "audio/wav";

/// A conversation's turns, repeated every `TURNS_PERIOD_MS`: who speaks
/// from when to when (ms into the period; 0 is the agent, 1 the customer).
/// Between them: half-second pauses, and silences of 3.5 s (12–15.5 s)
/// and 4 s (26–30 s).
pub const TURNS: [(usize, u64, u64); 4] = [
    (0, 0, 6_000),
    (1, 6_500, 12_000),
    (0, 15_500, 21_000),
    (1, 21_500, 26_000),
];
pub const TURNS_PERIOD_MS: u64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    Tones,
    Conversation,
    Float,
}

impl Voice {
    fn channels(self) -> u16 {
        match self {
            Voice::Conversation => 2,
            Voice::Tones | Voice::Float => 1,
        }
    }

    fn bytes_per_sample(self) -> u64 {
        match self {
            Voice::Float => 4,
            Voice::Tones | Voice::Conversation => 2,
        }
    }

    fn frame_bytes(self) -> u64 {
        self.bytes_per_sample() * u64::from(self.channels())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    seed: u64,
    frames: u64,
    voice: Voice,
    lying_header: bool,
}

/// The length a lying header gives its chunk in place of `data` (at offset
/// 36): added to where the chunk's body starts (44), it wraps 32 bits back
/// to 12, the `fmt ` chunk, so a parser whose offsets wrap reads the same
/// two chunks forever.
pub const LYING_CHUNK_LEN: u32 = u32::MAX - (HEADER_LEN as u32 - 12) + 1;

impl Recording {
    /// A recording of tones (`Voice::Tones`).
    pub fn new(seed: u64, duration_s: u32) -> Self {
        Recording::with_voice(seed, duration_s, Voice::Tones)
    }

    pub fn with_voice(seed: u64, duration_s: u32, voice: Voice) -> Self {
        Recording {
            seed,
            frames: duration_s as u64 * SAMPLE_RATE as u64,
            voice,
            lying_header: false,
        }
    }

    /// The same recording with a corrupted header: its `data` chunk is a
    /// `JUNK` chunk of `LYING_CHUNK_LEN` bytes, longer than the file.
    pub fn with_lying_header(self) -> Self {
        Recording {
            lying_header: true,
            ..self
        }
    }

    pub fn voice(&self) -> Voice {
        self.voice
    }

    /// Length of the whole WAV file in bytes.
    pub fn len(&self) -> u64 {
        HEADER_LEN + self.frames * self.voice.frame_bytes()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// A strong validator that changes whenever the bytes would.
    pub fn etag(&self) -> String {
        let voice = match self.voice {
            Voice::Tones => 0,
            Voice::Conversation => 1,
            Voice::Float => 2,
        };
        format!(
            "\"{:016x}\"",
            splitmix(self.seed ^ self.len() ^ (voice << 60) ^ u64::from(self.lying_header))
        )
    }

    /// Writes the file's bytes from `offset` into `buf` (as many as fit and
    /// exist) and returns how many were written.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let end = self.len().min(offset.saturating_add(buf.len() as u64));
        if offset >= end {
            return 0;
        }
        let header = self.header();
        let (frame_bytes, sample_bytes) = (self.voice.frame_bytes(), self.voice.bytes_per_sample());
        for (i, pos) in (offset..end).enumerate() {
            buf[i] = if pos < HEADER_LEN {
                header[pos as usize]
            } else {
                let at = pos - HEADER_LEN;
                let within = at % frame_bytes;
                let sample = self.sample(at / frame_bytes, (within / sample_bytes) as usize);
                sample[(within % sample_bytes) as usize]
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

    /// Whether `channel` speaks at `frame` (always, but for a conversation).
    pub fn speaks(&self, frame: u64, channel: usize) -> bool {
        if self.voice != Voice::Conversation {
            return true;
        }
        let ms = frame * 1000 / u64::from(SAMPLE_RATE) % TURNS_PERIOD_MS;
        TURNS
            .iter()
            .any(|&(who, from, to)| who == channel && (from..to).contains(&ms))
    }

    /// One sample's bytes (little-endian; the first 2 or 4 are used).
    fn sample(&self, frame: u64, channel: usize) -> [u8; 4] {
        let tone = splitmix(self.seed ^ (frame / SAMPLES_PER_TONE) ^ channel as u64) % TONE_COUNT;
        let hz = TONE_BASE_HZ + tone * TONE_STEP_HZ;
        let phase = (hz * frame) % SAMPLE_RATE as u64;
        let value = sine_table()[phase as usize];
        match self.voice {
            Voice::Tones => pcm16(value),
            Voice::Float => (f32::from(value) / 32_768.0).to_le_bytes(),
            Voice::Conversation if self.speaks(frame, channel) => {
                // Syllables: the loudness swells three times a second, never to silence.
                let t = frame as f64 / f64::from(SAMPLE_RATE);
                let envelope = 0.35 + 0.65 * (std::f64::consts::PI * 3.0 * t).sin().abs();
                pcm16((f64::from(value) * envelope) as i16)
            }
            Voice::Conversation => pcm16(0),
        }
    }

    fn header(&self) -> [u8; HEADER_LEN as usize] {
        let voice = self.voice;
        let data_len = (self.frames * voice.frame_bytes()) as u32;
        let format: u16 = if voice == Voice::Float { 3 } else { 1 };
        let mut h = [0u8; HEADER_LEN as usize];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
        h[8..16].copy_from_slice(b"WAVEfmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&format.to_le_bytes());
        h[22..24].copy_from_slice(&voice.channels().to_le_bytes());
        h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
        h[28..32].copy_from_slice(&(SAMPLE_RATE * voice.frame_bytes() as u32).to_le_bytes());
        h[32..34].copy_from_slice(&(voice.frame_bytes() as u16).to_le_bytes());
        h[34..36].copy_from_slice(&(voice.bytes_per_sample() as u16 * 8).to_le_bytes());
        if self.lying_header {
            h[36..40].copy_from_slice(b"JUNK");
            h[40..44].copy_from_slice(&LYING_CHUNK_LEN.to_le_bytes());
        } else {
            h[36..40].copy_from_slice(b"data");
            h[40..44].copy_from_slice(&data_len.to_le_bytes());
        }
        h
    }
}

fn pcm16(value: i16) -> [u8; 4] {
    let [a, b] = value.to_le_bytes();
    [a, b, 0, 0]
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

    #[test]
    fn a_conversation_is_two_channels_taking_turns_with_silent_stretches() {
        let r = Recording::with_voice(5, 60, Voice::Conversation);
        let bytes = r.to_vec();
        assert_eq!(bytes.len() as u64, 44 + 60 * 8000 * 4);
        assert_eq!(
            u16::from_le_bytes([bytes[22], bytes[23]]),
            2,
            "two channels"
        );
        let loudest = |channel: usize, from_s: f64, to_s: f64| {
            let (a, b) = ((from_s * 8000.0) as usize, (to_s * 8000.0) as usize);
            (a..b)
                .map(|f| {
                    let at = 44 + f * 4 + channel * 2;
                    i16::from_le_bytes([bytes[at], bytes[at + 1]]).unsigned_abs()
                })
                .max()
                .unwrap()
        };
        assert!(
            loudest(0, 1.0, 5.0) > 3_000 && loudest(1, 1.0, 5.0) == 0,
            "the agent speaks"
        );
        assert!(
            loudest(1, 7.0, 11.0) > 3_000 && loudest(0, 7.0, 11.0) == 0,
            "the customer answers"
        );
        for (from, to) in [(12.0, 15.5), (26.0, 30.0), (42.0, 45.5)] {
            assert_eq!(
                loudest(0, from, to).max(loudest(1, from, to)),
                0,
                "silent {from}-{to}"
            );
        }
        let ranges = [(0, 10), (44, 8), (1_000_001, 4096)];
        for (offset, len) in ranges {
            let mut buf = vec![0; len];
            let n = r.read_at(offset as u64, &mut buf);
            assert_eq!(&buf[..n], &bytes[offset..offset + n]);
        }
    }

    #[test]
    fn a_float_recording_announces_its_coding() {
        let bytes = Recording::with_voice(5, 1, Voice::Float).to_vec();
        assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), 3, "IEEE float");
        assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), 32);
        assert_eq!(bytes.len(), 44 + 8000 * 4);
    }
}
