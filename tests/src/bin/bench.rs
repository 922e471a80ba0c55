//! `scripts/bench`: starts the real stack on free ports, measures, prints a
//! table and writes it to `target/bench-latest.md`, from which the rows of
//! BENCHMARKS.md (one table per area, edited by hand) are updated. Not part
//! of the test command.
//!
//! Figures: origin downloads per recording under a click storm, peak slot
//! use and queue drain time, cold click → ready with the client's real
//! polling policy, cached serving throughput against nginx serving the same
//! bytes from disk, browser click → `playing`, download sizes, and the
//! Twilio origin beside the generic one (`twilio`).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::StreamExt;
use integration_tests::browser::{Browser, Engine};
use integration_tests::{bulk_call, free_port, latency, repo_root, token_for, EdgeOptions, Stack};
use playback_core::player::POLL;
use serde_json::json;

struct Row {
    scenario: String,
    figure: String,
    baseline: String,
    ratio: String,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    spread_to(v, 0)
}

/// "min–max" of `v` with `decimals` places.
fn spread_to(v: &[f64], decimals: usize) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.decimals$}–{max:.decimals$}")
}

/// "median (runs min–max)" of `v`, and the median.
fn summarize(v: &[f64], decimals: usize) -> (String, f64) {
    let mut sorted = v.to_vec();
    let m = median(&mut sorted);
    (
        format!(
            "{m:.decimals$} (runs {}, n={})",
            spread_to(v, decimals),
            v.len()
        ),
        m,
    )
}

/// How many times each load scenario runs, each on a fresh stack.
const RUNS: usize = 5;
/// The heaviest scenarios (amplification, memory, bare worker) run this often.
const HEAVY_RUNS: usize = 3;

/// How many answers were 200/202, and the count of every status or client error.
fn tally(
    answers: &[reqwest::Result<reqwest::Response>],
) -> (usize, std::collections::BTreeMap<String, usize>) {
    let mut outcomes = std::collections::BTreeMap::new();
    for r in answers {
        let key = match r {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_connect() => "connect error".to_string(),
            Err(e) if e.is_timeout() => "timeout".to_string(),
            Err(_) => "other client error".to_string(),
        };
        *outcomes.entry(key).or_insert(0) += 1;
    }
    let ok = outcomes.get("200").unwrap_or(&0) + outcomes.get("202").unwrap_or(&0);
    (ok, outcomes)
}

fn gz_len(path: &Path) -> u64 {
    let out = Command::new("gzip")
        .arg("-9c")
        .arg(path)
        .output()
        .expect("gzip");
    out.stdout.len() as u64
}

fn sizes(rows: &mut Vec<Row>) {
    let root = repo_root();
    let mut client = 0;
    for entry in std::fs::read_dir(root.join("dist/client"))
        .expect("dist/client: run scripts/build")
        .flatten()
    {
        let p = entry.path();
        if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("wasm" | "js" | "css" | "html")
        ) {
            client += gz_len(&p);
        }
    }
    rows.push(Row {
        scenario: "browser download (wasm+JS+CSS+HTML, gzip -9)".into(),
        figure: format!("{:.1} KB", client as f64 / 1000.0),
        baseline: "target 150 KB".into(),
        ratio: format!("{:.2}", client as f64 / 150_000.0),
    });
    let worker = gz_len(&root.join("edge/build/index_bg.wasm"));
    rows.push(Row {
        scenario: "worker wasm (gzip -9)".into(),
        figure: format!("{:.1} KB", worker as f64 / 1000.0),
        baseline: "target 400 KB; free plan 3 MB".into(),
        ratio: format!("{:.2}", worker as f64 / 400_000.0),
    });
}

/// 300 concurrent plays on each of 10 uncached calls: origin downloads per recording.
async fn storm(rows: &mut Vec<Row>) {
    let (calls, per_call) = (10, 300);
    let mut per_recording = Vec::new();
    let mut answered = Vec::new();
    for _ in 0..RUNS {
        let stack = Stack::start_with(
            latency(500),
            EdgeOptions::default().var("SLOTS_PER_BUSINESS", 10),
        )
        .await;
        let sids: Vec<String> = (0..calls)
            .map(|n| bulk_call(&stack, "initech", n))
            .collect();
        let stack_ref = &stack;
        let answers: Vec<_> = futures_util::stream::iter(
            sids.iter()
                .flat_map(|sid| (0..per_call).map(move |_| stack_ref.play("initech", sid).send())),
        )
        .buffer_unordered(in_flight())
        .collect()
        .await;
        let (ok, others) = tally(&answers);
        eprintln!("storm answers: {others:?}");
        for sid in &sids {
            stack
                .wait_status("initech", sid, "ready", Duration::from_secs(120))
                .await;
        }
        let stats = stack.origin.stats();
        let downloads: u64 = sids.iter().map(|s| stats.call(s).attempts as u64).sum();
        per_recording.push(downloads as f64 / calls as f64);
        answered.push(ok as f64);
    }
    let (figure, m) = summarize(&per_recording, 3);
    let (ok, _) = summarize(&answered, 0);
    rows.push(Row {
        scenario: format!(
            "click storm: {} concurrent plays over {calls} uncached calls",
            calls * per_call
        ),
        figure: format!(
            "{figure} origin downloads per recording; answered 200/202: {ok} of {}",
            calls * per_call
        ),
        baseline: "goal 1.000".into(),
        ratio: format!("{m:.3}"),
    });
}

/// One session plays 600 made-up call SIDs, 30 at a time, at 200 ms origin
/// latency, while another agent of the same business plays a real call:
/// the origin requests the made-up plays cost, and the real call's click →
/// ready (the agent's download budget and the business's queue bound at work).
async fn abuse(rows: &mut Vec<Row>) {
    const LAT: u64 = 200;
    let mut origin_requests = Vec::new();
    let mut real_ready_ms = Vec::new();
    let (mut refused, mut not_found, mut recordings_asked) = (Vec::new(), Vec::new(), Vec::new());
    let made_up = |n: u64| format!("CA{:016x}{:016x}", 0xabad_1dea_0000_0000u64 + n, n);
    for run in 0..RUNS {
        let stack = Stack::start_with(latency(LAT), EdgeOptions::default()).await;
        let real = bulk_call(&stack, "acme", run);
        let answered = std::sync::atomic::AtomicUsize::new(0);
        let stack_ref = &stack;
        let abuse = async {
            futures_util::stream::iter(0..600u64)
                .map(|n| {
                    let sid = made_up(n);
                    let request = stack_ref.play_as("acme", "abuser", &sid).send();
                    let answered = &answered;
                    async move {
                        let status = request.await.map(|r| r.status().as_u16()).unwrap_or(0);
                        answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        status
                    }
                })
                .buffer_unordered(30)
                .collect::<Vec<u16>>()
                .await
        };
        let other = async {
            let waited = stack_ref
                .play_once_under_way("acme", &real, &answered, 30)
                .await;
            waited.as_secs_f64() * 1000.0
        };
        let (answers, real_ms) = tokio::join!(abuse, other);
        let stats = stack.origin.stats();
        origin_requests
            .push((stats.authorized_requests - u64::from(stats.call(&real).attempts)) as f64);
        refused.push(answers.iter().filter(|s| **s == 429).count() as f64);
        not_found.push(answers.iter().filter(|s| **s == 404).count() as f64);
        recordings_asked.push(
            (0..600u64)
                .map(|n| u64::from(stats.call(&made_up(n)).attempts))
                .sum::<u64>() as f64,
        );
        real_ready_ms.push(real_ms);
    }
    let (figure, _) = summarize(&origin_requests, 0);
    let (refused, _) = summarize(&refused, 0);
    let (not_found, _) = summarize(&not_found, 0);
    let (recordings_asked, _) = summarize(&recordings_asked, 0);
    rows.push(Row {
        scenario: "one session plays 600 made-up call SIDs, 30 at a time, 200 ms origin".into(),
        figure: format!(
            "{figure} origin requests (of which recording requests {recordings_asked}, the rest call-list reads); answered 404: {not_found}, 429: {refused} of 600"
        ),
        baseline: "before the budget: 600 origin requests; target ≤ 60".into(),
        ratio: format!("{:.3}", median(&mut origin_requests.clone()) / 600.0),
    });
    let (figure, m) = summarize(&real_ready_ms, 0);
    rows.push(Row {
        scenario: "meanwhile another agent of the business plays a real call: click → ready".into(),
        figure: format!("{figure} ms"),
        baseline: format!("origin latency {LAT} ms; target ≤ latency + 1000 ms"),
        ratio: format!("{:.2}", m / (LAT + 1000) as f64),
    });
}

