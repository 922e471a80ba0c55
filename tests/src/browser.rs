//! A headless browser driven over WebDriver: Debian's Chromium through
//! chromedriver, or Debian's Firefox ESR through geckodriver (built from
//! crates.io by `scripts/bootstrap`). The browser tests run one body in
//! each (`Engine`, and `in_each_browser!`). WebDriver's element click and
//! key actions are trusted (`isTrusted == true`), as a person's are; a
//! click from the page's own script is not.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process::ChildGroup;

/// The key WebDriver names an element by, in answers and script arguments.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const ELEMENT_KEY: &str = ELEMENT;
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The window every test starts with (a laptop's).
const WINDOW: (u32, u32) = (1100, 900);

/// Which browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
        }
    }

    /// Its WebDriver server and the arguments it takes besides its port.
    fn driver(self) -> (String, Vec<String>) {
        match self {
            Engine::Chromium => (
                std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
                Vec::new(),
            ),
            // (A WebDriver BiDi port of its own, so that sessions side by
            // side do not meet on the default one.)
            Engine::Firefox => (
                std::env::var("GECKODRIVER").unwrap_or_else(|_| "geckodriver".into()),
                vec!["--websocket-port=0".into(), "--log=warn".into()],
            ),
        }
    }

    /// The new session's capabilities: headless, muted, media allowed to
    /// play without a gesture (as a page that already had its click).
    fn capabilities(self, profile: &std::path::Path, reduced_motion: bool) -> Value {
        match self {
            Engine::Chromium => {
                let chromium =
                    std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
                let args = [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--autoplay-policy=no-user-gesture-required",
                    "--mute-audio",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain(reduced_motion.then(|| "--force-prefers-reduced-motion".to_owned()))
                .chain([
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.join("profile").display()),
                ])
                .collect::<Vec<_>>();
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                    "goog:loggingPrefs": {"browser": "ALL"}
                }}})
            }
            Engine::Firefox => {
                let firefox =
                    std::env::var("FIREFOX_BIN").unwrap_or_else(|_| "/usr/bin/firefox-esr".into());
                let dir = firefox_profile(profile);
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "firefox",
                    "moz:firefoxOptions": {
                        "binary": firefox,
                        "args": ["-headless", "-profile", dir],
                        "prefs": {
                            "media.autoplay.default": 0,
                            "media.autoplay.blocking_policy": 0,
                            "media.volume_scale": "0.0",
                            "media.cubeb.force_mock_context": true,
                            "app.update.auto": false,
                            "browser.shell.checkDefaultBrowser": false,
                            "datareporting.policy.dataSubmissionEnabled": false,
                            "toolkit.telemetry.reportingpolicy.firstRun": false,
                            "ui.prefersReducedMotion": i32::from(reduced_motion)
                        }
                    }
                }}})
            }
        }
    }
}

/// axe-core's script, read once from the pinned npm package.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tools/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/bootstrap installs it)", path.display()))
    })
}

/// A Firefox profile of the test's own, under `dir`. Firefox's own
/// toolbars keep its window at least 500 CSS pixels wide (headless too);
/// a phone's 375 is the width the narrow layout is for, so the profile's
/// `userChrome.css` lets the window's chrome shrink. Nothing of the page
/// is touched: its viewport is then as narrow as the window.
fn firefox_profile(dir: &std::path::Path) -> String {
    let profile = dir.join("firefox");
    std::fs::create_dir_all(profile.join("chrome")).expect("a Firefox profile dir");
    std::fs::write(
        profile.join("user.js"),
        "user_pref(\"toolkit.legacyUserProfileCustomizations.stylesheets\", true);\n",
    )
    .expect("the profile's user.js");
    std::fs::write(
        profile.join("chrome/userChrome.css"),
        ":root, #main-window, #navigator-toolbox, #nav-bar, toolbar, #TabsToolbar, \
         #urlbar-container, #urlbar, #browser, #tabbrowser-tabbox, .browserStack, \
         #sidebar-box, #search-container { min-width: 0 !important; }\n",
    )
    .expect("the profile's userChrome.css");
    profile.display().to_string()
}

