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
//!
//! All of them are parsed once into [`DatagenOptions`]; `scan.parallelism`
//! is checked (a positive integer, as in Flink) and kept there for the
//! planner.

mod source;

use std::num::NonZeroUsize;
use std::sync::Arc;

use arrow::datatypes::DataType;
use riffle_common::config::JobConfig;
use riffle_common::config::parse::{self, BadValue, Parsed};
use riffle_runtime::connector::SourceFactory;

use crate::options::{OptionReader, check_keys};
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

/// The options of a `datagen` table, parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct DatagenOptions {
    /// `rows-per-second`, over all subtasks (default 10000).
    pub rows_per_second: u64,
    /// `number-of-rows`: the source is bounded when set.
    pub number_of_rows: Option<u64>,
    /// `scan.parallelism` (`None` = the job's parallelism).
    pub scan_parallelism: Option<NonZeroUsize>,
    /// The `fields.<col>.*` options: one generator per column, in schema order.
    pub fields: Vec<FieldGen>,
}

impl DatagenOptions {
    /// Checks the keys and parses every value of `table`'s options.
    pub fn parse(table: &TableDescriptor) -> Result<Self> {
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
        check_keys(&table.name, "datagen", &table.options, &allowed_ref, &[])?;
        let r = OptionReader::new(table);
        let count = |v: &str| parse::integer(v, 0..=i64::MAX).map(|n| n.unsigned_abs());
        Ok(DatagenOptions {
            // A rate of 0 never emits; Flink's rate limiter refuses it too.
            rows_per_second: r.get_or("rows-per-second", 10_000, |v| {
                parse::integer(v, 1..=i64::MAX).map(|n| n.unsigned_abs())
            })?,
            number_of_rows: r.get("number-of-rows", count)?,
            scan_parallelism: r.parallelism("scan.parallelism")?,
            fields: table
                .schema
                .fields()
                .iter()
                .map(|f| field_gen(&r, f.name(), f.data_type()))
                .collect::<Result<_>>()?,
        })
    }
}

/// The connector.
#[derive(Debug)]
pub struct DatagenConnector;

/// A finite decimal number (`min`, `max` of random values).
fn number(text: &str) -> Parsed<f64> {
    parse::float(text, f64::MIN..=f64::MAX).map_err(|_| BadValue("expected a number".into()))
}

/// An integer of a sequence bound (columns hold at most 64 bits).
fn sequence_bound(text: &str) -> Parsed<i128> {
    parse::integer(text, i64::MIN..=i64::MAX).map(i128::from)
}

/// Builds the generator of one column from its options.
fn field_gen(r: &OptionReader<'_>, name: &str, dt: &DataType) -> Result<FieldGen> {
    let key = |k: &str| format!("fields.{name}.{k}");
    let null_rate = r.get_or(&key("null-rate"), 0.0, |v| parse::float(v, 0.0..=1.0))?;
    let kind = r.get_or(&key("kind"), "random", |v| {
        parse::enumeration(v, &["random", "sequence"])
    })?;
    if kind == "sequence" {
        let required = |k: &str| {
            r.get(&key(k), sequence_bound)?
                .ok_or_else(|| Error::Options(format!("'{}' is required for a sequence", key(k))))
        };
        let start = required("start")?;
        let end = required("end")?;
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
        return Ok(FieldGen::Sequence {
            start,
            end,
            null_rate,
        });
    }
    let (min, max) = match dt {
        DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
        DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
        DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
        DataType::Int64 => (i64::MIN as f64, i64::MAX as f64),
        _ => (0.0, 1.0),
    };
    let min = r.get_or(&key("min"), min, number)?;
    let max = r.get_or(&key("max"), max, number)?;
    if max < min {
        return Err(Error::Options(format!(
            "'{}' must not be below '{}'",
            key("max"),
            key("min")
        )));
    }
    let length = r.get_or(&key("length"), 100, |v| {
        parse::integer(v, 0..=i64::from(u32::MAX)).map(|n| n.unsigned_abs() as usize)
    })?;
    let max_past_ms = r.get_or(&key("max-past"), 0, |v| {
        // `duration` keeps milliseconds within i64.
        parse::duration(v).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })?;
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
        max_past_ms,
        null_rate,
    })
}

