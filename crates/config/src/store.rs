//! `ConfigStore`: the configuration (config.json on disk, or a row in the database) layered
//! under the `MM_*` environment.
//!
//! For a file the store reads and writes it itself. For the database (`--config postgres://…`)
//! it holds only the tree: the store crate reads and writes the row, and the app hands the
//! trees over ([`ConfigStore::from_database`], [`ConfigStore::prepare_save`] then
//! [`ConfigStore::commit`], [`ConfigStore::replace_tree`]), since this crate does no I/O on
//! the network.
//!
//! The store keeps the file as a JSON tree, not only as a `Config`, for two reasons: keys and
//! sections Chorus does not model (a Mattermost file has dozens) must survive a save, and a
//! key overridden by the environment must keep the file's own value when the rest is saved.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::{self, EnvOverride};
use crate::json::{config_from_value, config_to_value, to_file_bytes};
use crate::{Config, ConfigError};

/// Where a configuration is kept.
#[derive(Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// A PostgreSQL DSN; its table is `configurations`.
    Database(String),
}

impl ConfigSource {
    /// A `--config` value: a `postgres://` or `postgresql://` DSN, or a file path.
    pub fn parse(value: &str) -> ConfigSource {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            ConfigSource::Database(value.to_string())
        } else {
            ConfigSource::File(PathBuf::from(value))
        }
    }

    pub fn is_database(&self) -> bool {
        matches!(self, ConfigSource::Database(_))
    }
}

/// Names the file, or the database without its password.
impl std::fmt::Display for ConfigSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(path) => write!(formatter, "{}", path.display()),
            ConfigSource::Database(dsn) => write!(formatter, "{}", without_password(dsn)),
        }
    }
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{self}")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:****@host/db`.
fn without_password(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return dsn.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:****@{host}")
        }
        _ => dsn.to_string(),
    }
}

/// A save validated and merged, not yet written ([`ConfigStore::prepare_save`]).
pub struct PendingSave {
    tree: Value,
    effective: Config,
}

impl PendingSave {
    /// What is to be stored: the saved keys merged into the stored tree, environment
    /// overrides left out.
    pub fn tree(&self) -> &Value {
        &self.tree
    }
}

/// The configuration file or row, the environment overrides read at load time and the
/// effective configuration (stored tree, then environment on top).
pub struct ConfigStore {
    source: ConfigSource,
    /// For a database source: the id of the row the tree came from or was saved as.
    version: Option<String>,
    /// The file as last read or written, unknown keys included. Saves merge into it.
    file_tree: Value,
    env_overrides: Vec<EnvOverride>,
    effective: Config,
}

impl ConfigStore {
    /// Reads `path` (writing Mattermost-style defaults there first when it does not exist),
    /// applies the `MM_*` variables of this process and validates the result.
    pub fn load(path: &Path) -> Result<ConfigStore, ConfigError> {
        Self::load_with_env(path, env::process_env())
    }

    /// Like [`ConfigStore::load`], with the environment given explicitly. The environment is
    /// read once: `reload` and `save` re-apply these same overrides.
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ConfigStore, ConfigError> {
        let env_overrides = env::overrides_from_env(env)?;
        let file_tree = read_or_create(path)?;
        let effective = effective_config(&file_tree, &env_overrides)?;
        Ok(ConfigStore {
            source: ConfigSource::File(path.to_path_buf()),
            version: None,
            file_tree,
            env_overrides,
            effective,
        })
    }

    /// A configuration read from the database (`tree`, the active row; None when the table is
    /// empty, which starts from the defaults as a missing file does), with `env` on top.
    /// `version` names the row (its id), None for the defaults.
    pub fn from_database(
        dsn: &str,
        version: Option<String>,
        tree: Option<Value>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ConfigStore, ConfigError> {
        let env_overrides = env::overrides_from_env(env)?;
        let file_tree = tree.unwrap_or_else(|| config_to_value(&Config::default()));
        if !file_tree.is_object() {
            return Err(ConfigError::Syntax {
                path: PathBuf::from("configurations"),
                message: "the active configuration must be a JSON object of sections".to_string(),
            });
        }
        let effective = effective_config(&file_tree, &env_overrides)?;
        Ok(ConfigStore {
            source: ConfigSource::Database(dsn.to_string()),
            version,
            file_tree,
            env_overrides,
            effective,
        })
    }

    /// The effective configuration: the file with the environment on top.
    pub fn config(&self) -> &Config {
        &self.effective
    }

    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// For a database source: which row this configuration is (None: the defaults, or a row
    /// to be read again).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn set_version(&mut self, version: Option<String>) {
        self.version = version;
    }

