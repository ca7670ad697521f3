//! `table.exec.source.idle-timeout`: a source subtask that produces nothing
//! must not hold back the watermark of the window downstream.
//!
//! Two source subtasks feed one window aggregate. Subtask 0 emits rows whose
//! watermark completes the window `[0, 10)`, then waits (polling `Pending`)
//! until the sink has received that window or a deadline passes; subtask 1
//! emits nothing and waits the same way, twice as long. With the idle timeout the window
//! fires while both sources are still running; without it, only at the end.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion_physical_expr::expressions::col;
use riffle_common::Chunk;
use riffle_common::config::{Configuration, JobConfig};
use riffle_runtime::connector::{SinkFactory, SinkWriter, SourceFactory, SourcePoll, SourceReader};
use riffle_runtime::metrics::JobMetrics;
use riffle_runtime::operators::{
    AggCall, AggFunction, SinkOperatorFactory, TimeDomain, WatermarkAssignerFactory,
    WindowAggregateFactory, WindowKind, WindowTvfFactory,
};
use riffle_runtime::{Edge, JobGraph, LocalExecutor, Partitioning, Result, TaskInfo, Vertex};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("ts", ts_type(), false),
    ]))
}

#[derive(Debug)]
struct Source {
    fired: Arc<AtomicBool>,
    /// Set by subtask 0 when it ends: whether the window had fired by then.
    fired_while_running: Arc<AtomicBool>,
    deadline: Duration,
}

struct Reader {
    subtask: usize,
    sent: bool,
    started: Instant,
    fired: Arc<AtomicBool>,
    fired_while_running: Arc<AtomicBool>,
    deadline: Duration,
}

impl SourceFactory for Source {
    fn connector(&self) -> &str {
        "test"
    }

    fn schema(&self) -> SchemaRef {
        input_schema()
    }

    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(
        &self,
        task: &TaskInfo,
        _batch_size: usize,
        _restored: Option<Vec<Vec<u8>>>,
    ) -> Result<Box<dyn SourceReader>> {
        Ok(Box::new(Reader {
            subtask: task.subtask_index,
            sent: false,
            started: Instant::now(),
            fired: Arc::clone(&self.fired),
            fired_while_running: Arc::clone(&self.fired_while_running),
            deadline: self.deadline,
        }))
    }
}

impl SourceReader for Reader {
    fn poll(&mut self) -> Result<SourcePoll> {
        if self.subtask == 0 && !self.sent {
            self.sent = true;
            let b = RecordBatch::try_new(
                input_schema(),
                vec![
                    Arc::new(Int64Array::from(vec![1, 1, 1])),
                    Arc::new(TimestampMillisecondArray::from(vec![0, 5, 15])),
                ],
            )?;
            return Ok(SourcePoll::Batch(b));
        }
        let fired = self.fired.load(Ordering::SeqCst);
        // The silent subtask outlives the other, so that only idleness (not its end)
        // can release the watermark while subtask 0 runs.
        let deadline = self.deadline * (self.subtask as u32 + 1);
        if fired || self.started.elapsed() >= deadline {
            if self.subtask == 0 {
                self.fired_while_running.store(fired, Ordering::SeqCst);
            }
            return Ok(SourcePoll::End);
        }
        std::thread::sleep(Duration::from_millis(5));
        Ok(SourcePoll::Pending)
    }

    fn snapshot_splits(&mut self, _checkpoint_id: u64) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

#[derive(Debug)]
struct FlagSink(Arc<AtomicBool>);

struct FlagWriter(Arc<AtomicBool>);

impl SinkFactory for FlagSink {
    fn connector(&self) -> &str {
        "flag"
    }

    fn accepts_updates(&self) -> bool {
        true
    }

    fn create_writer(&self, _task: &TaskInfo) -> Result<Box<dyn SinkWriter>> {
        Ok(Box::new(FlagWriter(Arc::clone(&self.0))))
    }
}

impl SinkWriter for FlagWriter {
    fn write(&mut self, chunk: &Chunk) -> Result<()> {
        if chunk.num_rows() > 0 {
            self.0.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Runs the job; returns whether the window fired while the sources ran.
fn run(idle_timeout: Option<&str>, deadline: Duration) -> bool {
    let fired = Arc::new(AtomicBool::new(false));
    let fired_while_running = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(JobMetrics::default());
    let input = input_schema();
    let mut windowed: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    windowed.push(Field::new("window_start", ts_type(), false));
    windowed.push(Field::new("window_end", ts_type(), false));
    windowed.push(Field::new("window_time", ts_type(), false));
    let windowed: SchemaRef = Arc::new(Schema::new(windowed));
    let output = Arc::new(Schema::new(vec![
        Field::new("window_start", ts_type(), false),
        Field::new("window_end", ts_type(), false),
        Field::new("c", DataType::Int64, false),
    ]));
    let source = Vertex {
        id: 0,
        name: "Source".into(),
        parallelism: 2,
        source: Some(Arc::new(Source {
            fired: Arc::clone(&fired),
            fired_while_running: Arc::clone(&fired_while_running),
            deadline,
        })),
        operators: vec![Arc::new(WatermarkAssignerFactory {
            rowtime_index: 1,
            rowtime_name: "ts".into(),
            expr: col("ts", &input).unwrap(),
            interval_ms: 0,
        })],
    };
    let window = Vertex {
        id: 1,
        name: "Window".into(),
        parallelism: 1,
        source: None,
        operators: vec![
            Arc::new(WindowTvfFactory {
                kind: WindowKind::Tumble {
                    size: 10,
                    offset: 0,
                },
                time_index: 1,
                local_offset_ms: 0,
                schema: Arc::clone(&windowed),
            }),
            Arc::new(WindowAggregateFactory {
                keys: vec![
                    col("window_start", &windowed).unwrap(),
                    col("window_end", &windowed).unwrap(),
                ],
                end_key: 1,
                aggs: vec![AggCall {
                    function: AggFunction::Count,
                    arg: None,
                    filter: None,
                    distinct: false,
                    output_type: DataType::Int64,
                }],
                input_schema: windowed,
                output_schema: output,
                time: TimeDomain::EventTime,
                end_offset_ms: 0,
            }),
            Arc::new(SinkOperatorFactory {
                table: "flag".into(),
                writers: vec![Arc::new(FlagSink(Arc::clone(&fired)))],
                metrics: Arc::clone(&metrics),
            }),
        ],
    };
    let mut config = Configuration::new();
    if let Some(t) = idle_timeout {
        config.set("table.exec.source.idle-timeout", t);
    }
    let graph = JobGraph {
        name: "idle".into(),
        vertices: vec![source, window],
        edges: vec![Edge {
            from: 0,
            to: 1,
            input: 0,
            partitioning: Partitioning::Single,
        }],
        config: Arc::new(JobConfig::resolve(&config).unwrap()),
    };
    LocalExecutor::new().run(&graph).unwrap();
    assert!(fired.load(Ordering::SeqCst), "the window never fired");
    fired_while_running.load(Ordering::SeqCst)
}

#[test]
fn an_idle_split_does_not_hold_back_windows() {
    assert!(run(Some("50 ms"), Duration::from_secs(30)));
}

#[test]
fn without_the_timeout_the_silent_split_holds_them_back() {
    assert!(!run(None, Duration::from_millis(500)));
}
