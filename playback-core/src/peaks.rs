//! A recording's waveform and its silences, computed from its bytes as they
//! stream past once: the edge feeds every chunk of the one origin
//! download to a `PeaksBuilder`, in whatever pieces the network cut it
//! into, and the recording's call object keeps what `finish` gives,
//! written with its `ready`.
//!
//! - WAV only (`RIFF`/`WAVE`): 8- and 16-bit PCM, μ-law and A-law (G.711),
//!   plain or `WAVE_FORMAT_EXTENSIBLE`, mono or two channels; chunks before
//!   `data` are skipped. Anything else gets no peaks (`Unsupported`).
//! - Peaks: per channel, the largest absolute sample of each bucket of
//!   frames, as 0–255. Buckets start at 10 ms and double (pairs merged) so
//!   that there are never more than `2 × TARGET_BUCKETS`: memory is bounded
//!   whatever the recording's length, and a finished recording of a few
//!   seconds or more has at least `TARGET_BUCKETS` (enough for a
//!   2 000-pixel-wide waveform).
//! - Silences: the stretches where every channel stays below
//!   `SILENCE_LEVEL` for at least `MIN_SILENCE_MS`, judged per 10 ms block,
//!   at most `MAX_SILENCES` of them.
//!
//! Pure and incremental: the same bytes give the same result however they
//! are split (a property test checks it).

use serde::{Deserialize, Serialize};

/// Buckets a waveform aims for (two per pixel of a 2 000-pixel waveform).
pub const TARGET_BUCKETS: usize = 4_000;
/// A block's largest sample below this (of 32 767) is silent: about −40 dBFS.
pub const SILENCE_LEVEL: u16 = 328;
/// The shortest silence worth skipping.
pub const MIN_SILENCE_MS: u64 = 2_000;
/// Silences kept at most (a 2 s minimum makes 1 800 in an hour).
pub const MAX_SILENCES: usize = 10_000;
/// The most header bytes read before `data` (a WAV's chunks before its
/// audio are small; more means it is not a recording we can read).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How samples are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coding {
    Pcm8,
    Pcm16,
    MuLaw,
    ALaw,
}

impl Coding {
    fn bytes_per_sample(self) -> usize {
        match self {
            Coding::Pcm16 => 2,
            Coding::Pcm8 | Coding::MuLaw | Coding::ALaw => 1,
        }
    }

    /// The absolute value of one sample, 0–32 768.
    fn magnitude(self, bytes: &[u8]) -> u16 {
        let sample: i32 = match self {
            Coding::Pcm8 => (i32::from(bytes[0]) - 128) << 8,
            Coding::Pcm16 => i32::from(i16::from_le_bytes([bytes[0], bytes[1]])),
            Coding::MuLaw => i32::from(mu_law(bytes[0])),
            Coding::ALaw => i32::from(a_law(bytes[0])),
        };
        sample.unsigned_abs().min(32_768) as u16
    }
}

/// G.711 μ-law to linear 16-bit.
pub fn mu_law(code: u8) -> i16 {
    let c = !code;
    let exponent = (c >> 4) & 0x07;
    let mantissa = i32::from(c & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if c & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law to linear 16-bit.
pub fn a_law(code: u8) -> i16 {
    let c = code ^ 0x55;
    let exponent = (c >> 4) & 0x07;
    let mantissa = i32::from(c & 0x0F);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    (if c & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

/// The format of a WAV's audio, from its `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    pub coding: Coding,
    pub channels: u16,
    pub sample_rate: u32,
}

impl Format {
    fn frame_bytes(&self) -> usize {
        self.coding.bytes_per_sample() * usize::from(self.channels)
    }
}

/// What `finish` gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peaks {
    pub format: Format,
    /// Frames of audio read.
    pub frames: u64,
    /// Frames per bucket.
    pub bucket_frames: u64,
    /// Per channel (agent first on a two-channel call), one 0–255 peak per bucket.
    pub channels: Vec<Vec<u8>>,
    /// Silent stretches, `[start_ms, end_ms)`.
    pub silences: Vec<(u64, u64)>,
    /// Whether every byte the header announced arrived (a stored file that
    /// says it is longer than it is has `false`).
    pub complete: bool,
}

/// What the edge keeps for a stored recording (in its call object): its
/// peaks, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeaksRecord {
    Peaks(Peaks),
    None(Unsupported),
}

impl PeaksRecord {
    /// The record of a stored recording's builder result. A stored WAV
    /// whose header announces more audio than it holds keeps the peaks of
    /// what it holds (`complete: false`): the file is what it is, and
    /// recording that saves computing them again on every request.
    pub fn of(result: Result<Peaks, Unsupported>) -> PeaksRecord {
        match result {
            Ok(peaks) => PeaksRecord::Peaks(peaks),
            Err(why) => PeaksRecord::None(why),
        }
    }
}

/// Why a recording has no peaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsupported {
    /// Not a RIFF/WAVE file, or its header is broken.
    NotWav,
    /// A WAV in a coding or channel count we do not read.
    Coding,
    /// The stream ended before the audio began.
    NoAudio,
}

