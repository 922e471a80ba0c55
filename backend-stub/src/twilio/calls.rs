//! What Twilio's API holds for each business's account, derived from the
//! catalog with fixed rules so that tests can find every case:
//!
//! - Legs: every catalog call is a parent call. Every `CHILD_LEG_EVERY`th
//!   call of a demo business (positions 4, 9, 14, … of [`Catalog::calls`],
//!   oldest first; never the contact centre's) also has a child leg: SID
//!   derived from its parent's, started 1 s after it, from the parent's
//!   `to` to an agent's number, with no recordings.
//! - Recordings ([`Shape`]): a demo business's own (not bulk) calls at
//!   positions 1, 2, 3 and 4 have two completed recordings, one
//!   `processing` recording, one `absent` recording and no recording; every
//!   other call (bulk calls, the contact centre's, and so acme's hour-long,
//!   conversation and float calls) has one completed recording whose media
//!   is the catalog's recording. A second recording is a recording of its
//!   own seed, half as long (at least 1 s), started 60 s after the first.
//!   A recording has the channels of its media (acme's conversation: 2).
//!
//! Recording SIDs are the call SID's 128 bits XOR a mask per index, so a
//! recording SID leads back to its call without a table.

use std::borrow::Cow;
use std::time::Duration;

use playback_core::list_query::{format_rfc3339, parse_rfc3339};
use playback_core::wire::CallSummary;
use playback_core::CallSid;

use crate::audio::{Recording, Voice};
use crate::catalog::{Catalog, DemoCall, LARGE_BUSINESS};
use crate::mix::{fnv1a, splitmix};

/// Every this-many-th call of a demo business has a child leg.
pub const CHILD_LEG_EVERY: usize = 5;
/// A child leg starts this long after its parent.
const CHILD_LEG_DELAY_S: i64 = 1;
/// A second recording starts this long after the first.
const SECOND_RECORDING_DELAY_S: i64 = 60;

const CHILD_LEG_MASK: u128 = 0x12ea_63b5_0924_12af_68f3_5bb0_c007_b288;
/// Per recording index: the mask between its call's SID and its own.
const RECORDING_MASKS: [u128; 2] = [
    0x4d8a_efc9_8448_1feb_56a9_8129_451a_df2c,
    0x2f67_1fd9_1325_dabd_f3a9_4a91_c2a1_36f4,
];

/// How many recordings a call has, and in what state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One completed recording (most calls).
    One,
    /// Two completed recordings.
    Two,
    /// One recording, `processing` for the `processing_secs` knob after the
    /// first request for it or its call's recordings, then completed.
    Processing,
    /// One `absent` recording (no audio): nothing to play.
    Absent,
    /// No recording at all.
    NoRecording,
}

/// The special shapes, by position among a demo business's own calls.
const SPECIAL_SHAPES: [(usize, Shape); 4] = [
    (1, Shape::Two),
    (2, Shape::Processing),
    (3, Shape::Absent),
    (4, Shape::NoRecording),
];

fn shape_at(business: &str, position: usize, call: &DemoCall) -> Shape {
    if business == LARGE_BUSINESS || call.bulk {
        return Shape::One;
    }
    SPECIAL_SHAPES
        .iter()
        .find(|(p, _)| *p == position)
        .map_or(Shape::One, |(_, shape)| *shape)
}

fn has_child_leg(business: &str, position: usize) -> bool {
    business != LARGE_BUSINESS && (position + 1).is_multiple_of(CHILD_LEG_EVERY)
}

/// The shape of a parent call of `business` (`None` for any other SID).
pub fn twilio_shape(catalog: &Catalog, business: &str, call_sid: &str) -> Option<Shape> {
    let (owner, position) = catalog.position(call_sid)?;
    (owner == business).then(|| shape_at(business, position, &catalog.calls(business)[position]))
}

/// The oldest call of `business` that has `shape`.
pub fn call_of_shape<'a>(
    catalog: &'a Catalog,
    business: &str,
    shape: Shape,
) -> Option<&'a DemoCall> {
    catalog
        .calls(business)
        .iter()
        .enumerate()
        .find(|(position, call)| shape_at(business, *position, call) == shape)
        .map(|(_, call)| call)
}