/// 30 calls queued at once on 3 slots at 300 ms origin latency: the peak of
/// concurrent origin downloads, the drain time from the first click, and the
/// queue's service time alone (first origin request to last origin byte).
/// Each drain loads the player's first page of the call list, then clicks
/// (`drain_product`). Each fresh stack drains one business first (the runtime's first traffic,
/// its code not yet compiled: a row of its own), then another, warm, as a
/// live edge is (the bare-worker rows warm up too), then 30 more calls of
/// that business (a business already served: its call list read, its
/// object alive). Beside each, the same three drains of the bare queue
/// (bench/bare-queue.js) on a fresh stack of its own: the runtime's floor
/// for the hand-over alone.
async fn slots(rows: &mut Vec<Row>) {
    let slots = DRAIN_SLOTS;
    let lat = 300u64;
    let mut peaks = Vec::new();
    // Per drain (first traffic, warm, live business), product and peer:
    // first click to the origin's last byte, to its first request, and to
    // its request of the third call (every slot taken).
    let mut product: [Vec<DrainMillis>; 3] = Default::default();
    let mut peer: [Vec<DrainMillis>; 3] = Default::default();
    for run in 0..RUNS {
        let stack = Stack::start_with(
            latency(lat),
            EdgeOptions::default().var("SLOTS_PER_BUSINESS", slots),
        )
        .await;
        let drains = [("globex", 0), ("acme", 0), ("acme", 30)];
        for (i, (business, from)) in drains.into_iter().enumerate() {
            product[i].push(millis(&drain_product(&stack, business, from).await));
        }
        if let Ok(path) = std::env::var("BENCH_SLOTS_LOG") {
            std::fs::write(format!("{path}.{run}"), stack.edge.log()).unwrap();
            std::fs::write(format!("{path}.{run}.origin"), drain_times(&stack)).unwrap();
        }
        peaks.push(stack.origin.stats().business("acme").peak as f64);
        drop(stack);
        let bare = Stack::start_with(
            latency(lat),
            EdgeOptions::default()
                .config("bench/bare-queue-wrangler.toml")
                .var("SLOTS_PER_BUSINESS", slots),
        )
        .await;
        for (i, (business, from)) in drains.into_iter().enumerate() {
            peer[i].push(millis(&drain_bare(&bare, business, from).await));
        }
        if let Ok(path) = std::env::var("BENCH_SLOTS_LOG") {
            std::fs::write(format!("{path}.{run}.peer"), drain_times(&bare)).unwrap();
        }
        assert_eq!(
            bare.origin.stats().business("acme").peak,
            slots as u32,
            "the bare queue keeps to its slots"
        );
    }
    let ideal = 30u64.div_ceil(slots) * lat;
    let (peak, peak_m) = summarize(&peaks, 0);
    rows.push(Row {
        scenario: format!("peak concurrent origin downloads, SLOTS_PER_BUSINESS={slots}"),
        figure: peak,
        baseline: slots.to_string(),
        ratio: format!("{:.2}", peak_m / slots as f64),
    });
    let scenarios = [
        format!("drain 30 queued calls at {lat} ms origin latency, first click to the origin's last byte (warm: after another business's drain)"),
        "the same, as the runtime's first traffic (a fresh stack, its code not yet compiled)".into(),
        "the same, 30 more calls of a business already served (its call list read, its object alive)".into(),
    ];
    // Rows in the order warm, first traffic, live business.
    let wholes = |v: &[DrainMillis]| v.iter().map(|r| r.0).collect::<Vec<_>>();
    for (i, scenario) in [1, 0, 2].into_iter().zip(scenarios) {
        let ((figure, m), (bare, _)) = (
            summarize(&wholes(&product[i]), 0),
            summarize(&wholes(&peer[i]), 0),
        );
        rows.push(Row {
            scenario,
            figure: format!("{figure} ms"),
            baseline: format!(
                "ideal ceil(30/{slots})×{lat} = {ideal} ms; target ≤ 1.15×; the bare queue: {bare} ms"
            ),
            ratio: format!("{:.2}", m / ideal as f64),
        });
    }
    // The warm drain in its two parts: the start (30 clicks taken in, the
    // first download asked for) and the queue's service.
    let starts = |v: &[DrainMillis]| v.iter().map(|r| r.1).collect::<Vec<_>>();
    let services = |v: &[DrainMillis]| v.iter().map(|r| r.0 - r.1).collect::<Vec<_>>();
    let (start, _) = summarize(&starts(&product[1]), 0);
    let (bare_start, _) = summarize(&starts(&peer[1]), 0);
    rows.push(Row {
        scenario: "the warm drain's start: first click to the origin's first request".into(),
        figure: format!("{start} ms"),
        baseline: format!("the bare queue: {bare_start} ms"),
        ratio: "n/a".into(),
    });
    // Where the first traffic loses its time: its first click is taken in
    // alone, and the other slots are taken only once the burst behind it is.
    let taken = |v: &[DrainMillis]| v.iter().map(|r| r.2 - r.1).collect::<Vec<_>>();
    let (spread, _) = summarize(&taken(&product[0]), 0);
    let (bare_spread, _) = summarize(&taken(&peer[0]), 0);
    rows.push(Row {
        scenario: "the first traffic's slots: the origin's first request to its request of the third call (every slot taken)".into(),
        figure: format!("{spread} ms"),
        baseline: format!("the bare queue: {bare_spread} ms"),
        ratio: "n/a".into(),
    });
    let (service, service_m) = summarize(&services(&product[1]), 0);
    let (bare_service, _) = summarize(&services(&peer[1]), 0);
    rows.push(Row {
        scenario: "the warm queue from its first origin request to the origin's last byte (without the time the worker takes to take 30 clicks in)".into(),
        figure: format!("{service} ms"),
        baseline: format!("ideal {ideal} ms; the bare queue: {bare_service} ms"),
        ratio: format!("{:.2}", service_m / ideal as f64),
    });
}

/// The origin's clock for the drains' calls (globex's 30, acme's 60:
/// request and completion times), as JSON, for `BENCH_SLOTS_LOG`.
fn drain_times(stack: &Stack) -> String {
    let stats = stack.origin.stats();
    let calls: Vec<(String, backend_stub::stats::CallStats)> = (0..30)
        .map(|n| bulk_call(stack, "globex", n))
        .chain((0..60).map(|n| bulk_call(stack, "acme", n)))
        .map(|sid| {
            let call = stats.call(&sid);
            (sid, call)
        })
        .collect();
    serde_json::to_string(&calls).unwrap()
}

/// A drain of the product's queue (`drain_queue`), clicked as the client
/// does: after the player's first page of the call list, which shows the
/// calls clicked (a player has always loaded it before a click can come);
/// returns once every call is stored, so that the next drain starts on an
/// idle edge.
async fn drain_product(stack: &Stack, business: &str, from: usize) -> Drain {
    let first_page = playback_core::call_list::ListFilter::default().first_page();
    let list = stack.get_as(business, &first_page).send().await.unwrap();
    assert_eq!(list.status(), 200, "the player's first page");
    let play = |business: &str, sid: &str| stack.play(business, sid);
    let drain = drain_queue(stack, business, from, play).await;
    for sid in (from..from + 30).map(|n| bulk_call(stack, business, n)) {
        stack
            .wait_status(business, &sid, "ready", Duration::from_secs(120))
            .await;
    }
    drain
}

/// The warm drain with the Twilio origin beside the generic one: per run
/// and origin a fresh stack, one unmeasured drain (globex's) and then
/// acme's 30 calls measured, first click to the origin's last byte. With
/// Twilio each call first asks for its `Recordings.json` (not delayed by
/// the stub's latency), then takes a slot.
async fn twilio_drain(rows: &mut Vec<Row>) {
    use integration_tests::Kind;
    let (slots, lat) = (DRAIN_SLOTS, 300u64);
    // The generic origin, Twilio (media behind its 302 to another host, as
    // Twilio sends it), and Twilio with the media answered at once.
    let variants = [
        (Kind::Generic, latency(lat)),
        (Kind::Twilio, latency(lat)),
        (
            Kind::Twilio,
            backend_stub::knobs::Knobs {
                twilio_media_direct: true,
                ..latency(lat)
            },
        ),
    ];
    let mut wholes = [Vec::new(), Vec::new(), Vec::new()];
    let mut peaks = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..RUNS {
        for (k, (kind, knobs)) in variants.iter().enumerate() {
            let stack = Stack::start_kind(
                *kind,
                knobs.clone(),
                EdgeOptions::default().var("SLOTS_PER_BUSINESS", slots),
            )
            .await;
            drain_product(&stack, "globex", 0).await;
            let drain = drain_product(&stack, "acme", 0).await;
            eprintln!(
                "{kind:?} direct={}: whole {:?}, first request {:?}, slots taken {:?}, hand-over {} ms, origin {} ms",
                knobs.twilio_media_direct, drain.whole, drain.first_request, drain.slots_taken, drain.hand_over_ms, drain.origin_ms
            );
            wholes[k].push(millis(&drain).0);
            peaks[k].push(f64::from(stack.origin.stats().business("acme").peak));
        }
    }
    let ideal = 30u64.div_ceil(slots) * lat;
    let (twilio, t) = summarize(&wholes[1], 0);
    let (generic, _) = summarize(&wholes[0], 0);
    let (direct, d) = summarize(&wholes[2], 0);
    rows.push(Row {
        scenario: format!(
            "twilio: drain 30 queued calls at {lat} ms origin latency, warm, first click to the origin's last byte, SLOTS_PER_BUSINESS={slots}, media behind Twilio's 302"
        ),
        figure: format!("{twilio} ms"),
        baseline: format!(
            "generic origin, the same way: {generic} ms; ideal ceil(30/{slots})×{lat} = {ideal} ms; target ≤ 1.15×"
        ),
        ratio: format!("{:.2}", t / ideal as f64),
    });
    rows.push(Row {
        scenario: "twilio: the same, media answered at once (the stub's twilio_media_direct)"
            .into(),
        figure: format!("{direct} ms"),
        baseline: format!("generic origin: {generic} ms; ideal {ideal} ms"),
        ratio: format!("{:.2}", d / ideal as f64),
    });
    let (peak, peak_m) = summarize(&peaks[1], 0);
    rows.push(Row {
        scenario: format!("twilio: peak concurrent origin downloads, SLOTS_PER_BUSINESS={slots}"),
        figure: peak,
        baseline: format!("{slots}; generic origin: {}", summarize(&peaks[0], 0).0),
        ratio: format!("{:.2}", peak_m / slots as f64),
    });
}

/// A drain of the bare queue (bench/bare-queue.js), whose clicks are
/// answered once their calls are stored.
async fn drain_bare(stack: &Stack, business: &str, from: usize) -> Drain {
    let play = |business: &str, sid: &str| {
        stack
            .http
            .get(stack.url(&format!("/play/{business}/{sid}")))
    };
    drain_queue(stack, business, from, play).await
}

/// A drain's whole time, its first request's and its third's, in milliseconds.
type DrainMillis = (f64, f64, f64);

/// A drain's times as `DrainMillis`.
fn millis(drain: &Drain) -> DrainMillis {
    (
        drain.whole.as_millis() as f64,
        drain.first_request.as_millis() as f64,
        drain.slots_taken.as_millis() as f64,
    )
}