#[derive(Debug, Clone)]
enum Stage {
    /// Reading the header: the bytes so far.
    Header(Vec<u8>),
    /// Reading audio: `left` bytes of `data` remain (`None`: unknown).
    Audio {
        format: Format,
        left: Option<u64>,
    },
    Failed(Unsupported),
}

/// Computes peaks and silences from a recording's bytes, pushed in order.
#[derive(Debug, Clone)]
pub struct PeaksBuilder {
    stage: Stage,
    /// The bytes of a frame split between two pushes.
    partial: Vec<u8>,
    frames: u64,
    bucket_frames: u64,
    /// Per channel: finished buckets, and the one being filled.
    buckets: Vec<Vec<u8>>,
    current: Vec<u16>,
    in_bucket: u64,
    /// Silence blocks (10 ms): frames per block, frames in the current one,
    /// its loudest sample, and where the silent run began (in frames).
    block_frames: u64,
    in_block: u64,
    block_peak: u16,
    silent_since: Option<u64>,
    silences: Vec<(u64, u64)>,
}

impl Default for PeaksBuilder {
    fn default() -> Self {
        PeaksBuilder::new()
    }
}

impl PeaksBuilder {
    pub fn new() -> Self {
        PeaksBuilder {
            stage: Stage::Header(Vec::new()),
            partial: Vec::new(),
            frames: 0,
            bucket_frames: 1,
            buckets: Vec::new(),
            current: Vec::new(),
            in_bucket: 0,
            block_frames: 1,
            in_block: 0,
            block_peak: 0,
            silent_since: None,
            silences: Vec::new(),
        }
    }