impl Connector for DatagenConnector {
    fn name(&self) -> &'static str {
        "datagen"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        DatagenOptions::parse(table).map(drop)
    }

    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        _config: &JobConfig,
    ) -> Result<Arc<dyn SourceFactory>> {
        let options = DatagenOptions::parse(table)?;
        Ok(Arc::new(DatagenSource::new(
            Arc::clone(&table.schema),
            options.fields,
            projection,
            options.rows_per_second,
            options.number_of_rows,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema, TimeUnit};

    fn table(pairs: &[(&str, &str)]) -> TableDescriptor {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("price", DataType::Float64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        crate::test_table("gen", "datagen", schema, pairs)
    }

    /// A paced reader that is not polled falls behind `rows-per-second`,
    /// and says so in `pendingRecords`.
    #[test]
    fn a_paced_reader_reports_how_far_behind_it_is() -> Result<()> {
        use riffle_runtime::connector::SourcePoll;
        use riffle_runtime::metrics::TaskMetrics;
        let t = table(&[("rows-per-second", "1000")]);
        let o = DatagenOptions::parse(&t)?;
        let src = DatagenSource::new(
            Arc::clone(&t.schema),
            o.fields,
            None,
            o.rows_per_second,
            o.number_of_rows,
        );
        let task = riffle_runtime::TaskInfo {
            job_name: "j".into(),
            vertex_id: 0,
            vertex_name: "v".into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: 128,
            local_time_zone_offset_ms: 0,
            checkpointing: false,
        };
        let mut reader = src.create_reader(&task, 64, None).expect("a reader");
        let metrics = Arc::new(TaskMetrics::new(0, "Source: gen", 0));
        reader.bind_metrics(Arc::clone(&metrics));
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(matches!(reader.poll(), Ok(SourcePoll::Batch(_))));
        let behind = metrics.sample().pending_records.unwrap_or(0);
        assert!((250..1_000).contains(&behind), "{behind}");
        Ok(())
    }

    #[test]
    fn options_parse_into_the_struct() -> Result<()> {
        let o = DatagenOptions::parse(&table(&[
            ("rows-per-second", "5"),
            ("number-of-rows", "100"),
            ("scan.parallelism", "2"),
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "1"),
            ("fields.id.end", "100"),
            ("fields.price.min", "1.5"),
            ("fields.price.max", "9"),
            ("fields.price.null-rate", "0.25"),
            ("fields.ts.max-past", "1 min"),
        ]))?;
        assert_eq!(
            o,
            DatagenOptions {
                rows_per_second: 5,
                number_of_rows: Some(100),
                scan_parallelism: NonZeroUsize::new(2),
                fields: vec![
                    FieldGen::Sequence {
                        start: 1,
                        end: 100,
                        null_rate: 0.0,
                    },
                    FieldGen::Random {
                        min: 1.5,
                        max: 9.0,
                        length: 100,
                        max_past_ms: 0,
                        null_rate: 0.25,
                    },
                    FieldGen::Random {
                        min: 0.0,
                        max: 1.0,
                        length: 100,
                        max_past_ms: 60_000,
                        null_rate: 0.0,
                    },
                ],
            }
        );
        let defaults = DatagenOptions::parse(&table(&[]))?;
        assert_eq!(
            (defaults.rows_per_second, defaults.number_of_rows),
            (10_000, None)
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_key_value_and_form() {
        for (key, value, form) in [
            ("rows-per-second", "0", "expected an integer of at least 1"),
            ("number-of-rows", "-5", "expected an integer of at least 0"),
            ("scan.parallelism", "0", "expected an integer between 1 and"),
            (
                "fields.id.kind",
                "cyclic",
                "expected one of random, sequence",
            ),
            ("fields.price.min", "cheap", "expected a number"),
            (
                "fields.price.null-rate",
                "2",
                "expected a number between 0 and 1",
            ),
            ("fields.ts.max-past", "a while", "expected a duration"),
            ("fields.id.length", "long", "expected an integer"),
        ] {
            let e = DatagenConnector
                .validate(&table(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "invalid value {value:?} for option '{key}' of table 'gen': {form}"
                )),
                "{key} = {value}: {e}"
            );
        }
        let e = DatagenConnector
            .validate(&table(&[
                ("fields.id.kind", "sequence"),
                ("fields.id.start", "1"),
            ]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'fields.id.end' is required"), "{e}");
        let e = DatagenConnector
            .validate(&table(&[("fields.nope.kind", "random")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'fields.nope.kind'") && e.contains("'fields.id.kind'"),
            "{e}"
        );
    }
}
