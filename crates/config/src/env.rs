//! `MM_<SECTION>_<KEY>` environment overrides, as Mattermost reads them.
//!
//! The overrides work on the JSON tree rather than on the structs: the defaults, serialised,
//! tell each key's type (bool, integer, string, list), so a key added to `settings` can be
//! overridden with no code here. Section and key are matched case-insensitively; neither
//! contains an underscore, so the first `_` after `MM_` separates them. Variables that name no
//! known key (`MM_CONFIG`, keys of sections we do not model) are skipped silently.

use serde_json::{Map, Number, Value};

use crate::settings::ReplicaLagSettings;
use crate::{Config, ConfigError};

const PREFIX: &str = "MM_";

/// One environment variable that names a known key, with its value already typed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EnvOverride {
    pub variable: String,
    /// Spelled as in config.json, e.g. "SqlSettings".
    pub section: String,
    /// Spelled as in config.json, e.g. "DataSource".
    pub key: String,
    pub value: Value,
}

impl EnvOverride {
    /// "SqlSettings.DataSource"
    pub fn dotted_key(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }

    /// Whether an error about `error_key` (possibly an element such as
    /// `SqlSettings.DataSourceReplicas[1]`) is about this override's key.
    pub fn covers(&self, error_key: &str) -> bool {
        let dotted = self.dotted_key();
        match error_key.strip_prefix(dotted.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('[') || rest.starts_with('.'),
            None => false,
        }
    }
}

/// The environment of this process. Variables whose name or value is not UTF-8 cannot be
/// Mattermost settings, so they are skipped rather than made to fail the start.
pub fn process_env() -> Vec<(String, String)> {
    let mut variables = Vec::new();
    for (name, value) in std::env::vars_os() {
        if let (Ok(name), Ok(value)) = (name.into_string(), value.into_string()) {
            variables.push((name, value));
        }
    }
    variables
}

