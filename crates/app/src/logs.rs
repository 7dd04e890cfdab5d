//! This process's recent log lines, for GET /api/v4/logs (the System Console's Server Logs):
//! a `tracing` layer keeps the last [`RECENT_LOG_LINES`] events as JSON lines in the shape
//! Mattermost's JSON logs have (`timestamp`, `level`, `msg`, `caller`, then the fields).
//!
//! One ring per process, filled only where the binary installs [`recent_logs_layer`] next to
//! its own output (`chorus` does): several in-process test nodes share it, and a library user
//! that installs nothing gets an empty list.

use parking_lot::Mutex;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::LazyLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines kept; at a few hundred bytes each, about a megabyte.
pub const RECENT_LOG_LINES: usize = 5000;

static RECENT_LOGS: LazyLock<Mutex<VecDeque<String>>> =
    LazyLock::new(|| Mutex::new(VecDeque::with_capacity(RECENT_LOG_LINES)));

/// The layer that records events into the ring; add it beside the subscriber's output.
pub fn recent_logs_layer() -> RecentLogsLayer {
    RecentLogsLayer
}

pub struct RecentLogsLayer;

impl<S: Subscriber> Layer<S> for RecentLogsLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut fields = FieldsVisitor::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            format_timestamp(chorus_model::now_millis()).into(),
        );
        line.insert(
            "level".into(),
            metadata.level().as_str().to_lowercase().into(),
        );
        line.insert(
            "msg".into(),
            fields.message.take().unwrap_or_default().into(),
        );
        line.insert("caller".into(), metadata.target().into());
        for (key, value) in fields.values {
            line.entry(key).or_insert(value);
        }
        record(Value::Object(line).to_string());
    }
}

fn record(line: String) {
    let mut lines = RECENT_LOGS.lock();
    if lines.len() == RECENT_LOG_LINES {
        lines.pop_front();
    }
    lines.push_back(line);
}

/// Page `page` of `per_page` lines, oldest first (Mattermost's order).
pub(crate) fn recent_lines(page: usize, per_page: usize) -> Vec<String> {
    let lines = RECENT_LOGS.lock();
    lines
        .iter()
        .skip(page.saturating_mul(per_page))
        .take(per_page)
        .cloned()
        .collect()
}

#[derive(Default)]
struct FieldsVisitor {
    message: Option<String>,
    values: Vec<(String, Value)>,
}

impl Visit for FieldsVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_value(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_value(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_value(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_value(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_value(field, value.into());
    }
}

impl FieldsVisitor {
    fn record_value(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
            return;
        }
        self.values.push((field.name().to_string(), value));
    }
}

/// `2026-12-04 14:40:00.123 Z`, as Mattermost's log timestamps read, in UTC.
pub(crate) fn format_timestamp(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let seconds_of_day = seconds.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} Z",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60,
        millis.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000 Z");
        assert_eq!(
            format_timestamp(1_796_395_334_567),
            "2026-12-04 14:42:14.567 Z"
        );
        assert_eq!(
            format_timestamp(951_782_400_000),
            "2000-02-29 00:00:00.000 Z"
        );
    }
}
