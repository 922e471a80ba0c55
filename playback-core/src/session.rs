//! Session tokens: compact JWS (JWT) signed with HS256, as RFC 8725 advises
//! for a service that shares a key with the login service that mints them.
//!
//! - Only `alg: HS256` is accepted; the signature is checked with the HMAC
//!   crate's constant-time comparison before any claim is looked at.
//! - Keys: the current secret and, during a rotation, the previous one
//!   ([`Keys`]). A token whose header names a `kid` is checked with that key
//!   alone (an unknown `kid` is refused); one without is checked with each.
//!   A key's id is [`key_id`]: the first 16 hex digits of its SHA-256.
//! - Claims: `bid`, `sub` and `exp` are required, and a token at or past its
//!   `exp` is refused; `aud` (a string or a list) must name this service and
//!   `iss` must be the login service, when [`Expect`] says so; `nbf` and
//!   `iat` are honoured with [`LEEWAY_S`] of clock skew.
//!
//! Nothing here ever formats a token or a secret into an error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::BusinessId;

type HmacSha256 = Hmac<Sha256>;

/// A token longer than this is refused before any decoding work.
const MAX_TOKEN_LEN: usize = 4096;

/// The clock skew allowed between the login service and the edge, for
/// `nbf` (not before) and `iat` (issued at): a token is valid from `nbf -
/// LEEWAY_S`, and one issued more than this in the future is refused.
pub const LEEWAY_S: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub bid: BusinessId,
    pub sub: String,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Whom the token is for (RFC 7519: a string or a list of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Who minted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Not before, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Claims {
    /// Claims of agent `sub` of business `bid` until `exp`, nothing else.
    pub fn new(bid: BusinessId, sub: impl Into<String>, exp: u64) -> Claims {
        Claims {
            bid,
            sub: sub.into(),
            exp,
            aud: None,
            iss: None,
            nbf: None,
            iat: None,
        }
    }

    /// The same, for `audience` from `issuer`, issued at `iat`.
    pub fn for_service(mut self, audience: &str, issuer: &str, iat: u64) -> Claims {
        self.aud = Some(Audience::One(audience.to_owned()));
        self.iss = Some(issuer.to_owned());
        self.iat = Some(iat);
        self
    }
}

/// A token's `aud`: one name or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn names(&self, name: &str) -> bool {
        match self {
            Audience::One(one) => one == name,
            Audience::Many(many) => many.iter().any(|n| n == name),
        }
    }
}

/// Why a token was refused. Every variant maps to the same 401; the variant
/// is for logs and tests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    UnsupportedAlgorithm,
    /// Its `kid` names no key of this edge.
    UnknownKey,
    BadSignature,
    BadClaims,
    Expired,
    /// Its `nbf` (or its `iat`) is still ahead, beyond the leeway.
    NotYetValid,
    /// Its `aud` does not name this service.
    WrongAudience,
    /// Its `iss` is not the login service.
    WrongIssuer,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The keys a token may be signed with: the current one, and the previous
/// one while a rotation is under way.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    pub current: &'a [u8],
    pub previous: Option<&'a [u8]>,
}

impl<'a> Keys<'a> {
    pub fn one(secret: &'a [u8]) -> Keys<'a> {
        Keys {
            current: secret,
            previous: None,
        }
    }

    fn all(self) -> impl Iterator<Item = &'a [u8]> {
        std::iter::once(self.current).chain(self.previous)
    }
}

/// What the claims must say besides their expiry: the `aud` that names
/// this service and the `iss` of the login service (each `None`: not
/// checked, as in the tests of the signature alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    pub audience: Option<&'a str>,
    pub issuer: Option<&'a str>,
}

/// A key's id: the first 16 hex digits of the SHA-256 of the secret. A
/// login service names the key it signed with in the token's `kid`.
pub fn key_id(secret: &[u8]) -> String {
    Sha256::digest(secret)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Signs `claims` with `secret` as an HS256 JWT whose header names the key
/// (`kid`).
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = format!(
        r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#,
        key_id(secret)
    );
    let header = URL_SAFE_NO_PAD.encode(header);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(
        mac(secret, signing_input.as_bytes())
            .finalize()
            .into_bytes(),
    );
    format!("{signing_input}.{signature}")
}