/// Picks the `MM_*` variables that name known keys and parses their values.
///
/// Variables are taken in name order, so when two spellings of one key are set
/// (`MM_SQLSETTINGS_DATASOURCE` and `MM_SqlSettings_DataSource`) the result is deterministic:
/// the later name wins when the overrides are applied.
pub(crate) fn overrides_from_env(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<EnvOverride>, ConfigError> {
    let schema = type_sample();
    let mut variables: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    variables.sort();

    let mut overrides = Vec::new();
    for (variable, raw_value) in variables {
        let Some((section, key, sample)) = find_key(&schema, &variable) else {
            continue;
        };
        let value = parse_env_value(&variable, &raw_value, sample)?;
        overrides.push(EnvOverride {
            variable,
            section,
            key,
            value,
        });
    }
    Ok(overrides)
}

/// Sets every override in `tree`, creating a section object when the file has none.
pub(crate) fn apply_overrides(tree: &mut Value, overrides: &[EnvOverride]) {
    let Value::Object(sections) = tree else {
        return;
    };
    for env_override in overrides {
        let section = sections
            .entry(env_override.section.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        // A section that is not an object is left as it is: reading the config then reports
        // it by name, which is clearer than silently replacing the file's value.
        if let Value::Object(keys) = section {
            keys.insert(env_override.key.clone(), env_override.value.clone());
        }
    }
}

/// The defaults as JSON, with one element in each list of objects so that the element type is
/// visible: a list whose sample holds an object is read from the environment as a JSON array,
/// any other list as space-separated strings.
fn type_sample() -> Value {
    let mut sample = Config::default();
    sample
        .sql_settings
        .replica_lag_settings
        .push(ReplicaLagSettings::default());
    crate::json::config_to_value(&sample)
}

/// For `MM_SQLSETTINGS_DATASOURCE`, returns ("SqlSettings", "DataSource", the default value).
fn find_key<'a>(schema: &'a Value, variable: &str) -> Option<(String, String, &'a Value)> {
    let rest = variable.strip_prefix(PREFIX)?;
    let (wanted_section, wanted_key) = rest.split_once('_')?;
    let sections = schema.as_object()?;
    for (section_name, section_value) in sections {
        if !section_name.eq_ignore_ascii_case(wanted_section) {
            continue;
        }
        let keys = section_value.as_object()?;
        for (key_name, sample) in keys {
            if key_name.eq_ignore_ascii_case(wanted_key) {
                return Some((section_name.clone(), key_name.clone(), sample));
            }
        }
        return None;
    }
    None
}

/// Reads `raw_value` as the type of `sample`: bools as Go's `strconv.ParseBool` does (which
/// Mattermost uses), integers in base 10, strings verbatim, lists of strings split on
/// whitespace, lists of objects as a JSON array.
pub(crate) fn parse_env_value(
    variable: &str,
    raw_value: &str,
    sample: &Value,
) -> Result<Value, ConfigError> {
    let error = |reason: String| ConfigError::EnvVar {
        variable: variable.to_string(),
        reason,
    };
    match sample {
        Value::Bool(_) => match parse_go_bool(raw_value.trim()) {
            Some(flag) => Ok(Value::Bool(flag)),
            None => Err(error(format!("expected true or false, got {raw_value:?}"))),
        },
        Value::Number(number) if number.is_f64() => {
            let parsed = raw_value.trim().parse::<f64>().ok();
            match parsed.and_then(Number::from_f64) {
                Some(number) => Ok(Value::Number(number)),
                None => Err(error(format!("expected a number, got {raw_value:?}"))),
            }
        }
        Value::Number(_) => match raw_value.trim().parse::<i64>() {
            Ok(integer) => Ok(Value::from(integer)),
            Err(_) => Err(error(format!("expected an integer, got {raw_value:?}"))),
        },
        Value::String(_) => Ok(Value::String(raw_value.to_string())),
        Value::Array(sample_items) => {
            let holds_objects = matches!(sample_items.first(), Some(Value::Object(_)));
            if holds_objects {
                match serde_json::from_str::<Value>(raw_value) {
                    Ok(Value::Array(items)) => Ok(Value::Array(items)),
                    _ => Err(error(format!(
                        "expected a JSON array of objects, got {raw_value:?}"
                    ))),
                }
            } else {
                let items = raw_value
                    .split_whitespace()
                    .map(|item| Value::String(item.to_string()))
                    .collect();
                Ok(Value::Array(items))
            }
        }
        Value::Null | Value::Object(_) => Err(error(
            "this setting cannot be set from the environment".to_string(),
        )),
    }
}

fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn picks_known_keys_and_skips_the_rest() {
        let overrides = overrides_from_env(env(&[
            ("MM_SQLSETTINGS_DATASOURCE", "postgres://db/chorus"),
            ("MM_CONFIG", "/etc/chorus/config.json"),
            ("MM_SQLSETTINGS_NOSUCHKEY", "x"),
            ("MM_NOSUCHSETTINGS_KEY", "x"),
            ("MM_SERVICESETTINGS", "x"),
            ("MM_LOGSETTINGS_ADVANCEDLOGGINGJSON", "{}"),
            ("SQLSETTINGS_DATASOURCE", "not prefixed"),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        assert_eq!(overrides.len(), 1);
        assert_eq!(overrides[0].dotted_key(), "SqlSettings.DataSource");
        assert_eq!(overrides[0].value, Value::from("postgres://db/chorus"));
    }

    #[test]
    fn types_come_from_the_defaults() {
        let overrides = overrides_from_env(env(&[
            ("MM_SQLSETTINGS_MAXOPENCONNS", "42"),
            ("MM_SQLSETTINGS_TRACE", "true"),
            ("MM_CLUSTERSETTINGS_ENABLE", "1"),
            (
                "MM_SQLSETTINGS_DATASOURCEREPLICAS",
                "postgres://a  postgres://b ",
            ),
            (
                "MM_SQLSETTINGS_REPLICALAGSETTINGS",
                r#"[{"DataSource":"postgres://a","QueryTimeLag":"select 1"}]"#,
            ),
        ]))
        .unwrap();
        let by_key = |key: &str| {
            overrides
                .iter()
                .find(|o| o.dotted_key() == key)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(by_key("SqlSettings.MaxOpenConns"), Value::from(42));
        assert_eq!(by_key("SqlSettings.Trace"), Value::Bool(true));
        assert_eq!(by_key("ClusterSettings.Enable"), Value::Bool(true));
        assert_eq!(
            by_key("SqlSettings.DataSourceReplicas"),
            serde_json::json!(["postgres://a", "postgres://b"])
        );
        assert_eq!(
            by_key("SqlSettings.ReplicaLagSettings")[0]["QueryTimeLag"],
            Value::from("select 1")
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let error = overrides_from_env(env(&[("MM_SQLSETTINGS_MAXOPENCONNS", "abc")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "environment variable MM_SQLSETTINGS_MAXOPENCONNS: expected an integer, got \"abc\""
        );

        let error = overrides_from_env(env(&[("MM_RATELIMITSETTINGS_ENABLE", "yes")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("MM_RATELIMITSETTINGS_ENABLE"), "{error}");

        let error = overrides_from_env(env(&[("MM_SQLSETTINGS_REPLICALAGSETTINGS", "a b")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("MM_SQLSETTINGS_REPLICALAGSETTINGS"),
            "{error}"
        );
    }

    #[test]
    fn empty_list_variable_clears_the_list() {
        let overrides =
            overrides_from_env(env(&[("MM_SQLSETTINGS_DATASOURCESEARCHREPLICAS", "")])).unwrap();
        assert_eq!(overrides[0].value, serde_json::json!([]));
    }

    #[test]
    fn later_tree_value_is_replaced_and_missing_section_created() {
        let mut tree = serde_json::json!({"SqlSettings": {"MaxOpenConns": 5, "Custom": 1}});
        let overrides = overrides_from_env(env(&[
            ("MM_SQLSETTINGS_MAXOPENCONNS", "7"),
            ("MM_TEAMSETTINGS_SITENAME", "From env"),
        ]))
        .unwrap();
        apply_overrides(&mut tree, &overrides);
        assert_eq!(
            tree,
            serde_json::json!({
                "SqlSettings": {"MaxOpenConns": 7, "Custom": 1},
                "TeamSettings": {"SiteName": "From env"}
            })
        );
    }

    #[test]
    fn covers_the_key_and_its_elements_only() {
        let env_override = EnvOverride {
            variable: "MM_SQLSETTINGS_DATASOURCE".to_string(),
            section: "SqlSettings".to_string(),
            key: "DataSource".to_string(),
            value: Value::Null,
        };
        assert!(env_override.covers("SqlSettings.DataSource"));
        assert!(env_override.covers("SqlSettings.DataSource[0]"));
        assert!(!env_override.covers("SqlSettings.DataSourceReplicas"));
        assert!(!env_override.covers("SqlSettings"));
    }

    /// Flips the case of each letter of `text` where `mask` has a set bit.
    fn recase(text: &str, mask: u64) -> String {
        text.chars()
            .enumerate()
            .map(|(index, c)| {
                if mask >> (index % 64) & 1 == 1 {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn any_integer_round_trips(number in any::<i64>()) {
            let overrides = overrides_from_env(
                vec![("MM_SQLSETTINGS_MAXOPENCONNS".to_string(), number.to_string())],
            ).unwrap();
            prop_assert_eq!(&overrides[0].value, &Value::from(number));
        }

        #[test]
        fn non_integers_are_rejected_by_name(text in "[^0-9+-]?[a-zA-Z .,_]{1,12}") {
            let result = overrides_from_env(
                vec![("MM_SQLSETTINGS_MAXOPENCONNS".to_string(), text.clone())],
            );
            let message = result.unwrap_err().to_string();
            prop_assert!(message.contains("MM_SQLSETTINGS_MAXOPENCONNS"), "{}", message);
        }

        #[test]
        fn strings_are_kept_verbatim(text in any::<String>()) {
            let overrides = overrides_from_env(
                vec![("MM_SERVICESETTINGS_SITEURL".to_string(), text.clone())],
            ).unwrap();
            prop_assert_eq!(&overrides[0].value, &Value::String(text));
        }

        #[test]
        fn lists_split_on_whitespace(items in proptest::collection::vec("[a-z0-9:/@.]{1,20}", 0..6),
                                     separator in "[ \t]{1,3}") {
            let joined = items.join(&separator);
            let overrides = overrides_from_env(
                vec![("MM_SQLSETTINGS_DATASOURCEREPLICAS".to_string(), joined)],
            ).unwrap();
            let expected: Vec<Value> = items.iter().map(|item| Value::from(item.as_str())).collect();
            prop_assert_eq!(&overrides[0].value, &Value::Array(expected));
        }

        #[test]
        fn section_and_key_match_in_any_case(section_mask in any::<u64>(), key_mask in any::<u64>()) {
            let variable = format!(
                "MM_{}_{}",
                recase("SqlSettings", section_mask),
                recase("MaxIdleConns", key_mask)
            );
            let overrides = overrides_from_env(vec![(variable, "3".to_string())]).unwrap();
            prop_assert_eq!(overrides.len(), 1);
            prop_assert_eq!(overrides[0].dotted_key(), "SqlSettings.MaxIdleConns");
        }
    }
}