    /// The stored tree (unknown keys included, environment overrides not applied): what
    /// `chorus config migrate` copies.
    pub fn stored_tree(&self) -> &Value {
        &self.file_tree
    }

    /// Writes `new` to the file and makes it (with the environment re-applied) the effective
    /// configuration. For a database source, use [`ConfigStore::prepare_save`], store the
    /// tree, then [`ConfigStore::commit`].
    ///
    /// Validated first: on error nothing is written and nothing changes. Keys and sections in
    /// the file that Chorus does not model are kept. Keys overridden by the environment keep
    /// the file's value, since the value in `new` came from the environment and writing it
    /// would turn a deployment-time setting into a permanent one.
    pub fn save(&mut self, new: Config) -> Result<(), ConfigError> {
        let pending = self.prepare_save(new)?;
        if let ConfigSource::File(path) = &self.source {
            write_atomically(path, &pending.tree)?;
        }
        self.commit(pending);
        Ok(())
    }

    /// Validates `new` and merges it into the stored tree, changing nothing yet.
    pub fn prepare_save(&self, new: Config) -> Result<PendingSave, ConfigError> {
        let new_tree = config_to_value(&new);
        let effective = effective_config(&new_tree, &self.env_overrides)?;
        let overridden: BTreeSet<(String, String)> = self
            .env_overrides
            .iter()
            .map(|o| (o.section.clone(), o.key.clone()))
            .collect();
        let mut tree = self.file_tree.clone();
        merge_known_keys(&mut tree, &new_tree, &overridden);
        Ok(PendingSave { tree, effective })
    }

    /// Makes a prepared save, once stored, the effective configuration.
    pub fn commit(&mut self, pending: PendingSave) {
        self.file_tree = pending.tree;
        self.effective = pending.effective;
    }

    /// Re-reads the file (POST /api/v4/config/reload) and re-applies the environment. On error
    /// the previous configuration stays in force. A database source reloads through
    /// [`ConfigStore::replace_tree`] instead.
    pub fn reload(&mut self) -> Result<&Config, ConfigError> {
        let file_tree = match &self.source {
            ConfigSource::File(path) => read_file(path)?,
            ConfigSource::Database(_) => self.file_tree.clone(),
        };
        self.replace_tree(file_tree)
    }

    /// Makes `tree` (read from the source again) the stored tree, with the environment on
    /// top. On error the previous configuration stays in force.
    pub fn replace_tree(&mut self, tree: Value) -> Result<&Config, ConfigError> {
        let effective = effective_config(&tree, &self.env_overrides)?;
        self.file_tree = tree;
        self.effective = effective;
        Ok(&self.effective)
    }

    /// The keys set by the environment, as "Section.Key", sorted; the System Console shows
    /// them read-only.
    pub fn env_overridden_keys(&self) -> Vec<String> {
        let keys: BTreeSet<String> = self.env_overrides.iter().map(|o| o.dotted_key()).collect();
        keys.into_iter().collect()
    }
}

/// Shows where the config comes from but no values: they include database passwords, and a
/// store printed with `{:?}` tends to end up in logs.
impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConfigStore")
            .field("source", &self.source)
            .field("env_overridden_keys", &self.env_overridden_keys())
            .finish_non_exhaustive()
    }
}

/// The file tree with the environment on top, read as a `Config` and validated. Errors about a
/// key the environment set say so, since the file is not where to fix them.
fn effective_config(tree: &Value, env_overrides: &[EnvOverride]) -> Result<Config, ConfigError> {
    let mut tree = tree.clone();
    env::apply_overrides(&mut tree, env_overrides);
    let config = config_from_value(tree).map_err(|error| blame_env(error, env_overrides))?;
    config
        .validate()
        .map_err(|error| blame_env(error, env_overrides))?;
    Ok(config)
}

fn blame_env(error: ConfigError, env_overrides: &[EnvOverride]) -> ConfigError {
    let Some(key) = error.key() else {
        return error;
    };
    // The last override of a key is the one in force.
    let Some(culprit) = env_overrides.iter().rev().find(|o| o.covers(key)) else {
        return error;
    };
    let reason = match &error {
        ConfigError::WrongType { message, .. } => message.clone(),
        ConfigError::Invalid { reason, .. } => reason.clone(),
        _ => return error,
    };
    ConfigError::EnvVar {
        variable: culprit.variable.clone(),
        reason: format!("{key}: {reason}"),
    }
}