pub struct Browser {
    http: reqwest::Client,
    session_url: String,
    pub engine: Engine,
    _driver: ChildGroup,
    _profile: tempfile::TempDir,
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Element {
    /// The element's WebDriver id (`json!({ELEMENT: e.id()})` passes it to a script).
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// `engine`'s WebDriver server on a free port, and its base URL, once it
/// answers that it is ready; `None` when it exits first (its port was
/// taken). Only the driver's own answer (`value.ready`) counts.
async fn start_driver(
    http: &reqwest::Client,
    engine: Engine,
    dir: &std::path::Path,
) -> Option<(ChildGroup, String)> {
    let (program, mut args) = engine.driver();
    let port = crate::free_port();
    args.push(format!("--port={port}"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}-driver.log", engine.name())))
        .expect("a driver log");
    let mut driver = ChildGroup::spawn(&program, &args, dir, log);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
    loop {
        let ready = match http.get(format!("{base}/status")).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["value"]["ready"].as_bool())
                .unwrap_or(false),
            Err(_) => false,
        };
        // A driver that exited may have found another driver on its port.
        if driver.exited().is_some() {
            return None;
        }
        if ready {
            return Some((driver, base));
        }
        assert!(
            Instant::now() < deadline,
            "{program} was not ready in {DRIVER_READY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Browser {
    /// Chromium (the benchmarks' browser, and the default).
    pub async fn start() -> Browser {
        Browser::start_in(Engine::Chromium).await
    }

    pub async fn start_in(engine: Engine) -> Browser {
        Browser::launch(engine, false).await
    }

    /// A browser whose person asked their system for less motion
    /// (`prefers-reduced-motion: reduce`).
    pub async fn start_with_reduced_motion(engine: Engine) -> Browser {
        Browser::launch(engine, true).await
    }

    async fn launch(engine: Engine, reduced_motion: bool) -> Browser {
        let profile = tempfile::Builder::new()
            .prefix(&format!("playback-{}-", engine.name()))
            .tempdir()
            .expect("a profile dir");
        let http = reqwest::Client::new();
        // The free port may be taken by another test's server before the
        // driver binds it: the driver then exits, and a new port is tried.
        let (driver, base) = 'started: {
            for _ in 0..3 {
                if let Some(started) = start_driver(&http, engine, profile.path()).await {
                    break 'started started;
                }
            }
            panic!("{}'s driver exited at start three times", engine.name());
        };
        let caps = engine.capabilities(profile.path(), reduced_motion);
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("create a WebDriver session")
            .json()
            .await
            .expect("a WebDriver session answer");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        let browser = Browser {
            http,
            session_url: format!("{base}/session/{session}"),
            engine,
            _driver: driver,
            _profile: profile,
        };
        if engine == Engine::Firefox {
            browser.set_window_size(WINDOW.0, WINDOW.1).await;
        }
        browser
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.session_url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: Value = req
            .send()
            .await
            .expect("a WebDriver answer")
            .json()
            .await
            .expect("WebDriver JSON");
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        let v = self
            .command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
        assert!(v.is_null(), "navigation to {url} failed: {v}");
    }

    pub async fn current_url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn find(&self, css: &str) -> Option<Element> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned()))
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element(id.to_owned()))
            .collect()
    }

    /// Waits until `css` matches an element, or panics after `timeout`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element matched {css:?} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `script` (a function body returning a value) returns something truthy.
    pub async fn wait_until(&self, script: &str, timeout: Duration) -> Value {
        self.wait_until_with(script, json!([]), timeout).await
    }

    /// [`Browser::wait_until`] with `args` as the script's `arguments`.
    pub async fn wait_until_with(&self, script: &str, args: Value, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(script, args.clone()).await;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "condition not met within {timeout:?}: {script}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A trusted click, as a person's: the element first scrolled to the
    /// middle of the window (a person scrolls a row out from under the
    /// player bar fixed at the bottom; WebDriver scrolls only what is
    /// outside the window, and would click the bar).
    pub async fn click(&self, element: &Element) {
        self.execute(
            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
            json!([{ELEMENT: element.0}]),
        )
        .await;
        let v = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/click", element.0),
                Some(json!({})),
            )
            .await;
        assert!(v.is_null(), "click failed: {v}");
    }

    /// Types `text` into an element with trusted key events, as a person does.
    pub async fn type_text(&self, element: &Element, text: &str) {
        let v = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/value", element.0),
                Some(json!({"text": text})),
            )
            .await;
        assert!(v.is_null(), "typing failed: {v}");
    }

    /// Runs `script` in every document this browser opens from now on,
    /// before the page's own scripts (Chromium's DevTools protocol, through
    /// chromedriver): how a benchmark observes a page from its first moment.
    pub async fn on_new_document(&self, script: &str) {
        let v = self
            .command(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": script}})),
            )
            .await;
        assert!(v["identifier"].is_string(), "the script was not added: {v}");
    }

    /// Presses and releases one key (a WebDriver key code such as
    /// `"\u{E007}"` for Enter) on whatever has the focus: trusted key events.
    pub async fn press_key(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        let v = self
            .command(reqwest::Method::POST, "/actions", Some(actions))
            .await;
        assert!(v.is_null(), "key press failed: {v}");
    }

    /// Presses `key` twice, `gap_ms` apart, in one WebDriver action (so
    /// the browser keeps the gap, however slowly this test runs).
    pub async fn press_key_twice(&self, key: &str, gap_ms: u64) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key},
            {"type": "pause", "duration": gap_ms},
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        let v = self
            .command(reqwest::Method::POST, "/actions", Some(actions))
            .await;
        assert!(v.is_null(), "key presses failed: {v}");
    }

    /// Two trusted clicks on `element`, `gap_ms` apart, in one WebDriver
    /// action.
    pub async fn click_twice(&self, element: &Element, gap_ms: u64) {
        self.execute(
            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
            json!([{ELEMENT: element.0}]),
        )
        .await;
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"}, "actions": [
            {"type": "pointerMove", "origin": {ELEMENT: element.0}, "x": 0, "y": 0},
            {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
            {"type": "pause", "duration": gap_ms},
            {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]});
        let v = self
            .command(reqwest::Method::POST, "/actions", Some(actions))
            .await;
        assert!(v.is_null(), "clicks failed: {v}");
    }

    /// Moves the mouse over `element` (trusted, as a person's pointer).
    pub async fn hover(&self, element: &Element) {
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"}, "actions": [
            {"type": "pointerMove", "origin": {ELEMENT: element.0}, "x": 0, "y": 0}]}]});
        let v = self
            .command(reqwest::Method::POST, "/actions", Some(actions))
            .await;
        assert!(v.is_null(), "hover failed: {v}");
    }

    /// Empties a text field (WebDriver's Element Clear).
    pub async fn clear(&self, element: &Element) {
        let v = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{}/clear", element.0),
                Some(json!({})),
            )
            .await;
        assert!(v.is_null(), "clearing failed: {v}");
    }

    pub async fn text(&self, element: &Element) -> String {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The element's accessible name and role, as the browser computes them
    /// (WebDriver's Get Computed Label and Role).
    pub async fn accessible(&self, element: &Element) -> (String, String) {
        let mut found = [String::new(), String::new()];
        for (what, slot) in ["label", "role"].into_iter().zip(found.iter_mut()) {
            let path = format!("/element/{}/computed{what}", element.0);
            let v = self.command(reqwest::Method::GET, &path, None).await;
            *slot = v.as_str().unwrap_or_default().to_owned();
        }
        let [label, role] = found;
        (label, role)
    }

    /// The displayed element under `within` whose accessible name starts
    /// with `name` (buttons, links, form controls and anything with a role),
    /// as an assistive technology or a person reading the screen finds it;
    /// with its computed role.
    pub async fn by_name(&self, within: &str, name: &str) -> Option<(Element, String)> {
        let css = ["button", "a", "select", "input", "[role]"]
            .map(|c| format!("{within} {c}"))
            .join(", ");
        for element in self.find_all(&css).await {
            let path = format!("/element/{}/displayed", element.0);
            let displayed = self.command(reqwest::Method::GET, &path, None).await;
            if displayed != json!(true) {
                continue;
            }
            let (label, role) = self.accessible(&element).await;
            if label.starts_with(name) {
                return Some((element, role));
            }
        }
        None
    }

    /// Runs the accessibility engine (axe-core, pinned in
    /// `tools/package-lock.json`) on the page as it is now, and panics on
    /// any violation of impact serious or critical. The moderate and minor
    /// ones are returned (and written to `target/a11y/`, one file per
    /// screen and browser, for the record).
    pub async fn audit(&self, screen: &str) -> Vec<String> {
        let loaded = self
            .execute("return typeof axe === 'object'", json!([]))
            .await;
        if loaded != json!(true) {
            let source = axe_source();
            let v = self
                .execute(&format!("{source}\nreturn typeof axe;"), json!([]))
                .await;
            assert_eq!(v, json!("object"), "axe-core did not load: {v}");
        }
        let found = self
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))}))))
                   .catch(e => done({error: String(e)}));",
                json!([]),
            )
            .await;
        let violations = found
            .as_array()
            .unwrap_or_else(|| panic!("axe-core failed on {screen}: {found}"));
        let width = self.execute("return window.innerWidth", json!([])).await;
        let line = |v: &Value| {
            format!(
                "{} {} ({}): {}",
                v["impact"].as_str().unwrap_or("?"),
                v["id"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or(""),
                v["nodes"]
            )
        };
        let serious: Vec<String> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(line)
            .collect();
        let lesser: Vec<String> = violations
            .iter()
            .filter(|v| !matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(line)
            .collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/a11y");
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = std::fs::write(
                dir.join(format!("{}-{screen}.txt", self.engine.name())),
                format!(
                    "{screen} at {width} px in {}\n{}\n",
                    self.engine.name(),
                    violations.iter().map(line).collect::<Vec<_>>().join("\n")
                ),
            );
        }
        assert!(
            serious.is_empty(),
            "{} at {width} px, {screen}: axe-core finds serious or critical violations:\n{}",
            self.engine.name(),
            serious.join("\n")
        );
        lesser
    }

    /// [`Browser::audit`] at a laptop's width and at a phone's (375 CSS
    /// px), the window given back its size after.
    pub async fn audit_both_widths(&self, screen: &str) -> Vec<String> {
        let mut lesser = self.audit(screen).await;
        self.set_window_size(375, 812).await;
        self.wait_until("return window.innerWidth <= 375", Duration::from_secs(30))
            .await;
        lesser.extend(self.audit(&format!("{screen}-375")).await);
        self.set_window_size(WINDOW.0, WINDOW.1).await;
        self.wait_until("return window.innerWidth > 375", Duration::from_secs(30))
            .await;
        lesser
    }

    /// Resizes the window (a narrow phone screen, say).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let v = self
            .command(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({"width": width, "height": height})),
            )
            .await;
        assert!(v.is_object(), "resizing failed: {v}");
    }

    /// A screenshot at `path`; Firefox's beside Chromium's, as
    /// `{name}-firefox.png`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let path = match (self.engine, path.file_stem()) {
            (Engine::Firefox, Some(stem)) => {
                path.with_file_name(format!("{}-firefox.png", stem.to_string_lossy()))
            }
            _ => path.to_path_buf(),
        };
        let v = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        std::fs::write(&path, png).expect("write the screenshot");
    }
}

/// The browser tests, one body each (`async fn name(engine: Engine)`), run
/// once per browser: as the tests `name::chromium` and `name::firefox`.
#[macro_export]
macro_rules! in_each_browser {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn chromium() {
                super::$name($crate::browser::Engine::Chromium).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn firefox() {
                super::$name($crate::browser::Engine::Firefox).await
            }
        }
    )*};
}
