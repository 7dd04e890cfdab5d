//! Turning JSON trees into a `Config` and back: errors that name the key, the canonical form
//! the hash is taken over, and the indented form written to disk.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Config, ConfigError};

/// Reads a `Config` out of a JSON tree. Missing keys take their defaults; a value of the wrong
/// type is reported with the path of the key, e.g. `SqlSettings.MaxOpenConns`.
pub(crate) fn config_from_value(tree: Value) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(tree).map_err(|error| {
        let path = error.path().to_string();
        // serde_path_to_error prints "." for the root.
        let key = if path == "." {
            "(top level)".to_string()
        } else {
            path
        };
        ConfigError::WrongType {
            key,
            message: error.inner().to_string(),
        }
    })
}

pub(crate) fn config_to_value(config: &Config) -> Value {
    // Serialising plain structs of strings, numbers and vectors cannot fail.
    serde_json::to_value(config).expect("Config always serialises to JSON")
}

/// The JSON text of `tree` with every object's keys sorted, so the same settings give the same
/// bytes whatever order the fields were declared or read in.
pub(crate) fn canonical_json(tree: &Value) -> String {
    serde_json::to_string(&sorted(tree)).expect("a JSON tree always serialises")
}

fn sorted(tree: &Value) -> Value {
    match tree {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            // The workspace enables serde_json's preserve_order, so insertion order is kept.
            let mut sorted_map = Map::new();
            for key in keys {
                sorted_map.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(sorted_map)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

pub(crate) fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The bytes written to config.json: indented with four spaces like Mattermost's
/// `json.MarshalIndent(cfg, "", "    ")`, with a final newline.
pub(crate) fn to_file_bytes(tree: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    tree.serialize(&mut serializer)
        .expect("writing JSON into memory cannot fail");
    bytes.push(b'\n');
    bytes
}