/// Copies every key of `new_tree` into `file_tree`, except the overridden ones. Keys only in
/// the file stay, and with serde_json's preserve_order they stay where they were.
fn merge_known_keys(
    file_tree: &mut Value,
    new_tree: &Value,
    overridden: &BTreeSet<(String, String)>,
) {
    let (Value::Object(file_sections), Value::Object(new_sections)) = (file_tree, new_tree) else {
        return;
    };
    for (section_name, new_section) in new_sections {
        let Value::Object(new_keys) = new_section else {
            continue;
        };
        let file_section = file_sections
            .entry(section_name.clone())
            .or_insert_with(|| Value::Object(Default::default()));
        if !file_section.is_object() {
            // Only reachable if the file was edited into shape since it was read; the new
            // value wins.
            *file_section = Value::Object(Default::default());
        }
        let Value::Object(file_keys) = file_section else {
            continue;
        };
        for (key, value) in new_keys {
            if overridden.contains(&(section_name.clone(), key.clone())) {
                continue;
            }
            file_keys.insert(key.clone(), value.clone());
        }
    }
}

/// Writes `tree` as config.json at `path` (its directory created), readable by its owner only
/// when new: `chorus config migrate` from the database to a file.
pub fn write_config_file(path: &Path, tree: &Value) -> Result<(), ConfigError> {
    if let Some(directory) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(directory).map_err(|source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    write_atomically(path, tree)
}

fn read_file(path: &Path) -> Result<Value, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(path, &text)
}