/// Queues 30 calls of `business` at once (bulk calls `from` on), each
/// clicked with `play`, and times it from the first click (read in-process
/// from the origin's counters: no polling request adds to the load).
/// Returns once every click is answered (the bare queue answers a click
/// once its call is stored; the product's may answer 202 before).
async fn drain_queue(
    stack: &Stack,
    business: &str,
    from: usize,
    play: impl Fn(&str, &str) -> reqwest::RequestBuilder,
) -> Drain {
    let calls: Vec<String> = (from..from + 30)
        .map(|n| bulk_call(stack, business, n))
        .collect();
    let t = Instant::now();
    let clicks: Vec<_> = calls
        .iter()
        .map(|sid| tokio::spawn(play(business, sid).send()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut first_request, mut slots_taken) = (None, None);
    // What the origin counts them by (with Twilio, their recordings).
    let media: Vec<String> = calls.iter().map(|sid| stack.media_key(sid)).collect();
    loop {
        let stats = stack.origin.stats();
        let asked = media
            .iter()
            .filter(|key| stats.call(key).attempts > 0)
            .count();
        if first_request.is_none() && asked > 0 {
            first_request = Some(t.elapsed());
        }
        if slots_taken.is_none() && asked >= DRAIN_SLOTS as usize {
            slots_taken = Some(t.elapsed());
        }
        if media.iter().all(|key| stats.call(key).completed > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let whole = t.elapsed();
    for c in clicks {
        c.await.unwrap().unwrap();
    }
    // The origin's clock: each call's first request and first completion.
    let stats = stack.origin.stats();
    let (mut asked, mut done): (Vec<f64>, Vec<f64>) = media
        .iter()
        .map(|key| {
            let call = stats.call(key);
            (
                call.attempt_times_ms[0] as f64,
                call.completed_times_ms[0] as f64,
            )
        })
        .unzip();
    let mut served: Vec<f64> = asked.iter().zip(&done).map(|(a, d)| d - a).collect();
    asked.sort_by(f64::total_cmp);
    done.sort_by(f64::total_cmp);
    // Slots are handed over in order: the k-th completion frees the slot
    // the (k + slots)-th request takes.
    let mut handed: Vec<f64> = done
        .iter()
        .zip(asked.iter().skip(DRAIN_SLOTS as usize))
        .map(|(d, a)| a - d)
        .collect();
    Drain {
        whole,
        first_request: first_request.unwrap_or_default(),
        slots_taken: slots_taken.unwrap_or_default(),
        hand_over_ms: median(&mut handed),
        origin_ms: median(&mut served),
    }
}

/// The times of one drain, from the first click.
struct Drain {
    /// To the origin's last byte of the last call.
    whole: Duration,
    /// To the origin's first request.
    first_request: Duration,
    /// To the origin's request of the `DRAIN_SLOTS`th call: every slot taken.
    slots_taken: Duration,
    /// The median time from a download's last origin byte to the origin's
    /// next request (the slot it freed taken again).
    hand_over_ms: f64,
    /// The median time the origin takes to serve one download, request to
    /// last byte (its latency, then as fast as the worker reads the body).
    origin_ms: f64,
}

/// The slots of the drain scenarios.
const DRAIN_SLOTS: u64 = 3;

/// A drain's start alone, repeated more often than the drain can be: 30
/// bulk calls of a business clicked at once on 3 slots at 300 ms origin
/// latency, first click to the origin's request of the third call (every
/// slot taken; the drain's end follows from the last slot's start), for a
/// business's first plays (after the player's first page of its call list)
/// and for 30 more of a
/// business already served. Two fresh stacks each of the product and of
/// the bare queue (bench/bare-queue.js), taking turns; each stack's first
/// business is the runtime's first traffic and is not counted. Each drain
/// runs to its end before the next.
async fn drain_start(rows: &mut Vec<Row>) {
    let lat = 300u64;
    // Per system (product, peer): a business's first plays, and a business served.
    let mut starts: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    // Per system, every counted drain's median hand-over and origin service.
    let mut rounds: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for _ in 0..2 {
        for (system, config) in [None, Some("bench/bare-queue-wrangler.toml")]
            .into_iter()
            .enumerate()
        {
            let mut options = EdgeOptions::default().var("SLOTS_PER_BUSINESS", DRAIN_SLOTS);
            if let Some(config) = config {
                options = options.config(config);
            }
            let stack = Stack::start_with(latency(lat), options).await;
            for (b, business) in backend_stub::catalog::BUSINESSES.iter().enumerate() {
                for from in [0, 30] {
                    let drain = match config {
                        None => drain_product(&stack, business, from).await,
                        Some(_) => drain_bare(&stack, business, from).await,
                    };
                    if (b, from) == (0, 0) {
                        continue;
                    }
                    let ms = drain.slots_taken.as_millis() as f64;
                    match from {
                        0 => starts[system].0.push(ms),
                        _ => starts[system].1.push(ms),
                    }
                    rounds[system].0.push(drain.hand_over_ms);
                    rounds[system].1.push(drain.origin_ms);
                }
            }
        }
    }
    // Each row: the product's figures beside the peer's.
    let series = [
        ("a drain's start: 30 calls clicked at once, first click to the origin's request of the third (every slot taken), a business's first plays (after the player's first page of its call list)", &starts[0].0, &starts[1].0),
        ("the same, 30 more calls of a business already served", &starts[0].1, &starts[1].1),
        ("a drain's hand-over: a download's last origin byte to the origin's next request (per drain, the median of its 27)", &rounds[0].0, &rounds[1].0),
        ("a drain's origin service: one download's origin request to its last byte (per drain, the median of its 30)", &rounds[0].1, &rounds[1].1),
    ];
    for (scenario, product, peer) in series {
        let ((figure, m), (bare, bare_m)) = (summarize(product, 0), summarize(peer, 0));
        rows.push(Row {
            scenario: scenario.into(),
            figure: format!("{figure} ms"),
            baseline: format!("the bare queue: {bare} ms"),
            ratio: format!("{:.1}", m / bare_m.max(1.0)),
        });
    }
}

/// First click to ready, as the client polls (its real policy from the core).
async fn cold_to_ready(rows: &mut Vec<Row>, lat: u64, runs: usize) {
    let stack = Stack::start_with(latency(lat), EdgeOptions::default()).await;
    let mut times = Vec::new();
    for n in 0..runs {
        let sid = bulk_call(&stack, "globex", 20 + n);
        times.push(click_to_ready(&stack, "globex", &sid).await);
    }
    let spread = spread(&times);
    let m = median(&mut times);
    rows.push(Row {
        scenario: format!("cold first click → ready, origin latency {lat} ms (median of {runs})"),
        figure: format!("{m:.0} ms (range {spread})"),
        baseline: format!("origin latency alone {lat} ms"),
        ratio: if lat > 0 {
            format!("{:.2}", m / lat as f64)
        } else {
            "n/a".into()
        },
    });
}

/// One first click on `sid` until the first byte of the client's probe
/// (`Range: bytes=0-0`) is answered, polling as the client does: in ms.
async fn click_to_ready(stack: &Stack, business: &str, sid: &str) -> f64 {
    let t = Instant::now();
    let mut attempt = 0;
    loop {
        let r = stack
            .play(business, sid)
            .header("Range", "bytes=0-0")
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            206 | 200 => break,
            202 => {
                attempt += 1;
                let body: serde_json::Value = r.json().await.unwrap();
                let floor = body["retry_after_ms"].as_u64().unwrap_or(0);
                let wait = POLL.full_jitter_ms(attempt, rand_unit()).max(floor);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            s => panic!("cold play answered {s}"),
        }
    }
    t.elapsed().as_secs_f64() * 1000.0
}

fn rand_unit() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos % 1000) as f64 / 1000.0
}

/// Median requests/s over `WRK_RUNS` runs of wrk, with the spread and the last run's latencies.
fn wrk_median(url: &str, connections: u32, headers: &[(&str, String)]) -> (f64, String, String) {
    let mut rps = Vec::new();
    let mut lat = String::new();
    for _ in 0..WRK_RUNS {
        let (r, l) = wrk(url, connections, headers);
        rps.push(r);
        lat = l;
    }
    let spread = spread(&rps);
    (median(&mut rps), spread, lat)
}

const WRK_RUNS: usize = 3;
/// Runs of each origin in `twilio_serving`, taken in turns.
const TWILIO_SERVING_RUNS: usize = 5;

fn wrk(url: &str, connections: u32, headers: &[(&str, String)]) -> (f64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        if connections > 1 { "-t2" } else { "-t1" },
        &format!("-c{connections}"),
        "-d3s",
        "--latency",
    ]);
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    let p50 = text
        .lines()
        .find(|l| l.trim_start().starts_with("50%"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
        .unwrap_or_default();
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
        .unwrap_or_default();
    (rps, format!("p50 {p50}, p99 {p99}"))
}

/// nginx serving `files` from disk on a free port, for as long as the guard lives.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx serving `files` from disk.
    fn static_files(files: &[(&str, &[u8])]) -> Nginx {
        Self::start(|d, _| {
            let www = d.join("www");
            std::fs::create_dir_all(&www).unwrap();
            for (name, bytes) in files {
                std::fs::write(www.join(name), bytes).unwrap();
            }
            format!("root {}; location / {{ }}", www.display())
        })
    }

    /// nginx as the standard pull-through cache in front of the origin:
    /// `proxy_cache` with `proxy_cache_lock` collapsing concurrent misses.
    /// (The stub ignores `Range`, so the `slice` module cannot be used; nginx
    /// caches whole bodies and answers ranges from the cache.)
    fn pull_through(origin: &str, token: &str) -> Nginx {
        Self::start(|_, _| {
            format!(
                "location / {{ proxy_pass {origin}; proxy_set_header Authorization \"Bearer {token}\"; proxy_http_version 1.1;\n\
                 proxy_cache rec; proxy_cache_key $uri; proxy_cache_lock on; proxy_cache_lock_timeout 300s; proxy_cache_lock_age 300s;\n\
                 proxy_cache_valid 200 1h; proxy_read_timeout 300s; proxy_force_ranges on; }}\n"
            )
        })
    }

    fn start(server_body: impl FnOnce(&Path, u16) -> String) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let body = server_body(dir.path(), port);
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log; worker_rlimit_nofile 65536;\n\
             events {{ worker_connections 32768; }}\n\
             http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px; fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n\
             proxy_cache_path {d}/cache levels=1:2 keys_zone=rec:10m max_size=4g inactive=1h use_temp_path=off;\n\
             server {{ listen 127.0.0.1:{port} backlog=65535; {body} }} }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .spawn()
            .expect("nginx (scripts/bench installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers; SIGKILL would orphan them.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

async fn cached_serving(rows: &mut Vec<Row>) {
    let stack = Stack::start().await;
    let catalog = stack.origin.stub.catalog().clone();
    let by_duration = |b: &str, d: u32| {
        catalog
            .listed_calls(b)
            .find(|c| c.summary.duration_s == d)
            .unwrap()
            .clone()
    };
    let auth = |b: &str| {
        [
            ("Authorization", format!("Bearer {}", token_for(b))),
            ("X-User-Action", "play".to_string()),
        ]
    };

    // A 1 MB recording against a plain static file server.
    let one_mb = by_duration("globex", 61);
    let sid = one_mb.summary.call_sid.to_string();
    let bytes = stack.cache("globex", &sid).await;
    let nginx = Nginx::static_files(&[("recording.wav", &bytes)]);
    let (edge, edge_spread, edge_lat) = wrk_median(
        &stack.url(&format!("/api/recordings/{sid}/stream")),
        16,
        &auth("globex"),
    );
    let (peer, peer_spread, peer_lat) = wrk_median(
        &format!("http://127.0.0.1:{}/recording.wav", nginx.port),
        16,
        &[],
    );
    rows.push(Row {
        scenario: format!(
            "cached 200 of a {:.2} MB recording, 16 connections",
            bytes.len() as f64 / 1e6
        ),
        figure: format!("{edge:.0} req/s (runs {edge_spread}; {edge_lat})"),
        baseline: format!("nginx static file: {peer:.0} req/s (runs {peer_spread}; {peer_lat})"),
        ratio: format!("{:.2}", edge / peer.max(1.0)),
    });
    drop(nginx);

    // Against nginx as a pull-through cache of the same origin, warmed first.
    let pull = Nginx::pull_through(&stack.origin.url, integration_tests::ORIGIN_TOKEN);
    for (business, duration) in [("hooli", 6), ("umbrella", 320)] {
        let call = by_duration(business, duration);
        let sid = call.summary.call_sid.to_string();
        let size = call.recording.len();
        stack.cache(business, &sid).await;
        let peer_url = format!(
            "http://127.0.0.1:{}/v1/businesses/{business}/calls/{sid}/recording",
            pull.port
        );
        let warmed = reqwest::get(&peer_url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(warmed.len() as u64, size);
        let edge_url = stack.url(&format!("/api/recordings/{sid}/stream"));
        let half = size / 2;
        for ranged in [false, true] {
            for connections in [1, 16, 64] {
                let mut edge_headers = auth(business).to_vec();
                let mut peer_headers = Vec::new();
                if ranged {
                    let range = format!("bytes={half}-{}", half + 65_535);
                    edge_headers.push(("Range", range.clone()));
                    peer_headers.push(("Range", range));
                }
                let (edge, edge_spread, edge_lat) =
                    wrk_median(&edge_url, connections, &edge_headers);
                let (peer, peer_spread, peer_lat) =
                    wrk_median(&peer_url, connections, &peer_headers);
                rows.push(Row {
                    scenario: format!(
                        "cached {} of a {} recording, {connections} conn",
                        if ranged { "64 KB range" } else { "full body" },
                        human(size)
                    ),
                    figure: format!("{edge:.0} req/s (runs {edge_spread}; {edge_lat})"),
                    baseline: format!(
                        "nginx pull-through: {peer:.0} req/s (runs {peer_spread}; {peer_lat})"
                    ),
                    ratio: format!("{:.2}", edge / peer.max(1.0)),
                });
            }
        }
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.0} KB", bytes as f64 / 1e3)
    }
}

/// Requests in flight at once. More than this overflows the listen backlog of
/// the local workerd (connects then time out after two minutes in the kernel)
/// and the descriptor limit (20 000 for client and server sockets together).
const IN_FLIGHT: usize = 1_000;

fn in_flight() -> usize {
    std::env::var("BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(IN_FLIGHT)
}

/// 50 uncached calls across 5 businesses, 300 plays each, `in_flight()` at a
/// time; the same load against nginx's pull-through cache of the same origin.
async fn amplification(rows: &mut Vec<Row>) {
    let businesses = backend_stub::catalog::BUSINESSES;
    let per_call = 300;
    let (mut ours, mut ours_ok, mut ours_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut peer, mut peer_ok, mut peer_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut total = 0;
    let mut calls_n = 0;
    for _ in 0..HEAVY_RUNS {
        let stack = Stack::start_with(
            latency(500),
            EdgeOptions::default().var("SLOTS_PER_BUSINESS", 10),
        )
        .await;
        let calls: Vec<(&str, String)> = businesses
            .iter()
            .flat_map(|b| {
                (0..10)
                    .map(|n| (*b, bulk_call(&stack, b, 40 + n)))
                    .collect::<Vec<_>>()
            })
            .collect();
        calls_n = calls.len();
        total = calls.len() * per_call;
        let t = Instant::now();
        let stack_ref = &stack;
        let answers: Vec<_> = futures_util::stream::iter(
            calls
                .iter()
                .flat_map(|(b, sid)| (0..per_call).map(move |_| stack_ref.play(b, sid).send())),
        )
        .buffer_unordered(in_flight())
        .collect()
        .await;
        let (answered, outcomes) = tally(&answers);
        eprintln!("amplification answers: {outcomes:?}");
        for (b, sid) in &calls {
            stack
                .wait_status(b, sid, "ready", Duration::from_secs(300))
                .await;
        }
        ours_ms.push(t.elapsed().as_millis() as f64);
        let stats = stack.origin.stats();
        let downloads: u64 = calls
            .iter()
            .map(|(_, s)| stats.call(s).attempts as u64)
            .sum();
        ours.push(downloads as f64 / calls.len() as f64);
        ours_ok.push(answered as f64);

        stack.origin.stub.stats.reset();
        let pull = Nginx::pull_through(&stack.origin.url, integration_tests::ORIGIN_TOKEN);
        let http = reqwest::Client::new();
        let t = Instant::now();
        let peer_answers: Vec<_> = futures_util::stream::iter(calls.iter().flat_map(|(b, sid)| {
            let url = format!(
                "http://127.0.0.1:{}/v1/businesses/{b}/calls/{sid}/recording",
                pull.port
            );
            let http = http.clone();
            (0..per_call).map(move |_| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    http.get(&url)
                        .send()
                        .await
                        .ok()?
                        .bytes()
                        .await
                        .ok()
                        .map(|b| b.len())
                }
            })
        }))
        .buffer_unordered(in_flight())
        .collect()
        .await;
        peer_ms.push(t.elapsed().as_millis() as f64);
        peer_ok.push(peer_answers.iter().filter(|a| a.is_some()).count() as f64);
        let peer_stats = stack.origin.stats();
        let peer_downloads: u64 = calls
            .iter()
            .map(|(_, s)| peer_stats.call(s).attempts as u64)
            .sum();
        peer.push(peer_downloads as f64 / calls.len() as f64);
    }
    let (ours_s, ours_m) = summarize(&ours, 3);
    let (peer_s, peer_m) = summarize(&peer, 3);
    rows.push(Row {
        scenario: format!("origin amplification: {calls_n} uncached calls × {per_call} plays ({total} requests, {} in flight) across {} businesses, 500 ms origin", in_flight(), businesses.len()),
        figure: format!(
            "{ours_s} downloads per recording; answered 200/202: {} of {total}; every request answered and every call ready in {} ms",
            summarize(&ours_ok, 0).0,
            summarize(&ours_ms, 0).0
        ),
        baseline: format!(
            "nginx proxy_cache_lock: {peer_s} downloads per recording; answered: {} of {total}; {} ms (every request waits for the whole body)",
            summarize(&peer_ok, 0).0,
            summarize(&peer_ms, 0).0
        ),
        ratio: format!("{:.3}", ours_m / peer_m.max(f64::MIN_POSITIVE)),
    });
}

/// The peak resident memory of a worker's workerd processes, sampled every
/// 100 ms from `start` until `stop`.
struct PeakRss {
    before: u64,
    sampling: std::sync::Arc<std::sync::atomic::AtomicBool>,
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    fn start(group: u32) -> PeakRss {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let rss = move || integration_tests::workerd_rss_kib(group);
        let before = rss();
        let sampling = std::sync::Arc::new(AtomicBool::new(true));
        let peak = std::sync::Arc::new(AtomicU64::new(before));
        let task = {
            let (sampling, peak) = (sampling.clone(), peak.clone());
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        PeakRss {
            before,
            sampling,
            peak,
            task,
        }
    }

    /// The peak, in KiB.
    async fn stop(self) -> u64 {
        use std::sync::atomic::Ordering;
        self.sampling.store(false, Ordering::Relaxed);
        self.task.await.unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

/// The worker's resident memory while 16 clients stream the 57.6 MB recording.
async fn memory(rows: &mut Vec<Row>) {
    let (mut befores, mut growths, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = 0u64;
    for _ in 0..HEAVY_RUNS {
        let stack = Stack::start().await;
        let long = stack.origin.stub.catalog().longest().clone();
        size = long.recording.len();
        let sid = long.summary.call_sid.to_string();
        stack.play(long.business, &sid).send().await.unwrap();
        stack
            .wait_status(long.business, &sid, "ready", Duration::from_secs(120))
            .await;
        let sampler = PeakRss::start(stack.edge.process_group().expect("the worker runs"));
        let before = sampler.before;
        let t = Instant::now();
        let totals = join_all((0..16).map(|_| async {
            let r = stack.play(long.business, &sid).send().await.unwrap();
            let mut body = r.bytes_stream();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                n += chunk.unwrap().len() as u64;
            }
            n
        }))
        .await;
        let secs = t.elapsed().as_secs_f64();
        let peak = sampler.stop().await;
        assert!(totals.iter().all(|&n| n == size));
        befores.push((before / 1024) as f64);
        growths.push((peak as f64 - before as f64) / 1024.0);
        rates.push(16.0 * size as f64 / 1e6 / secs);
    }
    let (growth, growth_m) = summarize(&growths, 0);
    rows.push(Row {
        scenario: format!(
            "worker memory while 16 clients stream the {} recording at once",
            human(size)
        ),
        figure: format!(
            "RSS growth {growth} MiB over {} MiB before; {} MB/s in all",
            summarize(&befores, 0).0,
            summarize(&rates, 0).0
        ),
        baseline: format!("{} MB of bodies in flight", 16 * size / 1_000_000),
        ratio: format!("{:.3}", growth_m * 1024.0 * 1024.0 / (16 * size) as f64),
    });
}

/// The product against a bare worker that only streams the same R2 object
/// (bench/bare-worker.js), on the same persisted local R2, taking turns in
/// each round. The product runs as in every other row (its one JSON line per
/// request collected by wrangler) and with wrangler printing errors only; the
/// bare worker runs as it is and with the same one line per request, because
/// under `wrangler dev` a `console.log` costs the runtime about as much as
/// streaming a small response (measured, see BENCHMARKS.md). Each variant
/// gets one unmeasured `wrk` run before the measured one.
async fn bare_worker(rows: &mut Vec<Row>) {
    let mut stack = Stack::start().await;
    let call = stack
        .origin
        .stub
        .catalog()
        .listed_calls("globex")
        .find(|c| c.summary.duration_s == 61)
        .unwrap()
        .clone();
    let sid = call.summary.call_sid.to_string();
    let bytes = stack.cache("globex", &sid).await;
    let headers = [
        ("Authorization", format!("Bearer {}", token_for("globex"))),
        ("X-User-Action", "play".to_string()),
    ];
    let key = playback_core::ids::recording_key(&playback_core::CallIdentity::new(
        playback_core::BusinessId::parse("globex").unwrap(),
        playback_core::CallSid::parse(&sid).unwrap(),
    ));
    let origin_url = stack.origin.url.clone();
    let persist = stack.persist_dir().to_path_buf();
    stack.edge.kill();
    let product = EdgeOptions::default();
    let bare = EdgeOptions::default()
        .config("bench/bare-wrangler.toml")
        .log_level("error");
    let variants = [
        (
            "product, its log line collected by wrangler",
            product.clone(),
            true,
        ),
        (
            "product, wrangler printing errors only",
            product.log_level("error"),
            true,
        ),
        ("bare worker", bare.clone(), false),
        (
            "bare worker writing one log line per request",
            bare.var("LOG_LINE", 1),
            false,
        ),
    ];
    let mut rps = vec![Vec::new(); variants.len()];
    for round in 0..HEAVY_RUNS {
        // Each round starts with the next variant: none always runs first.
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let (_, options, is_product) = &variants[i];
            let edge = integration_tests::Edge::start(&origin_url, &persist, options.clone()).await;
            let (url, headers) = if *is_product {
                (
                    format!("{}/api/recordings/{sid}/stream", edge.url),
                    &headers[..],
                )
            } else {
                (format!("{}/?key={key}", edge.url), &[][..])
            };
            // Both are measured warm: the first seconds after a start run
            // before the runtime has compiled the hot code (measured: the
            // product's wasm gains about 16 % from them, the bare JS 9 %).
            wrk(&url, 16, headers);
            rps[i].push(wrk(&url, 16, headers).0);
        }
    }
    let mb = bytes.len() as f64 / 1e6;
    let figure = |i: usize| summarize(&rps[i], 0);
    for (product, baseline) in [(0, 2), (1, 2), (1, 3)] {
        let ((p, pm), (b, bm)) = (figure(product), figure(baseline));
        rows.push(Row {
            scenario: format!(
                "cached 200 of a {mb:.2} MB recording, 16 connections: {}",
                variants[product].0
            ),
            figure: format!("{p} req/s"),
            baseline: format!("{}: {b} req/s; target ≥ 0.9×", variants[baseline].0),
            ratio: format!("{:.2}", pm / bm.max(1.0)),
        });
    }
}

/// Trusted click → the audio element's `playing` event, measured in the page
/// (performance.now() at the click and at `playing`), for cold calls at
/// 500 ms origin latency and then for the same calls cached.
async fn click_to_playing(rows: &mut Vec<Row>, runs: usize, engine: Engine) {
    let lat = 500;
    let stack = Stack::start_with(latency(lat), EdgeOptions::default()).await;
    let browser = Browser::start_in(engine).await;
    let catalog = stack.origin.stub.catalog().clone();
    // Taken from the three businesses in turn: each business's signed-in
    // agent stays within its download budget, so no click is refused.
    let per_business: Vec<Vec<(String, String)>> = ["acme", "globex", "initech"]
        .iter()
        .map(|b| {
            catalog
                .listed_calls(b)
                .filter(|c| !c.bulk && c.summary.duration_s < 600)
                .map(|c| (b.to_string(), c.summary.call_sid.to_string()))
                .collect()
        })
        .collect();
    let calls: Vec<(String, String)> = (0..)
        .map_while(|i| {
            let round: Vec<_> = per_business
                .iter()
                .filter_map(|l| l.get(i).cloned())
                .collect();
            (!round.is_empty()).then_some(round)
        })
        .flatten()
        .take(runs)
        .collect();
    assert_eq!(calls.len(), runs, "enough short demo calls");
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    for (business, sid) in &calls {
        cold.push(click_once(&stack, &browser, business, sid).await);
        cached.push(click_once(&stack, &browser, business, sid).await);
    }
    for (label, times, target) in [
        ("cached", &mut cached, "target ≤ 150 ms".to_string()),
        (
            "cold, origin latency 500 ms",
            &mut cold,
            format!("origin latency {lat} ms; target ≤ {} ms", lat + 150),
        ),
    ] {
        let spread = spread(times);
        let n = times.len();
        let m = median(times);
        rows.push(Row {
            scenario: format!(
                "browser ({}): trusted click → playing, {label} (median of {n})",
                engine.name()
            ),
            figure: format!("{m:.0} ms (range {spread})"),
            baseline: target,
            ratio: if label == "cached" {
                format!("{:.2}", m / 150.0)
            } else {
                format!("{:.2}", m / lat as f64)
            },
        });
    }
}

/// The origin link of the read-while-write rows: 4 MB/s after 300 ms.
const FILL_RATE: u64 = 4_000_000;
const FILL_LATENCY_MS: u64 = 300;
const FILL_RUNS: usize = 3;

fn fill_knobs() -> backend_stub::knobs::Knobs {
    backend_stub::knobs::Knobs {
        all: backend_stub::knobs::FaultSet {
            latency_ms: FILL_LATENCY_MS,
            bytes_per_second: FILL_RATE,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The 1-, 15- and 60-minute demo calls.
const FILL_CALLS: [(&str, &str, u32); 3] = [
    ("1-minute", "globex", 61),
    ("15-minute", "hooli", 900),
    ("60-minute", "acme", 3600),
];

fn call_of(stack: &Stack, business: &str, secs: u32) -> (String, u64) {
    let call = stack
        .origin
        .stub
        .catalog()
        .all_calls(business)
        .find(|c| c.summary.duration_s == secs)
        .expect("the demo call")
        .clone();
    (call.summary.call_sid.to_string(), call.recording.len())
}

/// A response body as the lengths of its chunks.
type Body = futures_util::stream::BoxStream<'static, reqwest::Result<usize>>;

/// Sends `request`; the time to its first body byte, and its body (that first chunk included).
async fn first_byte(request: reqwest::RequestBuilder) -> (f64, Body) {
    let t = Instant::now();
    let r = request.send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mut body = r.bytes_stream().map(|c| c.map(|b| b.len())).boxed();
    let first = body.next().await.unwrap().unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let rest = futures_util::stream::once(async move { Ok(first) })
        .chain(body)
        .boxed();
    (ms, rest)
}

async fn drain(mut body: Body) -> u64 {
    let mut n = 0;
    while let Some(chunk) = body.next().await {
        n += chunk.unwrap() as u64;
    }
    n
}

/// First bytes of a cold play (the first requester, and a second one that
/// arrives once the first has 256 KiB), against the origin's own first
/// byte and nginx's pull-through cache; R2 operations from the worker's log.
async fn fill(rows: &mut Vec<Row>) {
    for (label, business, secs) in FILL_CALLS {
        let mut times: [Vec<f64>; 5] = Default::default();
        let (mut pieces, mut gets, mut asks) = (Vec::new(), Vec::new(), Vec::new());
        let mut size = 0u64;
        for _ in 0..FILL_RUNS {
            let stack = Stack::start_with(fill_knobs(), EdgeOptions::default()).await;
            let (sid, len) = call_of(&stack, business, secs);
            size = len;
            let second_at = (256u64 << 10).min(size / 2);
            let path = format!("/api/recordings/{sid}/stream");
            // Ours: the click, then another listener once the click has 256 KiB.
            let (ms, mut body) = first_byte(stack.play(business, &sid)).await;
            times[0].push(ms);
            let mut n = 0;
            while n < second_at {
                n += body.next().await.unwrap().unwrap() as u64;
            }
            let (ms, second) = first_byte(stack.get_as(business, &path)).await;
            times[1].push(ms);
            let (a, b) = tokio::join!(drain(body), drain(second));
            assert_eq!((a + n, b), (size, size));
            stack
                .wait_status(business, &sid, "ready", Duration::from_secs(120))
                .await;
            // The worker's own count of its R2 operations.
            for line in stack.edge.log().lines().filter(|l| l.contains(&sid)) {
                let Some(v) = line
                    .find('{')
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(&line[i..]).ok())
                else {
                    continue;
                };
                match v["event"].as_str() {
                    // An attempt's end is told in its transition's line.
                    Some("transition" | "attempt_end") if v.get("pieces").is_some() => {
                        pieces.push(v["pieces"].as_f64().unwrap_or(0.0))
                    }
                    Some("fill_listener") => {
                        gets.push(v["r2_gets"].as_f64().unwrap_or(0.0));
                        asks.push(v["object_asks"].as_f64().unwrap_or(0.0));
                    }
                    _ => {}
                }
            }
            // The origin's own first byte, asked directly.
            let origin_url = format!(
                "{}/v1/businesses/{business}/calls/{sid}/recording",
                stack.origin.url
            );
            let direct = stack
                .http
                .get(&origin_url)
                .bearer_auth(integration_tests::ORIGIN_TOKEN);
            let (ms, body) = first_byte(direct).await;
            times[2].push(ms);
            drop(body);
            // nginx's pull-through cache: its first requester, and a second one
            // once the first has 256 KiB.
            let nginx = Nginx::pull_through(&stack.origin.url, integration_tests::ORIGIN_TOKEN);
            let url = format!(
                "http://127.0.0.1:{}/v1/businesses/{business}/calls/{sid}/recording",
                nginx.port
            );
            let http = reqwest::Client::new();
            let (ms, mut body) = first_byte(http.get(&url)).await;
            times[3].push(ms);
            let mut n = 0;
            while n < second_at {
                n += body.next().await.unwrap().unwrap() as u64;
            }
            let (ms, second) = first_byte(http.get(&url)).await;
            times[4].push(ms);
            let (a, b) = tokio::join!(drain(body), drain(second));
            assert_eq!((a + n, b), (size, size));
        }
        let [ours1, ours2, origin, nginx1, nginx2] = &mut times;
        let origin_m = median(&mut origin.clone());
        let (o1, o1_m) = summarize(ours1, 0);
        let (n1, n1_m) = summarize(nginx1, 0);
        rows.push(Row {
            scenario: format!(
                "cold play of the {label} recording ({}) at 4 MB/s after {FILL_LATENCY_MS} ms: first byte, the clicker",
                human(size)
            ),
            figure: format!("{o1} ms"),
            baseline: format!(
                "origin's own first byte {} ms; nginx pull-through, its first requester: {n1} ms; target ≤ origin + 300 ms",
                summarize(origin, 0).0
            ),
            ratio: format!("+{:.0} ms over the origin; {:.2}× nginx", o1_m - origin_m, o1_m / n1_m),
        });
        let (o2, o2_m) = summarize(ours2, 0);
        let (n2, n2_m) = summarize(nginx2, 0);
        rows.push(Row {
            scenario: "the same, a second listener arriving during the fill (after the clicker's first 256 KiB): first byte".into(),
            figure: format!("{o2} ms"),
            baseline: format!("nginx pull-through, a second requester during its fill: {n2} ms (proxy_cache_lock)"),
            ratio: format!("{:.3}", o2_m / n2_m),
        });
        let (p, _) = summarize(&pieces, 0);
        let (g, _) = summarize(&gets, 1);
        let (a, _) = summarize(&asks, 1);
        rows.push(Row {
            scenario: format!("R2 operations for the {label} recording's fill (from the worker's log)"),
            figure: format!(
                "writes: {p} pieces + 1 whole recording (its peaks go to its call object, with `ready`); per listener during the fill: {g} R2 reads, {a} questions to the call object"
            ),
            baseline: "before a first download: none (its play has just missed R2; a resumed or retried attempt: 1 look + 1 list); after the fill: 1 batch delete of the pieces, by name; a cached play: 1 read".into(),
            ratio: "n/a".into(),
        });
    }
}

/// The worker's memory while 1 and then 16 listeners read one 60-minute
/// fill from an origin at 4 MB/s, and its wasm memory (from its log).
async fn fill_memory(rows: &mut Vec<Row>) {
    let mut size = 0u64;
    let mut by_listeners = Vec::new();
    for listeners in [1, 16] {
        let (mut growths, mut wasm) = (Vec::new(), Vec::new());
        for _ in 0..FILL_RUNS {
            let stack = Stack::start_with(fill_knobs(), EdgeOptions::default()).await;
            let (sid, len) = call_of(&stack, "acme", 3600);
            size = len;
            let sampler = PeakRss::start(stack.edge.process_group().expect("the worker runs"));
            let before = sampler.before;
            let path = format!("/api/recordings/{sid}/stream");
            let (_, first) = first_byte(stack.play("acme", &sid)).await;
            let others = join_all((1..listeners).map(|_| async {
                let (_, body) = first_byte(stack.get_as("acme", &path)).await;
                drain(body).await
            }));
            let (a, others) = tokio::join!(drain(first), others);
            stack
                .wait_status("acme", &sid, "ready", Duration::from_secs(120))
                .await;
            let peak = sampler.stop().await;
            assert!(a == size && others.iter().all(|&n| n == size));
            assert_eq!(stack.origin.stats().call(&sid).attempts, 1);
            growths.push((peak as f64 - before as f64) / 1024.0);
            let log = stack.edge.log();
            let end = log
                .lines()
                .find(|l| l.contains("\"wasm_memory\"") && l.contains(&sid));
            let bytes = end
                .and_then(|l| l.find('{').map(|i| &l[i..]))
                .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
                .and_then(|v| v["wasm_memory"].as_f64())
                .unwrap_or(0.0);
            wasm.push(bytes / 1048576.0);
        }
        by_listeners.push((listeners, growths, wasm));
    }
    let [(_, one, wasm_one), (_, sixteen, wasm_sixteen)] = &by_listeners[..] else {
        return;
    };
    let (one_s, one_m) = summarize(one, 0);
    let (sixteen_s, sixteen_m) = summarize(sixteen, 0);
    rows.push(Row {
        scenario: format!(
            "workerd memory while 16 listeners read one 60-minute fill ({}, origin at 4 MB/s): RSS growth, and the isolate's wasm memory",
            human(size)
        ),
        figure: format!(
            "{sixteen_s} MiB (wasm memory {} MiB)",
            summarize(wasm_sixteen, 1).0
        ),
        baseline: format!(
            "the same fill with its one clicker: {one_s} MiB (wasm {} MiB); the growth is the local R2 simulator holding what is put (see below); per extra listener: {:.1} MiB; target ≤ 16 MiB per recording",
            summarize(wasm_one, 1).0,
            (sixteen_m - one_m) / 15.0
        ),
        ratio: format!("{:.2}", (sixteen_m - one_m) / 16.0),
    });
}

/// Trusted click → `playing` in Chromium for cold 1-, 15- and 60-minute
/// recordings from an origin at 4 MB/s after 300 ms.
async fn fill_browser(rows: &mut Vec<Row>, engine: Engine) {
    for (label, business, secs) in FILL_CALLS {
        let mut times = Vec::new();
        for _ in 0..FILL_RUNS {
            let stack = Stack::start_with(fill_knobs(), EdgeOptions::default()).await;
            let browser = Browser::start_in(engine).await;
            let (sid, _) = call_of(&stack, business, secs);
            times.push(click_once(&stack, &browser, business, &sid).await);
        }
        let (figure, m) = summarize(&times, 0);
        rows.push(Row {
            scenario: format!(
                "browser ({}): trusted click → playing, cold {label} recording, origin 4 MB/s after {FILL_LATENCY_MS} ms",
                engine.name()
            ),
            figure: format!("{figure} ms"),
            baseline: format!("target ≤ origin first byte + 150 ms ≈ {} ms", FILL_LATENCY_MS + 150),
            ratio: format!("{:.2}", m / (FILL_LATENCY_MS + 150) as f64),
        });
    }
}

/// One trusted click on `sid`'s row → its audio element's `playing`, in ms.
async fn click_once(stack: &Stack, browser: &Browser, business: &str, sid: &str) -> f64 {
    browser
        .goto(&stack.url(&format!("/dev/login?business={business}")))
        .await;
    browser.goto(&stack.url("/")).await;
    let row = format!("tr[data-call-sid='{sid}']");
    let button = browser
        .wait_for(&format!("{row} button.play"), Duration::from_secs(30))
        .await;
    browser
        .execute(
            "const [row] = arguments; window.__t = {};
             document.querySelector(row + ' button.play').addEventListener('click', () => { window.__t.click = window.__t.click || performance.now(); }, {capture: true});
             const audio = document.querySelector('#player audio');
             audio.addEventListener('playing', () => { window.__t.playing = performance.now(); }, {once: true});
             for (const name of ['loadstart', 'loadedmetadata', 'loadeddata', 'canplay', 'play', 'waiting']) {
               audio.addEventListener(name, () => { window.__t[name] = window.__t[name] || performance.now(); });
             }",
            json!([row]),
        )
        .await;
    browser.click(&button).await;
    let ms = browser
        .wait_until(
            "return window.__t.playing && (window.__t.playing - window.__t.click)",
            Duration::from_secs(120),
        )
        .await;
    // BENCH_TRACE=1: where each cold click's time went, by the page's
    // resource timings (ms after the click: start, response start, end).
    if std::env::var("BENCH_TRACE").is_ok() {
        let trace = browser
            .execute(
                "return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/recordings/')).map(e => [e.name.split('/api/recordings/')[1].slice(-40), e.initiatorType, Math.round(e.startTime - window.__t.click), Math.round(e.responseStart - window.__t.click), Math.round(e.responseEnd - window.__t.click)]).concat(Object.entries(window.__t).map(([k, v]) => [k, Math.round(v - window.__t.click)]))",
                json!([]),
            )
            .await;
        eprintln!("trace {sid}: {trace}");
    }
    ms.as_f64().unwrap_or(0.0)
}

/// Runs of each call-list row.
const LIST_RUNS: usize = 5;

/// Records, in every page the browser opens, when the first call row is
/// painted (`window.__firstRows`, ms since navigation started): a
/// MutationObserver installed before the page's scripts, and the frame after
/// the rows are in the document.
const FIRST_ROWS_PROBE: &str = "
new MutationObserver((_, observer) => {
  if (document.querySelector('#calls tbody tr')) {
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => { window.__firstRows = performance.now(); }));
  }
}).observe(document, {childList: true, subtree: true});";

/// The first screen of the call list, from navigation to the first rows
/// painted, for contact centres of 500, 20 000 and 200 000 calls.
async fn list_first_screen(rows: &mut Vec<Row>) {
    use backend_stub::catalog::{Catalog, LARGE_BUSINESS};
    for calls in [500, 20_000, 200_000] {
        let origin = integration_tests::Origin::start_with_catalog(
            Default::default(),
            Catalog::with_large_business(calls),
        )
        .await;
        let stack = Stack::start_on(origin, EdgeOptions::default()).await;
        let browser = Browser::start().await;
        browser.on_new_document(FIRST_ROWS_PROBE).await;
        browser
            .goto(&stack.url(&format!("/dev/login?business={LARGE_BUSINESS}")))
            .await;
        let mut times = Vec::new();
        for run in 0..=LIST_RUNS {
            // Each load a new query, so no run is answered from the edge's list cache.
            browser
                .goto(&stack.url(&format!("/?since=2000-01-0{}T00:00:00Z", run + 1)))
                .await;
            let ms = browser
                .wait_until("return window.__firstRows", Duration::from_secs(60))
                .await;
            // The first load also starts the isolate and the list object: not counted.
            if run > 0 {
                times.push(ms.as_f64().unwrap_or(0.0));
            }
        }
        let (figure, m) = summarize(&times, 0);
        rows.push(Row {
            scenario: format!(
                "browser: navigation → first 100 rows painted, business of {calls} calls"
            ),
            figure: format!("{figure} ms"),
            baseline:
                "target ≤ 1000 ms; before (the whole list): 500 calls 0.6 s, 20 000 calls 9.1 s"
                    .into(),
            ratio: format!("{:.2}", m / 1000.0),
        });
    }
}

/// Origin list requests when 200 agents of one business open the page at once.
async fn list_load(rows: &mut Vec<Row>) {
    use backend_stub::catalog::LARGE_BUSINESS;
    const AGENTS: usize = 200;
    for (ttl, label) in [
        (5_000u64, "CALL_LIST_TTL_MS 5000 (default)"),
        (0, "CALL_LIST_TTL_MS 0 (collapsing only)"),
    ] {
        let mut counts = Vec::new();
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let stack = Stack::start_with(
                Default::default(),
                EdgeOptions::default().var("CALL_LIST_TTL_MS", ttl),
            )
            .await;
            // Warm the isolate on another business's list.
            let _ = stack.get_as("acme", "/api/calls").send().await;
            let before = stack.origin.stats().list_requests;
            let started = Instant::now();
            let loads = (0..AGENTS).map(|i| {
                stack
                    .http
                    .get(stack.url("/api/calls?limit=100"))
                    .bearer_auth(integration_tests::token_for_agent(
                        LARGE_BUSINESS,
                        &format!("agent-{i}"),
                    ))
                    .send()
            });
            let answers = join_all(loads).await;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            let (ok, outcomes) = tally(&answers);
            assert_eq!(ok, AGENTS, "{outcomes:?}");
            counts.push((stack.origin.stats().list_requests - before) as f64);
        }
        let (figure, m) = summarize(&counts, 0);
        let (time, _) = summarize(&times, 0);
        rows.push(Row {
            scenario: format!("call list: origin list requests for {AGENTS} concurrent page loads of one business, {label}"),
            figure: format!("{figure}; all answered in {time} ms"),
            baseline: format!("one per load (before): {AGENTS}"),
            ratio: format!("{:.3}", m / AGENTS as f64),
        });
    }
}

/// Measures in the page: frame times while scrolling the list 200 px a
/// frame for 120 frames, and a trusted click's time to the next paint.
const SCROLL_PROBE: &str = "
const done = arguments[arguments.length - 1];
window.scrollTo(0, 0);
const frames = [];
let last = null, n = 0;
function step(t) {
  if (last !== null) frames.push(t - last);
  last = t;
  if (n++ < 120) { window.scrollBy(0, 200); requestAnimationFrame(step); }
  else { frames.sort((a, b) => a - b); done([frames[frames.length >> 1], frames[Math.floor(frames.length * 0.95)]]); }
}
requestAnimationFrame(step);";

/// Arms the click probe on `arguments[0]`: the click's time from its event
/// to the frame after its handlers (`window.__click`).
const CLICK_PROBE: &str = "
window.__click = null;
arguments[0].addEventListener('click', (e) => {
  const at = e.timeStamp;
  requestAnimationFrame(() => setTimeout(() => { window.__click = performance.now() - at; }));
}, {capture: true, once: true});";

/// A plain table of the same rows (the peer): the page's rows copied as
/// static HTML, without the app, where a click on Play makes the change the
/// app's first answer to a click makes (the button's label and the row's
/// state text), in plain DOM.
const PLAIN_TABLE: &str = "
const html = document.querySelector('#calls').outerHTML;
document.body.innerHTML = '<main>' + html + '</main>';
document.body.addEventListener('click', (e) => {
  const button = e.target.closest('button.play');
  if (!button) return;
  button.textContent = 'Starting…';
  button.closest('tr').querySelector('.state').textContent = 'Asking for the recording…';
});";

/// Scroll and click latency with 2 000 rows loaded, against the same rows as
/// a plain HTML table.
async fn list_rows(rows: &mut Vec<Row>) {
    use backend_stub::catalog::LARGE_BUSINESS;
    const LOADED: usize = 2_000;
    let mut results: [Vec<f64>; 6] = Default::default();
    for _ in 0..HEAVY_RUNS {
        let stack = Stack::start().await;
        let browser = Browser::start().await;
        browser
            .goto(&stack.url(&format!("/dev/login?business={LARGE_BUSINESS}")))
            .await;
        for pages in 1..=LOADED / 100 {
            browser
                .wait_until(
                    &format!("return document.querySelectorAll('#calls tbody tr').length === {} && !document.querySelector('#load-more').hidden", pages * 100),
                    Duration::from_secs(60),
                )
                .await;
            if pages < LOADED / 100 {
                browser
                    .execute("document.querySelector('#load-more').click()", json!([]))
                    .await;
            }
        }
        for peer in [false, true] {
            if peer {
                browser.execute(PLAIN_TABLE, json!([])).await;
            }
            let scroll = browser.execute_async(SCROLL_PROBE, json!([])).await;
            let base = if peer { 3 } else { 0 };
            results[base].push(scroll[0].as_f64().unwrap_or(0.0));
            results[base + 1].push(scroll[1].as_f64().unwrap_or(0.0));
            // A trusted click on the Play button of a row far down the list.
            let button = browser
                .find(&format!(
                    "#calls tbody tr:nth-child({}) button.play",
                    LOADED - 10
                ))
                .await
                .expect("a row's button");
            browser
                .execute(
                    CLICK_PROBE,
                    json!([{ integration_tests::browser::ELEMENT: button.id() }]),
                )
                .await;
            browser.click(&button).await;
            let ms = browser
                .wait_until("return window.__click", Duration::from_secs(30))
                .await;
            results[base + 2].push(ms.as_f64().unwrap_or(0.0));
        }
    }
    let labels = [
        "median frame while scrolling",
        "95th-percentile frame while scrolling",
        "trusted click on a row's Play → next paint",
    ];
    for (i, label) in labels.iter().enumerate() {
        let (ours, m) = summarize(&results[i], 1);
        let (peer, p) = summarize(&results[i + 3], 1);
        rows.push(Row {
            scenario: format!("browser, {LOADED} rows loaded: {label}"),
            figure: format!("{ours} ms"),
            baseline: format!("the same rows as a plain HTML table: {peer} ms"),
            ratio: format!("{:.2}", m / p.max(0.1)),
        });
    }
}

/// Runs of each Twilio row and of its generic peer.
const TWILIO_RUNS: usize = 10;
/// The Twilio rows' origin latency (`latency_ms`: the recording's media,
/// and with the generic origin its recording route).
const TWILIO_LATENCY_MS: u64 = 500;
/// The slow list API of the search rows (`list_latency_ms`: every page of
/// `Calls.json`, and of the generic origin's list).
const TWILIO_LIST_LATENCY_MS: u64 = 500;
/// The pause before each search of the lone-search rows: more than
/// `CALL_LIST_REFRESH_MS` (2 000 ms by default).
const SEARCH_GAP_MS: u64 = 2_500;
/// The contact centre searched in the Twilio rows.
const TWILIO_SEARCH_CALLS: usize = 100_000;

/// "median ms (range min–max)" of `times`, and the median.
fn ms_range(times: &[f64]) -> (String, f64) {
    let mut sorted = times.to_vec();
    let m = median(&mut sorted);
    (format!("{m:.0} ms (range {})", spread(times)), m)
}

/// A row of the Twilio origin's figure beside the generic origin's.
fn twilio_row(rows: &mut Vec<Row>, scenario: String, twilio: &[f64], generic: &[f64]) {
    let (figure, m) = ms_range(twilio);
    let (peer, peer_m) = ms_range(generic);
    rows.push(Row {
        scenario,
        figure,
        baseline: format!("generic origin: {peer}"),
        ratio: format!("{:.2}", m / peer_m.max(1.0)),
    });
}

/// The Twilio origin (`ORIGIN_KIND=twilio`, the stub speaking Twilio's
/// API) beside the generic origin, in the same invocation: a cold click →
/// ready and a browser click → `playing` at 500 ms of origin latency, and
/// number searches in a contact centre of 100 000 calls before and after
/// the business object's crawl has indexed them all.
async fn twilio(rows: &mut Vec<Row>) {
    use backend_stub::twilio::{twilio_shape, Shape};
    use integration_tests::Kind;

    // 1. Cold first click → ready: the same ten short bulk calls of globex,
    // each a one-recording call with Twilio.
    let mut ready = Vec::new();
    for kind in [Kind::Generic, Kind::Twilio] {
        let stack =
            Stack::start_kind(kind, latency(TWILIO_LATENCY_MS), EdgeOptions::default()).await;
        let mut times = Vec::new();
        for n in 0..TWILIO_RUNS {
            let sid = bulk_call(&stack, "globex", 20 + n);
            let shape = twilio_shape(stack.origin.stub.catalog(), "globex", &sid);
            assert_eq!(shape, Some(Shape::One), "{sid}");
            times.push(click_to_ready(&stack, "globex", &sid).await);
        }
        ready.push(times);
    }
    twilio_row(
        rows,
        format!(
            "twilio: cold first click → ready (first byte of the client's probe, its own polling), \
             origin latency {TWILIO_LATENCY_MS} ms on the media (the stub's latency_ms; it does not \
             delay Recordings.json), one-recording calls never played (median of {TWILIO_RUNS})"
        ),
        &ready[1],
        &ready[0],
    );

    // 2. Browser: trusted click → `playing`, cold then cached, on the same
    // short one-recording demo calls, taken from the five demo businesses
    // in turn (each agent stays within its download budget).
    let browser = Browser::start().await;
    let mut clicks = Vec::new();
    for kind in [Kind::Generic, Kind::Twilio] {
        let stack =
            Stack::start_kind(kind, latency(TWILIO_LATENCY_MS), EdgeOptions::default()).await;
        let catalog = stack.origin.stub.catalog().clone();
        let per_business: Vec<Vec<(String, String)>> = backend_stub::catalog::BUSINESSES
            .iter()
            .map(|b| {
                catalog
                    .listed_calls(b)
                    .filter(|c| !c.bulk && c.summary.duration_s < 600)
                    .map(|c| c.summary.call_sid.to_string())
                    .filter(|sid| twilio_shape(&catalog, b, sid) == Some(Shape::One))
                    .map(|sid| (b.to_string(), sid))
                    .collect()
            })
            .collect();
        let calls: Vec<(String, String)> = (0..)
            .map_while(|i| {
                let round: Vec<_> = per_business
                    .iter()
                    .filter_map(|l| l.get(i).cloned())
                    .collect();
                (!round.is_empty()).then_some(round)
            })
            .flatten()
            .take(TWILIO_RUNS)
            .collect();
        assert_eq!(calls.len(), TWILIO_RUNS, "enough short one-recording calls");
        let (mut cold, mut cached) = (Vec::new(), Vec::new());
        for (business, sid) in &calls {
            cold.push(click_once(&stack, &browser, business, sid).await);
            cached.push(click_once(&stack, &browser, business, sid).await);
        }
        clicks.push((cold, cached));
    }
    drop(browser);
    twilio_row(
        rows,
        format!(
            "twilio: browser: trusted click → playing, cold, origin latency {TWILIO_LATENCY_MS} ms \
             on the media, one-recording calls (median of {TWILIO_RUNS}; target ≤ {} ms)",
            TWILIO_LATENCY_MS + 150
        ),
        &clicks[1].0,
        &clicks[0].0,
    );
    twilio_row(
        rows,
        format!(
            "twilio: browser: trusted click → playing, cached (the same calls right after; median \
             of {TWILIO_RUNS}; target ≤ 150 ms)"
        ),
        &clicks[1].1,
        &clicks[0].1,
    );

    // 3. Searches in a contact centre of 100 000 calls.
    twilio_search(rows).await;
}

/// One search of the contact centre as the agent sees it (request to full
/// body): its time in ms and whether it carried `X-Search-Note`.
async fn search_once(stack: &Stack, q: &str) -> (f64, bool) {
    use backend_stub::catalog::LARGE_BUSINESS;
    let t = Instant::now();
    let r = stack
        .get_as(LARGE_BUSINESS, &format!("/api/calls?q={q}"))
        .send()
        .await
        .expect("the search is answered");
    assert_eq!(r.status(), 200, "q={q}");
    let noted = r.headers().get("X-Search-Note").is_some();
    let body = r.bytes().await.expect("a body");
    assert!(body.starts_with(b"["), "q={q}: a page");
    (t.elapsed().as_secs_f64() * 1000.0, noted)
}

/// Search queries: whole numbers and last four digits of the contact
/// centre's calls, never one twice (so the edge's list cache answers none).
struct Queries {
    numbers: Vec<String>,
    next: usize,
    used: std::collections::HashSet<String>,
}

impl Queries {
    fn new(catalog: &backend_stub::catalog::Catalog) -> Queries {
        use backend_stub::catalog::LARGE_BUSINESS;
        let calls = catalog.calls(LARGE_BUSINESS);
        // Spread over the whole history, oldest to newest, in a fixed
        // shuffled order (a stride prime to the count).
        let numbers = (0..calls.len())
            .map(|i| (i * 7_919 + 13) % calls.len())
            .map(|i| {
                calls[i]
                    .summary
                    .from
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect()
            })
            .collect();
        Queries {
            numbers,
            next: 0,
            used: Default::default(),
        }
    }

    /// The next call's whole number and its last four digits, both unused
    /// (and the four digits not those of one of the centre's own lines,
    /// `+1800555 0100–0119`, which thousands of calls were made to).
    fn pair(&mut self) -> (String, String) {
        loop {
            let whole = self.numbers[self.next].clone();
            self.next += 1;
            let last4 = whole[whole.len() - 4..].to_owned();
            let line = last4.starts_with("01") && last4[2..].parse::<u32>().is_ok_and(|n| n < 20);
            if line || self.used.contains(&whole) || self.used.contains(&last4) {
                continue;
            }
            self.used.insert(whole.clone());
            self.used.insert(last4.clone());
            return (whole, last4);
        }
    }
}

/// The whole-number and last-four searches of `queries`, alternating:
/// their times, and how many of the last-four answers carried the note.
/// With `gap`, each search waits that long first (a lone agent's search:
/// no read of the list started within `CALL_LIST_REFRESH_MS` before it).
async fn search_series(
    stack: &Stack,
    queries: &[(String, String)],
    gap: Duration,
) -> (Vec<f64>, Vec<f64>, usize) {
    let (mut whole, mut last4, mut noted) = (Vec::new(), Vec::new(), 0);
    for (number, digits) in queries {
        tokio::time::sleep(gap).await;
        whole.push(search_once(stack, number).await.0);
        tokio::time::sleep(gap).await;
        let (ms, note) = search_once(stack, digits).await;
        last4.push(ms);
        noted += usize::from(note);
    }
    (whole, last4, noted)
}

/// Cached serving with the Twilio origin beside the generic one: the same
/// recording (globex's first call of a minute or more with one recording
/// with Twilio: its three-minute call, 2.9 MB), whole and a 64 KB range,
/// 16 connections. With Twilio every cached request also asks whether the
/// recording is due to be asked about again (the re-check gate).
async fn twilio_serving(rows: &mut Vec<Row>) {
    use backend_stub::knobs::Knobs;
    use backend_stub::twilio::{twilio_shape, Shape};
    use integration_tests::Kind;
    // Both stacks up at once, and their runs taken in turns, so that the
    // machine's drift falls on both alike.
    let mut targets = Vec::new();
    let mut stacks = Vec::new();
    let mut size = 0u64;
    for kind in [Kind::Generic, Kind::Twilio] {
        let stack = Stack::start_kind(kind, Knobs::default(), EdgeOptions::default()).await;
        let catalog = stack.origin.stub.catalog().clone();
        let call = catalog
            .listed_calls("globex")
            .find(|c| {
                c.summary.duration_s >= 60
                    && twilio_shape(&catalog, "globex", &c.summary.call_sid.to_string())
                        == Some(Shape::One)
            })
            .expect("a call of globex of a minute or more with one recording")
            .clone();
        let sid = call.summary.call_sid.to_string();
        stack.cache("globex", &sid).await;
        let url = stack.url(&format!("/api/recordings/{sid}/stream"));
        let auth = ("Authorization", format!("Bearer {}", token_for("globex")));
        let half = call.recording.len() / 2;
        let range = ("Range", format!("bytes={half}-{}", half + 65_535));
        // One unmeasured run: the runtime compiles the hot code first.
        wrk(&url, 16, std::slice::from_ref(&auth));
        targets.push((url, vec![auth.clone()], vec![auth, range]));
        size = call.recording.len() as u64;
        stacks.push(stack);
    }
    for (i, what) in ["full body", "64 KB range"].into_iter().enumerate() {
        let mut rates = [Vec::new(), Vec::new()];
        let mut latency = [String::new(), String::new()];
        for _ in 0..TWILIO_SERVING_RUNS {
            for (k, (url, whole, ranged)) in targets.iter().enumerate() {
                let (rps, lat) = wrk(url, 16, if i == 0 { whole } else { ranged });
                rates[k].push(rps);
                latency[k] = lat;
            }
        }
        let [mut generic, mut twilio] = rates;
        let (g_spread, t_spread) = (spread(&generic), spread(&twilio));
        let (generic, twilio) = (median(&mut generic), median(&mut twilio));
        rows.push(Row {
            scenario: format!(
                "twilio: cached {what} of a {} recording, 16 conn (runs in turns with the generic origin's, median of {TWILIO_SERVING_RUNS})",
                human(size)
            ),
            figure: format!("{twilio:.0} req/s (runs {t_spread}; {})", latency[1]),
            baseline: format!("generic origin: {generic:.0} req/s (runs {g_spread}; {})", latency[0]),
            ratio: format!("{:.2}", twilio / generic.max(1.0)),
        });
    }
}

/// Number searches in a Twilio account of 100 000 calls, before the crawl
/// has reached the oldest and once it has, and the crawl's time; the
/// generic origin with the same calls and the same list latency beside.
async fn twilio_search(rows: &mut Vec<Row>) {
    use backend_stub::catalog::Catalog;
    use backend_stub::knobs::Knobs;
    use integration_tests::Origin;
    let knobs = Knobs {
        list_latency_ms: TWILIO_LIST_LATENCY_MS,
        ..Knobs::default()
    };
    let catalog = Catalog::with_large_business(TWILIO_SEARCH_CALLS);

    // The generic origin: every search is the origin's own answer.
    let origin = Origin::start_with_catalog(knobs.clone(), catalog.clone()).await;
    let stack = Stack::start_on(origin, EdgeOptions::default()).await;
    let _ = stack.get_as("acme", "/api/calls").send().await;
    // The same queries of both origins, before and after; the polls' after them.
    let mut queries = Queries::new(&catalog);
    let before_q: Vec<_> = (0..TWILIO_RUNS).map(|_| queries.pair()).collect();
    let after_q: Vec<_> = (0..TWILIO_RUNS).map(|_| queries.pair()).collect();
    let generic_before = search_series(&stack, &before_q, Duration::ZERO).await;
    let generic_after = search_series(&stack, &after_q, Duration::ZERO).await;
    drop(stack);

    // Twilio: the first search starts the business object's crawl of
    // `Calls.json` (pages of 1 000, each `list_latency_ms` late).
    let origin = Origin::start_twilio_with_catalog(knobs, catalog.clone()).await;
    let stack = Stack::start_twilio_on(origin, EdgeOptions::default()).await;
    // Warm the isolate on another business's list.
    let _ = stack.get_as("acme", "/api/calls").send().await;
    let started = Instant::now();
    let before = search_series(&stack, &before_q, Duration::ZERO).await;
    let before_s = started.elapsed().as_secs_f64();
    assert_eq!(
        before.2, TWILIO_RUNS,
        "every last-four search before the crawl's end carries X-Search-Note"
    );
    let pages_then = stack.origin.stats().list_requests;
    // Until a search answers without the note (each poll a new query).
    let crawl_s = loop {
        let (_, digits) = queries.pair();
        let (_, noted) = search_once(&stack, &digits).await;
        if !noted {
            break started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the crawl never ended\n{}",
            stack.edge.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let list_requests = stack.origin.stats().list_requests;
    let after = search_series(&stack, &after_q, Duration::ZERO).await;
    assert_eq!(after.2, 0, "no search after the crawl carries the note");
    // The same, each search alone: no read of the list within
    // CALL_LIST_REFRESH_MS (2 000 ms) before it, so its own read starts at once.
    let lone_q: Vec<_> = (0..TWILIO_RUNS).map(|_| queries.pair()).collect();
    let lone = search_series(&stack, &lone_q, Duration::from_millis(SEARCH_GAP_MS)).await;
    assert_eq!(lone.2, 0, "no search after the crawl carries the note");
    eprintln!(
        "twilio search: the 20 searches before took {before_s:.1} s; Calls.json requests by then {pages_then}, by the crawl's end {list_requests}"
    );

    let lat = TWILIO_LIST_LATENCY_MS;
    twilio_row(
        rows,
        format!(
            "twilio: search of {TWILIO_SEARCH_CALLS} calls by whole number (11 digits), before the \
             crawl reached the oldest (asked of Twilio: From= and To=), list API latency {lat} ms \
             (list_latency_ms), request to full body (median of {TWILIO_RUNS})"
        ),
        &before.0,
        &generic_before.0,
    );
    twilio_row(
        rows,
        format!(
            "twilio: the same by last four digits, before the crawl's end (from the index so far, \
             X-Search-Note in all {TWILIO_RUNS})"
        ),
        &before.1,
        &generic_before.1,
    );
    twilio_row(
        rows,
        format!(
            "twilio: search by whole number, crawl done (from the index, no note; distinct \
             queries, so CALL_LIST_TTL_MS answers none; median of {TWILIO_RUNS}; target well \
             under 1 s)"
        ),
        &after.0,
        &generic_after.0,
    );
    twilio_row(
        rows,
        format!(
            "twilio: search by last four digits, crawl done (median of {TWILIO_RUNS}; target well \
             under 1 s)"
        ),
        &after.1,
        &generic_after.1,
    );
    for (label, times, peer) in [
        ("whole number", &lone.0, &generic_after.0),
        ("last four digits", &lone.1, &generic_after.1),
    ] {
        twilio_row(
            rows,
            format!(
                "twilio: search by {label}, crawl done, each search {SEARCH_GAP_MS} ms after the \
                 one before (so it starts its own read of the newest calls at once; peer: the \
                 generic origin's searches back to back; median of {TWILIO_RUNS})"
            ),
            times,
            peer,
        );
    }
    let pages = TWILIO_SEARCH_CALLS.div_ceil(1000);
    rows.push(Row {
        scenario: format!(
            "twilio: crawl of {TWILIO_SEARCH_CALLS} calls, from the first search to the first \
             answer without X-Search-Note (polled every 250 ms), list API latency {lat} ms per page \
             of 1 000; {list_requests} Calls.json requests by then (the crawl's pages, the reads of \
             the newest calls before each search, the whole numbers' From= and To=)"
        ),
        figure: format!("{crawl_s:.1} s"),
        baseline: format!(
            "the list latency alone: {pages} pages × {lat} ms = {:.1} s",
            (pages as u64 * lat) as f64 / 1000.0
        ),
        ratio: format!("{:.2}", crawl_s * 1000.0 / (pages as u64 * lat) as f64),
    });
}

const HOW_TO_READ: &str = "
## How to read it

- Figures are medians over the runs shown (`runs min–max, n=…`), each run on a
  fresh stack (new `wrangler dev`, new persisted state, new origin); the ratio
  column compares medians measured in the same invocation.
- Everything shares two cores: the load generator, the origin stub, nginx,
  and `wrangler dev`, which puts a proxy workerd in front of the worker's
  workerd and simulates R2 and Durable Object storage on local disk. Absolute
  throughput is therefore far below Cloudflare's; the ratios are the figures
  to compare.
- Request concurrency is capped by `in flight`: each request in flight holds
  a descriptor in the client and two in wrangler's local proxy, and this
  machine's limit is 20 000 per process (not raisable here); 1 000 in flight
  is what the local proxy sustains reliably.
- The amplification row's time is how long every one of the 15 000 requests
  took to be answered (most with the recording's bytes, served from the local
  R2 simulator at the rate the cached-serving rows show) and every call to be
  ready; nginx answers its requests from its own cache.
- Under `wrangler dev` every `console.log` costs the runtime about as much as
  answering a small request (its lines go to wrangler as structured logs),
  and the product writes the one JSON line per request that operations need.
  The bare-worker rows therefore show the product against the bare worker
  both as it is and writing the same one line (the same fields, in the same
  order). Each variant is started afresh and measured after one unmeasured
  `wrk` run: in its first seconds the runtime has not yet compiled the hot
  code (measured: the product's wasm gains about 16 % from the warm-up, the
  bare JS 9 %).
- The product is two workers: the page's files are in a web worker of their
  own, so the API's requests do not pass through the runtime's asset router
  (measured by hand on one build, the product started with and without
  `[assets]` on the same persisted R2 and measured warm, alternating 5 s
  `wrk` runs: 268 against 299 req/s on the cached 0.98 MB recording; on
  `/healthz`, the bare worker behind the router cost about 0.26 ms more of
  the runtime's time per request).
";

/// Whether a scenario runs: all of them unless `BENCH_ONLY` names a
/// comma-separated subset (for working on one figure; `target/bench-latest.md`
/// is then not rewritten).
fn selected(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(only) => only.split(',').any(|s| s.trim() == name),
        Err(_) => true,
    }
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    if selected("sizes") {
        sizes(&mut rows);
    }
    if selected("storm") {
        eprintln!("storm…");
        storm(&mut rows).await;
    }
    if selected("abuse") {
        eprintln!("abuse…");
        abuse(&mut rows).await;
    }
    if selected("slots") {
        eprintln!("slots…");
        slots(&mut rows).await;
    }
    if selected("drain_start") {
        eprintln!("drain start…");
        drain_start(&mut rows).await;
    }
    if selected("cold") {
        eprintln!("cold to ready…");
        for lat in [0, 200, 500, 1000] {
            cold_to_ready(&mut rows, lat, if lat == 500 { 20 } else { 10 }).await;
        }
    }
    if selected("amplification") {
        eprintln!("amplification…");
        amplification(&mut rows).await;
    }
    if selected("serving") {
        eprintln!("cached serving…");
        cached_serving(&mut rows).await;
    }
    if selected("bare") {
        eprintln!("bare worker…");
        bare_worker(&mut rows).await;
    }
    if selected("memory") {
        eprintln!("memory…");
        memory(&mut rows).await;
    }
    if selected("browser") {
        eprintln!("browser…");
        for engine in [Engine::Chromium, Engine::Firefox] {
            click_to_playing(&mut rows, 10, engine).await;
        }
    }
    if selected("fill") {
        eprintln!("read-while-write…");
        fill(&mut rows).await;
    }
    if selected("fill_memory") {
        eprintln!("memory during a fill…");
        fill_memory(&mut rows).await;
    }
    if selected("list") {
        eprintln!("call list, first screen…");
        list_first_screen(&mut rows).await;
    }
    if selected("list_load") {
        eprintln!("call list, concurrent loads…");
        list_load(&mut rows).await;
    }
    if selected("list_rows") {
        eprintln!("call list, 2 000 rows…");
        list_rows(&mut rows).await;
    }
    if selected("fill_browser") {
        eprintln!("browser, cold long recordings…");
        for engine in [Engine::Chromium, Engine::Firefox] {
            fill_browser(&mut rows, engine).await;
        }
    }
    if selected("twilio") {
        eprintln!("twilio origin…");
        twilio(&mut rows).await;
    }
    if selected("twilio_drain") {
        eprintln!("twilio origin, queue drain…");
        twilio_drain(&mut rows).await;
    }
    if selected("twilio_serving") {
        eprintln!("twilio origin, cached serving…");
        twilio_serving(&mut rows).await;
    }

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut md = format!("# Benchmarks\n\nMeasured by `scripts/bench` on {date}, {cores} cores, everything on loopback (the real stub, `wrangler dev` with workerd, wrk, nginx).\n\n| scenario | figure | baseline | ratio |\n| --- | --- | --- | --- |\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.scenario, r.figure, r.baseline, r.ratio
        ));
    }
    md.push_str(HOW_TO_READ);
    println!("{md}");
    if std::env::var("BENCH_ONLY").is_ok() {
        return;
    }
    let mut f = std::fs::File::create(repo_root().join("target/bench-latest.md")).unwrap();
    f.write_all(md.as_bytes()).unwrap();
}
