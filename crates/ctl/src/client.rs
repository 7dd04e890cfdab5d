//! A thin REST API v4 client: JSON in, JSON out, the server's error JSON turned into
//! [`ServerError`] so a failure prints the server's own message and id.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::fmt;

/// Mattermost's error body: `{"id","message","detailed_error","status_code"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub id: String,
    pub message: String,
    pub detailed_error: String,
    pub status_code: u16,
}

impl fmt::Display for ServerError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.message)?;
        if !self.detailed_error.is_empty() {
            write!(formatter, " ({})", self.detailed_error)?;
        }
        if self.id.is_empty() {
            write!(formatter, " [status {}]", self.status_code)
        } else {
            write!(formatter, " [{}, status {}]", self.id, self.status_code)
        }
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// A non-2xx answer: the server's error JSON, or (from a proxy, say) whatever came back.
    pub fn from_response(status: StatusCode, body: &str) -> ServerError {
        if let Ok(Value::Object(error)) = serde_json::from_str::<Value>(body) {
            let text = |key: &str| {
                error
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            if error.contains_key("id") || error.contains_key("message") {
                return ServerError {
                    id: text("id"),
                    message: text("message"),
                    detailed_error: text("detailed_error"),
                    status_code: status.as_u16(),
                };
            }
        }
        let excerpt: String = body.trim().chars().take(200).collect();
        ServerError {
            id: String::new(),
            message: if excerpt.is_empty() {
                format!("the server answered {status}")
            } else {
                format!("the server answered {status}: {excerpt}")
            },
            detailed_error: String::new(),
            status_code: status.as_u16(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status_code == 404
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The server's URL without a trailing slash, e.g. `http://127.0.0.1:8065`.
    base_url: String,
    token: Option<String>,
}

pub struct Response {
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Client {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("chorusctl/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Client {
            http,
            base_url: normalize_url(base_url),
            token,
        })
    }

    /// Any answer, error or not: for the few calls whose error status still carries data
    /// (GET /system/ping answers 503 with the health report).
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        let url = format!("{}/api/v4{}", self.base_url, path);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base_url))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .with_context(|| format!("{method} {path}: the answer was cut short"))?;
        if !status.is_success() {
            return Err(ServerError::from_response(status, &text).into());
        }
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {path}: the answer is not JSON"))?
        };
        Ok(Response { headers, body })
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        Ok(self.send(Method::GET, path, None).await?.body)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        Ok(self.send(Method::POST, path, Some(body)).await?.body)
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        Ok(self.send(Method::PUT, path, Some(body)).await?.body)
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        Ok(self.send(Method::DELETE, path, None).await?.body)
    }

    /// GET that answers None on a 404, for lookups that try several ways to name a thing.
    pub async fn get_if_found(&self, path: &str) -> Result<Option<Value>> {
        match self.get(path).await {
            Ok(value) => Ok(Some(value)),
            Err(error) => match error.downcast_ref::<ServerError>() {
                Some(server_error) if server_error.is_not_found() => Ok(None),
                _ => Err(error),
            },
        }
    }

    /// POST /users/login: the session token comes back in the Token header.
    pub async fn login(
        &self,
        login_id: &str,
        password: &str,
        mfa_token: Option<&str>,
    ) -> Result<(String, Value)> {
        let mut body = serde_json::json!({"login_id": login_id, "password": password});
        if let Some(mfa_token) = mfa_token {
            body["token"] = mfa_token.into();
        }
        let response = self.send(Method::POST, "/users/login", Some(&body)).await?;
        let token = response
            .headers
            .get("token")
            .and_then(|value| value.to_str().ok())
            .context("the server logged in but sent no Token header")?
            .to_string();
        Ok((token, response.body))
    }
}

/// `chat.example.com/` and `http://chat.example.com` name the same server; the URL a user
/// types may lack a scheme (mmctl assumes https) and may carry a trailing slash or /api/v4.
pub fn normalize_url(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api/v4").unwrap_or(trimmed);
    if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    }
}

/// Percent-encodes one path segment (usernames and emails may hold `+`, names may hold `.`).
pub fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        assert_eq!(
            normalize_url("http://127.0.0.1:8065/"),
            "http://127.0.0.1:8065"
        );
        assert_eq!(
            normalize_url("chat.example.com"),
            "https://chat.example.com"
        );
        assert_eq!(
            normalize_url("https://chat.example.com/api/v4/"),
            "https://chat.example.com"
        );
    }

    #[test]
    fn a_server_error_shows_message_and_id() {
        let error = ServerError::from_response(
            StatusCode::FORBIDDEN,
            r#"{"id":"ent.cluster.save_config.error","message":"System Console is set to read-only","detailed_error":"","status_code":403}"#,
        );
        assert_eq!(error.id, "ent.cluster.save_config.error");
        assert_eq!(
            error.to_string(),
            "System Console is set to read-only [ent.cluster.save_config.error, status 403]"
        );
        let proxy = ServerError::from_response(StatusCode::BAD_GATEWAY, "<html>bad gateway</html>");
        assert_eq!(proxy.id, "");
        assert!(proxy.to_string().contains("502 Bad Gateway"), "{proxy}");
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("a+b@example.com"), "a%2Bb@example.com");
        assert_eq!(segment("town-square"), "town-square");
        assert_eq!(segment("a/b"), "a%2Fb");
    }
}