/// Verifies `token` against `keys` and `expect` at `now` (unix seconds).
pub fn verify(
    token: &str,
    keys: Keys<'_>,
    expect: Expect<'_>,
    now: u64,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };

    let header_json = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| TokenError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::UnsupportedAlgorithm);
    }

    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| TokenError::Malformed)?;
    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let signed_by = |secret: &[u8]| mac(secret, signed).verify_slice(&signature).is_ok();
    let good = match header.kid {
        Some(kid) => {
            let key = keys
                .all()
                .find(|k| key_id(k) == kid)
                .ok_or(TokenError::UnknownKey)?;
            signed_by(key)
        }
        None => keys.all().any(signed_by),
    };
    if !good {
        return Err(TokenError::BadSignature);
    }

    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::BadClaims)?;
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    let ahead = |t: Option<u64>| t.is_some_and(|t| t > now + LEEWAY_S);
    if ahead(claims.nbf) || ahead(claims.iat) {
        return Err(TokenError::NotYetValid);
    }
    if let Some(audience) = expect.audience {
        if !claims.aud.as_ref().is_some_and(|a| a.names(audience)) {
            return Err(TokenError::WrongAudience);
        }
    }
    if let Some(issuer) = expect.issuer {
        if claims.iss.as_deref() != Some(issuer) {
            return Err(TokenError::WrongIssuer);
        }
    }
    Ok(claims)
}

fn mac(secret: &[u8], input: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(input);
    m
}

/// Finds the session token in an `Authorization` header value or a `Cookie`
/// header value; the header wins when both are present.
pub fn token_from_headers<'a>(
    authorization: Option<&'a str>,
    cookie: Option<&'a str>,
) -> Option<&'a str> {
    if let Some(auth) = authorization {
        let (scheme, rest) = auth.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim())
            .filter(|t| !t.is_empty());
    }
    cookie?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|t| !t.is_empty())
}

pub const SESSION_COOKIE: &str = "rec_session";