    /// Feeds the next bytes of the recording.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if let Stage::Header(header) = &mut self.stage {
            let room = MAX_HEADER_BYTES.saturating_sub(header.len());
            let take = bytes.len().min(room);
            header.extend_from_slice(&bytes[..take]);
            match parse_header(header) {
                HeaderRead::More if header.len() >= MAX_HEADER_BYTES => {
                    self.stage = Stage::Failed(Unsupported::NotWav);
                    return;
                }
                HeaderRead::More => return,
                HeaderRead::Bad(why) => {
                    self.stage = Stage::Failed(why);
                    return;
                }
                HeaderRead::Audio {
                    format,
                    data_len,
                    data_start,
                } => {
                    let audio = header[data_start..].to_vec();
                    // The rest of this push comes after the header's bytes.
                    let rest = &bytes[take..];
                    self.start(format, data_len);
                    self.audio(&audio);
                    bytes = rest;
                }
            }
        }
        if matches!(self.stage, Stage::Audio { .. }) {
            self.audio(bytes);
        }
    }

    fn start(&mut self, format: Format, data_len: Option<u64>) {
        let channels = usize::from(format.channels);
        self.block_frames = u64::from(format.sample_rate / 100).max(1);
        self.bucket_frames = self.block_frames;
        self.buckets = vec![Vec::new(); channels];
        self.current = vec![0; channels];
        self.stage = Stage::Audio {
            format,
            left: data_len,
        };
    }

    fn audio(&mut self, mut bytes: &[u8]) {
        let Stage::Audio { format, left } = &mut self.stage else {
            return;
        };
        let format = *format;
        if let Some(left) = left {
            let usable = (*left).min(bytes.len() as u64) as usize;
            bytes = &bytes[..usable];
            *left -= usable as u64;
        }
        let frame = format.frame_bytes();
        if !self.partial.is_empty() {
            let need = frame - self.partial.len();
            let take = need.min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < frame {
                return;
            }
            let whole = std::mem::take(&mut self.partial);
            self.frame(&format, &whole);
        }
        let mut frames = bytes.chunks_exact(frame);
        for f in &mut frames {
            self.frame(&format, f);
        }
        self.partial.extend_from_slice(frames.remainder());
    }

    fn frame(&mut self, format: &Format, bytes: &[u8]) {
        let width = format.coding.bytes_per_sample();
        let mut loudest = 0;
        for (channel, sample) in bytes.chunks_exact(width).enumerate() {
            let m = format.coding.magnitude(sample);
            self.current[channel] = self.current[channel].max(m);
            loudest = loudest.max(m);
        }
        self.frames += 1;
        self.in_bucket += 1;
        if self.in_bucket == self.bucket_frames {
            self.close_bucket();
        }
        self.block_peak = self.block_peak.max(loudest);
        self.in_block += 1;
        if self.in_block == self.block_frames {
            self.close_block(format.sample_rate);
        }
    }

    fn close_bucket(&mut self) {
        for (lane, peak) in self.buckets.iter_mut().zip(&mut self.current) {
            lane.push(((u32::from(*peak) * 255 + 16_384) / 32_768) as u8);
            *peak = 0;
        }
        self.in_bucket = 0;
        if self
            .buckets
            .first()
            .is_some_and(|l| l.len() >= 2 * TARGET_BUCKETS)
        {
            for lane in &mut self.buckets {
                *lane = lane
                    .chunks(2)
                    .map(|p| p.iter().copied().max().unwrap_or(0))
                    .collect();
            }
            self.bucket_frames *= 2;
        }
    }

    fn close_block(&mut self, sample_rate: u32) {
        let end = self.frames;
        let start = end - self.in_block;
        if self.block_peak < SILENCE_LEVEL {
            self.silent_since.get_or_insert(start);
        } else if let Some(since) = self.silent_since.take() {
            self.record_silence(since, start, sample_rate);
        }
        self.in_block = 0;
        self.block_peak = 0;
    }

    fn record_silence(&mut self, from: u64, to: u64, sample_rate: u32) {
        let ms = |frames: u64| frames * 1000 / u64::from(sample_rate.max(1));
        let (start, end) = (ms(from), ms(to));
        if end - start >= MIN_SILENCE_MS && self.silences.len() < MAX_SILENCES {
            self.silences.push((start, end));
        }
    }

    /// The peaks and silences of everything pushed, or why there are none.
    pub fn finish(mut self) -> Result<Peaks, Unsupported> {
        let (format, left) = match &self.stage {
            Stage::Audio { format, left } => (*format, *left),
            Stage::Failed(why) => return Err(*why),
            Stage::Header(_) => return Err(Unsupported::NoAudio),
        };
        if self.in_bucket > 0 {
            self.close_bucket();
        }
        if self.in_block > 0 {
            // A last, short block: silent only if quiet, like the others.
            self.block_frames = self.in_block;
            self.close_block(format.sample_rate);
        }
        if let Some(since) = self.silent_since.take() {
            self.record_silence(since, self.frames, format.sample_rate);
        }
        Ok(Peaks {
            format,
            frames: self.frames,
            bucket_frames: self.bucket_frames,
            channels: self.buckets,
            silences: self.silences,
            complete: left.is_none_or(|l| l == 0) && self.partial.is_empty(),
        })
    }
}

enum HeaderRead {
    More,
    Bad(Unsupported),
    Audio {
        format: Format,
        /// The `data` chunk's length (`None`: unknown, read to the end).
        data_len: Option<u64>,
        data_start: usize,
    },
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One chunk of a RIFF file's header: its id, where its body starts and how
/// long the header says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk<'a> {
    id: &'a [u8],
    body: u32,
    len: u32,
}

impl Chunk<'_> {
    /// Where the next chunk starts (bodies are padded to an even length),
    /// or `None` when the header's length puts it past any header we read.
    /// The sum is checked: a length near `u32::MAX` must never wrap the
    /// offset back (on wasm32 `usize` is 32 bits and release builds do not
    /// trap), which would read an earlier chunk again, forever.
    fn next(&self) -> Option<u32> {
        self.end()?
            .checked_add(self.len & 1)
            .filter(|&next| next as usize <= MAX_HEADER_BYTES)
    }

    /// Where the body ends, if it is within any header we read.
    fn end(&self) -> Option<u32> {
        self.body
            .checked_add(self.len)
            .filter(|&end| end as usize <= MAX_HEADER_BYTES)
    }
}