/// Like Mattermost, a missing file is created with the defaults (and its directory with it),
/// so a first start needs nothing but the binary.
fn read_or_create(path: &Path) -> Result<Value, ConfigError> {
    match fs::read_to_string(path) {
        Ok(text) => parse_file(path, &text),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let defaults = config_to_value(&Config::default());
            if let Some(directory) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(directory).map_err(|source| ConfigError::Write {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
            write_atomically(path, &defaults)?;
            Ok(defaults)
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_file(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let tree: Value = serde_json::from_str(text).map_err(|error| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {error}"),
    })?;
    if !tree.is_object() {
        return Err(ConfigError::Syntax {
            path: path.to_path_buf(),
            message: "the top level must be a JSON object of sections".to_string(),
        });
    }
    Ok(tree)
}

/// Writes through a temporary file in the same directory and renames it over `path`, so a
/// crash or a concurrent reader never sees half a file. The file holds database passwords:
/// a new file is readable by its owner only, an existing one keeps its permissions.
fn write_atomically(path: &Path, tree: &Value) -> Result<(), ConfigError> {
    let write_error = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| write_error(io::Error::other("the path names no file")))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(file_name);
    temporary_name.push(format!(".tmp-{}", std::process::id()));
    let temporary_path = path.with_file_name(temporary_name);

    let result = write_new_file(&temporary_path, path, &to_file_bytes(tree))
        .and_then(|()| fs::rename(&temporary_path, path));
    if result.is_err() {
        // Best effort: the error that matters is the one returned below.
        let _ = fs::remove_file(&temporary_path);
    }
    result.map_err(write_error)
}

fn write_new_file(temporary_path: &Path, final_path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(temporary_path)?;
    // `mode` only applies when the open creates the file, so set permissions explicitly too.
    match fs::metadata(final_path) {
        Ok(existing) => file.set_permissions(existing.permissions())?,
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FAKE_SETTING;
    use serde_json::json;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
    }

    fn write_json(path: &Path, tree: &Value) {
        fs::write(path, serde_json::to_string_pretty(tree).unwrap()).unwrap();
    }

    #[test]
    fn missing_file_is_written_with_defaults_and_loaded() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("nested/config/config.json");

        let store = ConfigStore::load_with_env(&path, no_env()).unwrap();

        assert_eq!(store.config(), &Config::default());
        assert_eq!(store.source(), &ConfigSource::File(path.clone()));
        let written = read_json(&path);
        assert_eq!(written["ServiceSettings"]["ListenAddress"], ":8065");
        assert_eq!(written["SqlSettings"]["MaxOpenConns"], 300);
        assert_eq!(written["FileSettings"]["AmazonS3SSL"], true);
        assert_eq!(written, config_to_value(&Config::default()));
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\n    \"ServiceSettings\": {\n        \"SiteURL\""),
            "four-space indent like Mattermost: {text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_keys_take_defaults() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(&path, &json!({"SqlSettings": {"MaxOpenConns": 42}}));

        let store = ConfigStore::load_with_env(&path, no_env()).unwrap();

        let mut expected = Config::default();
        expected.sql_settings.max_open_conns = 42;
        assert_eq!(store.config(), &expected);
    }

    #[test]
    fn unknown_keys_and_sections_survive_a_save() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(
            &path,
            &json!({
                "ServiceSettings": {"SiteURL": "https://old.example.com", "EnableOAuthServiceProvider": true},
                "PluginSettings": {"Enable": true, "Plugins": {"com.example": {"x": 1}}},
                "EmailSettings": {"SMTPServer": "mail.example.com"}
            }),
        );
        let mut store = ConfigStore::load_with_env(&path, no_env()).unwrap();

        let mut new = store.config().clone();
        new.service_settings.site_url = "https://new.example.com".to_string();
        store.save(new).unwrap();

        let written = read_json(&path);
        assert_eq!(
            written["ServiceSettings"]["SiteURL"],
            "https://new.example.com"
        );
        assert_eq!(
            written["ServiceSettings"]["EnableOAuthServiceProvider"],
            true
        );
        assert_eq!(
            written["PluginSettings"],
            json!({"Enable": true, "Plugins": {"com.example": {"x": 1}}})
        );
        assert_eq!(written["EmailSettings"]["SMTPServer"], "mail.example.com");
        assert_eq!(written["EmailSettings"]["EnableSignUpWithEmail"], true);
        assert_eq!(
            store.config().service_settings.site_url,
            "https://new.example.com"
        );
    }

    #[test]
    fn env_wins_is_listed_and_is_not_written_by_save() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(
            &path,
            &json!({"SqlSettings": {"DataSource": "postgres://file-host/chorus", "MaxOpenConns": 10}}),
        );
        let environment = env(&[
            ("MM_SQLSETTINGS_DATASOURCE", "postgres://env-host/chorus"),
            ("MM_CONFIG", "/ignored/by/this/crate.json"),
        ]);
        let mut store = ConfigStore::load_with_env(&path, environment).unwrap();

        assert_eq!(
            store.config().sql_settings.data_source,
            "postgres://env-host/chorus"
        );
        assert_eq!(store.env_overridden_keys(), vec!["SqlSettings.DataSource"]);

        // The admin saves the effective config back with another change.
        let mut new = store.config().clone();
        new.sql_settings.max_open_conns = 20;
        store.save(new).unwrap();

        let written = read_json(&path);
        assert_eq!(
            written["SqlSettings"]["DataSource"],
            "postgres://file-host/chorus"
        );
        assert_eq!(written["SqlSettings"]["MaxOpenConns"], 20);
        assert_eq!(
            store.config().sql_settings.data_source,
            "postgres://env-host/chorus"
        );
        assert_eq!(store.config().sql_settings.max_open_conns, 20);
    }

    #[test]
    fn env_overridden_key_absent_from_file_stays_absent() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(&path, &json!({"TeamSettings": {"SiteName": "File"}}));
        let mut store =
            ConfigStore::load_with_env(&path, env(&[("MM_TEAMSETTINGS_SITENAME", "Env")])).unwrap();
        assert_eq!(store.config().team_settings.site_name, "Env");

        let mut new = store.config().clone();
        new.team_settings.max_users_per_team = 99;
        store.save(new).unwrap();

        let written = read_json(&path);
        assert_eq!(written["TeamSettings"]["SiteName"], "File");
        assert_eq!(written["TeamSettings"]["MaxUsersPerTeam"], 99);
        assert!(written["SqlSettings"].get("DataSource").is_some());
    }

    #[test]
    fn list_override_is_split_on_spaces() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        let store = ConfigStore::load_with_env(
            &path,
            env(&[(
                "MM_SQLSETTINGS_DATASOURCEREPLICAS",
                "postgres://a/chorus postgres://b/chorus",
            )]),
        )
        .unwrap();
        assert_eq!(
            store.config().sql_settings.data_source_replicas,
            vec!["postgres://a/chorus", "postgres://b/chorus"]
        );
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        let error =
            ConfigStore::load_with_env(&path, env(&[("MM_SQLSETTINGS_MAXOPENCONNS", "abc")]))
                .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable MM_SQLSETTINGS_MAXOPENCONNS: expected an integer, got \"abc\""
        );
    }

    #[test]
    fn invalid_env_value_names_the_variable_and_the_key() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        let error = ConfigStore::load_with_env(&path, env(&[("MM_SQLSETTINGS_MAXOPENCONNS", "0")]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable MM_SQLSETTINGS_MAXOPENCONNS: SqlSettings.MaxOpenConns: must be at least 1 (got 0)"
        );
    }

    #[test]
    fn invalid_file_names_the_key() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(&path, &json!({"SqlSettings": {"MaxOpenConns": 0}}));
        let error = ConfigStore::load_with_env(&path, no_env()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SqlSettings.MaxOpenConns: must be at least 1 (got 0)"
        );
        assert_eq!(error.key(), Some("SqlSettings.MaxOpenConns"));
    }

    #[test]
    fn wrong_typed_value_names_the_key() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(&path, &json!({"SqlSettings": {"MaxOpenConns": "many"}}));
        let error = ConfigStore::load_with_env(&path, no_env()).unwrap_err();
        assert!(matches!(error, ConfigError::WrongType { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with("SqlSettings.MaxOpenConns: "),
            "{error}"
        );

        write_json(&path, &json!({"SqlSettings": {"DataSourceReplicas": [1]}}));
        let error = ConfigStore::load_with_env(&path, no_env()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("SqlSettings.DataSourceReplicas[0]: "),
            "{error}"
        );

        write_json(&path, &json!({"ClusterSettings": true}));
        let error = ConfigStore::load_with_env(&path, no_env()).unwrap_err();
        assert!(
            error.to_string().starts_with("ClusterSettings: "),
            "{error}"
        );
    }

    #[test]
    fn env_fixes_a_wrong_typed_file_value() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(&path, &json!({"SqlSettings": {"MaxOpenConns": "many"}}));
        let store = ConfigStore::load_with_env(&path, env(&[("MM_SQLSETTINGS_MAXOPENCONNS", "7")]))
            .unwrap();
        assert_eq!(store.config().sql_settings.max_open_conns, 7);
    }

    #[test]
    fn broken_json_is_a_syntax_error_naming_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        fs::write(&path, "{\"SqlSettings\": ").unwrap();
        let error = ConfigStore::load_with_env(&path, no_env()).unwrap_err();
        assert!(matches!(error, ConfigError::Syntax { .. }), "{error:?}");
        assert!(error.to_string().contains("config.json"), "{error}");

        fs::write(&path, "[]").unwrap();
        let error = ConfigStore::load_with_env(&path, no_env()).unwrap_err();
        assert!(matches!(error, ConfigError::Syntax { .. }), "{error:?}");
    }

    #[test]
    fn invalid_save_changes_nothing() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        let mut store = ConfigStore::load_with_env(&path, no_env()).unwrap();
        let before = fs::read_to_string(&path).unwrap();

        let mut new = store.config().clone();
        new.cluster_settings.enable = true;
        let error = store.save(new).unwrap_err();

        assert_eq!(error.key(), Some("ClusterSettings.ClusterName"));
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
        assert_eq!(store.config(), &Config::default());
    }

    #[test]
    fn reload_reads_the_file_again_and_keeps_env() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        let mut store =
            ConfigStore::load_with_env(&path, env(&[("MM_TEAMSETTINGS_SITENAME", "Env")])).unwrap();

        let mut tree = read_json(&path);
        tree["SqlSettings"]["DataSource"] = json!("postgres://promoted-replica/chorus");
        tree["TeamSettings"]["SiteName"] = json!("File");
        write_json(&path, &tree);

        let reloaded = store.reload().unwrap();
        assert_eq!(
            reloaded.sql_settings.data_source,
            "postgres://promoted-replica/chorus"
        );
        assert_eq!(reloaded.team_settings.site_name, "Env");

        // A broken file on reload keeps the config in force.
        fs::write(&path, "not json").unwrap();
        assert!(store.reload().is_err());
        assert_eq!(
            store.config().sql_settings.data_source,
            "postgres://promoted-replica/chorus"
        );
    }

    #[test]
    fn masked_round_trip_through_save_keeps_the_secrets() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("config.json");
        write_json(
            &path,
            &json!({"SqlSettings": {"DataSource": "postgres://u:pw@db/chorus"}}),
        );
        let mut store = ConfigStore::load_with_env(&path, no_env()).unwrap();

        // What PUT /config does with the body the System Console sends back.
        let mut incoming = Config::from_value(store.config().masked()).unwrap();
        assert_eq!(incoming.sql_settings.data_source, FAKE_SETTING);
        incoming.unmask_from(store.config());
        store.save(incoming).unwrap();

        assert_eq!(
            read_json(&path)["SqlSettings"]["DataSource"],
            "postgres://u:pw@db/chorus"
        );
    }
}