/// The `Set-Cookie` value that `/dev/login` sends.
pub fn session_cookie(token: &str, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";
    const NOW: u64 = 1_800_000_000;

    fn claims(exp: u64) -> Claims {
        Claims::new(BusinessId::parse("acme").unwrap(), "agent-7", exp)
    }

    fn forge(header: &str, payload: &str, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let input = format!("{h}.{p}");
        let s = URL_SAFE_NO_PAD.encode(mac(secret, input.as_bytes()).finalize().into_bytes());
        format!("{input}.{s}")
    }

    #[test]
    fn a_signed_unexpired_token_verifies_to_its_claims() {
        let token = sign(&claims(NOW + 60), SECRET);
        assert_eq!(
            verify(&token, Keys::one(SECRET), Expect::default(), NOW),
            Ok(claims(NOW + 60))
        );
    }

    #[test]
    fn an_expired_token_is_refused_at_and_after_exp() {
        let token = sign(&claims(NOW), SECRET);
        assert_eq!(
            verify(&token, Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&token, Keys::one(SECRET), Expect::default(), NOW + 1),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_secret_is_a_bad_signature_or_an_unknown_key() {
        let token = sign(&claims(NOW + 60), b"other");
        assert_eq!(
            verify(&token, Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::UnknownKey)
        );
        let payload = serde_json::to_string(&claims(NOW + 60)).unwrap();
        let bare = forge(r#"{"alg":"HS256"}"#, &payload, b"other");
        assert_eq!(
            verify(&bare, Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_a_bad_signature() {
        let token = sign(&claims(NOW + 60), SECRET);
        let mut parts: Vec<&str> = token.split('.').collect();
        let evil = URL_SAFE_NO_PAD.encode(r#"{"bid":"globex","sub":"x","exp":9999999999}"#);
        parts[1] = &evil;
        assert_eq!(
            verify(&parts.join("."), Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let payload = r#"{"bid":"acme","sub":"x","exp":9999999999}"#;
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        );
        assert_eq!(
            verify(&none, Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let hs512 = forge(r#"{"alg":"HS512"}"#, payload, SECRET);
        assert_eq!(
            verify(&hs512, Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let lower = forge(r#"{"alg":"hs256"}"#, payload, SECRET);
        assert_eq!(
            verify(&lower, Keys::one(SECRET), Expect::default(), NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn missing_or_invalid_claims_are_refused() {
        for payload in [
            r#"{"sub":"x","exp":9999999999}"#,
            r#"{"bid":"acme","exp":9999999999}"#,
            r#"{"bid":"acme","sub":"x"}"#,
            r#"{"bid":"a/b","sub":"x","exp":9999999999}"#,
            r#"{"bid":"acme","sub":"x","exp":"soon"}"#,
        ] {
            let t = forge(r#"{"alg":"HS256"}"#, payload, SECRET);
            assert_eq!(
                verify(&t, Keys::one(SECRET), Expect::default(), NOW),
                Err(TokenError::BadClaims),
                "{payload}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(5000)] {
            assert_eq!(
                verify(t, Keys::one(SECRET), Expect::default(), NOW),
                Err(TokenError::Malformed),
                "{t:?}"
            );
        }
    }

    #[test]
    fn token_is_found_in_bearer_header_or_cookie() {
        assert_eq!(token_from_headers(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(token_from_headers(Some("bearer  abc "), None), Some("abc"));
        assert_eq!(
            token_from_headers(Some("Basic abc"), Some("rec_session=x")),
            None
        );
        assert_eq!(
            token_from_headers(None, Some("a=1; rec_session=xyz; b=2")),
            Some("xyz")
        );
        assert_eq!(token_from_headers(None, Some("rec_sessionx=1")), None);
        assert_eq!(token_from_headers(None, None), None);
    }

    #[test]
    fn the_dev_cookie_is_http_only_lax_and_scoped_to_root() {
        let c = session_cookie("t", 3600, false);
        assert_eq!(
            c,
            "rec_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"
        );
        assert!(session_cookie("t", 1, true).ends_with("; Secure"));
    }
    const PREVIOUS: &[u8] = b"previous-secret";
    const AUD: &str = "call-recordings";
    const ISS: &str = "https://login.example";

    fn expect() -> Expect<'static> {
        Expect {
            audience: Some(AUD),
            issuer: Some(ISS),
        }
    }

    fn for_us(exp: u64) -> Claims {
        claims(exp).for_service(AUD, ISS, NOW)
    }

    #[test]
    fn during_a_rotation_the_previous_key_still_verifies_and_after_it_does_not() {
        let rotating = Keys {
            current: SECRET,
            previous: Some(PREVIOUS),
        };
        let old = sign(&for_us(NOW + 60), PREVIOUS);
        let new = sign(&for_us(NOW + 60), SECRET);
        assert_eq!(verify(&old, rotating, expect(), NOW), Ok(for_us(NOW + 60)));
        assert_eq!(verify(&new, rotating, expect(), NOW), Ok(for_us(NOW + 60)));
        // Without a `kid`, each key is tried.
        let payload = serde_json::to_string(&for_us(NOW + 60)).unwrap();
        let bare = forge(r#"{"alg":"HS256"}"#, &payload, PREVIOUS);
        assert!(verify(&bare, rotating, expect(), NOW).is_ok());
        // The previous key removed: its tokens are refused.
        let after = Keys::one(SECRET);
        assert_eq!(
            verify(&old, after, expect(), NOW),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(
            verify(&bare, after, expect(), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_kid_picks_its_key_and_an_unknown_kid_is_refused() {
        let keys = Keys {
            current: SECRET,
            previous: Some(PREVIOUS),
        };
        let payload = serde_json::to_string(&for_us(NOW + 60)).unwrap();
        // Signed with the previous key but naming the current one: refused
        // (the kid is not a hint to try the others).
        let header = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key_id(SECRET));
        let lying = forge(&header, &payload, PREVIOUS);
        assert_eq!(
            verify(&lying, keys, expect(), NOW),
            Err(TokenError::BadSignature)
        );
        let unknown = forge(
            r#"{"alg":"HS256","kid":"0000000000000000"}"#,
            &payload,
            SECRET,
        );
        assert_eq!(
            verify(&unknown, keys, expect(), NOW),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(key_id(SECRET).len(), 16);
        assert_ne!(key_id(SECRET), key_id(PREVIOUS));
    }

    #[test]
    fn a_token_for_another_service_or_from_another_issuer_is_refused() {
        let keys = Keys::one(SECRET);
        let other = claims(NOW + 60).for_service("billing", ISS, NOW);
        assert_eq!(
            verify(&sign(&other, SECRET), keys, expect(), NOW),
            Err(TokenError::WrongAudience)
        );
        let forged = claims(NOW + 60).for_service(AUD, "https://evil.example", NOW);
        assert_eq!(
            verify(&sign(&forged, SECRET), keys, expect(), NOW),
            Err(TokenError::WrongIssuer)
        );
        // No `aud` at all is not this service either.
        assert_eq!(
            verify(&sign(&claims(NOW + 60), SECRET), keys, expect(), NOW),
            Err(TokenError::WrongAudience)
        );
        // A list that names this service among others is.
        let payload = format!(
            r#"{{"bid":"acme","sub":"a","exp":{},"aud":["billing","{AUD}"],"iss":"{ISS}"}}"#,
            NOW + 60
        );
        let listed = forge(r#"{"alg":"HS256"}"#, &payload, SECRET);
        assert!(verify(&listed, keys, expect(), NOW).is_ok());
    }

    #[test]
    fn nbf_and_iat_are_honoured_with_the_leeway() {
        let keys = Keys::one(SECRET);
        let mut early = for_us(NOW + 600);
        early.nbf = Some(NOW + LEEWAY_S);
        assert!(verify(&sign(&early, SECRET), keys, expect(), NOW).is_ok());
        early.nbf = Some(NOW + LEEWAY_S + 1);
        assert_eq!(
            verify(&sign(&early, SECRET), keys, expect(), NOW),
            Err(TokenError::NotYetValid)
        );
        let mut future = for_us(NOW + 600);
        future.iat = Some(NOW + LEEWAY_S + 1);
        assert_eq!(
            verify(&sign(&future, SECRET), keys, expect(), NOW),
            Err(TokenError::NotYetValid)
        );
    }
}
