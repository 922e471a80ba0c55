//! Twilio's JSON resources as the stub writes them: every property of the
//! spec's `api.v2010.account.call`, `api.v2010.account.call.call_recording`
//! and `api.v2010.account.recording`, with the spec's types (dates are
//! RFC 2822 strings, a call's `duration` a string of seconds, a call
//! recording's `price` a number and an account recording's a string), and
//! the error body.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::calls::{CallRecording, Leg, Status};
use super::API_ROOT;
use crate::mix::{fnv1a, splitmix};

const API_VERSION: &str = "2010-04-01";

/// An epoch second as Twilio writes dates: `Fri, 18 Oct 2019 17:02:00
/// +0000`. Written here from the HTTP date, not with the edge's own
/// formatter, so that a fault in either side's is not hidden by the other.
pub fn rfc2822(epoch_s: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(epoch_s.max(0) as u64);
    let http = httpdate::fmt_http_date(at);
    match http.strip_suffix(" GMT") {
        Some(rest) => format!("{rest} +0000"),
        None => http,
    }
}

/// `(555) 123-4567` for a North American number, else the number as it is.
fn formatted(number: &str) -> String {
    match number.strip_prefix("+1") {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
        }
        _ => number.to_owned(),
    }
}

/// A SID of `prefix` derived from `name`.
fn derived_sid(prefix: &str, name: &str) -> String {
    let seed = splitmix(fnv1a(name.as_bytes()));
    format!("{prefix}{seed:016x}{:016x}", splitmix(seed))
}

#[derive(Debug, Clone, Serialize)]
pub struct CallResource {
    pub sid: String,
    pub date_created: String,
    pub date_updated: String,
    pub parent_call_sid: Option<String>,
    pub account_sid: String,
    pub to: String,
    pub to_formatted: String,
    pub from: String,
    pub from_formatted: String,
    pub phone_number_sid: Option<String>,
    pub status: &'static str,
    pub start_time: String,
    pub end_time: String,
    pub duration: String,
    pub price: String,
    pub price_unit: &'static str,
    pub direction: &'static str,
    pub answered_by: Option<String>,
    pub api_version: &'static str,
    pub forwarded_from: Option<String>,
    pub group_sid: Option<String>,
    pub caller_name: Option<String>,
    pub queue_time: String,
    pub trunk_sid: Option<String>,
    pub uri: String,
    pub subresource_uris: BTreeMap<&'static str, String>,
}

/// A call's `subresource_uris`: each name and its path under the call.
const CALL_SUBRESOURCES: [(&str, &str); 9] = [
    ("events", "Events"),
    ("notifications", "Notifications"),
    ("payments", "Payments"),
    ("recordings", "Recordings"),
    ("siprec", "Siprec"),
    ("streams", "Streams"),
    ("transcriptions", "Transcriptions"),
    (
        "user_defined_message_subscriptions",
        "UserDefinedMessageSubscriptions",
    ),
    ("user_defined_messages", "UserDefinedMessages"),
];

/// Seconds a call rang before it started (its resource was created then).
const RINGING_S: i64 = 2;

impl CallResource {
    pub fn of(leg: &Leg<'_>, account_sid: &str) -> CallResource {
        let summary = leg.summary();
        let sid = summary.call_sid.as_str();
        let started = leg.started_s();
        let ended = started + i64::from(summary.duration_s);
        let base = format!("{API_ROOT}/Accounts/{account_sid}/Calls/{sid}");
        let subresource_uris = CALL_SUBRESOURCES
            .into_iter()
            .map(|(name, resource)| (name, format!("{base}/{resource}.json")))
            .collect();
        CallResource {
            sid: sid.to_owned(),
            date_created: rfc2822(started - RINGING_S),
            date_updated: rfc2822(ended),
            parent_call_sid: leg.parent_sid().map(str::to_owned),
            account_sid: account_sid.to_owned(),
            to_formatted: formatted(&summary.to),
            to: summary.to.clone(),
            from_formatted: formatted(&summary.from),
            from: summary.from.clone(),
            phone_number_sid: (!leg.child).then(|| derived_sid("PN", &summary.to)),
            status: "completed",
            start_time: rfc2822(started),
            end_time: rfc2822(ended),
            duration: summary.duration_s.to_string(),
            price: format!(
                "-{:.5}",
                0.0085 * f64::from(summary.duration_s.div_ceil(60))
            ),
            price_unit: "USD",
            direction: if leg.child {
                "outbound-dial"
            } else {
                "inbound"
            },
            answered_by: None,
            api_version: API_VERSION,
            forwarded_from: None,
            group_sid: None,
            caller_name: None,
            queue_time: "0".to_owned(),
            trunk_sid: None,
            uri: format!("{base}.json"),
            subresource_uris,
        }
    }
}

