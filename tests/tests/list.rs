//! The call list at a business's scale, against the real worker
//! under wrangler dev and the real stub: `GET /api/calls` pages through the
//! origin's list with its `Link`, filters by number and time, refuses bad
//! parameters before asking anything, and collapses identical requests of
//! one business onto one origin request within `CALL_LIST_TTL_MS`.

use std::time::{Duration, Instant};

use backend_stub::catalog::LARGE_BUSINESS;
use integration_tests::browser::{Browser, Engine, ELEMENT};
use integration_tests::{origin_bytes, token_for_agent, EdgeOptions, Stack};
use playback_core::call_list::{ListFilter, SEARCH_DEBOUNCE_MS};
use playback_core::list_query::{parse_rfc3339, percent_encode, ListQuery};
use playback_core::wire::CallSummary;
use serde_json::{json, Value};

/// The business's calls newest first, as the origin has them.
fn newest_first(stack: &Stack, business: &str) -> Vec<CallSummary> {
    stack
        .origin
        .stub
        .catalog()
        .listed_calls(business)
        .rev()
        .map(|c| c.summary.clone())
        .collect()
}

/// One page: its calls and its `Link` target (relative, as sent).
async fn page(stack: &Stack, path: &str) -> (Vec<CallSummary>, Option<String>) {
    let r = stack.get_as(LARGE_BUSINESS, path).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let next = r.headers().get("link").map(|l| {
        let l = l.to_str().unwrap();
        let target = l
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("a next link: {l}"));
        target.to_owned()
    });
    (r.json().await.unwrap(), next)
}

