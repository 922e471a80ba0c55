//! The seeded demo data set: five businesses, each with several calls of
//! different lengths, and one hour-long call (57.6 MB of audio) for
//! streaming tests; and a contact centre, `LARGE_BUSINESS`, with
//! `DEFAULT_LARGE_BUSINESS_CALLS` calls (any number with
//! `Catalog::with_large_business`), each from a distinct number at a
//! distinct time. Everything is derived from fixed seeds, so every run and
//! every machine sees the same SIDs and the same bytes.

use std::collections::HashMap;

use playback_core::list_query::format_rfc3339;
use playback_core::wire::CallSummary;
use playback_core::CallSid;

use crate::audio::{Recording, Voice};
use crate::mix::{fnv1a, splitmix};

pub const BUSINESSES: [&str; 5] = ["acme", "globex", "initech", "hooli", "umbrella"];

/// The contact centre: many calls, each from its own number.
pub const LARGE_BUSINESS: &str = "northwind";
/// Its calls unless the stub is told otherwise (`--large-business-calls`).
pub const DEFAULT_LARGE_BUSINESS_CALLS: usize = 20_000;
/// Its newest call starts here (2026-11-28T17:00:00Z); each one before
/// started `LARGE_BUSINESS_GAP_S` earlier.
const LARGE_BUSINESS_NEWEST_S: i64 = 1_795_885_200;
const LARGE_BUSINESS_GAP_S: i64 = 157;
/// The demo businesses' first call (2026-11-02T08:00:00Z); one every 37 minutes.
const DEMO_FIRST_S: i64 = 1_793_606_400;

/// Call lengths in seconds, per business. The hour-long one is acme's last;
/// hooli's last is a quarter of an hour (14.4 MB).
const DURATIONS_S: [&[u32]; 5] = [
    &[4, 9, 17, 32, 75, 140, 210, 3600],
    &[5, 12, 28, 61, 95, 180],
    &[3, 8, 20, 45, 120, 240],
    &[6, 14, 26, 50, 110, 200, 900],
    &[7, 16, 35, 70, 150, 320],
];

/// The first business's (acme's) calls after its tones: a 90-second
/// conversation on two channels (agent and customer in turns, with silent
/// stretches) and a 12-second recording in a coding the edge draws no
/// waveform for.
const FIRST_BUSINESS_VOICES: [(u32, Voice); 2] = [(90, Voice::Conversation), (12, Voice::Float)];

/// The first business's newest calls: conversations of one to ten minutes
/// (two voices taking turns, each on its channel), the first a newcomer to
/// the demo clicks. Listed after every other call of it, so they come first.
const NEWEST_CONVERSATIONS_S: [u32; 6] = [75, 130, 205, 290, 410, 600];
/// Their indexes, right after the bulk calls' (1000 on): one every 37
/// minutes after the last of them.
const NEWEST_CONVERSATIONS_FROM: usize = 1000 + BULK_CALLS_PER_BUSINESS;

/// Extra calls per business with short recordings, so that tests and
/// benchmarks can queue many distinct uncached calls of one business. They
/// are listed like every other call (a business's list holds all its calls).
pub const BULK_CALLS_PER_BUSINESS: usize = 60;
const BULK_DURATION_S: u32 = 2;

#[derive(Debug, Clone)]
pub struct DemoCall {
    pub business: &'static str,
    pub summary: CallSummary,
    pub recording: Recording,
    /// One of the short bulk calls.
    pub bulk: bool,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    /// Per business, its calls oldest first.
    calls: HashMap<&'static str, Vec<DemoCall>>,
    /// Per call SID: its business and its index there.
    index: HashMap<String, (&'static str, usize)>,
}

impl Catalog {
    /// The demo data set with `DEFAULT_LARGE_BUSINESS_CALLS` calls for the
    /// contact centre.
    pub fn demo() -> Self {
        Catalog::with_large_business(DEFAULT_LARGE_BUSINESS_CALLS)
    }

