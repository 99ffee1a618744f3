//! The table's columns as the subscriber checks rows against them: what BigQuery would
//! refuse is found before a request is sent (an emulator may accept it, and one bad row
//! would otherwise stop its whole request), and refused rows go to the dead-letter action
//! with the reason.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The columns every row gets from its record: where it came from and when.
pub const TOPIC_COLUMN: &str = "_topic";
/// See [`TOPIC_COLUMN`].
pub const PARTITION_COLUMN: &str = "_partition";
/// See [`TOPIC_COLUMN`].
pub const OFFSET_COLUMN: &str = "_offset";
/// See [`TOPIC_COLUMN`].
pub const TIMESTAMP_COLUMN: &str = "_timestamp";

/// One column, as BigQuery's REST API and the `[schema] fields` setting write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Column name.
    pub name: String,
    /// `STRING`, `INTEGER`, `FLOAT`, `NUMERIC`, `BOOLEAN`, `TIMESTAMP`, `DATE`, `TIME`,
    /// `DATETIME`, `BYTES`, `JSON`, `GEOGRAPHY`, `RECORD` (and their standard-SQL aliases).
    #[serde(rename = "type")]
    pub kind: String,
    /// `NULLABLE` (default), `REQUIRED` or `REPEATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// A RECORD's columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSpec>,
}

impl FieldSpec {
    /// A column of `kind` in `mode`.
    pub fn new(name: &str, kind: &str, mode: &str) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            mode: Some(mode.into()),
            fields: vec![],
        }
    }

    fn mode(&self) -> &str {
        self.mode.as_deref().unwrap_or("NULLABLE")
    }
}

/// The metadata columns the subscriber writes, as they are created.
pub fn metadata_columns() -> Vec<FieldSpec> {
    vec![
        FieldSpec::new(TOPIC_COLUMN, "STRING", "REQUIRED"),
        FieldSpec::new(PARTITION_COLUMN, "INTEGER", "REQUIRED"),
        FieldSpec::new(OFFSET_COLUMN, "INTEGER", "REQUIRED"),
        FieldSpec::new(TIMESTAMP_COLUMN, "TIMESTAMP", "NULLABLE"),
    ]
}

/// Why a table cannot take the subscriber's rows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("table schema mismatch: {0}")]
pub struct SchemaMismatch(pub String);

/// Checks that `fields` has the metadata columns with usable types.
///
/// ```
/// use rustmq_bigquery_subscriber::schema::{check_metadata_columns, metadata_columns};
/// assert!(check_metadata_columns(&metadata_columns()).is_ok());
/// assert!(check_metadata_columns(&[]).unwrap_err().to_string().contains("_topic"));
/// ```
pub fn check_metadata_columns(fields: &[FieldSpec]) -> Result<(), SchemaMismatch> {
    for want in metadata_columns() {
        let Some(have) = fields.iter().find(|f| f.name == want.name) else {
            return Err(SchemaMismatch(format!(
                "the table has no column {} ({}): the subscriber records each row's topic, \
                 partition and offset there to resume without duplicates",
                want.name, want.kind
            )));
        };
        let kind = canonical(&have.kind);
        let ok = match want.name.as_str() {
            TIMESTAMP_COLUMN => matches!(kind, "TIMESTAMP" | "INTEGER" | "DATETIME"),
            _ => kind == canonical(&want.kind),
        };
        if !ok || have.mode() == "REPEATED" {
            return Err(SchemaMismatch(format!(
                "column {} is {} {}, expected {}",
                have.name,
                have.mode(),
                have.kind,
                want.kind
            )));
        }
    }
    Ok(())
}

fn canonical(kind: &str) -> &str {
    match kind {
        "INT64" => "INTEGER",
        "FLOAT64" => "FLOAT",
        "BOOL" => "BOOLEAN",
        "STRUCT" => "RECORD",
        "BIGNUMERIC" => "NUMERIC",
        k => k,
    }
}