/// The parts of a recording both of its resources share.
struct RecordingParts {
    account_sid: String,
    date_created: String,
    date_updated: String,
    start_time: String,
    duration: String,
    uri: String,
    status: &'static str,
    /// Dollars, once it is completed.
    price: Option<f64>,
}

fn parts(recording: &CallRecording, status: Status, account_sid: &str) -> RecordingParts {
    let completed = status == Status::Completed;
    let duration = match status {
        Status::Processing => "-1".to_owned(),
        _ => recording.duration_s.to_string(),
    };
    let ended = recording.started_s + i64::from(recording.duration_s);
    RecordingParts {
        account_sid: account_sid.to_owned(),
        date_created: rfc2822(recording.started_s),
        date_updated: rfc2822(if completed {
            ended
        } else {
            recording.started_s
        }),
        start_time: rfc2822(recording.started_s),
        duration,
        uri: format!(
            "{API_ROOT}/Accounts/{account_sid}/Recordings/{}.json",
            recording.sid
        ),
        status: status.as_str(),
        price: completed.then(|| -0.0025 * f64::from(recording.duration_s.div_ceil(60))),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CallRecordingResource {
    pub account_sid: String,
    pub api_version: &'static str,
    pub call_sid: String,
    pub conference_sid: Option<String>,
    pub date_created: String,
    pub date_updated: String,
    pub start_time: String,
    pub duration: String,
    pub sid: String,
    pub price: Option<f64>,
    pub uri: String,
    pub encryption_details: Option<serde_json::Value>,
    pub price_unit: &'static str,
    pub status: &'static str,
    pub channels: u16,
    pub source: &'static str,
    pub error_code: Option<u32>,
    pub track: &'static str,
}

impl CallRecordingResource {
    pub fn of(recording: &CallRecording, status: Status, account_sid: &str) -> Self {
        let p = parts(recording, status, account_sid);
        CallRecordingResource {
            account_sid: p.account_sid,
            api_version: API_VERSION,
            call_sid: recording.call_sid.clone(),
            conference_sid: None,
            date_created: p.date_created,
            date_updated: p.date_updated,
            start_time: p.start_time,
            duration: p.duration,
            sid: recording.sid.clone(),
            price: p.price,
            uri: p.uri,
            encryption_details: None,
            price_unit: "USD",
            status: p.status,
            channels: recording.channels,
            source: "DialVerb",
            error_code: None,
            track: "both",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingResource {
    pub account_sid: String,
    pub api_version: &'static str,
    pub call_sid: String,
    pub conference_sid: Option<String>,
    pub date_created: String,
    pub date_updated: String,
    pub start_time: String,
    pub duration: String,
    pub sid: String,
    pub price: Option<String>,
    pub price_unit: &'static str,
    pub status: &'static str,
    pub channels: u16,
    pub source: &'static str,
    pub error_code: Option<u32>,
    pub uri: String,
    pub encryption_details: Option<serde_json::Value>,
    pub subresource_uris: BTreeMap<&'static str, String>,
    pub media_url: String,
}

impl RecordingResource {
    /// `api_host` is `http://host:port` of the request (or empty): Twilio's
    /// `media_url` is absolute.
    pub fn of(
        recording: &CallRecording,
        status: Status,
        account_sid: &str,
        api_host: &str,
    ) -> Self {
        let p = parts(recording, status, account_sid);
        let base = format!(
            "{API_ROOT}/Accounts/{account_sid}/Recordings/{}",
            recording.sid
        );
        RecordingResource {
            account_sid: p.account_sid,
            api_version: API_VERSION,
            call_sid: recording.call_sid.clone(),
            conference_sid: None,
            date_created: p.date_created,
            date_updated: p.date_updated,
            start_time: p.start_time,
            duration: p.duration,
            sid: recording.sid.clone(),
            price: p.price.map(|dollars| format!("{dollars:.5}")),
            price_unit: "USD",
            status: p.status,
            channels: recording.channels,
            source: "DialVerb",
            error_code: None,
            uri: p.uri,
            encryption_details: None,
            subresource_uris: BTreeMap::from([
                ("add_on_results", format!("{base}/AddOnResults.json")),
                ("transcriptions", format!("{base}/Transcriptions.json")),
            ]),
            media_url: format!("{api_host}{base}"),
        }
    }
}

/// Twilio's error body.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    pub code: u32,
    pub message: String,
    pub more_info: String,
    pub status: u16,
}

impl ApiError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_2822_in_utc() {
        assert_eq!(rfc2822(1_571_418_120), "Fri, 18 Oct 2019 17:02:00 +0000");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn north_american_numbers_are_formatted() {
        assert_eq!(formatted("+15551234567"), "(555) 123-4567");
        assert_eq!(formatted("+442071234567"), "+442071234567");
    }
}
