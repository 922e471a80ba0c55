//! The walking skeleton, proved from outside: the real stub and the real
//! worker start, the worker answers health checks, authenticates sessions,
//! lists the business's calls from the origin, and serves the client, which
//! renders them in Chromium.

use std::time::Duration;

use backend_stub::knobs::Knobs;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use integration_tests::browser::Browser;
use integration_tests::{now_s, token_for, EdgeOptions, Origin, Stack, SESSION_SECRET};
use playback_core::session::{sign, Claims};
use playback_core::wire::{CallSummary, ErrorBody};
use playback_core::BusinessId;
use serde_json::Value;

/// The business's first page: its 50 newest calls.
fn expected_calls(stack: &Stack, business: &str) -> Vec<CallSummary> {
    stack
        .origin
        .stub
        .catalog()
        .listed_calls(business)
        .rev()
        .take(50)
        .map(|c| c.summary.clone())
        .collect()
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.expect("a JSON error body");
    (status, body.error)
}

#[tokio::test(flavor = "multi_thread")]
async fn skeleton_serves_health_calls_auth_and_errors() {
    let stack = Stack::start().await;

    let health = stack.http.get(stack.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    // A valid token lists the seeded calls' first page, for its own business only.
    for business in ["acme", "globex"] {
        let r = stack.get_as(business, "/api/calls").send().await.unwrap();
        assert_eq!(r.status(), 200);
        let calls: Vec<CallSummary> = r.json().await.unwrap();
        assert_eq!(calls, expected_calls(&stack, business));
    }

    // The cookie works as the header does.
    let r = stack
        .http
        .get(stack.url("/api/calls"))
        .header("Cookie", format!("rec_session={}", token_for("initech")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Vec<CallSummary>>().await.unwrap(),
        expected_calls(&stack, "initech")
    );

    // No token, a bad signature, an expired token, alg none, garbage: 401 each.
    let claims = |exp| Claims::new(BusinessId::parse("acme").unwrap(), "x", exp);
    let bad_signature = sign(&claims(now_s() + 3600), b"not-the-secret");
    let expired = sign(&claims(now_s() - 1), SESSION_SECRET.as_bytes());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now_s() + 3600)).unwrap());
    let alg_none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let none = stack
        .http
        .get(stack.url("/api/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(none).await, (401, "unauthorized".into()));
    for token in [
        bad_signature.as_str(),
        expired.as_str(),
        alg_none.as_str(),
        "garbage",
    ] {
        let r = stack
            .http
            .get(stack.url("/api/calls"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(r).await,
            (401, "unauthorized".into()),
            "token {token}"
        );
    }

    // Unknown /api/ paths are 404 JSON, wrong methods 405 JSON with Allow.
    for path in ["/api/nothing", "/api/calls/x/extra", "/api/recordings/x"] {
        let r = stack.get_as("acme", path).send().await.unwrap();
        assert_eq!(error_of(r).await, (404, "not_found".into()), "{path}");
    }
    // `/api/calls/{sid}` is one call: a malformed SID is a 400, as elsewhere.
    let r = stack
        .get_as("acme", "/api/calls/extra")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (400, "invalid_call_sid".into()));
    let r = stack
        .http
        .post(stack.url("/api/calls"))
        .bearer_auth(token_for("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(error_of(r).await, (405, "method_not_allowed".into()));

    // Listing calls never downloads a recording.
    assert_eq!(stack.origin.stats().total_attempts(), 0);
}

/// The harness's own guarantee, on which every test's counts rest: a
/// worker that could not bind its port is never taken for started because
/// another server answers `/healthz` there (another test's origin stub took
/// the free port: the test would then talk to that stub).
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_port_another_server_holds_is_never_taken_for_started() {
    let squatter = Origin::start(Knobs::default()).await;
    let health = reqwest::get(format!("{}/healthz", squatter.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the squatter answers /healthz");
    let port: u16 = squatter.url.rsplit(':').next().unwrap().parse().unwrap();
    let origin = Origin::start(Knobs::default()).await;
    let options = EdgeOptions {
        port: Some(port),
        ..Default::default()
    };
    let started = tokio::spawn(Stack::start_on(origin, options)).await;
    let Err(failure) = started else {
        panic!("a worker on a port it could not bind was taken for started");
    };
    assert!(failure.is_panic(), "{failure}");
    // Whatever wrangler prints: a worker started quiet (as the bench's
    // serving rows start it) is seen started all the same.
    let quiet =
        Stack::start_with(Knobs::default(), EdgeOptions::default().log_level("error")).await;
    let health = quiet.http.get(quiet.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_login_sets_an_http_only_session_cookie_and_redirects_home() {
    let stack = Stack::start().await;
    let r = stack
        .http
        .get(stack.url("/dev/login?business=globex"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}/", stack.edge.url)
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("rec_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http must not get a Secure cookie: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let calls: Vec<CallSummary> = stack
        .http
        .get(stack.url("/api/calls"))
        .header("Cookie", pair)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, expected_calls(&stack, "globex"));

    let r = stack
        .http
        .get(stack.url("/dev/login?business=a/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_login_is_404_unless_enabled() {
    // (Without the dev login, the tokens' audience and issuer must be set.)
    let options = integration_tests::EdgeOptions::default()
        .var("DEV_LOGIN", "false")
        .var("SESSION_AUDIENCE", "call-recordings")
        .var("SESSION_ISSUER", "https://login.example");
    let stack = Stack::start_with(Default::default(), options).await;
    let r = stack
        .http
        .get(stack.url("/dev/login?business=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await, (404, "not_found".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_config_value_is_a_500_naming_the_var() {
    let options = integration_tests::EdgeOptions::default().var("SLOTS_PER_BUSINESS", "many");
    let stack = Stack::start_with(Default::default(), options).await;
    let r = stack.get_as("acme", "/api/calls").send().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "config");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("SLOTS_PER_BUSINESS"),
        "{body}"
    );
    // Health needs no configuration.
    assert_eq!(
        stack
            .http
            .get(stack.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_sign_in_then_the_business_calls_in_chromium() {
    let stack = Stack::start().await;
    let browser = Browser::start().await;

    browser.goto(&stack.url("/")).await;
    let sign_in = browser
        .wait_for("#sign-in a", Duration::from_secs(60))
        .await;
    browser.click(&sign_in).await;

    browser
        .wait_for("#calls tbody tr", Duration::from_secs(60))
        .await;
    let rows = browser.find_all("#calls tbody tr").await;
    // The player's first page holds all of acme's 68 calls.
    let expected: Vec<CallSummary> = stack
        .origin
        .stub
        .catalog()
        .listed_calls("acme")
        .rev()
        .map(|c| c.summary.clone())
        .collect();
    assert!(expected.len() < playback_core::call_list::PAGE_LIMIT as usize);
    assert_eq!(rows.len(), expected.len());
    let first = browser.text(&rows[0]).await;
    assert!(
        first.contains(&expected[0].from),
        "{first:?} should show {}",
        expected[0].from
    );
    let title = browser
        .execute(
            "return document.querySelector('h1').textContent",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(title, "Call recordings");
    assert_eq!(
        stack.origin.stats().total_attempts(),
        0,
        "loading the page downloaded a recording"
    );
}
