//! Cleanup that survives the test process.
//!
//! A test process can end without running any destructor: `std::process::exit`, a panic in a
//! static's owner, SIGKILL from a timeout, Ctrl-C. Each server therefore gets a small `sh` in its
//! own session (`setsid`) whose stdin is a pipe that only the test process writes to. The kernel
//! closes that pipe when the process ends, however it ends; the shell then reads end-of-file,
//! stops postgres with `pg_ctl stop -m immediate` and deletes the server's directory. A normal
//! `Drop` cleans up itself and writes `disarm` first, so the shell exits without doing anything.
//!
//! Waiting on a pipe instead of polling `kill -0 PID` cleans up at once and cannot be fooled by
//! the kernel reusing the test process's PID. Pipes made by std are close-on-exec, so postgres
//! and other children never hold the write end open.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context, Result};

use crate::os_account::RunAs;

const SCRIPT: &str = r#"
if IFS= read -r word && [ "$word" = disarm ]; then exit 0; fi
"$1" stop -D "$2" -m immediate -w -t 30 >/dev/null 2>&1
rm -rf -- "$3"
"#;

pub(crate) struct Watchdog {
    shell: Child,
    /// Closing this (or our process ending) wakes the shell up.
    trigger: Option<ChildStdin>,
}

impl Watchdog {
    /// Arms a watchdog that, once this process is gone, stops the postmaster serving `data_dir`
    /// and removes `root`. It runs as the postgres account: `pg_ctl` refuses root, and that
    /// account owns everything under `root`.
    pub(crate) fn arm(run_as: &RunAs, pg_ctl: &Path, data_dir: &Path, root: &Path) -> Result<Self> {
        let mut command = Command::new("setsid");
        command
            .args(["sh", "-c", SCRIPT, "chorus-testkit-watchdog"])
            .arg(pg_ctl)
            .arg(data_dir)
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_as.apply(&mut command, root);
        let mut shell = command
            .spawn()
            .context("spawning the cleanup watchdog (setsid sh)")?;
        let trigger = shell.stdin.take();
        Ok(Watchdog { shell, trigger })
    }

    /// Tells the watchdog that cleanup is done and waits for it to exit.
    pub(crate) fn disarm(&mut self) {
        if let Some(mut trigger) = self.trigger.take() {
            // If the write fails the shell is already gone, which is what we want anyway.
            let _ = trigger.write_all(b"disarm\n");
        }
        let _ = self.shell.wait();
    }
}
