//! Session keys and claims from outside, against the real worker (RFC
//! 8725's advice for HS256 tokens shared with a login service): a key
//! rotation that signs no one out, and tokens for this service only.

use backend_stub::knobs::Knobs;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::{now_s, EdgeOptions, Stack, SESSION_SECRET};
use playback_core::config::{DEV_SESSION_AUDIENCE, DEV_SESSION_ISSUER};
use playback_core::ids::BusinessId;
use playback_core::session::{sign, Claims, LEEWAY_S};

/// The key the login service signed with before the rotation.
const OLD_SECRET: &str = "the-login-services-previous-key-0123456789";

fn acme(exp: u64) -> Claims {
    Claims::new(BusinessId::parse("acme").unwrap(), "agent-1", exp)
}

/// `claims` signed with `secret`, the header naming no key (as a login
/// service that does not send `kid` signs).
fn without_kid(claims: &Claims, secret: &str) -> String {
    let signed = sign(claims, secret.as_bytes());
    let (_, rest) = signed.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{header}.{payload}");
    let again = sign_input(&input, secret);
    format!("{input}.{again}")
}

fn sign_input(input: &str, secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

async fn status(stack: &Stack, token: &str) -> u16 {
    stack
        .http
        .get(stack.url("/api/calls"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_keeps_the_previous_keys_sessions_until_that_key_is_removed() {
    let now = now_s();
    let claims = acme(now + 3600).for_service(DEV_SESSION_AUDIENCE, DEV_SESSION_ISSUER, now);
    let old_with_kid = sign(&claims, OLD_SECRET.as_bytes());
    let old_bare = without_kid(&claims, OLD_SECRET);
    let new = sign(&claims, SESSION_SECRET.as_bytes());
    // During the rotation: the new key is current, the old one previous.
    let during = Stack::start_with(
        Knobs::default(),
        EdgeOptions::default().var("SESSION_SECRET_PREVIOUS", OLD_SECRET),
    )
    .await;
    for (what, token) in [
        ("old key, kid", &old_with_kid),
        ("old key, no kid", &old_bare),
        ("new key", &new),
    ] {
        assert_eq!(
            status(&during, token).await,
            200,
            "during the rotation: {what}"
        );
    }
    // After it: the previous key removed, its sessions end; the new stay.
    let after = Stack::start().await;
    for (what, token, want) in [
        ("old key, kid", &old_with_kid, 401),
        ("old key, no kid", &old_bare, 401),
        ("new key", &new, 200),
    ] {
        assert_eq!(
            status(&after, token).await,
            want,
            "after the rotation: {what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_another_service_from_another_issuer_or_not_yet_valid_is_401() {
    let stack = Stack::start_with(
        Knobs::default(),
        EdgeOptions::default()
            .var("SESSION_AUDIENCE", "playback.test")
            .var("SESSION_ISSUER", "https://login.test"),
    )
    .await;
    let now = now_s();
    let ours = acme(now + 3600).for_service("playback.test", "https://login.test", now);
    assert_eq!(
        status(&stack, &sign(&ours, SESSION_SECRET.as_bytes())).await,
        200
    );
    let mut early = ours.clone();
    early.nbf = Some(now + LEEWAY_S + 120);
    let mut skewed = ours.clone();
    skewed.nbf = Some(now + LEEWAY_S / 2);
    for (what, claims, want) in [
        (
            "another service's audience",
            acme(now + 3600).for_service("billing.test", "https://login.test", now),
            401,
        ),
        (
            "another issuer",
            acme(now + 3600).for_service("playback.test", "https://evil.test", now),
            401,
        ),
        ("no audience or issuer", acme(now + 3600), 401),
        (
            "the development defaults",
            acme(now + 3600).for_service(DEV_SESSION_AUDIENCE, DEV_SESSION_ISSUER, now),
            401,
        ),
        ("not before, beyond the leeway", early, 401),
        ("not before, within the leeway", skewed, 200),
    ] {
        let token = sign(&claims, SESSION_SECRET.as_bytes());
        assert_eq!(status(&stack, &token).await, want, "{what}");
    }
    // The dev login mints its tokens for the configured service and issuer.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .get(stack.url("/dev/login?business=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = cookie
        .split(';')
        .next()
        .and_then(|c| c.strip_prefix("rec_session="))
        .unwrap()
        .to_owned();
    assert_eq!(status(&stack, &token).await, 200);
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["aud"], "playback.test");
    assert_eq!(claims["iss"], "https://login.test");
}

/// A page on another site: the browser sends the session cookie with none
/// of its requests (`SameSite=Strict`), and the edge grants no
/// cross-origin reads. A preflight for the play's marker header is
/// answered without an `Access-Control-Allow-*` header, so a browser never
/// sends the play itself; a plain cross-site read is answered without one
/// too, so its script never sees the answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_another_site_is_granted_no_cross_origin_request() {
    let stack = Stack::start().await;
    let sid = stack.listed_sid("acme", 0);
    let path = format!("/api/recordings/{sid}/stream");
    let preflight = stack
        .http
        .request(reqwest::Method::OPTIONS, stack.url(&path))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-user-action")
        .send()
        .await
        .unwrap();
    assert!(!preflight.status().is_success(), "{}", preflight.status());
    let granted = |r: &reqwest::Response| {
        r.headers()
            .keys()
            .any(|k| k.as_str().starts_with("access-control-allow"))
    };
    assert!(!granted(&preflight), "{:?}", preflight.headers());
    let read = stack
        .get_as("acme", "/api/calls")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!granted(&read), "{:?}", read.headers());
    // Nothing was downloaded.
    assert_eq!(stack.origin.stats().total_attempts(), 0);
}
