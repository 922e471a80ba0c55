//! Identifiers that arrive from outside: a call's SID and a business id.
//!
//! Both are validated once, at the boundary, and carried as newtypes after
//! that, so a storage key or an origin URL can never be built from an
//! unchecked string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

const CALL_SID_PREFIX: &str = "CA";
const CALL_SID_HEX_DIGITS: usize = 32;
const BUSINESS_ID_MAX_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    InvalidCallSid,
    InvalidBusinessId,
    InvalidRecording,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::InvalidCallSid => write!(f, "call_sid must be CA followed by 32 hex digits"),
            IdError::InvalidBusinessId => write!(f, "business id must match [A-Za-z0-9_-]{{1,64}}"),
            IdError::InvalidRecording => {
                write!(f, "recording must be 1 to {MAX_RECORDINGS_PER_CALL}")
            }
        }
    }
}

impl std::error::Error for IdError {}

/// `CA` followed by exactly 32 hexadecimal digits, as the telephony
/// provider issues them. Either case is accepted and folded to lowercase
/// here, at parse time, so one call has one object, one key and one
/// download.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CallSid(String);

impl CallSid {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let hex = raw
            .strip_prefix(CALL_SID_PREFIX)
            .ok_or(IdError::InvalidCallSid)?;
        if hex.len() == CALL_SID_HEX_DIGITS && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(CallSid(format!(
                "{CALL_SID_PREFIX}{}",
                hex.to_ascii_lowercase()
            )))
        } else {
            Err(IdError::InvalidCallSid)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CallSid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        CallSid::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A business (tenant) id: `[A-Za-z0-9_-]{1,64}`. It appears in every R2 key
/// and Durable Object name, so it must never contain a separator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct BusinessId(String);

impl BusinessId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= BUSINESS_ID_MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(BusinessId(raw.to_owned()))
        } else {
            Err(IdError::InvalidBusinessId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BusinessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BusinessId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        BusinessId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Where a business's cached recording lives in R2. The business id comes
/// first so that one tenant's keys can never collide with another's.
pub fn recording_key(id: &CallIdentity) -> String {
    format!("recordings/{}", id.stem())
}

/// The name of the Durable Object that decides for one recording.
pub fn call_object_name(id: &CallIdentity) -> String {
    id.stem()
}

/// The most recordings of one call that can be asked for by number.
pub const MAX_RECORDINGS_PER_CALL: u8 = 20;

/// The recording a call object is for: sent with every message that needs
/// it, so a fresh object learns who it is, and kept in its storage. A call
/// (Twilio) may have several recordings: `recording` names the second and
/// later by their number (2 to [`MAX_RECORDINGS_PER_CALL`], in the order
/// the provider made them); `None` is the call's first, as it always was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallIdentity {
    pub business: BusinessId,
    pub call_sid: CallSid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<u8>,
}

impl CallIdentity {
    /// The call's first recording.
    pub fn new(business: BusinessId, call_sid: CallSid) -> CallIdentity {
        CallIdentity {
            business,
            call_sid,
            recording: None,
        }
    }

    /// The name of its call object ([`call_object_name`]).
    pub fn object_name(&self) -> String {
        call_object_name(self)
    }

    /// Which of the call's recordings, from 0.
    pub fn index(&self) -> usize {
        usize::from(self.recording.unwrap_or(1).max(1)) - 1
    }

    /// `{business}/{call}`, and `~{n}` for the call's recording number `n`.
    pub fn stem(&self) -> String {
        match self.recording {
            None => format!("{}/{}", self.business, self.call_sid),
            Some(n) => format!("{}/{}~{n}", self.business, self.call_sid),
        }
    }
}

/// The recording number a request names (`recording=N`): `None` for the
/// first (absent, or `1`), `Some(n)` for 2 to [`MAX_RECORDINGS_PER_CALL`];
/// `Err` for anything else.
pub fn parse_recording_number(raw: Option<&str>) -> Result<Option<u8>, IdError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let valid = !raw.is_empty() && raw.len() <= 2 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u8>() {
        Ok(1) if valid => Ok(None),
        Ok(n) if valid && (2..=MAX_RECORDINGS_PER_CALL).contains(&n) => Ok(Some(n)),
        _ => Err(IdError::InvalidRecording),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "CA0123456789abcdef0123456789ABCDEF";

    #[test]
    fn accepts_ca_and_32_hex_digits_in_either_case_and_folds_them_to_lowercase() {
        let folded = "CA0123456789abcdef0123456789abcdef";
        assert_eq!(CallSid::parse(GOOD).unwrap().as_str(), folded);
        assert_eq!(
            CallSid::parse(folded).unwrap(),
            CallSid::parse(GOOD).unwrap()
        );
        let business = BusinessId::parse("acme").unwrap();
        assert_eq!(
            recording_key(&CallIdentity::new(
                business.clone(),
                CallSid::parse(GOOD).unwrap()
            )),
            recording_key(&CallIdentity::new(
                business,
                CallSid::parse(folded).unwrap()
            ))
        );
    }

    #[test]
    fn refuses_wrong_prefix_length_or_digits() {
        for bad in [
            "",
            "CA",
            "ca0123456789abcdef0123456789abcdef",
            "CB0123456789abcdef0123456789abcdef",
            "CA0123456789abcdef0123456789abcde",
            "CA0123456789abcdef0123456789abcdef0",
            "CA0123456789abcdef0123456789abcdeg",
            "CA0123456789abcdef0123456789abcd/f",
            "CA0123456789abcdef0123456789abcdé",
        ] {
            assert_eq!(CallSid::parse(bad), Err(IdError::InvalidCallSid), "{bad:?}");
        }
    }

    #[test]
    fn business_ids_are_short_and_have_no_separators() {
        assert!(BusinessId::parse("acme_co-1").is_ok());
        assert!(BusinessId::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a/b", "a b", "a.b", "ü", &"a".repeat(65)] {
            assert_eq!(
                BusinessId::parse(bad),
                Err(IdError::InvalidBusinessId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_and_object_names_carry_the_business_id() {
        let b = BusinessId::parse("acme").unwrap();
        let c = CallSid::parse(GOOD).unwrap();
        let id = CallIdentity::new(b, c.clone());
        assert_eq!(
            recording_key(&id),
            format!(
                "recordings/acme/{}",
                GOOD.to_ascii_lowercase().replacen("ca", "CA", 1)
            )
        );
        assert_eq!(call_object_name(&id), format!("acme/{c}"));
        // A call's second recording has a key and an object of its own.
        let second = CallIdentity {
            recording: Some(2),
            ..id.clone()
        };
        assert_eq!(recording_key(&second), format!("recordings/acme/{c}~2"));
        assert_eq!(call_object_name(&second), format!("acme/{c}~2"));
        assert_eq!((id.index(), second.index()), (0, 1));
    }

    #[test]
    fn a_call_identity_names_its_object_and_validates_both_ids_when_read() {
        let id = CallIdentity::new(
            BusinessId::parse("acme").unwrap(),
            CallSid::parse(GOOD).unwrap(),
        );
        assert_eq!(id.object_name(), call_object_name(&id));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"business":"acme","call_sid":"{}"}}"#, id.call_sid)
        );
        assert_eq!(serde_json::from_str::<CallIdentity>(&json).unwrap(), id);
        for bad in [
            format!(r#"{{"business":"a/b","call_sid":"{GOOD}"}}"#),
            r#"{"business":"acme","call_sid":"CAxyz"}"#.to_owned(),
        ] {
            assert!(serde_json::from_str::<CallIdentity>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_recording_number_is_the_first_by_default_and_2_to_20_otherwise() {
        assert_eq!(parse_recording_number(None), Ok(None));
        assert_eq!(parse_recording_number(Some("1")), Ok(None));
        assert_eq!(parse_recording_number(Some("2")), Ok(Some(2)));
        assert_eq!(parse_recording_number(Some("20")), Ok(Some(20)));
        for bad in ["", "0", "21", "02x", "+2", "-1", "300", "1.0", " 2"] {
            assert_eq!(
                parse_recording_number(Some(bad)),
                Err(IdError::InvalidRecording),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deserializing_validates() {
        let ok: Result<CallSid, _> = serde_json::from_str(&format!("\"{GOOD}\""));
        assert!(ok.is_ok());
        let bad: Result<CallSid, _> = serde_json::from_str("\"CAxyz\"");
        assert!(bad.is_err());
    }
}