    /// The demo data set with `large` calls for the contact centre.
    pub fn with_large_business(large: usize) -> Self {
        let mut calls = HashMap::new();
        for (b, business) in BUSINESSES.iter().enumerate() {
            let mut own = Vec::new();
            for (i, &duration_s) in DURATIONS_S[b].iter().enumerate() {
                own.push(demo_call(business, i, duration_s, Voice::Tones, false));
            }
            if b == 0 {
                let first = DURATIONS_S[0].len();
                for (i, &(duration_s, voice)) in FIRST_BUSINESS_VOICES.iter().enumerate() {
                    own.push(demo_call(business, first + i, duration_s, voice, false));
                }
            }
            for i in 0..BULK_CALLS_PER_BUSINESS {
                own.push(demo_call(
                    business,
                    1000 + i,
                    BULK_DURATION_S,
                    Voice::Tones,
                    true,
                ));
            }
            if b == 0 {
                for (i, &duration_s) in NEWEST_CONVERSATIONS_S.iter().enumerate() {
                    own.push(demo_call(
                        business,
                        NEWEST_CONVERSATIONS_FROM + i,
                        duration_s,
                        Voice::Conversation,
                        false,
                    ));
                }
            }
            calls.insert(*business, own);
        }
        calls.insert(
            LARGE_BUSINESS,
            (0..large).map(|i| large_call(i, large)).collect(),
        );
        let index = calls
            .iter()
            .flat_map(|(business, own)| {
                own.iter()
                    .enumerate()
                    .map(|(i, c)| (c.summary.call_sid.to_string(), (*business, i)))
            })
            .collect();
        Catalog { calls, index }
    }

    pub fn has_business(&self, business: &str) -> bool {
        self.calls.contains_key(business)
    }

    /// The calls of one business, oldest first (the list route answers
    /// them newest first): for a demo business, its calls, then the bulk
    /// calls.
    pub fn listed_calls<'a>(
        &'a self,
        business: &'a str,
    ) -> impl DoubleEndedIterator<Item = &'a DemoCall> + 'a {
        self.calls.get(business).into_iter().flatten()
    }

    /// Every call of one business (all are listed), in the same order.
    pub fn all_calls<'a>(
        &'a self,
        business: &'a str,
    ) -> impl DoubleEndedIterator<Item = &'a DemoCall> + 'a {
        self.listed_calls(business)
    }

    /// The calls of one business, oldest first, as a slice (empty for an
    /// unknown business): a call's index here is its position.
    pub fn calls(&self, business: &str) -> &[DemoCall] {
        self.calls.get(business).map_or(&[], Vec::as_slice)
    }

    /// A call's business and its position in [`Catalog::calls`].
    pub fn position(&self, call_sid: &str) -> Option<(&'static str, usize)> {
        self.index.get(call_sid).copied()
    }

    /// A call of this business; another business's call is `None`, as an
    /// unknown one is.
    pub fn find(&self, business: &str, call_sid: &str) -> Option<&DemoCall> {
        let &(owner, i) = self.index.get(call_sid)?;
        (owner == business).then(|| &self.calls[owner][i])
    }

    /// The first call of `business` in `voice`.
    pub fn with_voice<'a>(&'a self, business: &'a str, voice: Voice) -> Option<&'a DemoCall> {
        self.listed_calls(business)
            .find(|c| c.recording.voice() == voice)
    }

    /// The longest recording of the data set.
    pub fn longest(&self) -> &DemoCall {
        self.calls
            .values()
            .flatten()
            .max_by_key(|c| c.recording.len())
            .expect("the catalog is never empty")
    }
}