/// Walks the chunks of `b` from offset 12 (after `RIFF????WAVE`). Each step
/// moves strictly forward, so the walk ends within `b.len() / 8 + 1` steps
/// whatever the lengths say. Its last item is `Err(more)`: the next chunk's
/// header is not all in `b` yet (`true`), or it lies past any header we
/// read (`false`).
fn chunks(b: &[u8]) -> impl Iterator<Item = Result<Chunk<'_>, bool>> + '_ {
    let mut at = Some(Some(12u32));
    std::iter::from_fn(move || {
        let start = at?;
        let Some(body) = start.and_then(|s| s.checked_add(8)) else {
            at = None;
            return Some(Err(false));
        };
        if b.len() < body as usize {
            at = None;
            return Some(Err(body as usize <= MAX_HEADER_BYTES));
        }
        let s = body as usize - 8;
        let chunk = Chunk {
            id: &b[s..s + 4],
            body,
            len: le32(b, s + 4),
        };
        at = Some(chunk.next());
        Some(Ok(chunk))
    })
}

/// Reads a WAV header from its first bytes: the format and where `data` begins.
fn parse_header(b: &[u8]) -> HeaderRead {
    if b.len() < 12 {
        let magic = b"RIFF????WAVE";
        let agrees = b.iter().zip(magic).all(|(x, m)| *m == b'?' || x == m);
        return if agrees {
            HeaderRead::More
        } else {
            HeaderRead::Bad(Unsupported::NotWav)
        };
    }
    if &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return HeaderRead::Bad(Unsupported::NotWav);
    }
    let mut format = None;
    for chunk in chunks(b) {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(true) => return HeaderRead::More,
            Err(false) => return HeaderRead::Bad(Unsupported::NotWav),
        };
        if chunk.id == b"data" {
            let Some(format) = format else {
                return HeaderRead::Bad(Unsupported::NotWav);
            };
            // 0 and 0xFFFFFFFF are what streaming writers put when they do not know.
            let data_len =
                (chunk.len != 0 && chunk.len != u32::MAX).then_some(u64::from(chunk.len));
            return HeaderRead::Audio {
                format,
                data_len,
                data_start: chunk.body as usize,
            };
        }
        // A chunk before the audio that ends past any header we read: the
        // audio can never be reached.
        let Some(end) = chunk.end() else {
            return HeaderRead::Bad(Unsupported::NotWav);
        };
        if b.len() < end as usize {
            return HeaderRead::More;
        }
        if chunk.id == b"fmt " {
            match read_format(&b[chunk.body as usize..end as usize]) {
                Ok(f) => format = Some(f),
                Err(why) => return HeaderRead::Bad(why),
            }
        }
    }
    // `chunks` ends only after an `Err`, which returned above.
    HeaderRead::Bad(Unsupported::NotWav)
}

