//! LogSettings: the console (standard error) and the log file, each with its level and JSON or
//! plain lines, the file rotated by size. Levels change without a restart: every node applies
//! the config it is given (reload, PUT /config, a config saved on another node) through
//! [`apply`], which [`crate::Node::start`] registers. Turning an output on or off and the
//! JSON switches take effect at the next start.
//!
//! One subscriber per process: the binary calls [`init`]; in-process test nodes log through
//! whatever the test installed, and [`apply`] does nothing for them. `RUST_LOG`, when set,
//! replaces both levels and is not changed by the config.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use chorus_config::LogSettings;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Noisy dependencies stay at WARN whatever the level.
const QUIET_DEPENDENCIES: &str = "tokio_postgres=warn,tower_http=warn,hyper=warn,h2=warn";

/// The file `chorus.log` when FileLocation names a directory.
const FILE_NAME: &str = "chorus.log";

type FilterHandle = reload::Handle<EnvFilter, Registry>;

struct Logging {
    console: Option<FilterHandle>,
    file: Option<FilterHandle>,
    /// RUST_LOG was set: the config's levels are not used.
    from_environment: bool,
}

static LOGGING: OnceLock<Logging> = OnceLock::new();

fn filter_for(level: &str) -> EnvFilter {
    EnvFilter::new(format!("{},{QUIET_DEPENDENCIES}", level.to_lowercase()))
}

/// The log file's path: FileLocation as a file when it ends in `.log`, else as a directory.
pub fn log_file_path(settings: &LogSettings) -> PathBuf {
    let location = settings.file_location.trim();
    if location.is_empty() {
        return Path::new("logs").join(FILE_NAME);
    }
    if location.ends_with(".log") {
        return PathBuf::from(location);
    }
    Path::new(location).join(FILE_NAME)
}

/// Installs the process's subscriber from LogSettings. Returns the log file's path when one
/// is written. A file that cannot be opened is reported, and the console still logs.
pub fn init(settings: &LogSettings) -> Option<PathBuf> {
    let environment_filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty());
    let filter = |level: &str| match &environment_filter {
        Some(directives) => EnvFilter::new(directives),
        None => filter_for(level),
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    let mut console_handle = None;
    let mut file_handle = None;
    let mut file_path = None;
    let mut file_error = None;

    if settings.enable_console {
        let (console_filter, handle) = reload::Layer::new(filter(&settings.console_level));
        console_handle = Some(handle);
        let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        layers.push(if settings.console_json {
            layer.json().with_filter(console_filter).boxed()
        } else {
            layer.with_ansi(false).with_filter(console_filter).boxed()
        });
    }
    if settings.enable_file {
        let path = log_file_path(settings);
        let max_bytes = settings.file_max_size_mb.max(1) as u64 * 1024 * 1024;
        match RotatingFile::open(&path, max_bytes, settings.file_max_backups.max(0) as usize) {
            Ok(file) => {
                let writer = SharedFile(Arc::new(Mutex::new(file)));
                let (file_filter, handle) = reload::Layer::new(filter(&settings.file_level));
                file_handle = Some(handle);
                let layer = tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone());
                layers.push(if settings.file_json {
                    layer.json().with_filter(file_filter).boxed()
                } else {
                    layer.with_filter(file_filter).boxed()
                });
                file_path = Some(path);
            }
            Err(error) => file_error = Some((path, error)),
        }
    }
    // The last lines at the file's level go to a ring that GET /api/v4/logs serves (Mattermost
    // reads them from its log file).
    layers.push(
        chorus_app::logs::recent_logs_layer()
            .with_filter(filter(&settings.file_level))
            .boxed(),
    );
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_err()
    {
        return None;
    }
    let _ = LOGGING.set(Logging {
        console: console_handle,
        file: file_handle,
        from_environment: environment_filter.is_some(),
    });
    if let Some((path, error)) = file_error {
        tracing::error!(path = %path.display(), error = %error, "cannot open the log file (LogSettings.FileLocation); logging to the console only");
    }
    file_path
}

/// Applies the levels of `settings` to the running subscriber, if [`init`] installed one.
pub fn apply(settings: &LogSettings) {
    let Some(logging) = LOGGING.get() else {
        return;
    };
    if logging.from_environment {
        return;
    }
    let mut changed = false;
    for (handle, level) in [
        (&logging.console, &settings.console_level),
        (&logging.file, &settings.file_level),
    ] {
        let Some(handle) = handle else {
            continue;
        };
        let wanted = filter_for(level).to_string();
        let current = handle.with_current(|filter| filter.to_string()).ok();
        if current.as_deref() != Some(wanted.as_str()) && handle.reload(filter_for(level)).is_ok() {
            changed = true;
        }
    }
    if changed {
        tracing::info!(console_level = %settings.console_level, file_level = %settings.file_level, "log levels changed");
    }
}

/// The log file, renamed to `.1` (and older ones to `.2`, …, up to `max_backups`) when a
/// write would take it past `max_bytes`.
struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    max_backups: usize,
}

impl RotatingFile {
    fn open(path: &Path, max_bytes: u64, max_backups: usize) -> std::io::Result<RotatingFile> {
        if let Some(directory) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(directory)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            written,
            max_bytes,
            max_backups,
        })
    }

    fn backup_path(&self, number: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{number}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        if self.max_backups == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.backup_path(self.max_backups));
            for number in (1..self.max_backups).rev() {
                let from = self.backup_path(number);
                if from.exists() {
                    std::fs::rename(&from, self.backup_path(number + 1))?;
                }
            }
            std::fs::rename(&self.path, self.backup_path(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.written > 0 && self.written + buffer.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let written = self.file.write(buffer)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What the fmt layer writes each line through: one lock per line.
#[derive(Clone)]
struct SharedFile(Arc<Mutex<RotatingFile>>);

impl Write for SharedFile {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut file) => file.write(buffer),
            Err(poisoned) => poisoned.into_inner().write(buffer),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut file) => file.flush(),
            Err(poisoned) => poisoned.into_inner().flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_by_size_and_keeps_the_newest_backups() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("logs").join("chorus.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        for line in 0..10 {
            file.write_all(format!("line {line:02} {}\n", "x".repeat(40)).as_bytes())
                .unwrap();
        }
        let read = |path: &Path| std::fs::read_to_string(path).unwrap();
        // 50-byte lines, 100 bytes a file: two lines each, the last two files kept.
        assert_eq!(read(&path).lines().count(), 2);
        assert!(read(&path).starts_with("line 08"));
        assert!(read(&file.backup_path(1)).starts_with("line 06"));
        assert!(read(&file.backup_path(2)).starts_with("line 04"));
        assert!(!file.backup_path(3).exists());
    }

    #[test]
    fn file_location_is_a_directory_or_a_log_file() {
        let mut settings = LogSettings::default();
        assert_eq!(log_file_path(&settings), Path::new("logs/chorus.log"));
        settings.file_location = "/var/log/chorus".to_string();
        assert_eq!(
            log_file_path(&settings),
            Path::new("/var/log/chorus/chorus.log")
        );
        settings.file_location = "/var/log/node-2.log".to_string();
        assert_eq!(log_file_path(&settings), Path::new("/var/log/node-2.log"));
    }
}
