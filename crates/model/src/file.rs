//! File attachments: `FileInfo` (Mattermost's JSON shape) and the answer of POST /files.

use serde::{Deserialize, Serialize};

/// Metadata of an uploaded file. The object-store paths are the server's business and never
/// leave it (Mattermost tags them `json:"-"`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct FileInfo {
    pub id: String,
    /// The uploader (Mattermost's `CreatorId`, sent as `user_id`).
    #[serde(rename = "user_id")]
    pub creator_id: String,
    pub channel_id: String,
    /// Empty until a post attaches the file.
    pub post_id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    /// The name the client gave, as shown to people.
    pub name: String,
    /// Lower-case, without the dot.
    pub extension: String,
    pub size: i64,
    pub mime_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub width: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub height: i32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_preview_image: bool,
    /// A 16×16 JPEG shown while the preview loads; base64 in JSON, `null` when absent.
    #[serde(with = "optional_base64")]
    pub mini_preview: Option<Vec<u8>>,
    pub remote_id: Option<String>,
    pub archived: bool,
    #[serde(skip)]
    pub path: String,
    #[serde(skip)]
    pub thumbnail_path: String,
    #[serde(skip)]
    pub preview_path: String,
}

impl FileInfo {
    pub fn is_image(&self) -> bool {
        self.mime_type.starts_with("image/")
    }
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// Answer of POST /api/v4/files: the stored files, and the client ids in the same order.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct FileUploadResponse {
    pub file_infos: Vec<FileInfo>,
    pub client_ids: Vec<String>,
}

/// Go encodes `*[]byte` as base64 text or `null`.
mod optional_base64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        match text {
            Some(text) => STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Answer of POST /teams/{id}/files/search (Mattermost's `FileInfoList`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct FileInfoList {
    pub order: Vec<String>,
    pub file_infos: std::collections::BTreeMap<String, FileInfo>,
    pub next_file_info_id: String,
    pub prev_file_info_id: String,
}