/// The SID of the child leg of `business`'s call `call_sid`, if it has one.
pub fn child_leg_of(catalog: &Catalog, business: &str, call_sid: &str) -> Option<String> {
    let (owner, position) = catalog.position(call_sid)?;
    (owner == business && has_child_leg(business, position))
        .then(|| masked_sid("CA", call_sid, CHILD_LEG_MASK))
        .flatten()
}

/// The SID of recording `index` (0 or 1) of call `call_sid`.
pub fn recording_sid(call_sid: &str, index: usize) -> String {
    RECORDING_MASKS
        .get(index)
        .and_then(|&mask| masked_sid("RE", call_sid, mask))
        .unwrap_or_default()
}

/// `prefix` and the 32 hex digits of `sid`'s XOR `mask`.
fn masked_sid(prefix: &str, sid: &str, mask: u128) -> Option<String> {
    let hex = sid.get(2..).filter(|h| h.len() == 32)?;
    let bits = u128::from_str_radix(hex, 16).ok()?;
    Some(format!("{prefix}{:032x}", bits ^ mask))
}

/// A call as Twilio lists it: a catalog call, or the child leg of one.
#[derive(Debug, Clone, Copy)]
pub struct Leg<'a> {
    pub business: &'static str,
    /// The catalog call (the parent, for a child leg).
    pub call: &'a DemoCall,
    /// Its position in [`Catalog::calls`].
    position: usize,
    pub child: bool,
}

impl<'a> Leg<'a> {
    pub fn sid(&self) -> Cow<'a, str> {
        let parent = self.call.summary.call_sid.as_str();
        if self.child {
            Cow::Owned(masked_sid("CA", parent, CHILD_LEG_MASK).unwrap_or_default())
        } else {
            Cow::Borrowed(parent)
        }
    }

    pub fn parent_sid(&self) -> Option<&'a str> {
        self.child.then_some(self.call.summary.call_sid.as_str())
    }

    /// The leg's SID, start (RFC 3339), duration and parties.
    pub fn summary(&self) -> Cow<'a, CallSummary> {
        let parent = &self.call.summary;
        if !self.child {
            return Cow::Borrowed(parent);
        }
        let sid = self.sid();
        let seed = fnv1a(sid.as_bytes());
        let started = parse_rfc3339(&parent.started_at).unwrap_or(0) + CHILD_LEG_DELAY_S;
        Cow::Owned(CallSummary {
            call_sid: CallSid::parse(&sid).unwrap_or_else(|_| parent.call_sid.clone()),
            started_at: format_rfc3339(started),
            duration_s: parent.duration_s.saturating_sub(CHILD_LEG_DELAY_S as u32),
            from: parent.to.clone(),
            to: format!("+1555{:07}", splitmix(seed) % 10_000_000),
        })
    }

    /// The leg's start in seconds since the epoch.
    pub fn started_s(&self) -> i64 {
        parse_rfc3339(&self.summary().started_at).unwrap_or(0)
    }

    pub fn shape(&self) -> Shape {
        if self.child {
            Shape::NoRecording
        } else {
            shape_at(self.business, self.position, self.call)
        }
    }

    /// The leg's recordings, oldest first, deleted ones included.
    pub fn recordings(&self) -> Vec<CallRecording> {
        let call = self.call;
        let sid = call.summary.call_sid.as_str();
        let started_s = self.started_s();
        let channels = match call.recording.voice() {
            Voice::Conversation => 2,
            Voice::Tones | Voice::Float => 1,
        };
        let first = |state| CallRecording {
            sid: recording_sid(sid, 0),
            call_sid: sid.to_owned(),
            state,
            channels,
            duration_s: call.summary.duration_s,
            started_s,
            media: call.recording,
        };
        match self.shape() {
            Shape::One => vec![first(Made::Completed)],
            Shape::Two => {
                let second_sid = recording_sid(sid, 1);
                let duration_s = (call.summary.duration_s / 2).max(1);
                let second = CallRecording {
                    media: Recording::new(splitmix(fnv1a(second_sid.as_bytes())), duration_s),
                    sid: second_sid,
                    channels: 1,
                    duration_s,
                    started_s: started_s + SECOND_RECORDING_DELAY_S,
                    ..first(Made::Completed)
                };
                vec![first(Made::Completed), second]
            }
            Shape::Processing => vec![first(Made::Processing)],
            Shape::Absent => vec![CallRecording {
                duration_s: 0,
                ..first(Made::Absent)
            }],
            Shape::NoRecording => Vec::new(),
        }
    }
}

