//! `--format table|json|yaml|csv` and `--no-color` for `rustmq-admin`: a command hands over
//! the API's data (printed as is for json and yaml) and the tables it would show (tables and
//! csv).

use std::io::Write;

use clap::ValueEnum;
use comfy_table::{Cell, Color, Table};
use serde_json::Value;

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables for people.
    Table,
    /// The API's JSON, pretty-printed.
    Json,
    /// The API's data as YAML.
    Yaml,
    /// The tables as CSV with a header row; several tables are separated by a blank line.
    Csv,
}

/// How a cell reads at a glance; colored in tables unless colors are off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
}

/// One table: an optional title line, a header, rows of `(text, tone)`.
#[derive(Debug, Default)]
pub struct Tab {
    pub title: Option<String>,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<(String, Tone)>>,
}

impl Tab {
    pub fn new(header: &[&'static str]) -> Self {
        Self {
            title: None,
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn titled(mut self, title: String) -> Self {
        self.title = Some(title);
        self
    }

    /// A row of plain cells.
    pub fn row<I: IntoIterator<Item = String>>(&mut self, cells: I) {
        self.rows
            .push(cells.into_iter().map(|c| (c, Tone::Plain)).collect());
    }

    /// A row with tones.
    pub fn toned_row(&mut self, cells: Vec<(String, Tone)>) {
        self.rows.push(cells);
    }
}

/// Where and how to print.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub format: Format,
    pub color: bool,
}

impl Out {
    /// Colors only when asked for, on a terminal, and without `NO_COLOR` (no-color.org).
    pub fn new(format: Format, no_color: bool) -> Self {
        use std::io::IsTerminal;
        let color =
            !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        Self { format, color }
    }

    /// Prints `data` (json, yaml) or `tabs` (table, csv).
    pub fn print<T: serde::Serialize + ?Sized>(
        &self,
        data: &T,
        tabs: &[Tab],
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self.format {
            Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(data)?)?,
            Format::Yaml => write!(out, "{}", serde_norway::to_string(data)?)?,
            Format::Csv => {
                for (i, tab) in tabs.iter().enumerate() {
                    if i > 0 {
                        writeln!(out)?;
                    }
                    let mut w = csv::Writer::from_writer(&mut out);
                    w.write_record(&tab.header)?;
                    for r in &tab.rows {
                        w.write_record(r.iter().map(|(c, _)| c.as_str()))?;
                    }
                    w.flush()?;
                }
            }
            Format::Table => {
                for tab in tabs {
                    if let Some(t) = &tab.title {
                        writeln!(out, "{t}")?;
                    }
                    let mut t = Table::new();
                    t.set_header(tab.header.clone());
                    for r in &tab.rows {
                        t.add_row(r.iter().map(|(c, tone)| self.cell(c, *tone)));
                    }
                    if self.color {
                        t.enforce_styling();
                    }
                    writeln!(out, "{t}")?;
                }
            }
        }
        Ok(())
    }

    fn cell(&self, text: &str, tone: Tone) -> Cell {
        let c = Cell::new(text);
        match (self.color, tone) {
            (true, Tone::Good) => c.fg(Color::Green),
            (true, Tone::Bad) => c.fg(Color::Red),
            _ => c,
        }
    }
}

/// A JSON value as a cell: strings without quotes, null as `-`.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
