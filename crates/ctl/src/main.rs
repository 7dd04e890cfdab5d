//! chorusctl: the admin CLI of a Chorus cluster. It speaks only the REST API v4, to any node or
//! to NGINX in front of them, with mmctl's command and flag names, so an operator's mmctl habits
//! and scripts carry over. It never touches the database or a node's files: what it cannot do
//! through the API it does not do (no `--local`).
//!
//! Exit codes: 0 success, 1 a server or usage error found at run time (the server's message and
//! error id on stderr) or a red node in `cluster status`, 2 bad usage caught by clap.

mod cli;
mod client;
mod commands;
mod credentials;
mod output;
mod progress;
mod refs;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(commands::Outcome::Success) => ExitCode::SUCCESS,
        Ok(commands::Outcome::Failure) => ExitCode::from(1),
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Rust ignores SIGPIPE, so `chorusctl user list | head` would panic on the closed pipe; a
/// command-line tool should die quietly instead, as other Unix tools do.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
