//! Twilio's accounts and credentials: every business of the catalog is a
//! subaccount of one parent account, and a request's HTTP Basic credentials
//! say who asks and which accounts that reaches.
//!
//! Every secret is the stub's token: the parent's and each subaccount's
//! Auth Token, and the API key's secret. Only the secret is compared in
//! constant time; SIDs are public.

use std::collections::BTreeMap;

use crate::catalog::{BUSINESSES, LARGE_BUSINESS};
use crate::mix::{fnv1a, splitmix};

/// The parent account: its SID and Auth Token reach every subaccount.
pub const PARENT_ACCOUNT_SID: &str = "ACfddb21284682f75aeb2baa4a89ef2359";
/// An API key of [`API_KEY_BUSINESS`]'s account: it reaches that account only.
pub const API_KEY_SID: &str = "SKbab42b42f83a34327f71b59def9d0395";
/// The business whose account owns the API key.
pub const API_KEY_BUSINESS: &str = "acme";

/// Every business with an account: the demo ones, then the contact centre.
fn businesses() -> impl Iterator<Item = &'static str> {
    BUSINESSES.into_iter().chain([LARGE_BUSINESS])
}

/// The business's subaccount SID: `AC` and 32 lowercase hex digits derived
/// from its name (the same on every run).
pub fn account_sid(business: &str) -> String {
    let seed = splitmix(fnv1a(format!("twilio-account:{business}").as_bytes()));
    format!("AC{seed:016x}{:016x}", splitmix(seed))
}

/// The business a subaccount SID belongs to.
pub fn business_of_account(sid: &str) -> Option<&'static str> {
    businesses().find(|b| account_sid(b) == sid)
}

/// `{"acme": "AC…", …}` for every business: the edge's `TWILIO_ACCOUNTS`.
pub fn accounts_json() -> String {
    let accounts: BTreeMap<&str, String> = businesses().map(|b| (b, account_sid(b))).collect();
    serde_json::to_string(&accounts).unwrap_or_default()
}

/// The account a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// The parent: it has no calls of its own.
    Parent,
    /// A business's subaccount.
    Sub(&'static str),
}

impl Account {
    pub fn of_sid(sid: &str) -> Option<Account> {
        if sid == PARENT_ACCOUNT_SID {
            return Some(Account::Parent);
        }
        business_of_account(sid).map(Account::Sub)
    }

    pub fn business(self) -> Option<&'static str> {
        match self {
            Account::Parent => None,
            Account::Sub(business) => Some(business),
        }
    }
}

/// Who a request's credentials sign in as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The parent account's SID and Auth Token.
    Parent,
    /// A subaccount's own SID and Auth Token.
    Subaccount(&'static str),
    /// [`API_KEY_SID`] and its secret.
    ApiKey,
}

impl Principal {
    /// Who `Authorization: Basic base64(user:secret)` signs in as, when
    /// `secret` is `token` and `user` is a SID this stub knows.
    pub fn authenticate(authorization: Option<&str>, token: &str) -> Option<Principal> {
        let (scheme, encoded) = authorization?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
        let (user, secret) = decoded.split_once(':')?;
        let secret_matches = crate::constant_time_eq(secret.as_bytes(), token.as_bytes());
        let principal = match user {
            PARENT_ACCOUNT_SID => Principal::Parent,
            API_KEY_SID => Principal::ApiKey,
            sid => Principal::Subaccount(business_of_account(sid)?),
        };
        secret_matches.then_some(principal)
    }

    /// Whether these credentials may read `account`'s resources.
    pub fn reaches(self, account: Account) -> bool {
        match (self, account) {
            (Principal::Parent, _) => true,
            (Principal::Subaccount(own), Account::Sub(business)) => own == business,
            (Principal::ApiKey, Account::Sub(business)) => business == API_KEY_BUSINESS,
            (Principal::Subaccount(_) | Principal::ApiKey, Account::Parent) => false,
        }
    }
}

/// `Authorization: Basic …` for `user` and `secret`, as a Twilio client sends it.
pub fn basic_authorization(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{user}:{secret}").as_bytes())
    )
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64_ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padded or not; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let unpadded = text.trim_end_matches('=');
    if text.len() - unpadded.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in unpadded.bytes() {
        let value = BASE64_ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = acc << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Six bits left over is a lone character: no byte ends there.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples_and_refuses_junk() {
        let header = basic_authorization("Aladdin", "open sesame");
        assert_eq!(header, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v")] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("Zm8").unwrap(), b"fo");
        for junk in ["Z", "Zm9vZ", "Zm9v!", "Zg==="] {
            assert_eq!(base64_decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn account_sids_are_stable_distinct_and_map_back() {
        let sids: Vec<String> = businesses().map(account_sid).collect();
        for (b, sid) in businesses().zip(&sids) {
            assert_eq!(sid.len(), 34);
            assert!(sid.starts_with("AC"));
            assert!(sid[2..]
                .bytes()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
            assert_eq!(business_of_account(sid), Some(b));
        }
        let mut distinct = sids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), sids.len());
        assert!(!sids.iter().any(|s| s == PARENT_ACCOUNT_SID));
        let map: BTreeMap<String, String> = serde_json::from_str(&accounts_json()).unwrap();
        assert_eq!(map["acme"], account_sid("acme"));
        assert_eq!(map.len(), BUSINESSES.len() + 1);
    }

    #[test]
    fn who_reaches_which_account() {
        let auth = |user: &str, secret: &str| {
            Principal::authenticate(Some(&basic_authorization(user, secret)), "tok")
        };
        let acme = Account::Sub("acme");
        let globex = Account::Sub("globex");
        let parent = auth(PARENT_ACCOUNT_SID, "tok").unwrap();
        assert!(parent.reaches(acme) && parent.reaches(globex) && parent.reaches(Account::Parent));
        let own = auth(&account_sid("globex"), "tok").unwrap();
        assert!(own.reaches(globex) && !own.reaches(acme) && !own.reaches(Account::Parent));
        let key = auth(API_KEY_SID, "tok").unwrap();
        assert!(key.reaches(acme) && !key.reaches(globex));
        assert_eq!(auth(PARENT_ACCOUNT_SID, "tok2"), None);
        assert_eq!(auth(&format!("AC{}", "0".repeat(32)), "tok"), None);
        assert_eq!(Principal::authenticate(None, "tok"), None);
        assert_eq!(Principal::authenticate(Some("Bearer tok"), "tok"), None);
        assert_eq!(Principal::authenticate(Some("Basic !!"), "tok"), None);
    }
}
