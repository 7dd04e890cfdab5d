//! Which operating-system account runs PostgreSQL's programs.
//!
//! `initdb`, `postgres` and `pg_ctl` exit at once when run as root. CI and these machines run
//! tests as root, so there we run them as an unprivileged account: `postgres` when the Debian
//! package created it, otherwise a `chorus-pg` system account that we create once with `useradd`.
//! `scripts/lib.sh` makes the same choice for `scripts/up.sh`. As any other user we run them as
//! ourselves.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

const PREFERRED_ACCOUNTS: [&str; 2] = ["postgres", "chorus-pg"];
const CREATED_ACCOUNT: &str = "chorus-pg";

#[derive(Clone, Debug)]
pub(crate) enum RunAs {
    /// We are not root: PostgreSQL runs as us.
    CurrentUser,
    /// We are root: PostgreSQL runs as this unprivileged account.
    Account { name: String, uid: u32, gid: u32 },
}

impl RunAs {
    /// The account for this process, decided (and created if needed) once.
    pub(crate) fn get() -> Result<&'static RunAs> {
        static DECIDED: OnceLock<Result<RunAs, String>> = OnceLock::new();
        let decided = DECIDED.get_or_init(|| decide().map_err(|error| format!("{error:#}")));
        match decided {
            Ok(run_as) => Ok(run_as),
            Err(message) => bail!("{message}"),
        }
    }

    /// Makes `command` run as this account. Also runs it in `working_dir`, which must be readable
    /// by the account: PostgreSQL's programs complain when they cannot read their current directory.
    pub(crate) fn apply(&self, command: &mut Command, working_dir: &Path) {
        command.current_dir(working_dir);
        if let RunAs::Account { uid, gid, .. } = self {
            // std drops the supplementary groups too when root sets a uid.
            command.uid(*uid).gid(*gid);
        }
    }

    /// Hands `path` (created by us) over to the account.
    pub(crate) fn give(&self, path: &Path) -> Result<()> {
        if let RunAs::Account { name, uid, gid } = self {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .with_context(|| format!("giving {} to the {name} account", path.display()))?;
        }
        Ok(())
    }

    pub(crate) fn is_current_user(&self) -> bool {
        matches!(self, RunAs::CurrentUser)
    }
}

fn decide() -> Result<RunAs> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let effective_uid = unsafe { libc::geteuid() };
    if effective_uid != 0 {
        return Ok(RunAs::CurrentUser);
    }
    for name in PREFERRED_ACCOUNTS {
        if let Some(account) = look_up(name)? {
            return Ok(account);
        }
    }
    create_system_account(CREATED_ACCOUNT)?;
    match look_up(CREATED_ACCOUNT)? {
        Some(account) => Ok(account),
        None => bail!("useradd succeeded but account {CREATED_ACCOUNT} does not exist"),
    }
}

fn create_system_account(name: &str) -> Result<()> {
    let output = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ])
        .arg(name)
        .output()
        .context("running useradd to create an account for postgres (we are root)")?;
    // Another test process may have created it at the same moment: exit status 9 means "exists".
    if output.status.success() || output.status.code() == Some(9) {
        return Ok(());
    }
    bail!(
        "useradd {name} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// Reads `name:x:uid:gid:...` from `getent passwd`, so accounts from any NSS source count.
fn look_up(name: &str) -> Result<Option<RunAs>> {
    let output = Command::new("getent")
        .args(["passwd", name])
        .output()
        .context("running getent passwd")?;
    if !output.status.success() {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = line.trim().split(':').collect();
    if fields.len() < 4 {
        bail!("unexpected getent passwd output for {name}: {line:?}");
    }
    let uid: u32 = fields[2]
        .parse()
        .with_context(|| format!("uid of {name} in {line:?}"))?;
    let gid: u32 = fields[3]
        .parse()
        .with_context(|| format!("gid of {name} in {line:?}"))?;
    if uid == 0 {
        bail!("account {name} has uid 0; postgres would refuse to run as it");
    }
    Ok(Some(RunAs::Account {
        name: name.to_owned(),
        uid,
        gid,
    }))
}
