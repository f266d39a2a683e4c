//! What the commands print: tables for people, JSON for scripts, colour only on a
//! terminal (and never with `NO_COLOR` set), progress on standard error.

use serde_json::Value;
use std::io::{IsTerminal as _, Write as _};

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// JSON instead of tables.
    pub json: bool,
    /// ANSI colours.
    pub color: bool,
    /// Progress lines on standard error (a terminal there).
    pub progress: bool,
}

impl Out {
    /// From `--json` and the terminal.
    pub fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self { json, color: !no_color && std::io::stdout().is_terminal(), progress: std::io::stderr().is_terminal() }
    }

    /// Print one line to standard output.
    pub fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) ends the output, not the program with a panic.
        let _ = writeln!(out, "{text}");
    }

    /// Print a value as pretty JSON.
    pub fn value(&self, v: &Value) {
        self.line(&serde_json::to_string_pretty(v).unwrap_or_default());
    }

    /// Print a value compactly, one line (for streams: `tail --json`, `listen --json`).
    pub fn compact(&self, v: &Value) {
        self.line(&v.to_string());
    }

    /// `text` in the colour a status deserves.
    pub fn status(&self, text: &str) -> String {
        let code = match text {
            "delivered" | "active" | "pending" | "completed" | "ok" => "32",
            "failed" | "exhausted" | "disabled" => "31",
            "retrying" | "held" | "paused" => "33",
            t if t.starts_with('2') && t.len() == 3 => "32",
            t if (t.starts_with('4') || t.starts_with('5')) && t.len() == 3 => "31",
            _ => return text.to_owned(),
        };
        self.paint(code, text)
    }

    /// `text` dimmed (ids, times).
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A progress note on standard error, rewritten in place; nothing off a terminal.
    pub fn progress(&self, text: &str) {
        if self.progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{text}\x1b[K");
            let _ = err.flush();
        }
    }

    /// Clear the progress line once the work is done.
    pub fn progress_done(&self) {
        if self.progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }

    /// A table of `rows` under `headers`, columns as wide as their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            self.line(&self.dim("(none)"));
            return;
        }
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(visible_len(cell));
            }
        }
        let render = |cells: Vec<String>| {
            let mut line = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i + 1 < cells.len() {
                    line.push_str(&" ".repeat(w - visible_len(cell) + 2));
                }
            }
            line
        };
        self.line(&self.paint("1", &render(headers.iter().map(|h| h.to_string()).collect())));
        for row in rows {
            self.line(&render(row.clone()));
        }
    }
}

/// The length of `s` as shown (ANSI colour codes take no room).
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// A field of `v` at a JSON pointer, as table text (`-` when absent).
pub fn cell(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join(",")
        }
        Some(other) => other.to_string(),
    }
}
