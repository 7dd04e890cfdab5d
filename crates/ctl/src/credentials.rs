//! The credentials file, kept as mmctl keeps its own: a JSON object of named credentials, one of
//! them active, in `$XDG_CONFIG_HOME/chorusctl/config` (or `~/.config/chorusctl/config`),
//! readable by its owner only (0600) since it holds session tokens.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How the token was obtained: mmctl's "P" (password login: a session) or "T" (access token).
pub const METHOD_PASSWORD: &str = "P";
pub const METHOD_TOKEN: &str = "T";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub name: String,
    pub username: String,
    pub auth_token: String,
    pub auth_method: String,
    pub instance_url: String,
    #[serde(default)]
    pub active: bool,
}

#[derive(Default, Debug, PartialEq, Eq)]
pub struct CredentialsFile {
    pub entries: BTreeMap<String, Credentials>,
}

/// `--config`/CHORUSCTL_CONFIG, else the XDG location.
pub fn default_path() -> Result<PathBuf> {
    path_from(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn path_from(xdg_config_home: Option<PathBuf>, home: Option<PathBuf>) -> Result<PathBuf> {
    let base = match (xdg_config_home, home) {
        (Some(xdg), _) if !xdg.as_os_str().is_empty() => xdg,
        (_, Some(home)) => home.join(".config"),
        _ => bail!("cannot find the credentials file: set --config, CHORUSCTL_CONFIG or HOME"),
    };
    Ok(base.join("chorusctl").join("config"))
}

impl CredentialsFile {
    /// An absent file is an empty one.
    pub fn load(path: &Path) -> Result<CredentialsFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CredentialsFile::default())
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()))
            }
        };
        if text.trim().is_empty() {
            return Ok(CredentialsFile::default());
        }
        let entries = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a chorusctl credentials file", path.display()))?;
        Ok(CredentialsFile { entries })
    }

    /// Writes through a temporary file created 0600, then renames it over the old one.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let text = serde_json::to_string_pretty(&self.entries)?;
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        // A file created earlier with looser bits keeps them through `mode`: tighten it.
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    pub fn active(&self) -> Option<&Credentials> {
        self.entries.values().find(|credentials| credentials.active)
    }

    /// Adds or replaces credentials; `activate` makes them the only active ones.
    pub fn insert(&mut self, mut credentials: Credentials, activate: bool) {
        if activate {
            for other in self.entries.values_mut() {
                other.active = false;
            }
        } else if let Some(previous) = self.entries.get(&credentials.name) {
            credentials.active = previous.active;
        }
        credentials.active = activate || credentials.active;
        self.entries.insert(credentials.name.clone(), credentials);
    }

    pub fn switch(&mut self, name: &str) -> Result<()> {
        if !self.entries.contains_key(name) {
            bail!("no credentials named {name:?} (see `chorusctl auth list`)");
        }
        for (entry_name, credentials) in self.entries.iter_mut() {
            credentials.active = entry_name == name;
        }
        Ok(())
    }

    pub fn delete(&mut self, name: &str) -> Result<()> {
        if self.entries.remove(name).is_none() {
            bail!("no credentials named {name:?} (see `chorusctl auth list`)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(name: &str) -> Credentials {
        Credentials {
            name: name.to_string(),
            username: "admin".to_string(),
            auth_token: format!("token-{name}"),
            auth_method: METHOD_PASSWORD.to_string(),
            instance_url: "http://127.0.0.1:8065".to_string(),
            active: false,
        }
    }

    #[test]
    fn the_path_follows_xdg_then_home() {
        assert_eq!(
            path_from(Some("/xdg".into()), Some("/home/a".into())).unwrap(),
            PathBuf::from("/xdg/chorusctl/config")
        );
        assert_eq!(
            path_from(Some("".into()), Some("/home/a".into())).unwrap(),
            PathBuf::from("/home/a/.config/chorusctl/config")
        );
        assert!(path_from(None, None).is_err());
    }

    #[test]
    fn a_saved_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("config");
        assert_eq!(
            CredentialsFile::load(&path).unwrap(),
            CredentialsFile::default()
        );
        let mut file = CredentialsFile::default();
        file.insert(credentials("one"), true);
        file.insert(credentials("two"), false);
        file.save(&path).unwrap();

        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = CredentialsFile::load(&path).unwrap();
        assert_eq!(loaded, file);
        assert_eq!(loaded.active().unwrap().name, "one");
        // mmctl's field names.
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(raw["one"]["instanceUrl"], "http://127.0.0.1:8065");
        assert_eq!(raw["one"]["authToken"], "token-one");
    }

    #[test]
    fn one_set_of_credentials_is_active_at_a_time() {
        let mut file = CredentialsFile::default();
        file.insert(credentials("one"), true);
        file.insert(credentials("two"), true);
        assert_eq!(file.active().unwrap().name, "two");
        file.switch("one").unwrap();
        assert_eq!(file.active().unwrap().name, "one");
        assert!(!file.entries["two"].active);
        // Logging in again without activating keeps the active flag as it was.
        file.insert(credentials("one"), false);
        assert_eq!(file.active().unwrap().name, "one");
        assert!(file.switch("three").is_err());
        file.delete("one").unwrap();
        assert!(file.active().is_none());
        assert!(file.delete("one").is_err());
    }
}
