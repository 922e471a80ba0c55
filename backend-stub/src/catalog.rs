//! The seeded demo data set: five businesses, each with several calls of
//! different lengths, and one hour-long call (57.6 MB of audio) for
//! streaming tests. Everything is derived from fixed seeds, so every run and
//! every machine sees the same SIDs and the same bytes.

use playback_core::wire::CallSummary;
use playback_core::CallSid;

use crate::audio::Recording;

pub const BUSINESSES: [&str; 5] = ["acme", "globex", "initech", "hooli", "umbrella"];

/// Call lengths in seconds, per business. The hour-long one is acme's last;
/// hooli's last is a quarter of an hour (14.4 MB).
const DURATIONS_S: [&[u32]; 5] = [
    &[4, 9, 17, 32, 75, 140, 210, 3600],
    &[5, 12, 28, 61, 95, 180],
    &[3, 8, 20, 45, 120, 240],
    &[6, 14, 26, 50, 110, 200, 900],
    &[7, 16, 35, 70, 150, 320],
];

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
    calls: Vec<DemoCall>,
}

impl Catalog {
    pub fn demo() -> Self {
        let mut calls = Vec::new();
        for (b, business) in BUSINESSES.iter().enumerate() {
            for (i, &duration_s) in DURATIONS_S[b].iter().enumerate() {
                calls.push(demo_call(business, i, duration_s, false));
            }
            for i in 0..BULK_CALLS_PER_BUSINESS {
                calls.push(demo_call(business, 1000 + i, BULK_DURATION_S, true));
            }
        }
        Catalog { calls }
    }

    pub fn has_business(&self, business: &str) -> bool {
        BUSINESSES.contains(&business)
    }

    /// The calls of one business, oldest first (the list route answers
    /// them newest first): the demo calls, then the bulk calls.
    pub fn listed_calls<'a>(
        &'a self,
        business: &'a str,
    ) -> impl Iterator<Item = &'a DemoCall> + 'a {
        self.calls.iter().filter(move |c| c.business == business)
    }

    /// Every call of one business (all are listed), in the same order.
    pub fn all_calls<'a>(&'a self, business: &'a str) -> impl Iterator<Item = &'a DemoCall> + 'a {
        self.listed_calls(business)
    }

    /// A call of this business; another business's call is `None`, as an
    /// unknown one is.
    pub fn find(&self, business: &str, call_sid: &str) -> Option<&DemoCall> {
        self.calls
            .iter()
            .find(|c| c.business == business && c.summary.call_sid.as_str() == call_sid)
    }

    /// The longest recording of the data set.
    pub fn longest(&self) -> &DemoCall {
        self.calls
            .iter()
            .max_by_key(|c| c.recording.len())
            .expect("the catalog is never empty")
    }
}

fn demo_call(business: &'static str, index: usize, duration_s: u32, bulk: bool) -> DemoCall {
    let seed =
        splitmix(fnv1a(business.as_bytes()) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let sid = format!("CA{:016x}{:016x}", seed, splitmix(seed));
    let call_sid = CallSid::parse(&sid).expect("generated SIDs are well-formed");
    // Calls on 2026-11-02 from 08:00 UTC on, one every 37 minutes, newest first in listings.
    let minutes = 8 * 60 + 37 * index as u64;
    let started_at = format!(
        "2026-11-{:02}T{:02}:{:02}:00Z",
        2 + minutes / (24 * 60),
        (minutes / 60) % 24,
        minutes % 60
    );
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
        recording: Recording::new(seed, duration_s),
        bulk,
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn sids_are_unique_and_stable() {
        let a = Catalog::demo();
        let b = Catalog::demo();
        let mut sids: Vec<&str> = a
            .calls
            .iter()
            .map(|c| c.summary.call_sid.as_str())
            .collect();
        assert_eq!(
            sids,
            b.calls
                .iter()
                .map(|c| c.summary.call_sid.as_str())
                .collect::<Vec<_>>()
        );
        sids.sort();
        sids.dedup();
        assert_eq!(sids.len(), a.calls.len());
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
