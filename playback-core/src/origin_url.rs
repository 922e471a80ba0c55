//! The origin's URLs, built in one place: a business's call list and a
//! call's recording (`docs/API.md`, the origin).
//!
//! An id goes into a path as it is: a valid one is made of URL-unreserved
//! characters only (`ids`), so it needs no percent-encoding.

use crate::config::{EdgeConfig, OriginConfig};
use crate::ids::{BusinessId, CallIdentity, CallSid};
use crate::twilio::{media_url, Playable};

/// Where an attempt fetches a call's recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSource {
    pub url: String,
    /// The origin's own base URL: the edge's credentials go to its scheme,
    /// host and port only.
    pub own_base: String,
    /// What the origin's 404 means.
    pub not_found: NotFound,
}

/// What an origin's 404 for a recording means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// The business has no such recording.
    Gone,
    /// Not there yet: Twilio's media can answer 404 for a few seconds
    /// after the recording completed (its list already said `completed`).
    NotYet,
}

/// The call's recording at the configured origin: the generic origin's
/// recording path, or Twilio's media of `playable` (the recording its call
/// object resolved) in the business's account. `None` for Twilio without
/// either.
pub fn recording_source(
    config: &EdgeConfig,
    id: &CallIdentity,
    playable: Option<&Playable>,
) -> Option<RecordingSource> {
    match &config.origin {
        OriginConfig::Generic { base_url, .. } => Some(RecordingSource {
            url: format!("{base_url}{}", recording_path(&id.business, &id.call_sid)),
            own_base: base_url.clone(),
            not_found: NotFound::Gone,
        }),
        OriginConfig::Twilio(twilio) => {
            let account = twilio.account(&id.business)?;
            let playable = playable?;
            Some(RecordingSource {
                url: media_url(&twilio.api_base, account, &playable.sid, playable.channels),
                own_base: twilio.api_base.clone(),
                not_found: NotFound::NotYet,
            })
        }
    }
}

/// A page of the business's call list: `query` is a query string the
/// origin takes as it is (a `ListQuery::canonical` form, or `limit=…`).
pub fn calls_url(base_url: &str, business: &BusinessId, query: &str) -> String {
    format!("{base_url}{}?{query}", calls_path(business))
}

/// The call's recording, under the origin's base URL.
pub fn recording_path(business: &BusinessId, call: &CallSid) -> String {
    format!("{}/{call}/recording", calls_path(business))
}

fn calls_path(business: &BusinessId) -> String {
    format!("/v1/businesses/{business}/calls")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list_query::percent_encode;

    const SID: &str = "CA0123456789abcdef0123456789abcdef";

    fn business(raw: &str) -> BusinessId {
        BusinessId::parse(raw).expect("a valid business id")
    }

    #[test]
    fn a_call_list_url_is_the_base_the_business_and_the_query_as_given() {
        assert_eq!(
            calls_url("http://127.0.0.1:8790", &business("acme"), "limit=50"),
            "http://127.0.0.1:8790/v1/businesses/acme/calls?limit=50"
        );
        assert_eq!(
            calls_url(
                "https://o.example/api",
                &business("acme"),
                "limit=20&cursor=o20"
            ),
            "https://o.example/api/v1/businesses/acme/calls?limit=20&cursor=o20"
        );
    }

    #[test]
    fn a_recording_path_names_the_business_and_the_call() {
        let sid = CallSid::parse(SID).expect("a valid SID");
        assert_eq!(
            recording_path(&business("acme"), &sid),
            format!("/v1/businesses/acme/calls/{SID}/recording")
        );
    }

    #[test]
    fn every_character_a_business_id_may_hold_needs_no_percent_encoding() {
        let every = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        for chunk in every.as_bytes().chunks(32) {
            let raw = std::str::from_utf8(chunk).expect("ASCII");
            assert_eq!(percent_encode(raw), raw);
            let url = calls_url("http://o", &business(raw), "limit=1");
            assert_eq!(url, format!("http://o/v1/businesses/{raw}/calls?limit=1"));
        }
    }

    #[test]
    fn a_business_id_that_would_need_encoding_is_never_made() {
        for raw in ["a/b", "a b", "a?b", "a%2Fb", "a#b"] {
            assert!(BusinessId::parse(raw).is_err(), "{raw}");
        }
    }
}