/// The contact centre's call `index` of `count` (0 is the oldest): from a
/// number of its own (`+1212` and seven digits, a bijection of the index),
/// to one of twenty lines of the centre.
fn large_call(index: usize, count: usize) -> DemoCall {
    let seed = splitmix(
        fnv1a(LARGE_BUSINESS.as_bytes()) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let sid = format!("CA{:016x}{:016x}", seed, splitmix(seed));
    let call_sid = CallSid::parse(&sid).expect("generated SIDs are well-formed");
    let newest_first = (count - 1 - index) as i64;
    let started = LARGE_BUSINESS_NEWEST_S - newest_first * LARGE_BUSINESS_GAP_S;
    let duration_s = 20 + (seed % 400) as u32;
    DemoCall {
        business: LARGE_BUSINESS,
        summary: CallSummary {
            call_sid,
            started_at: format_rfc3339(started),
            duration_s,
            // 7_919_993 is prime to 10: distinct indexes below 10^7 get distinct numbers.
            from: format!("+1212{:07}", (index as u64 * 7_919_993) % 10_000_000),
            to: format!("+1800555{:04}", 100 + seed % 20),
        },
        recording: Recording::new(seed, duration_s),
        bulk: false,
    }
}

fn demo_call(
    business: &'static str,
    index: usize,
    duration_s: u32,
    voice: Voice,
    bulk: bool,
) -> DemoCall {
    let seed =
        splitmix(fnv1a(business.as_bytes()) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let sid = format!("CA{:016x}{:016x}", seed, splitmix(seed));
    let call_sid = CallSid::parse(&sid).expect("generated SIDs are well-formed");
    // One every 37 minutes from the first; newest first in listings.
    let started_at = format_rfc3339(DEMO_FIRST_S + 37 * 60 * index as i64);
    let number = |salt: u64| format!("+1555{:07}", splitmix(seed ^ salt) % 10_000_000);
    DemoCall {
        business,
        summary: CallSummary {
            call_sid,
            started_at,
            duration_s,
            from: number(1),
            to: number(2),
        },
        recording: Recording::with_voice(seed, duration_s, voice),
        bulk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_business_newest_calls_are_conversations_of_one_to_ten_minutes() {
        let c = Catalog::demo();
        let mut newest: Vec<&DemoCall> = c.listed_calls(BUSINESSES[0]).collect();
        newest.sort_by(|a, b| b.summary.started_at.cmp(&a.summary.started_at));
        for call in &newest[..NEWEST_CONVERSATIONS_S.len()] {
            assert_eq!(call.recording.voice(), Voice::Conversation);
            assert!((60..=600).contains(&call.summary.duration_s));
        }
        // The first conversation of the catalog is still the 90-second one.
        let first = c
            .with_voice(BUSINESSES[0], Voice::Conversation)
            .expect("one");
        assert_eq!(first.summary.duration_s, 90);
    }

    #[test]
    fn each_business_lists_at_least_six_calls_of_different_lengths() {
        let c = Catalog::demo();
        for b in BUSINESSES {
            let durations: Vec<u32> = c
                .listed_calls(b)
                .filter(|c| !c.bulk)
                .map(|c| c.summary.duration_s)
                .collect();
            assert!(durations.len() >= 6, "{b}");
            let mut distinct = durations.clone();
            distinct.dedup();
            assert_eq!(distinct.len(), durations.len());
        }
    }

    fn sids(c: &Catalog) -> Vec<&str> {
        let mut businesses: Vec<&str> = BUSINESSES.to_vec();
        businesses.push(LARGE_BUSINESS);
        businesses
            .into_iter()
            .flat_map(|b| c.all_calls(b).map(|c| c.summary.call_sid.as_str()))
            .collect()
    }

    #[test]
    fn sids_are_unique_and_stable() {
        let a = Catalog::demo();
        let b = Catalog::demo();
        let mut sids = sids(&a);
        assert_eq!(sids, self::sids(&b));
        let count = sids.len();
        sids.sort();
        sids.dedup();
        assert_eq!(sids.len(), count);
        assert_eq!(a.index.len(), count);
    }

    #[test]
    fn the_contact_centre_has_its_calls_from_distinct_numbers_at_distinct_times() {
        let c = Catalog::demo();
        let calls: Vec<&CallSummary> = c.all_calls(LARGE_BUSINESS).map(|c| &c.summary).collect();
        assert_eq!(calls.len(), DEFAULT_LARGE_BUSINESS_CALLS);
        let mut numbers: Vec<&str> = calls.iter().map(|c| c.from.as_str()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), calls.len());
        let times: Vec<i64> = calls
            .iter()
            .map(|c| playback_core::list_query::parse_rfc3339(&c.started_at).unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "oldest first, distinct"
        );
        assert_eq!(calls.last().unwrap().started_at, "2026-11-28T17:00:00Z");
        let first = calls[0].call_sid.as_str();
        assert!(c.find(LARGE_BUSINESS, first).is_some());
        assert!(c.find("acme", first).is_none());
    }

    #[test]
    fn the_longest_recording_is_at_least_50_mb() {
        assert!(Catalog::demo().longest().recording.len() >= 50_000_000);
    }

    #[test]
    fn another_business_cannot_find_a_call() {
        let c = Catalog::demo();
        let sid = c
            .listed_calls("acme")
            .next()
            .unwrap()
            .summary
            .call_sid
            .as_str()
            .to_owned();
        assert!(c.find("acme", &sid).is_some());
        assert!(c.find("globex", &sid).is_none());
    }
}
