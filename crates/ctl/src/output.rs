//! Text output: aligned tables and `--json`.

use serde_json::Value;
use std::io::IsTerminal;

/// A plain table: a header row and left-aligned columns two spaces apart. Cells may carry
/// ANSI colour; widths count only what shows.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|header| header.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len(), "one cell per column");
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .headers
            .iter()
            .map(|header| visible_width(header))
            .collect();
        for row in &self.rows {
            for (column, cell) in row.iter().enumerate() {
                widths[column] = widths[column].max(visible_width(cell));
            }
        }
        let mut text = String::new();
        for line in std::iter::once(&self.headers).chain(self.rows.iter()) {
            let mut rendered = String::new();
            for (column, cell) in line.iter().enumerate() {
                rendered.push_str(cell);
                if column + 1 < line.len() {
                    let padding = widths[column] - visible_width(cell) + 2;
                    rendered.push_str(&" ".repeat(padding));
                }
            }
            text.push_str(rendered.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Characters that show: ANSI escape sequences (`ESC [ ... m`) take no room.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for character in text.chars() {
        if in_escape {
            if character == 'm' {
                in_escape = false;
            }
        } else if character == '\u{1b}' {
            in_escape = true;
        } else {
            width += 1;
        }
    }
    width
}

/// `green`/`red`, coloured when stdout is a terminal (scripts and tests see the bare word).
pub fn health(green: bool) -> String {
    let word = if green { "green" } else { "red" };
    if !std::io::stdout().is_terminal() {
        return word.to_string();
    }
    let colour = if green { "32" } else { "31" };
    format!("\u{1b}[{colour}m{word}\u{1b}[0m")
}

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// What an action on several things prints: with `--json` the server's answers as one array,
/// else a line per thing as it is done.
pub struct Report {
    json: bool,
    answers: Vec<Value>,
}

impl Report {
    pub fn new(json: bool) -> Report {
        Report {
            json,
            answers: Vec::new(),
        }
    }

    pub fn done(&mut self, answer: Value, message: impl std::fmt::Display) {
        if self.json {
            self.answers.push(answer);
        } else {
            println!("{message}");
        }
    }

    pub fn finish(self) {
        if self.json {
            print_json(&Value::Array(self.answers));
        }
    }
}

/// What an action on one thing prints: the server's answer with `--json`, else a line.
pub fn done(json: bool, answer: &Value, message: impl std::fmt::Display) {
    if json {
        print_json(answer);
    } else {
        println!("{message}");
    }
}

/// A JSON string without quotes, anything else as JSON.
pub fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn text(value: &Value, key: &str) -> String {
    plain(value.get(key).unwrap_or(&Value::Null))
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC; empty for 0 (never).
pub fn utc_time(millis: i64) -> String {
    if millis <= 0 {
        return String::new();
    }
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
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
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_aligns_its_columns() {
        let mut table = Table::new(&["NODE", "ALIVE", "HEALTH"]);
        table.row(vec!["a".into(), "yes".into(), "green".into()]);
        table.row(vec![
            "node-two".into(),
            "no".into(),
            "\u{1b}[31mred\u{1b}[0m".into(),
        ]);
        assert_eq!(
            table.render(),
            "NODE      ALIVE  HEALTH\n\
             a         yes    green\n\
             node-two  no     \u{1b}[31mred\u{1b}[0m\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        assert_eq!(Table::new(&["ID", "NAME"]).render(), "ID  NAME\n");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc_time(0), "");
        assert_eq!(utc_time(1), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_796_407_366_937), "2026-12-04 18:02:46");
    }

    #[test]
    fn plain_values_lose_their_quotes() {
        assert_eq!(plain(&Value::from("x")), "x");
        assert_eq!(plain(&Value::from(3)), "3");
        assert_eq!(plain(&serde_json::json!(["a", "b"])), r#"["a","b"]"#);
    }
}
