//! Which `chorus` binary the benchmark runs (chorus-testkit's Sandbox starts it as the nodes'
//! processes).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Finds the chorus binary: `explicit` (--chorus-bin / $CHORUS_BIN), else `chorus` next to this
/// benchmark's own binary (same target directory and profile), else the release build in
/// $CARGO_TARGET_DIR or ./target.
pub fn locate_chorus(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("chorus binary {} does not exist", path.display());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("chorus"));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("release/chorus"));
    }
    candidates.push(PathBuf::from("target/release/chorus"));
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "the release chorus binary was not found (looked at {}). Build it first with \
         `cargo build --release -p chorus` (same CARGO_TARGET_DIR), or pass --chorus-bin PATH",
        looked.join(", ")
    )
}