fn read_format(f: &[u8]) -> Result<Format, Unsupported> {
    if f.len() < 16 {
        return Err(Unsupported::NotWav);
    }
    let mut tag = le16(f, 0);
    let channels = le16(f, 2);
    let sample_rate = le32(f, 4);
    let bits = le16(f, 14);
    // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes.
    if tag == 0xFFFE {
        if f.len() < 26 {
            return Err(Unsupported::NotWav);
        }
        tag = le16(f, 24);
    }
    let coding = match (tag, bits) {
        (1, 8) => Coding::Pcm8,
        (1, 16) => Coding::Pcm16,
        (6, 8) => Coding::ALaw,
        (7, 8) => Coding::MuLaw,
        _ => return Err(Unsupported::Coding),
    };
    if !(1..=2).contains(&channels) || sample_rate == 0 {
        return Err(Unsupported::Coding);
    }
    Ok(Format {
        coding,
        channels,
        sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A WAV of `format` holding `samples` (interleaved, as coded bytes),
    /// with a `LIST` chunk of odd length before `data`.
    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, samples: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        let block = channels * bits / 8;
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        fmt.extend_from_slice(&block.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        out.extend_from_slice(&fmt);
        out.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
        out.extend_from_slice(samples);
        out
    }

    /// 16-bit mono at 8 kHz: `quiet_s` of near silence, then `loud_s` of a
    /// square wave at `level`, then `quiet_s` again.
    fn speech_and_silence(quiet_s: u32, loud_s: u32, level: i16) -> Vec<u8> {
        let mut samples = Vec::new();
        let mut push = |n: u32, v: i16| {
            for i in 0..n {
                let s = if i % 2 == 0 { v } else { -v };
                samples.extend_from_slice(&s.to_le_bytes());
            }
        };
        push(quiet_s * 8_000, 40);
        push(loud_s * 8_000, level);
        push(quiet_s * 8_000, 40);
        wav(1, 1, 8_000, 16, &samples)
    }

    fn peaks_of(bytes: &[u8]) -> Result<Peaks, Unsupported> {
        let mut b = PeaksBuilder::new();
        b.push(bytes);
        b.finish()
    }

    #[test]
    fn g711_decodes_its_reference_points() {
        assert_eq!(mu_law(0xFF), 0);
        assert_eq!(mu_law(0x7F), 0);
        assert_eq!(mu_law(0x00), -32_124);
        assert_eq!(mu_law(0x80), 32_124);
        assert_eq!(a_law(0xD5), 8);
        assert_eq!(a_law(0x55), -8);
        assert_eq!(a_law(0xAA), 32_256);
        assert_eq!(a_law(0x2A), -32_256);
    }

    #[test]
    fn a_recording_gets_its_peaks_and_its_long_silences() {
        let p = peaks_of(&speech_and_silence(3, 4, 16_384)).unwrap();
        assert!(p.complete);
        assert_eq!(p.frames, 10 * 8_000);
        assert_eq!(p.frames * 1000 / u64::from(p.format.sample_rate), 10_000);
        assert_eq!(p.channels.len(), 1);
        // 10 s in 10 ms buckets: 1 000 buckets, none merged.
        assert_eq!((p.bucket_frames, p.channels[0].len()), (80, 1_000));
        let lane = &p.channels[0];
        assert!(lane[..300].iter().all(|&v| v == 0), "quiet start");
        assert!(
            lane[300..700].iter().all(|&v| v == 128),
            "half scale: {:?}",
            &lane[300..310]
        );
        assert!(lane[700..].iter().all(|&v| v == 0));
        assert_eq!(p.silences, vec![(0, 3_000), (7_000, 10_000)]);
        // Short pauses are not silences worth skipping.
        let p = peaks_of(&speech_and_silence(1, 2, 16_384)).unwrap();
        assert!(p.silences.is_empty());
    }

    #[test]
    fn two_channels_are_two_lanes_and_every_coding_reads() {
        // Agent loud on the left, customer silent on the right; then swapped.
        let mut samples = Vec::new();
        for i in 0..16_000 {
            let (l, r): (i16, i16) = if i < 8_000 { (20_000, 0) } else { (0, -20_000) };
            samples.extend_from_slice(&l.to_le_bytes());
            samples.extend_from_slice(&r.to_le_bytes());
        }
        let p = peaks_of(&wav(1, 2, 8_000, 16, &samples)).unwrap();
        assert_eq!(p.channels.len(), 2);
        assert_eq!((p.channels[0][0], p.channels[1][0]), (156, 0));
        assert_eq!((p.channels[0][199], p.channels[1][199]), (0, 156));
        assert!(p.silences.is_empty(), "someone speaks throughout");
        for (tag, bits, loud, coding) in [
            (1, 8, 0u8, Coding::Pcm8),
            (7, 8, 0x00, Coding::MuLaw),
            (6, 8, 0xAA, Coding::ALaw),
        ] {
            let p = peaks_of(&wav(tag, 1, 8_000, bits, &[loud; 800])).unwrap();
            assert_eq!(p.format.coding, coding);
            assert!(
                p.channels[0].iter().all(|&v| v >= 244),
                "{coding:?}: {:?}",
                p.channels[0]
            );
        }
        // WAVE_FORMAT_EXTENSIBLE carrying PCM.
        let mut ext = wav(1, 1, 8_000, 16, &[0; 160]);
        let fmt_at = 12 + 8;
        ext[fmt_at..fmt_at + 2].copy_from_slice(&0xFFFEu16.to_le_bytes());
        let mut fmt_tail = vec![22, 0, 16, 0, 0, 0, 0, 0, 1, 0];
        fmt_tail.extend_from_slice(&[0; 14]);
        ext.splice(fmt_at + 16..fmt_at + 16, fmt_tail.iter().copied());
        ext[16..20].copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(peaks_of(&ext).unwrap().format.coding, Coding::Pcm16);
    }

    #[test]
    fn what_is_not_a_readable_wav_gets_none() {
        assert_eq!(peaks_of(b"ID3\x04 an mp3"), Err(Unsupported::NotWav));
        assert_eq!(peaks_of(b"RIF"), Err(Unsupported::NoAudio));
        assert_eq!(
            peaks_of(&wav(3, 1, 8_000, 32, &[0; 64])),
            Err(Unsupported::Coding),
            "32-bit float"
        );
        assert_eq!(
            peaks_of(&wav(1, 6, 8_000, 16, &[0; 64])),
            Err(Unsupported::Coding),
            "5.1"
        );
        // A header that never reaches its audio is given up on, bounded.
        let mut huge = b"RIFF\0\0\0\0WAVEJUNK\xff\xff\xff\x7f".to_vec();
        huge.extend(std::iter::repeat_n(0u8, MAX_HEADER_BYTES));
        let mut b = PeaksBuilder::new();
        b.push(&huge);
        b.push(&[0; 1024]);
        assert_eq!(b.finish(), Err(Unsupported::NotWav));
        // Lengths that wrap a 32-bit offset: a chunk before `data` whose
        // end wraps back to the `fmt ` chunk (a loop, where offsets wrap),
        // and a `fmt ` chunk whose end wraps below its start (a slice out
        // of order, a panic). Neither is readable; both end at once.
        let mut back = wav(1, 1, 8_000, 16, &[0; 64]);
        let junk_at = 36 + 12;
        back[junk_at..junk_at + 4].copy_from_slice(b"JUNK");
        let len = 0u32.wrapping_sub(junk_at as u32 + 8 - 12);
        back[junk_at + 4..junk_at + 8].copy_from_slice(&len.to_le_bytes());
        assert_eq!(peaks_of(&back), Err(Unsupported::NotWav));
        let mut fmt = wav(1, 1, 8_000, 16, &[0; 64]);
        fmt[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(peaks_of(&fmt), Err(Unsupported::NotWav));
    }

    #[test]
    fn a_cut_recording_says_it_is_incomplete_and_an_hour_stays_bounded() {
        let whole = speech_and_silence(3, 4, 16_384);
        let header = whole.len() - 10 * 8_000 * 2;
        // Cut mid-sample: the half sample is not a frame.
        let p = peaks_of(&whole[..header + 2 * 40_000 + 1]).unwrap();
        assert!(!p.complete);
        assert_eq!(p.frames, 40_000);
        // Stored that way, it keeps the peaks of what it holds.
        assert_eq!(PeaksRecord::of(Ok(p.clone())), PeaksRecord::Peaks(p));
        assert_eq!(
            PeaksRecord::of(Err(Unsupported::Coding)),
            PeaksRecord::None(Unsupported::Coding)
        );
        // An hour of 8 kHz two-channel audio: buckets merge, never more than twice the target.
        let mut b = PeaksBuilder::new();
        let header = wav(1, 2, 8_000, 16, &[]);
        let mut header = header[..header.len() - 4].to_vec();
        header.extend_from_slice(&(3_600u32 * 8_000 * 4).to_le_bytes());
        b.push(&header);
        let second = vec![0x10u8; 8_000 * 4];
        for _ in 0..3_600 {
            b.push(&second);
        }
        let p = b.finish().unwrap();
        assert!(p.complete);
        assert!((TARGET_BUCKETS..=2 * TARGET_BUCKETS).contains(&p.channels[0].len()));
        assert_eq!(p.channels[0].len(), p.channels[1].len());
    }

    /// A chunk length that makes a header lie: small, odd, near `u32::MAX`,
    /// or one that wraps a 32-bit offset back into the first 64 KiB.
    fn chunk_len() -> impl Strategy<Value = u32> {
        prop_oneof![
            0u32..64,
            any::<u32>(),
            (0u32..=(MAX_HEADER_BYTES as u32)).prop_map(|back| 0u32.wrapping_sub(back)),
            // Back by less than a small header's length: to an earlier chunk.
            (1u32..600).prop_map(|back| 0u32.wrapping_sub(back)),
            Just(u32::MAX),
        ]
    }

    /// A RIFF/WAVE header of arbitrary chunks, then some audio-like bytes.
    /// A chunk whose length is small has that many body bytes (and its pad
    /// byte), so the walk reaches the chunks after it and their lengths; a
    /// larger length lies, with up to 40 bytes of body.
    fn lying_header() -> impl Strategy<Value = Vec<u8>> {
        let id = prop_oneof![
            Just(*b"fmt "),
            Just(*b"data"),
            Just(*b"LIST"),
            Just(*b"JUNK"),
            any::<[u8; 4]>(),
        ];
        let chunk = (
            id,
            chunk_len(),
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<bool>(),
        );
        (proptest::collection::vec(chunk, 0..8), 0usize..2_000).prop_map(|(chunks, tail)| {
            let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
            for (id, len, filler, readable) in chunks {
                b.extend_from_slice(&id);
                if &id == b"fmt " && readable {
                    // A readable format, so that `data` is reached.
                    b.extend_from_slice(&16u32.to_le_bytes());
                    b.extend_from_slice(&wav(1, 1 + (len % 2) as u16, 8_000, 16, &[])[20..36]);
                    continue;
                }
                b.extend_from_slice(&len.to_le_bytes());
                if len < 64 {
                    let padded = len as usize + (len as usize & 1);
                    b.extend(
                        (0..padded)
                            .map(|i| filler.get(i % filler.len().max(1)).copied().unwrap_or(0)),
                    );
                } else {
                    b.extend_from_slice(&filler);
                }
            }
            b.extend((0..tail).map(|i| i as u8));
            b
        })
    }

    proptest! {
        /// The header walk moves strictly forward and stays inside the
        /// bytes it was given, whatever a chunk's length says: so it ends.
        /// (Taken at most `len + 2` steps, so a walk that goes back fails
        /// here instead of hanging.)
        #[test]
        fn the_header_walk_always_moves_forward_and_ends(b in lying_header()) {
            let mut last = 0u32;
            let mut steps = 0usize;
            let mut ended = false;
            for item in chunks(&b).take(b.len() + 2) {
                steps += 1;
                prop_assert!(!ended, "nothing after the walk's end");
                match item {
                    Ok(chunk) => {
                        prop_assert!(chunk.body > last, "moved back to {} after {last}", chunk.body);
                        prop_assert!(chunk.body as usize <= b.len());
                        last = chunk.body;
                    }
                    Err(_) => ended = true,
                }
            }
            prop_assert!(ended, "the walk ended");
            prop_assert!(steps <= b.len() / 8 + 1, "{steps} steps over {} bytes", b.len());
        }

        /// Any header, in any cuts: the builder never panics, and what it
        /// finishes with is peaks or a reason.
        #[test]
        fn any_header_ends_in_peaks_or_a_reason(
            b in lying_header(),
            cut in 1usize..600,
        ) {
            let mut whole = PeaksBuilder::new();
            whole.push(&b);
            let whole = whole.finish();
            let mut cuts = PeaksBuilder::new();
            for piece in b.chunks(cut) {
                cuts.push(piece);
            }
            prop_assert_eq!(cuts.finish(), whole);
        }
    }

    proptest! {
        /// However the bytes are cut into pushes, the result is the same.
        #[test]
        fn any_cut_of_the_stream_gives_the_same_peaks(
            cuts in proptest::collection::vec(1usize..5_000, 1..40),
            channels in 1u16..=2,
            seed in any::<u64>(),
        ) {
            let mut samples = Vec::new();
            let mut x = seed | 1;
            for i in 0..(30_000 * usize::from(channels)) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                let quiet = (i / 8_000) % 5 < 3;
                let v = if quiet { (x % 64) as i16 } else { (x % 30_000) as i16 };
                samples.extend_from_slice(&v.to_le_bytes());
            }
            let bytes = wav(1, channels, 8_000, 16, &samples);
            let whole = peaks_of(&bytes).unwrap();
            let mut b = PeaksBuilder::new();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at >= bytes.len() { break; }
                let end = (at + cut).min(bytes.len());
                b.push(&bytes[at..end]);
                at = end;
            }
            prop_assert_eq!(b.finish().unwrap(), whole);
        }
    }
}
