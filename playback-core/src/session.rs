//! Session tokens: compact JWS (JWT) signed with HS256.
//!
//! Only `alg: HS256` is accepted; the signature is checked with the HMAC
//! crate's constant-time comparison before any claim is looked at; a token
//! missing `bid`, `sub` or `exp`, or past its `exp`, is refused. Nothing here
//! ever formats a token or a secret into an error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::BusinessId;

type HmacSha256 = Hmac<Sha256>;

/// A token longer than this is refused before any decoding work.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub bid: BusinessId,
    pub sub: String,
    /// Expiry, unix seconds.
    pub exp: u64,
}

/// Why a token was refused. Every variant maps to the same 401; the variant
/// is for logs and tests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    UnsupportedAlgorithm,
    BadSignature,
    BadClaims,
    Expired,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Signs `claims` with `secret` as an HS256 JWT.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(
        mac(secret, signing_input.as_bytes())
            .finalize()
            .into_bytes(),
    );
    format!("{signing_input}.{signature}")
}

/// Verifies `token` against `secret` at `now` (unix seconds).
pub fn verify(token: &str, secret: &[u8], now: u64) -> Result<Claims, TokenError> {
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
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    mac(secret, &token.as_bytes()[..signed_len])
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;

    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::BadClaims)?;
    if claims.exp <= now {
        return Err(TokenError::Expired);
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
        Claims {
            bid: BusinessId::parse("acme").unwrap(),
            sub: "agent-7".into(),
            exp,
        }
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
        assert_eq!(verify(&token, SECRET, NOW), Ok(claims(NOW + 60)));
    }

    #[test]
    fn an_expired_token_is_refused_at_and_after_exp() {
        let token = sign(&claims(NOW), SECRET);
        assert_eq!(verify(&token, SECRET, NOW), Err(TokenError::Expired));
        assert_eq!(verify(&token, SECRET, NOW + 1), Err(TokenError::Expired));
    }

    #[test]
    fn another_secret_is_a_bad_signature() {
        let token = sign(&claims(NOW + 60), b"other");
        assert_eq!(verify(&token, SECRET, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_tampered_payload_is_a_bad_signature() {
        let token = sign(&claims(NOW + 60), SECRET);
        let mut parts: Vec<&str> = token.split('.').collect();
        let evil = URL_SAFE_NO_PAD.encode(r#"{"bid":"globex","sub":"x","exp":9999999999}"#);
        parts[1] = &evil;
        assert_eq!(
            verify(&parts.join("."), SECRET, NOW),
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
            verify(&none, SECRET, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let hs512 = forge(r#"{"alg":"HS512"}"#, payload, SECRET);
        assert_eq!(
            verify(&hs512, SECRET, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let lower = forge(r#"{"alg":"hs256"}"#, payload, SECRET);
        assert_eq!(
            verify(&lower, SECRET, NOW),
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
                verify(&t, SECRET, NOW),
                Err(TokenError::BadClaims),
                "{payload}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(5000)] {
            assert_eq!(verify(t, SECRET, NOW), Err(TokenError::Malformed), "{t:?}");
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
}
