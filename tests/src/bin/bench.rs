//! `scripts/bench`: starts the real stack on free ports, measures, prints a
//! table and writes it to BENCHMARKS.md. Not part of the test command.
//!
//! Figures: origin downloads per recording under a click storm, peak slot
//! use and queue drain time, cold click → ready with the client's real
//! polling policy, cached serving throughput against nginx serving the same
//! bytes from disk, browser click → `playing`, and download sizes.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use backend_stub::knobs::{FaultSet, Knobs};
use futures_util::future::join_all;
use integration_tests::browser::Browser;
use integration_tests::{bulk_call, free_port, repo_root, token_for, EdgeOptions, Stack};
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
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.0}–{max:.0}")
}

fn latency(ms: u64) -> Knobs {
    Knobs { all: FaultSet { latency_ms: ms, ..Default::default() }, ..Default::default() }
}

fn gz_len(path: &Path) -> u64 {
    let out = Command::new("gzip").arg("-9c").arg(path).output().expect("gzip");
    out.stdout.len() as u64
}

fn sizes(rows: &mut Vec<Row>) {
    let root = repo_root();
    let mut client = 0;
    for entry in std::fs::read_dir(root.join("dist/client")).expect("dist/client: run scripts/build").flatten() {
        let p = entry.path();
        if matches!(p.extension().and_then(|e| e.to_str()), Some("wasm" | "js" | "css" | "html")) {
            client += gz_len(&p);
        }
    }
    rows.push(Row { scenario: "browser download (wasm+JS+CSS+HTML, gzip -9)".into(), figure: format!("{:.1} KB", client as f64 / 1000.0), baseline: "target 100 KB".into(), ratio: format!("{:.2}", client as f64 / 100_000.0) });
    let worker = gz_len(&root.join("edge/build/index_bg.wasm"));
    rows.push(Row { scenario: "worker wasm (gzip -9)".into(), figure: format!("{:.1} KB", worker as f64 / 1000.0), baseline: "target 400 KB; free plan 3 MB".into(), ratio: format!("{:.2}", worker as f64 / 400_000.0) });
}

async fn storm(rows: &mut Vec<Row>) {
    let stack = Stack::start_with(latency(500), EdgeOptions::default().var("SLOTS_PER_BUSINESS", 10)).await;
    let calls: Vec<String> = (0..10).map(|n| bulk_call(&stack, "initech", n)).collect();
    let requests = calls.iter().flat_map(|sid| (0..300).map(move |_| sid.clone())).collect::<Vec<_>>();
    let answered = join_all(requests.iter().map(|sid| stack.play("initech", sid).send())).await;
    let ok = answered.iter().filter(|r| r.as_ref().map(|r| matches!(r.status().as_u16(), 200 | 202)).unwrap_or(false)).count();
    for sid in &calls {
        stack.wait_status("initech", sid, "ready", Duration::from_secs(120)).await;
    }
    let stats = stack.origin.stats();
    let downloads: u64 = calls.iter().map(|s| stats.call(s).attempts as u64).sum();
    rows.push(Row {
        scenario: format!("click storm: {} concurrent plays over {} uncached calls", requests.len(), calls.len()),
        figure: format!("{:.3} origin downloads per recording; {ok}/{} answered 200/202", downloads as f64 / calls.len() as f64, requests.len()),
        baseline: "goal 1.000".into(),
        ratio: format!("{:.3}", downloads as f64 / calls.len() as f64),
    });
}

async fn slots(rows: &mut Vec<Row>) {
    let slots = 3u64;
    let lat = 300u64;
    let stack = Stack::start_with(latency(lat), EdgeOptions::default().var("SLOTS_PER_BUSINESS", slots)).await;
    let calls: Vec<String> = (0..30).map(|n| bulk_call(&stack, "acme", n)).collect();
    let t = Instant::now();
    join_all(calls.iter().map(|sid| stack.play("acme", sid).send())).await;
    for sid in &calls {
        stack.wait_status("acme", sid, "ready", Duration::from_secs(120)).await;
    }
    let drain = t.elapsed().as_millis() as f64;
    let ideal = (calls.len() as u64).div_ceil(slots) * lat;
    let peak = stack.origin.stats().business("acme").peak;
    rows.push(Row { scenario: format!("peak concurrent origin downloads, SLOTS_PER_BUSINESS={slots}"), figure: peak.to_string(), baseline: slots.to_string(), ratio: format!("{:.2}", peak as f64 / slots as f64) });
    rows.push(Row {
        scenario: format!("drain 30 queued calls at {lat} ms origin latency"),
        figure: format!("{drain:.0} ms (status polled every 50 ms)"),
        baseline: format!("ideal ceil(30/{slots})×{lat} = {ideal} ms"),
        ratio: format!("{:.2}", drain / ideal as f64),
    });
}

