//! The `datagen` connector: rows from per-field generators, with Flink's
//! option names.
//!
//! Table options: `rows-per-second` (default 10000, over all subtasks),
//! `number-of-rows` (bounded when set). Field options, `fields.<col>.`:
//! `kind` (`random` or `sequence`), `min`/`max` (random numbers),
//! `length` (random strings), `start`/`end` (sequences), `max-past` (random
//! timestamps reach this far back), `null-rate`. A sequence field bounds the
//! source: it ends when the sequence is exhausted, as in Flink. Sequences are
//! split into contiguous ranges over the subtasks. Random values come from a
//! seeded generator per subtask, so runs repeat exactly.

mod source;

use std::sync::Arc;

use arrow::datatypes::DataType;
use riffle_common::config::Configuration;
use riffle_runtime::connector::SourceFactory;

use crate::options::{check_keys, get_u64};
use crate::{Connector, Error, Result, TableDescriptor};

pub use source::{DatagenSource, FieldGen};

const FIELD_KEYS: &[&str] = &[
    "kind",
    "min",
    "max",
    "length",
    "start",
    "end",
    "max-past",
    "null-rate",
];

/// The connector.
#[derive(Debug)]
pub struct DatagenConnector;

fn parse_i128(key: &str, v: &str) -> Result<i128> {
    v.trim()
        .parse::<i128>()
        .map_err(|_| Error::Options(format!("option '{key}' must be an integer, got '{v}'")))
}

fn parse_f64(key: &str, v: &str) -> Result<f64> {
    v.trim()
        .parse::<f64>()
        .map_err(|_| Error::Options(format!("option '{key}' must be a number, got '{v}'")))
}

/// Builds the generator of one column from its options.
fn field_gen(table: &TableDescriptor, name: &str, dt: &DataType) -> Result<FieldGen> {
    let opt = |k: &str| table.options.get(&format!("fields.{name}.{k}"));
    let key = |k: &str| format!("fields.{name}.{k}");
    let null_rate = match opt("null-rate") {
        Some(v) => parse_f64(&key("null-rate"), v)?,
        None => 0.0,
    };
    let kind = opt("kind").map(String::as_str).unwrap_or("random");
    match kind {
        "sequence" => {
            let start = opt("start")
                .ok_or_else(|| {
                    Error::Options(format!("'{}' is required for a sequence", key("start")))
                })
                .and_then(|v| parse_i128(&key("start"), v))?;
            let end = opt("end")
                .ok_or_else(|| {
                    Error::Options(format!("'{}' is required for a sequence", key("end")))
                })
                .and_then(|v| parse_i128(&key("end"), v))?;
            if end < start {
                return Err(Error::Options(format!(
                    "'{}' must not be below '{}'",
                    key("end"),
                    key("start")
                )));
            }
            match dt {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Utf8 => {}
                other => {
                    return Err(Error::Options(format!(
                        "column '{name}': a sequence generator cannot produce {other}"
                    )));
                }
            }
            Ok(FieldGen::Sequence {
                start,
                end,
                null_rate,
            })
        }
        "random" => {
            let (min, max) = match dt {
                DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
                DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
                DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
                DataType::Int64 => (i64::MIN as f64, i64::MAX as f64),
                _ => (0.0, 1.0),
            };
            let min = opt("min")
                .map(|v| parse_f64(&key("min"), v))
                .transpose()?
                .unwrap_or(min);
            let max = opt("max")
                .map(|v| parse_f64(&key("max"), v))
                .transpose()?
                .unwrap_or(max);
            if max < min {
                return Err(Error::Options(format!(
                    "'{}' must not be below '{}'",
                    key("max"),
                    key("min")
                )));
            }
            let length = get_u64(&table.options, &key("length"))?.unwrap_or(100) as usize;
            let max_past = match opt("max-past") {
                Some(v) => riffle_common::time::parse_duration_ms(&key("max-past"), v)
                    .map_err(|e| Error::Options(e.to_string()))?,
                None => 0,
            };
            match dt {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float32
                | DataType::Float64
                | DataType::Boolean
                | DataType::Utf8
                | DataType::Decimal128(_, _)
                | DataType::Timestamp(_, _) => {}
                other => {
                    return Err(Error::Options(format!(
                        "column '{name}': the random generator cannot produce {other}"
                    )));
                }
            }
            Ok(FieldGen::Random {
                min,
                max,
                length,
                max_past_ms: max_past,
                null_rate,
            })
        }
        other => Err(Error::Options(format!(
            "'{}' must be 'random' or 'sequence', got '{other}'",
            key("kind")
        ))),
    }
}

impl DatagenConnector {
    fn fields(&self, table: &TableDescriptor) -> Result<Vec<FieldGen>> {
        table
            .schema
            .fields()
            .iter()
            .map(|f| field_gen(table, f.name(), f.data_type()))
            .collect()
    }
}

impl Connector for DatagenConnector {
    fn name(&self) -> &'static str {
        "datagen"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        let mut allowed: Vec<String> = vec![
            "rows-per-second".into(),
            "number-of-rows".into(),
            "scan.parallelism".into(),
        ];
        for f in table.schema.fields() {
            for k in FIELD_KEYS {
                allowed.push(format!("fields.{}.{k}", f.name()));
            }
        }
        let allowed_ref: Vec<&str> = allowed.iter().map(String::as_str).collect();
        check_keys(&table.name, self.name(), &table.options, &allowed_ref, &[])?;
        get_u64(&table.options, "rows-per-second")?;
        get_u64(&table.options, "number-of-rows")?;
        self.fields(table)?;
        Ok(())
    }

    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        _config: &Configuration,
    ) -> Result<Arc<dyn SourceFactory>> {
        self.validate(table)?;
        let fields = self.fields(table)?;
        let rows_per_second = get_u64(&table.options, "rows-per-second")?.unwrap_or(10_000);
        let number_of_rows = get_u64(&table.options, "number-of-rows")?;
        Ok(Arc::new(DatagenSource::new(
            Arc::clone(&table.schema),
            fields,
            projection,
            rows_per_second,
            number_of_rows,
        )))
    }
}
