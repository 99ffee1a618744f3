//! Records to rows, by the three mappings of `[schema] mapping`. Every row also gets the
//! record's topic, partition, offset and timestamp (`schema::TOPIC_COLUMN`...): they are how
//! the subscriber finds what a table already holds.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::{MappingKind, SchemaSection};
use crate::schema::{OFFSET_COLUMN, PARTITION_COLUMN, TIMESTAMP_COLUMN, TOPIC_COLUMN};

/// The default value the subscriber computes: the time it mapped the record.
pub const CURRENT_TIMESTAMP: &str = "CURRENT_TIMESTAMP()";

/// Where a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: u32,
    pub offset: i64,
    /// Record timestamp, ms since the epoch.
    pub timestamp_ms: i64,
}

/// Turns payloads into rows.
///
/// ```
/// use rustmq_bigquery_subscriber::config::SchemaSection;
/// use rustmq_bigquery_subscriber::mapping::{Mapper, Origin};
/// let m = Mapper::new(&SchemaSection::default());
/// let at = Origin { topic: "t", partition: 1, offset: 7, timestamp_ms: 0 };
/// let row = m.row(br#"{"user": {"id": 3}, "n": 1}"#, at).unwrap();
/// assert_eq!(row["user"], "{\"id\":3}"); // direct: nested values as JSON text
/// assert_eq!(row["_offset"], 7);
/// ```
#[derive(Debug, Clone)]
pub struct Mapper {
    kind: MappingKind,
    columns: BTreeMap<String, String>,
    defaults: BTreeMap<String, String>,
}

fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, part| match v {
        Value::Object(o) => o.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn timestamp_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

impl Mapper {
    /// The mapper `[schema]` describes.
    pub fn new(schema: &SchemaSection) -> Self {
        Self {
            kind: schema.mapping,
            columns: schema.column_mappings.clone(),
            defaults: schema.default_values.clone(),
        }
    }

    /// The row for `payload`, or why there is none.
    pub fn row(&self, payload: &[u8], at: Origin<'_>) -> Result<Map<String, Value>, String> {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("payload is not a JSON object".into());
        };
        let mut row = match self.kind {
            MappingKind::Nested => object,
            MappingKind::Direct => object
                .into_iter()
                .map(|(k, v)| match v {
                    Value::Object(_) => (k, Value::String(v.to_string())),
                    v => (k, v),
                })
                .collect(),
            MappingKind::Custom => {
                let source = Value::Object(object);
                let mut row = Map::new();
                for (path, column) in &self.columns {
                    if let Some(v) = lookup(&source, path).filter(|v| !v.is_null()) {
                        row.insert(column.clone(), v.clone());
                    }
                }
                for (column, default) in &self.defaults {
                    if !row.contains_key(column) {
                        let v = if default == CURRENT_TIMESTAMP {
                            jiff::Timestamp::now().to_string()
                        } else {
                            default.clone()
                        };
                        row.insert(column.clone(), Value::String(v));
                    }
                }
                row
            }
        };
        row.insert(TOPIC_COLUMN.into(), Value::String(at.topic.into()));
        row.insert(PARTITION_COLUMN.into(), Value::from(at.partition));
        row.insert(OFFSET_COLUMN.into(), Value::from(at.offset));
        row.insert(
            TIMESTAMP_COLUMN.into(),
            Value::String(timestamp_text(at.timestamp_ms)),
        );
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: Origin<'static> = Origin {
        topic: "events",
        partition: 2,
        offset: 41,
        timestamp_ms: 1_764_842_400_123,
    };

    fn mapper(kind: MappingKind) -> Mapper {
        let mut s = SchemaSection {
            mapping: kind,
            ..Default::default()
        };
        s.column_mappings = [
            ("event_id", "id"),
            ("user_data.user_id", "user_id"),
            ("event_data.tags.0", "first_tag"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        s.default_values = [("version", "1.0"), ("processed_at", CURRENT_TIMESTAMP)]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Mapper::new(&s)
    }

    const PAYLOAD: &[u8] =
        br#"{"event_id": "e1", "user_data": {"user_id": 9, "name": "x"}, "event_data": {"tags": ["a", "b"]}}"#;

    #[test]
    fn the_three_mappings() {
        let meta = json!({"_topic": "events", "_partition": 2, "_offset": 41,
            "_timestamp": "2025-12-04T10:00:00.123Z"});
        let with_meta = |v: Value| {
            let mut o = v.as_object().unwrap().clone();
            o.extend(meta.as_object().unwrap().clone());
            Value::Object(o)
        };
        let direct = mapper(MappingKind::Direct).row(PAYLOAD, AT).unwrap();
        assert_eq!(
            Value::Object(direct),
            with_meta(json!({"event_id": "e1",
                "user_data": "{\"name\":\"x\",\"user_id\":9}",
                "event_data": "{\"tags\":[\"a\",\"b\"]}"}))
        );
        let nested = mapper(MappingKind::Nested).row(PAYLOAD, AT).unwrap();
        assert_eq!(
            Value::Object(nested),
            with_meta(serde_json::from_slice(PAYLOAD).unwrap())
        );
        let custom = mapper(MappingKind::Custom).row(PAYLOAD, AT).unwrap();
        assert_eq!(custom["id"], "e1");
        assert_eq!(custom["user_id"], 9);
        assert_eq!(custom["first_tag"], "a");
        assert_eq!(custom["version"], "1.0");
        let at: jiff::Timestamp = custom["processed_at"].as_str().unwrap().parse().unwrap();
        assert!((jiff::Timestamp::now() - at).get_seconds().abs() < 60);
        assert!(!custom.contains_key("user_data"));
    }

    #[test]
    fn payloads_that_are_not_json_objects_are_refused_with_the_reason() {
        let m = mapper(MappingKind::Direct);
        assert!(
            m.row(b"not json", AT)
                .unwrap_err()
                .starts_with("payload is not JSON")
        );
        assert_eq!(
            m.row(b"[1, 2]", AT).unwrap_err(),
            "payload is not a JSON object"
        );
    }
}