/// First click to ready, as the client polls (its real policy from the core).
async fn cold_to_ready(rows: &mut Vec<Row>, lat: u64, runs: usize) {
    let stack = Stack::start_with(latency(lat), EdgeOptions::default()).await;
    let mut times = Vec::new();
    for n in 0..runs {
        let sid = bulk_call(&stack, "globex", 20 + n);
        let t = Instant::now();
        let mut attempt = 0;
        loop {
            let r = stack.play("globex", &sid).header("Range", "bytes=0-0").send().await.unwrap();
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
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let spread = spread(&times);
    let m = median(&mut times);
    rows.push(Row {
        scenario: format!("cold first click → ready, origin latency {lat} ms (median of {runs})"),
        figure: format!("{m:.0} ms (range {spread})"),
        baseline: format!("origin latency alone {lat} ms"),
        ratio: if lat > 0 { format!("{:.2}", m / lat as f64) } else { "n/a".into() },
    });
}

fn rand_unit() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    (nanos % 1000) as f64 / 1000.0
}

fn wrk(url: &str, connections: u32, headers: &[(&str, String)]) -> (f64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{connections}"), "-d8s", "--latency"]);
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = cmd.arg(url).output().expect("wrk (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rps = text.lines().find(|l| l.starts_with("Requests/sec:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0.0);
    let p50 = text.lines().find(|l| l.trim_start().starts_with("50%")).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned()).unwrap_or_default();
    let p99 = text.lines().find(|l| l.trim_start().starts_with("99%")).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned()).unwrap_or_default();
    (rps, format!("p50 {p50}, p99 {p99}"))
}