/// The account's calls, newest first (a child leg just before its parent,
/// which started 1 s earlier).
pub fn legs<'a>(
    catalog: &'a Catalog,
    business: &'static str,
) -> impl Iterator<Item = Leg<'a>> + 'a {
    catalog
        .calls(business)
        .iter()
        .enumerate()
        .rev()
        .flat_map(move |(position, call)| {
            let leg = |child| Leg {
                business,
                call,
                position,
                child,
            };
            let child = has_child_leg(business, position).then(|| leg(true));
            child.into_iter().chain([leg(false)])
        })
}

/// The leg `sid` of `business`, parent or child.
pub fn find_leg<'a>(catalog: &'a Catalog, business: &'static str, sid: &str) -> Option<Leg<'a>> {
    let leg = |position: usize, child| Leg {
        business,
        call: &catalog.calls(business)[position],
        position,
        child,
    };
    if let Some((owner, position)) = catalog.position(sid) {
        return (owner == business).then(|| leg(position, false));
    }
    if !sid.starts_with("CA") {
        return None;
    }
    let parent = masked_sid("CA", sid, CHILD_LEG_MASK)?;
    let (owner, position) = catalog.position(&parent)?;
    (owner == business && has_child_leg(business, position)).then(|| leg(position, true))
}

/// The recording `sid` of `business`'s calls, deleted or not.
pub fn find_recording(
    catalog: &Catalog,
    business: &'static str,
    sid: &str,
) -> Option<CallRecording> {
    if !sid.starts_with("RE") {
        return None;
    }
    RECORDING_MASKS.iter().find_map(|&mask| {
        let call_sid = masked_sid("CA", sid, mask)?;
        let leg = find_leg(catalog, business, &call_sid).filter(|leg| !leg.child)?;
        leg.recordings().into_iter().find(|r| r.sid == sid)
    })
}

/// What a recording was made as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Completed,
    /// Completes `processing_secs` after it was first asked for.
    Processing,
    Absent,
}

/// A recording's status, as Twilio's `status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Processing,
    Completed,
    Absent,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Absent => "absent",
            Status::Deleted => "deleted",
        }
    }
}

/// One recording of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    pub sid: String,
    pub call_sid: String,
    pub state: Made,
    pub channels: u16,
    pub duration_s: u32,
    pub started_s: i64,
    /// Its media with every channel.
    pub media: Recording,
}

impl CallRecording {
    /// Its status, given whether it is deleted and, for one made as
    /// `processing`, how long since it was first asked for.
    pub fn status(
        &self,
        deleted: bool,
        since_first_asked: Duration,
        processing: Duration,
    ) -> Status {
        match self.state {
            _ if deleted => Status::Deleted,
            Made::Processing if since_first_asked < processing => Status::Processing,
            Made::Processing | Made::Completed => Status::Completed,
            Made::Absent => Status::Absent,
        }
    }