/// Checks `row` against `fields` and returns it as BigQuery will take it (fields the table
/// does not have removed when `ignore_unknown` is set), or why BigQuery would refuse it.
///
/// ```
/// use rustmq_bigquery_subscriber::schema::{FieldSpec, check_row};
/// let fields = [FieldSpec::new("n", "INTEGER", "REQUIRED")];
/// let row = serde_json::json!({"n": 5}).as_object().unwrap().clone();
/// assert!(check_row(&fields, row, false).is_ok());
/// let row = serde_json::json!({"n": "five"}).as_object().unwrap().clone();
/// assert_eq!(check_row(&fields, row, false).unwrap_err(), "n: \"five\" is not an INTEGER");
/// ```
pub fn check_row(
    fields: &[FieldSpec],
    mut row: Map<String, Value>,
    ignore_unknown: bool,
) -> Result<Map<String, Value>, String> {
    check_object(fields, &mut row, ignore_unknown, "")?;
    Ok(row)
}

fn check_object(
    fields: &[FieldSpec],
    row: &mut Map<String, Value>,
    ignore_unknown: bool,
    path: &str,
) -> Result<(), String> {
    let unknown: Vec<String> = row
        .keys()
        .filter(|k| !fields.iter().any(|f| f.name.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        if !ignore_unknown {
            return Err(format!(
                "{path}{}: no such column (set ignore_unknown_values to drop unknown fields)",
                unknown[0]
            ));
        }
        for k in unknown {
            row.remove(&k);
        }
    }
    for f in fields {
        let here = format!("{path}{}", f.name);
        let key = row
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&f.name))
            .cloned();
        let value = key.as_ref().and_then(|k| row.get_mut(k));
        match (f.mode(), value) {
            ("REQUIRED", None | Some(Value::Null)) => {
                return Err(format!("{here}: required and missing"));
            }
            (_, None | Some(Value::Null)) => {}
            ("REPEATED", Some(Value::Array(items))) => {
                for (i, v) in items.iter_mut().enumerate() {
                    if v.is_null() {
                        return Err(format!("{here}[{i}]: null in a REPEATED column"));
                    }
                    check_value(f, v, ignore_unknown, &format!("{here}[{i}]"))?;
                }
            }
            ("REPEATED", Some(v)) => return Err(format!("{here}: {v} is not an array")),
            (_, Some(v)) => check_value(f, v, ignore_unknown, &here)?,
        }
    }
    Ok(())
}