/// Every page from `path` on, following `Link`: the calls and the pages.
async fn walk(stack: &Stack, path: &str) -> (Vec<CallSummary>, usize) {
    let (mut calls, mut pages) = (Vec::new(), 0);
    let mut next = Some(path.to_owned());
    while let Some(path) = next {
        assert!(
            path.starts_with("/api/calls?") && !path.contains("v1/businesses"),
            "the link points at the edge only: {path}"
        );
        let (page, link) = page(stack, &path).await;
        assert!(
            !page.is_empty() || pages == 0,
            "no empty page after the first"
        );
        calls.extend(page);
        pages += 1;
        next = link;
    }
    (calls, pages)
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_walk_the_whole_list_exactly_once_newest_first() {
    let stack = Stack::start().await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    assert_eq!(all.len(), 20_000);
    // The default page: the 50 newest, and a link to the rest.
    let (first, next) = page(&stack, "/api/calls").await;
    assert_eq!(first, all[..50]);
    let next = next.expect("more remain");
    assert!(
        !next.contains(&stack.origin.url) && !next.contains("127.0.0.1"),
        "{next}"
    );
    // Every page, at the largest size: each call once, in order.
    let lists_before = stack.origin.stats().list_requests;
    let (walked, pages) = walk(&stack, "/api/calls?limit=200").await;
    assert_eq!(pages, 100);
    assert_eq!(walked.len(), all.len());
    assert!(walked == all, "every call exactly once, newest first");
    assert_eq!(
        stack.origin.stats().list_requests - lists_before,
        100,
        "one origin request per page"
    );
    // Listing never asks for a recording.
    assert_eq!(stack.origin.stats().total_attempts(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_by_number_and_time_combine_and_page() {
    let stack = Stack::start().await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    // One number, as an agent types it: found on a deep page, and only there.
    let deep = &all[15_000];
    let typed = format!(
        "+1 ({}) {}-{}",
        &deep.from[2..5],
        &deep.from[5..8],
        &deep.from[8..]
    );
    let path = format!("/api/calls?q={}", percent_encode(&typed));
    let (found, pages) = walk(&stack, &path).await;
    assert_eq!((found, pages), (vec![deep.clone()], 1));
    // Digits shared by many numbers, within one day, pages of 7.
    let (since, until) = ("2026-11-20T00:00:00Z", "2026-11-21T00:00:00+00:00");
    let query = ListQuery::parse([("q", "12120"), ("since", since), ("until", until)]).unwrap();
    let expected: Vec<CallSummary> = all
        .iter()
        .filter(|c| query.matches(&c.started_at, &c.from, &c.to))
        .cloned()
        .collect();
    assert!(
        expected.len() > 7,
        "the filter spans pages: {}",
        expected.len()
    );
    let path = format!(
        "/api/calls?limit=7&q=12120&since={since}&until={}",
        percent_encode(until)
    );
    let (walked, pages) = walk(&stack, &path).await;
    assert_eq!(walked, expected);
    assert_eq!(pages, expected.len().div_ceil(7));
    // A filter nothing matches: an empty list, no link.
    let (none, next) = page(&stack, "/api/calls?q=99999999999").await;
    assert!(none.is_empty() && next.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_parameter_is_a_400_naming_it_and_asks_the_origin_nothing() {
    let stack = Stack::start().await;
    let lists_before = stack.origin.stats().list_requests;
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("cursor=", "cursor"),
        ("cursor=a%2Fb", "cursor"),
        ("q=abc", "q"),
        ("q=1234567890123456", "q"),
        ("since=yesterday", "since"),
        ("until=2026-02-30T00:00:00Z", "until"),
        (
            "since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z",
            "since",
        ),
        ("limit=5&limit=6", "query"),
        ("sort=asc", "query"),
        ("q=%00", "q"),
    ] {
        let r = stack
            .get_as(LARGE_BUSINESS, &format!("/api/calls?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "bad_query", "{query}");
        assert_eq!(body["detail"], parameter, "{query}");
    }
    // Without a session, 401 comes first, whatever the query.
    let r = stack
        .http
        .get(stack.url("/api/calls?limit=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(stack.origin.stats().list_requests, lists_before);
    // A cursor of the right shape that the origin never gave: the origin
    // judges it (one request), and the answer is still a 400 naming it.
    let r = stack
        .get_as(LARGE_BUSINESS, "/api/calls?cursor=not-a-cursor")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["detail"].as_str()),
        (Some("bad_query"), Some("cursor"))
    );
    assert_eq!(stack.origin.stats().list_requests, lists_before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_list_requests_reach_the_origin_once_until_the_page_expires() {
    // A page that cannot expire while the test runs, however slow the
    // machine: 200 loads are one origin request, whatever they take.
    let options = EdgeOptions::default().var("CALL_LIST_TTL_MS", 600_000);
    let stack = Stack::start_with(Default::default(), options).await;
    // Warm the isolate and its list object on another query.
    page(&stack, "/api/calls?limit=1").await;
    let lists_before = stack.origin.stats().list_requests;
    // 200 agents of one business open the page at once.
    let loads = (0..200).map(|i| {
        let request = stack
            .http
            .get(stack.url("/api/calls"))
            .bearer_auth(token_for_agent(LARGE_BUSINESS, &format!("agent-{i}")));
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Vec<CallSummary>>().await.unwrap()
        }
    });
    let answers = futures_util::future::join_all(loads).await;
    let first = &newest_first(&stack, LARGE_BUSINESS)[..50];
    assert!(
        answers.iter().all(|a| a == first),
        "every agent gets the page"
    );
    assert_eq!(
        stack.origin.stats().list_requests - lists_before,
        1,
        "one origin request"
    );
    // Another query is another page; another business another cache.
    page(&stack, "/api/calls?limit=51").await;
    assert_eq!(stack.origin.stats().list_requests - lists_before, 2);
    let r = stack.get_as("acme", "/api/calls").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(stack.origin.stats().list_requests - lists_before, 3);
    drop(stack);

    // The page expires: with a short TTL, asked again until the origin
    // sees a new request, which the edge may send only once the TTL has
    // passed since the first (a lower bound, true at any speed).
    const TTL_MS: u64 = 2_000;
    let options = EdgeOptions::default().var("CALL_LIST_TTL_MS", TTL_MS);
    let stack = Stack::start_with(Default::default(), options).await;
    page(&stack, "/api/calls?limit=1").await;
    let lists_before = stack.origin.stats().list_requests;
    let started = Instant::now();
    page(&stack, "/api/calls").await;
    assert_eq!(stack.origin.stats().list_requests - lists_before, 1);
    let deadline = started + Duration::from_secs(120);
    loop {
        page(&stack, "/api/calls").await;
        if stack.origin.stats().list_requests - lists_before == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the cached page never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(TTL_MS),
        "served from the cache for its TTL: refetched after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_play_in_a_large_business_waits_for_its_calls_page_not_the_whole_list() {
    // A slow list API: reading all 100 pages of the 20 000 calls takes at
    // least 100 x 250 ms, far longer than one play takes on any machine.
    let knobs = backend_stub::knobs::Knobs {
        list_latency_ms: 250,
        ..Default::default()
    };
    let stack = Stack::start_with(knobs, EdgeOptions::default()).await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    let recent = all[3].call_sid.to_string();
    stack.cache(LARGE_BUSINESS, &recent).await;
    // Answered once the newest page was stored, long before the crawl's end.
    let read = stack.origin.stats().list_requests;
    assert!(read < 100, "the play waited for {read} pages");
    // The crawl goes on by itself to the list's end (fast from here on)...
    stack.origin.stub.set_knobs(Default::default());
    let deadline = Instant::now() + Duration::from_secs(120);
    while stack.origin.stats().list_requests < 100 {
        assert!(Instant::now() < deadline, "the crawl stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...so the oldest call is known, and a made-up one is still refused.
    let oldest = all.last().unwrap().call_sid.to_string();
    stack.cache(LARGE_BUSINESS, &oldest).await;
    let made_up = "CA0000000000000000000000000000beef";
    let r = stack.play(LARGE_BUSINESS, made_up).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(stack.origin.stats().call(made_up).attempts, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_a_page_of_the_list_showed_plays_without_a_read_of_the_list_of_its_own() {
    let stack = Stack::start().await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    // The player's first page, and a search that finds a call on a deep page.
    page(&stack, &ListFilter::default().first_page()).await;
    let deep = &all[15_000];
    let (found, _) = page(&stack, &format!("/api/calls?q={}", &deep.from[1..])).await;
    assert_eq!(found, vec![deep.clone()]);
    let lists = stack.origin.stats().list_requests;
    assert_eq!(lists, 2, "one origin request per page");
    // Each plays at once: the business learnt them from the pages, so no
    // play waits for a crawl of the 20 000 calls (100 origin pages).
    for sid in [all[60].call_sid.to_string(), deep.call_sid.to_string()] {
        let bytes = stack.cache(LARGE_BUSINESS, &sid).await;
        assert_eq!(bytes, origin_bytes(&stack, LARGE_BUSINESS, &sid));
        assert_eq!(stack.origin.stats().list_requests, lists, "{sid}");
    }
    // A call no page showed is still checked against the list: a made-up
    // one is refused without an origin recording request.
    let made_up = "CA0000000000000000000000000000beef";
    let r = stack.play(LARGE_BUSINESS, made_up).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(stack.origin.stats().list_requests > lists);
    assert_eq!(stack.origin.stats().call(made_up).attempts, 0);
}

// ---- The player's list in Chromium and Firefox (WebDriver clicks and keys
// are trusted), each test once per browser.

const UI: Duration = Duration::from_secs(60);

async fn signed_in(engine: Engine, stack: &Stack) -> Browser {
    let browser = Browser::start_in(engine).await;
    browser
        .goto(&stack.url(&format!("/dev/login?business={LARGE_BUSINESS}")))
        .await;
    browser.wait_for("#calls tbody tr", UI).await;
    browser
}

/// The SIDs of the rows shown, in order.
async fn shown(browser: &Browser) -> Vec<String> {
    let v = browser
        .execute(
            "return [...document.querySelectorAll('#calls tbody tr')].map(r => r.dataset.callSid)",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// Waits until the rows shown are `n`, and the list's status says it settled.
async fn wait_rows(browser: &Browser, n: usize) -> Vec<String> {
    browser
        .wait_until(
            &format!(
                "return document.querySelectorAll('#calls tbody tr').length === {n}
                    && !document.querySelector('#list-status').textContent.includes('oading')"
            ),
            UI,
        )
        .await;
    shown(browser).await
}

/// The worker's request lines whose path starts with `prefix`.
fn requests(stack: &Stack, prefix: &str) -> usize {
    stack
        .edge
        .log()
        .lines()
        .filter(|l| l.contains("\"event\":\"request\""))
        .filter(|l| l.contains(&format!("\"path\":\"{prefix}")))
        .count()
}

fn sids(calls: &[CallSummary]) -> Vec<String> {
    calls.iter().map(|c| c.call_sid.to_string()).collect()
}

async fn the_first_screen_shows_then_more_rows_as_the_agent_scrolls_each_page_once(engine: Engine) {
    let stack = Stack::start().await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    let browser = signed_in(engine, &stack).await;
    assert_eq!(wait_rows(&browser, 100).await, sids(&all[..100]));
    let status = browser.wait_for("#list-status", UI).await;
    assert_eq!(browser.text(&status).await, "100 calls shown, more below");
    // Scrolling to the end of the list brings the next page.
    browser
        .execute("window.scrollTo(0, document.body.scrollHeight)", json!([]))
        .await;
    assert_eq!(wait_rows(&browser, 200).await, sids(&all[..200]));
    // The button does the same, from the keyboard: focus it, press Enter.
    let more = browser.wait_for("#load-more", UI).await;
    let focused = browser
        .execute(
            "window.scrollTo(0, 0); arguments[0].focus(); return document.activeElement.id",
            json!([{ ELEMENT: more.id() }]),
        )
        .await;
    assert_eq!(focused, "load-more");
    browser.press_key("\u{E007}").await;
    assert_eq!(wait_rows(&browser, 300).await, sids(&all[..300]));
    // Three pages, each asked for once; never a recording.
    stack.log_barrier().await;
    assert_eq!(requests(&stack, "/api/calls"), 3);
    assert_eq!(requests(&stack, "/api/recordings/"), 0);
}

async fn a_search_finds_a_number_on_a_deep_page_and_sends_no_stream_request(engine: Engine) {
    let stack = Stack::start().await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    let deep = all[15_000].clone();
    let browser = signed_in(engine, &stack).await;
    wait_rows(&browser, 100).await;
    let search = browser
        .wait_for("input[type=search][aria-label='Search by number']", UI)
        .await;
    let typed = format!(
        "+1 ({}) {}-{}",
        &deep.from[2..5],
        &deep.from[5..8],
        &deep.from[8..]
    );
    // Typed as a quick typist does: a key every 40 ms, well inside the
    // debounce. When each key was sent is kept: a key reaches the page while
    // its WebDriver call runs.
    let mut sent = Vec::new();
    for key in typed.chars() {
        let start = Instant::now();
        browser.type_text(&search, &key.to_string()).await;
        sent.push((start, Instant::now()));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(
        wait_rows(&browser, 1).await,
        sids(std::slice::from_ref(&deep))
    );
    let digits: String = deep.from.chars().filter(char::is_ascii_digit).collect();
    assert!(
        browser
            .current_url()
            .await
            .ends_with(&format!("/?q={digits}")),
        "{}",
        browser.current_url().await
    );
    // Typing is debounced: the last key's search, and one more only for a
    // key the next one may have come a whole debounce after (a stalled
    // machine); never one per key. A key's search is cancelled by the next
    // key when that came before its timer could fire: sent at most
    // SEARCH_DEBOUNCE_MS after the earliest moment the key may have arrived.
    let debounce = Duration::from_millis(SEARCH_DEBOUNCE_MS);
    let stalls = sent
        .windows(2)
        .filter(|k| k[1].1.duration_since(k[0].0) >= debounce)
        .count();
    stack.log_barrier().await;
    let searches = requests(&stack, "/api/calls") - 1;
    assert!(
        (1..=1 + stalls).contains(&searches),
        "{searches} searches for {} keys, {stalls} of them a debounce after the one before",
        typed.len()
    );
    // A number nobody called from: "No calls match".
    browser.clear(&search).await;
    browser.type_text(&search, "99999").await;
    browser
        .wait_until(
            "return document.querySelector('#list-status').textContent === 'No calls match'",
            UI,
        )
        .await;
    assert!(shown(&browser).await.is_empty());
    // Letters are not a number: said so, and nothing is asked.
    stack.log_barrier().await;
    let before = requests(&stack, "/api/calls");
    browser.type_text(&search, "abc").await;
    browser
        .wait_until(
            "return document.querySelector('.problem').textContent.includes('digits')",
            UI,
        )
        .await;
    stack.log_barrier().await;
    assert_eq!(requests(&stack, "/api/calls"), before);
    assert_eq!(
        requests(&stack, "/api/recordings/"),
        0,
        "searching never plays"
    );
    assert_eq!(stack.origin.stats().total_attempts(), 0);
}

async fn a_date_range_narrows_the_list_and_a_reload_keeps_search_and_range(engine: Engine) {
    let stack = Stack::start().await;
    let all = newest_first(&stack, LARGE_BUSINESS);
    let browser = signed_in(engine, &stack).await;
    wait_rows(&browser, 100).await;
    // Dates are set as a date picker sets them (the filter needs no trusted event).
    let set_date = |id: &'static str, value: &'static str| {
        let browser = &browser;
        async move {
            browser
                .execute(
                    "const i = document.getElementById(arguments[0]); i.value = arguments[1];
                     i.dispatchEvent(new Event('change', {bubbles: true}));",
                    json!([id, value]),
                )
                .await;
        }
    };
    set_date("from", "2026-11-20").await;
    set_date("to", "2026-11-20").await;
    // The URL now holds the range as instants (the browser's own midnights).
    let url = browser
        .wait_until(
            "return location.search.includes('until=') && location.search.includes('since=') && location.search",
            UI,
        )
        .await;
    let filter = ListFilter::from_search(url.as_str().unwrap());
    let (since, until) = (filter.since.unwrap(), filter.until.unwrap());
    assert_eq!(until - since, 86_400, "one day: {url}");
    let in_range: Vec<CallSummary> = all
        .iter()
        .filter(|c| {
            let t = parse_rfc3339(&c.started_at).unwrap();
            since <= t && t < until
        })
        .cloned()
        .collect();
    assert!(in_range.len() > 100);
    assert_eq!(wait_rows(&browser, 100).await, sids(&in_range[..100]));
    // And a search within it.
    let q = &in_range[42].from[5..9];
    let search = browser.wait_for("#search", UI).await;
    browser.type_text(&search, q).await;
    let query = ListQuery::parse([("q", q)]).unwrap();
    let expected: Vec<CallSummary> = in_range
        .iter()
        .filter(|c| query.matches(&c.started_at, &c.from, &c.to))
        .cloned()
        .collect();
    assert!(!expected.is_empty() && expected.len() < 100);
    assert_eq!(wait_rows(&browser, expected.len()).await, sids(&expected));
    // A reload shows the same list and inputs, and sends no stream request.
    let url = browser.current_url().await;
    assert!(url.contains(&format!("q={q}")), "{url}");
    browser.goto(&url).await;
    assert_eq!(wait_rows(&browser, expected.len()).await, sids(&expected));
    let inputs = browser
        .execute(
            "return ['search', 'from', 'to'].map(id => document.getElementById(id).value)",
            json!([]),
        )
        .await;
    assert_eq!(inputs, json!([q, "2026-11-20", "2026-11-20"]));
    assert_eq!(requests(&stack, "/api/recordings/"), 0);
}

integration_tests::in_each_browser!(
    the_first_screen_shows_then_more_rows_as_the_agent_scrolls_each_page_once,
    a_search_finds_a_number_on_a_deep_page_and_sends_no_stream_request,
    a_date_range_narrows_the_list_and_a_reload_keeps_search_and_range,
);
