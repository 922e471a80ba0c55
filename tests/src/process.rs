//! A child process in its own process group, so that the whole tree it
//! starts (wrangler's node, workerd) can be signalled at once and nothing
//! outlives the test that started it.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct ChildGroup {
    child: Child,
}

impl ChildGroup {
    pub fn spawn(program: &str, args: &[String], dir: &Path, log: File) -> ChildGroup {
        let err = log.try_clone().expect("clone the log handle");
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            // Keep wrangler offline and quiet whoever runs the tests.
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_HIDE_BANNER", "true")
            // wrangler's local observability (on by default) streams every
            // invocation's tail events into a trace store of its own, a
            // SQLite Durable Object that commits on the runtime's one
            // thread: it cost the drain about 6 ms per hand-over
            // (BENCHMARKS.md). The edge has no such thing in the isolate.
            .env("X_LOCAL_OBSERVABILITY", "false")
            // wrangler also appends every line it prints to a debug log
            // file of its own (a directory made sure of, an open, a write
            // and a close per line), in its own process, which shares the
            // machine's cores with the runtime. The worker's lines are
            // already in the log above; that copy was about a quarter of
            // wrangler's processor time during a drain (BENCHMARKS.md).
            .env("WRANGLER_WRITE_LOGS", "false")
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        ChildGroup { child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn signal_group(&self, signal: i32) {
        // The child leads its own group, so its pid is the group id.
        unsafe {
            libc::kill(-(self.child.id() as i32), signal);
        }
    }

    /// SIGINT to the group, then SIGKILL if it has not exited in time.
    pub fn stop(&mut self) {
        self.signal_group(libc::SIGINT);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (workerd may outlive its parent briefly) goes now.
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn kill_hard(&mut self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ChildGroup {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill_hard();
        }
    }
}