/// nginx serving `files` from disk on a free port, for as long as the guard lives.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(files: &[(&str, &[u8])]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        for (name, bytes) in files {
            std::fs::write(www.join(name), bytes).unwrap();
        }
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}/cb; proxy_temp_path {d}/px; fastcgi_temp_path {d}/fc; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n\
             server {{ listen 127.0.0.1:{port}; root {www}; location / {{ }} }} }}\n",
            www = www.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx").arg("-c").arg(dir.path().join("nginx.conf")).spawn().expect("nginx (scripts/bench installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn cached_serving(rows: &mut Vec<Row>) {
    let stack = Stack::start().await;
    // globex's 61 s call: 976 044 bytes, about 1 MB.
    let call = stack.origin.stub.catalog().listed_calls("globex").find(|c| c.summary.duration_s == 61).unwrap().clone();
    let sid = call.summary.call_sid.to_string();
    let bytes = stack.cache("globex", &sid).await;
    let nginx = Nginx::start(&[("recording.wav", &bytes)]);
    let headers = [("Authorization", format!("Bearer {}", token_for("globex"))), ("X-User-Action", "play".into())];
    let url = stack.url(&format!("/api/recordings/{sid}/stream"));
    for connections in [16] {
        let (edge_rps, edge_lat) = wrk(&url, connections, &headers);
        let (nginx_rps, nginx_lat) = wrk(&format!("http://127.0.0.1:{}/recording.wav", nginx.port), connections, &[]);
        rows.push(Row {
            scenario: format!("cached 200 of a {:.2} MB recording, {connections} connections", bytes.len() as f64 / 1e6),
            figure: format!("{edge_rps:.0} req/s ({edge_lat})"),
            baseline: format!("nginx static file: {nginx_rps:.0} req/s ({nginx_lat})"),
            ratio: format!("{:.2}", edge_rps / nginx_rps.max(1.0)),
        });
        let ranged = [headers[0].clone(), headers[1].clone(), ("Range", "bytes=100000-199999".into())];
        let (edge_rps, edge_lat) = wrk(&url, connections, &ranged);
        let (nginx_rps, nginx_lat) = wrk(&format!("http://127.0.0.1:{}/recording.wav", nginx.port), connections, &[("Range", "bytes=100000-199999".into())]);
        rows.push(Row {
            scenario: format!("cached 206 of 100 KB from it, {connections} connections"),
            figure: format!("{edge_rps:.0} req/s ({edge_lat})"),
            baseline: format!("nginx: {nginx_rps:.0} req/s ({nginx_lat})"),
            ratio: format!("{:.2}", edge_rps / nginx_rps.max(1.0)),
        });
    }
}

/// Trusted click → the audio element's `playing` event, measured in the page
/// (performance.now() at the click and at `playing`), for cold calls at
/// 500 ms origin latency and then for the same calls cached.
async fn click_to_playing(rows: &mut Vec<Row>, runs: usize) {
    let lat = 500;
    let stack = Stack::start_with(latency(lat), EdgeOptions::default()).await;
    let browser = Browser::start().await;
    let catalog = stack.origin.stub.catalog().clone();
    let calls: Vec<(String, String)> = ["acme", "globex", "initech"]
        .iter()
        .flat_map(|b| catalog.listed_calls(b).filter(|c| c.summary.duration_s < 600).map(|c| (b.to_string(), c.summary.call_sid.to_string())).collect::<Vec<_>>())
        .take(runs)
        .collect();
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    for (business, sid) in &calls {
        browser.goto(&stack.url(&format!("/dev/login?business={business}"))).await;
        for times in [&mut cold, &mut cached] {
            browser.goto(&stack.url("/")).await;
            let row = format!("tr[data-call-sid='{sid}']");
            let button = browser.wait_for(&format!("{row} button.play"), Duration::from_secs(30)).await;
            browser
                .execute(
                    "const [row] = arguments; window.__t = {};
                     document.querySelector(row + ' button.play').addEventListener('click', () => { window.__t.click = window.__t.click || performance.now(); }, {capture: true});
                     document.querySelector(row + ' audio').addEventListener('playing', () => { window.__t.playing = performance.now(); }, {once: true});",
                    json!([row]),
                )
                .await;
            browser.click(&button).await;
            let ms = browser.wait_until("return window.__t.playing && (window.__t.playing - window.__t.click)", Duration::from_secs(60)).await;
            times.push(ms.as_f64().unwrap_or(0.0));
        }
    }
    for (label, times, target) in [("cached", &mut cached, "target ≤ 150 ms".to_string()), ("cold, origin latency 500 ms", &mut cold, format!("origin latency {lat} ms; target ≤ {} ms", lat + 250))] {
        let spread = spread(times);
        let n = times.len();
        let m = median(times);
        rows.push(Row {
            scenario: format!("browser: trusted click → playing, {label} (median of {n})"),
            figure: format!("{m:.0} ms (range {spread})"),
            baseline: target,
            ratio: if label == "cached" { format!("{:.2}", m / 150.0) } else { format!("{:.2}", m / lat as f64) },
        });
    }
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    sizes(&mut rows);
    eprintln!("storm…");
    storm(&mut rows).await;
    eprintln!("slots…");
    slots(&mut rows).await;
    eprintln!("cold to ready…");
    for lat in [0, 200, 500, 1000] {
        cold_to_ready(&mut rows, lat, if lat == 500 { 20 } else { 10 }).await;
    }
    eprintln!("cached serving…");
    cached_serving(&mut rows).await;
    click_to_playing(&mut rows, 10).await;

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let date = Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    let mut md = format!("# Benchmarks\n\nMeasured by `scripts/bench` on {date}, {cores} cores, everything on loopback (the real stub, `wrangler dev` with workerd, wrk, nginx).\n\n| scenario | figure | baseline | ratio |\n| --- | --- | --- | --- |\n");
    for r in &rows {
        md.push_str(&format!("| {} | {} | {} | {} |\n", r.scenario, r.figure, r.baseline, r.ratio));
    }
    println!("{md}");
    let mut f = std::fs::File::create(repo_root().join("BENCHMARKS.md")).unwrap();
    f.write_all(md.as_bytes()).unwrap();
}