    /// The media to serve: every channel when `both_channels` is asked,
    /// else one (a two-channel recording mixed down: a one-channel
    /// recording of the same length).
    pub fn media(&self, both_channels: bool) -> Recording {
        if self.channels < 2 || both_channels {
            return self.media;
        }
        Recording::with_voice(
            splitmix(fnv1a(self.sid.as_bytes()) ^ 1),
            self.duration_s,
            Voice::Tones,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::BUSINESSES;

    #[test]
    fn each_demo_business_has_every_shape_on_short_tone_calls_only() {
        let catalog = Catalog::with_large_business(30);
        for business in BUSINESSES {
            for (_, shape) in SPECIAL_SHAPES {
                let call = call_of_shape(&catalog, business, shape).expect("a call");
                assert!(!call.bulk && call.summary.duration_s < 900, "{business}");
                assert_eq!(call.recording.voice(), Voice::Tones);
                let sid = call.summary.call_sid.as_str();
                assert_eq!(twilio_shape(&catalog, business, sid), Some(shape));
                assert_eq!(twilio_shape(&catalog, "globex-not", sid), None);
            }
        }
        for call in catalog.calls("acme") {
            let sid = call.summary.call_sid.as_str();
            if call.recording.voice() != Voice::Tones || call.summary.duration_s >= 3600 {
                assert_eq!(twilio_shape(&catalog, "acme", sid), Some(Shape::One));
            }
        }
        assert!(catalog.calls(LARGE_BUSINESS).iter().all(|c| twilio_shape(
            &catalog,
            LARGE_BUSINESS,
            c.summary.call_sid.as_str()
        ) == Some(Shape::One)));
    }

    #[test]
    fn recording_and_child_sids_lead_back_to_their_call() {
        let catalog = Catalog::with_large_business(30);
        let two = call_of_shape(&catalog, "globex", Shape::Two).unwrap();
        let sid = two.summary.call_sid.as_str();
        let recordings = find_leg(&catalog, "globex", sid).unwrap().recordings();
        assert_eq!(recordings.len(), 2);
        for (i, r) in recordings.iter().enumerate() {
            assert_eq!(r.sid, recording_sid(sid, i));
            assert!(r.sid.starts_with("RE") && r.sid.len() == 34);
            assert_eq!(find_recording(&catalog, "globex", &r.sid).as_ref(), Some(r));
            assert_eq!(find_recording(&catalog, "acme", &r.sid), None);
        }
        assert_eq!(recordings[1].started_s - recordings[0].started_s, 60);
        assert!(recordings[1].duration_s < recordings[0].duration_s);
        assert_ne!(recordings[1].media, recordings[0].media);

        let parent = &catalog.calls("acme")[CHILD_LEG_EVERY - 1];
        let parent_sid = parent.summary.call_sid.as_str();
        let child = child_leg_of(&catalog, "acme", parent_sid).unwrap();
        let leg = find_leg(&catalog, "acme", &child).unwrap();
        assert!(leg.child && leg.recordings().is_empty());
        assert_eq!(leg.parent_sid(), Some(parent_sid));
        assert_eq!(
            leg.started_s(),
            parse_rfc3339(&parent.summary.started_at).unwrap() + 1
        );
        assert_eq!(find_leg(&catalog, "globex", &child).map(|l| l.child), None);
        assert_eq!(
            child_leg_of(
                &catalog,
                "acme",
                catalog.calls("acme")[0].summary.call_sid.as_str()
            ),
            None
        );
    }

    #[test]
    fn legs_are_newest_first_with_each_child_before_its_parent() {
        let catalog = Catalog::with_large_business(30);
        let listed: Vec<Leg> = legs(&catalog, "acme").collect();
        let children = listed.iter().filter(|l| l.child).count();
        assert_eq!(children, catalog.calls("acme").len() / CHILD_LEG_EVERY);
        assert_eq!(listed.len(), catalog.calls("acme").len() + children);
        let times: Vec<i64> = listed.iter().map(Leg::started_s).collect();
        assert!(
            times.windows(2).all(|w| w[0] > w[1]),
            "strictly newest first"
        );
        assert!(legs(&catalog, LARGE_BUSINESS).all(|l| !l.child));
    }

    #[test]
    fn processing_completes_after_its_seconds_and_deleted_wins() {
        let catalog = Catalog::with_large_business(0);
        let call = call_of_shape(&catalog, "acme", Shape::Processing).unwrap();
        let r = &find_leg(&catalog, "acme", call.summary.call_sid.as_str())
            .unwrap()
            .recordings()[0];
        let three = Duration::from_secs(3);
        assert_eq!(
            r.status(false, Duration::from_secs(2), three),
            Status::Processing
        );
        assert_eq!(r.status(false, three, three), Status::Completed);
        assert_eq!(r.status(true, three, three), Status::Deleted);
    }

    #[test]
    fn a_two_channel_recording_mixes_down_to_one_of_the_same_length() {
        let catalog = Catalog::with_large_business(0);
        let call = catalog.with_voice("acme", Voice::Conversation).unwrap();
        let r = &find_leg(&catalog, "acme", call.summary.call_sid.as_str())
            .unwrap()
            .recordings()[0];
        assert_eq!(r.channels, 2);
        assert_eq!(r.media(true), call.recording);
        let mixed = r.media(false);
        assert_eq!(mixed.voice(), Voice::Tones);
        assert_eq!(mixed.len() - 44, (call.recording.len() - 44) / 2);
    }
}
