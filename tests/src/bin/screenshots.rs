//! `cargo run -p integration-tests --bin screenshots`: the one player state
//! that takes minutes to reach, captured for docs/screenshots: "still
//! preparing, try again" after the 2-minute limit. (The browser tests capture
//! the other states into target/screenshots.)

use std::time::{Duration, Instant};

use backend_stub::knobs::{FaultSet, Knobs};
use integration_tests::browser::Browser;
use integration_tests::{repo_root, EdgeOptions, Stack};
use serde_json::json;

#[tokio::main]
async fn main() {
    let options = EdgeOptions::default().var("DOWNLOAD_TIMEOUT_MS", 600_000);
    let stack = Stack::start_with(Knobs::default(), options).await;
    let sid = stack
        .origin
        .stub
        .catalog()
        .listed_calls("acme")
        .nth(1)
        .unwrap()
        .summary
        .call_sid
        .to_string();
    stack.origin.stub.set_knobs(Knobs {
        calls: [(
            sid.clone(),
            FaultSet {
                hang_first: 100,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    });
    let browser = Browser::start().await;
    browser.goto(&stack.url("/dev/login?business=acme")).await;
    let button = browser
        .wait_for(
            &format!("tr[data-call-sid='{sid}'] button.play"),
            Duration::from_secs(30),
        )
        .await;
    browser.click(&button).await;
    let started = Instant::now();
    browser
        .wait_until(
            &format!("return document.querySelector(\"tr[data-call-sid='{sid}'] .state\").textContent.includes('try again')"),
            Duration::from_secs(180),
        )
        .await;
    println!("gave up after {:?}", started.elapsed());
    let dir = repo_root().join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    browser.screenshot(&dir.join("gave-up.png")).await;
    let _ = browser.execute("return 1", json!([])).await;
}