fn check_value(
    f: &FieldSpec,
    v: &mut Value,
    ignore_unknown: bool,
    here: &str,
) -> Result<(), String> {
    let kind = canonical(&f.kind);
    let not = || {
        Err(format!(
            "{here}: {v} is not a{} {kind}",
            if kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
                "n"
            } else {
                ""
            }
        ))
    };
    let ok = match (kind, &*v) {
        ("RECORD", Value::Object(_)) => {
            let Value::Object(o) = v else { unreachable!() };
            return check_object(&f.fields, o, ignore_unknown, &format!("{here}."));
        }
        ("RECORD", _) => false,
        ("JSON", _) => true,
        ("STRING" | "GEOGRAPHY", Value::String(_)) => true,
        ("STRING", _) => false,
        ("INTEGER", Value::Number(n)) => {
            n.is_i64() || n.is_u64() && n.as_u64() <= Some(i64::MAX as u64)
        }
        ("INTEGER", Value::String(s)) => s.trim().parse::<i64>().is_ok(),
        ("FLOAT" | "NUMERIC", Value::Number(_)) => true,
        ("FLOAT" | "NUMERIC", Value::String(s)) => s.trim().parse::<f64>().is_ok(),
        ("BOOLEAN", Value::Bool(_)) => true,
        ("BOOLEAN", Value::String(s)) => matches!(s.to_lowercase().as_str(), "true" | "false"),
        ("TIMESTAMP", Value::Number(_)) => true,
        ("TIMESTAMP", Value::String(s)) => {
            s.parse::<jiff::Timestamp>().is_ok() || s.parse::<jiff::civil::DateTime>().is_ok()
        }
        ("DATETIME", Value::String(s)) => s.parse::<jiff::civil::DateTime>().is_ok(),
        ("DATE", Value::String(s)) => s.parse::<jiff::civil::Date>().is_ok(),
        ("TIME", Value::String(s)) => s.parse::<jiff::civil::Time>().is_ok(),
        ("BYTES", Value::String(_)) => true,
        _ => false,
    };
    if ok { Ok(()) } else { not() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Vec<FieldSpec> {
        let mut user = FieldSpec::new("user", "RECORD", "NULLABLE");
        user.fields = vec![
            FieldSpec::new("id", "INT64", "REQUIRED"),
            FieldSpec::new("email", "STRING", "NULLABLE"),
        ];
        vec![
            FieldSpec::new("name", "STRING", "REQUIRED"),
            FieldSpec::new("score", "FLOAT", "NULLABLE"),
            FieldSpec::new("ok", "BOOLEAN", "NULLABLE"),
            FieldSpec::new("at", "TIMESTAMP", "NULLABLE"),
            FieldSpec::new("day", "DATE", "NULLABLE"),
            FieldSpec::new("tags", "STRING", "REPEATED"),
            FieldSpec::new("extra", "JSON", "NULLABLE"),
            user,
        ]
    }

    fn check(v: Value, ignore: bool) -> Result<Value, String> {
        check_row(&fields(), v.as_object().unwrap().clone(), ignore).map(Value::Object)
    }

    #[test]
    fn rows_are_checked_as_bigquery_checks_them() {
        let good = json!({"name": "a", "score": 1.5, "ok": true, "at": "2026-12-04T10:00:00Z",
            "day": "2026-12-04", "tags": ["x", "y"], "extra": {"any": [1]},
            "user": {"id": "42", "email": null}});
        assert_eq!(check(good.clone(), false), Ok(good));
        let cases = [
            (json!({}), "name: required and missing"),
            (json!({"name": null}), "name: required and missing"),
            (json!({"name": 5}), "name: 5 is not a STRING"),
            (
                json!({"name": "a", "score": "high"}),
                "score: \"high\" is not a FLOAT",
            ),
            (
                json!({"name": "a", "ok": "yes"}),
                "ok: \"yes\" is not a BOOLEAN",
            ),
            (
                json!({"name": "a", "at": "noon"}),
                "at: \"noon\" is not a TIMESTAMP",
            ),
            (
                json!({"name": "a", "day": "12/04"}),
                "day: \"12/04\" is not a DATE",
            ),
            (
                json!({"name": "a", "tags": "x"}),
                "tags: \"x\" is not an array",
            ),
            (
                json!({"name": "a", "tags": ["x", null]}),
                "tags[1]: null in a REPEATED column",
            ),
            (
                json!({"name": "a", "tags": [1]}),
                "tags[0]: 1 is not a STRING",
            ),
            (
                json!({"name": "a", "user": {}}),
                "user.id: required and missing",
            ),
            (
                json!({"name": "a", "user": {"id": 1.5}}),
                "user.id: 1.5 is not an INTEGER",
            ),
            (json!({"name": "a", "user": 3}), "user: 3 is not a RECORD"),
        ];
        for (row, why) in cases {
            assert_eq!(check(row.clone(), false), Err(why.to_string()), "{row}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_or_dropped_at_any_depth() {
        let row = json!({"name": "a", "colour": "red", "user": {"id": 1, "age": 3}});
        assert!(
            check(row.clone(), false)
                .unwrap_err()
                .starts_with("colour: no such column")
        );
        assert_eq!(
            check(row, true),
            Ok(json!({"name": "a", "user": {"id": 1}}))
        );
    }

    #[test]
    fn tables_without_the_metadata_columns_are_a_clear_mismatch() {
        let mut f = metadata_columns();
        f[2].kind = "STRING".into();
        assert_eq!(
            check_metadata_columns(&f).unwrap_err().to_string(),
            "table schema mismatch: column _offset is REQUIRED STRING, expected INTEGER"
        );
        let e = check_metadata_columns(&f[..1]).unwrap_err().to_string();
        assert!(e.contains("no column _partition"), "{e}");
    }
}
