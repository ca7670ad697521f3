//! Records between TaskManagers: one TCP connection per channel, Arrow IPC
//! payloads, credit-based flow control.
//!
//! The sending side of a remote channel is a thread that drains a small
//! bounded queue (what the upstream subtask's exchange writes into) onto the
//! socket. It opens with a [`Handshake`] naming the downstream subtask and
//! channel; the receiving TaskManager answers with credits, one per message
//! it is ready to take. Each message costs one credit, and the receiver gives
//! a credit back only after the message went into the downstream subtask's
//! bounded input queue. So per remote channel at most [`CREDITS`] messages are
//! in flight, a slow consumer stops its senders (backpressure reaches the
//! sources through the bounded queues), and one slow channel never blocks
//! another, because each has its own connection.
//!
//! Message encoding (frame kind, then payload): data as an Arrow IPC stream
//! of one batch, with the change kinds as an extra last `UInt8` column when
//! the chunk has them; watermark and idle flags as 8 and 1 bytes;
//! barriers and the handshake as JSON; end of input empty.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use crossbeam_channel::{RecvTimeoutError, SendTimeoutError, Sender, bounded};
use riffle_common::{CheckpointBarrier, Chunk, Message, Watermark};
use riffle_runtime::display::subtask;
use riffle_runtime::exchange::Envelope;
use serde::{Deserialize, Serialize};

use crate::frame::{read_frame, write_frame};
use crate::ids::JobId;
use crate::{Error, Result};

/// Messages a receiver lets a sender have in flight per channel.
pub const CREDITS: u32 = 4;

/// How long a receiver waits for the downstream subtask to be deployed.
const DEPLOY_WAIT: Duration = Duration::from_secs(30);
/// How long a sender keeps trying to connect.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// How often blocked sockets and queues look at the cancel flag.
const POLL: Duration = Duration::from_millis(100);

const HANDSHAKE: u8 = 2;
const DATA: u8 = 3;
const WATERMARK: u8 = 4;
const BARRIER: u8 = 5;
const IDLE: u8 = 6;
const END: u8 = 7;
const CREDIT: u8 = 8;
const REFUSE: u8 = 9;

/// Name of the extra column that carries change kinds on the wire.
const KIND_COLUMN: &str = "__riffle_row_kind";

/// What a sender says first: which channel this connection feeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    /// Job.
    pub job_id: JobId,
    /// Job attempt; a receiver refuses channels of another attempt.
    pub attempt: u32,
    /// Upstream (vertex, subtask), for messages.
    pub from: (usize, usize),
    /// Downstream (vertex, subtask).
    pub to: (usize, usize),
    /// Channel index at the downstream subtask.
    pub channel: usize,
}

/// Where received channels are delivered: the TaskManager's running attempts.
pub trait InputRegistry: Send + Sync {
    /// The input queue of the handshake's downstream subtask and its attempt's
    /// cancel flag, or `None` if that attempt is not (or no longer) deployed here.
    fn lookup(&self, hs: &Handshake) -> Option<(Sender<Envelope>, Arc<AtomicBool>)>;
    /// A channel broke before its end of input (the sender died).
    fn channel_failed(&self, hs: &Handshake, reason: String);
}

/// Encodes a message as (frame kind, payload).
pub fn encode(msg: &Message) -> Result<(u8, Vec<u8>)> {
    Ok(match msg {
        Message::Data(chunk) => (DATA, encode_chunk(chunk)?),
        Message::Watermark(w) => (WATERMARK, w.0.to_be_bytes().to_vec()),
        Message::Barrier(b) => (
            BARRIER,
            serde_json::to_vec(&(b.checkpoint_id, b.timestamp_ms, b.is_savepoint, b.stop))?,
        ),
        Message::Idle(i) => (IDLE, vec![u8::from(*i)]),
        Message::EndOfInput => (END, Vec::new()),
    })
}

/// Decodes what [`encode`] produced.
pub fn decode(kind: u8, payload: &[u8]) -> Result<Message> {
    Ok(match kind {
        DATA => Message::Data(decode_chunk(payload)?),
        WATERMARK => {
            let b: [u8; 8] = payload
                .try_into()
                .map_err(|_| Error::Protocol("watermark frame is not 8 bytes".into()))?;
            Message::Watermark(Watermark(i64::from_be_bytes(b)))
        }
        BARRIER => {
            let (checkpoint_id, timestamp_ms, is_savepoint, stop) =
                serde_json::from_slice(payload)?;
            Message::Barrier(CheckpointBarrier {
                checkpoint_id,
                timestamp_ms,
                is_savepoint,
                stop,
            })
        }
        IDLE => Message::Idle(payload.first().copied().unwrap_or(0) != 0),
        END => Message::EndOfInput,
        other => return Err(Error::Protocol(format!("unknown data frame kind {other}"))),
    })
}

fn encode_chunk(chunk: &Chunk) -> Result<Vec<u8>> {
    let batch = match &chunk.kinds {
        None => chunk.data.clone(),
        Some(kinds) => {
            let mut fields: Vec<Arc<Field>> = chunk.schema().fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new(KIND_COLUMN, DataType::UInt8, false)));
            let mut columns: Vec<ArrayRef> = chunk.data.columns().to_vec();
            columns.push(Arc::clone(kinds) as ArrayRef);
            RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(chunk.num_rows())),
            )?
        }
    };
    let mut out = Vec::with_capacity(batch.get_array_memory_size() + 1024);
    out.push(u8::from(chunk.kinds.is_some()));
    let mut w = StreamWriter::try_new(&mut out, &batch.schema())?;
    w.write(&batch)?;
    w.finish()?;
    drop(w);
    Ok(out)
}

fn decode_chunk(payload: &[u8]) -> Result<Chunk> {
    let (flag, ipc) = payload
        .split_first()
        .ok_or_else(|| Error::Protocol("empty data frame".into()))?;
    let mut reader = StreamReader::try_new(ipc, None)?;
    let batch = reader
        .next()
        .ok_or_else(|| Error::Protocol("data frame without a batch".into()))??;
    if *flag == 0 {
        return Ok(Chunk::insert_only(batch));
    }
    let n = batch.num_columns();
    if n == 0 || batch.schema().field(n - 1).name() != KIND_COLUMN {
        return Err(Error::Protocol(
            "data frame lacks its change-kind column".into(),
        ));
    }
    let kinds = batch
        .column(n - 1)
        .as_any()
        .downcast_ref::<UInt8Array>()
        .cloned()
        .ok_or_else(|| Error::Protocol("change-kind column is not UInt8".into()))?;
    let data = batch.project(&(0..n - 1).collect::<Vec<_>>())?;
    Chunk::with_kinds(data, kinds).map_err(|e| Error::Protocol(e.to_string()))
}

/// A socket whose blocking reads give up when `cancel` is set.
struct Cancellable {
    stream: TcpStream,
    cancel: Arc<AtomicBool>,
}

impl Read for Cancellable {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.stream.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.cancel.load(Ordering::Relaxed) {
                        return Err(std::io::Error::other("cancelled"));
                    }
                }
                other => return other,
            }
        }
    }
}

/// Opens the sending side of a remote channel: returns the queue the upstream
/// subtask writes into; a thread moves it onto the network. `on_error` is
/// called once if the channel breaks while the attempt is not cancelled.
pub fn open_channel(
    peer: String,
    hs: Handshake,
    cancel: Arc<AtomicBool>,
    on_error: Arc<dyn Fn(String) + Send + Sync>,
) -> Result<Sender<Envelope>> {
    let (tx, rx) = bounded::<Envelope>(2);
    std::thread::Builder::new()
        .name(format!("net-out-{}-{}", hs.to.0, hs.to.1))
        .spawn(move || {
            if let Err(e) = send_loop(&peer, &hs, &rx, &cancel)
                && !cancel.load(Ordering::Relaxed)
            {
                on_error(format!(
                    "channel from {} to {} at {peer} broke: {e}",
                    subtask(hs.from),
                    subtask(hs.to)
                ));
            }
        })?;
    Ok(tx)
}

fn connect(peer: &str, cancel: &AtomicBool) -> Result<TcpStream> {
    let start = Instant::now();
    loop {
        let addrs: Vec<SocketAddr> = peer.to_socket_addrs()?.collect();
        let mut last = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(2)) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        if cancel.load(Ordering::Relaxed) || start.elapsed() > CONNECT_WAIT {
            return Err(last
                .map(Error::Io)
                .unwrap_or_else(|| Error::Protocol(format!("{peer} resolves to no address"))));
        }
        std::thread::sleep(POLL);
    }
}

fn send_loop(
    peer: &str,
    hs: &Handshake,
    rx: &crossbeam_channel::Receiver<Envelope>,
    cancel: &Arc<AtomicBool>,
) -> Result<()> {
    let stream = connect(peer, cancel)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL))?;
    let mut writer = std::io::BufWriter::new(stream.try_clone()?);
    let mut reader = Cancellable {
        stream: stream.try_clone()?,
        cancel: Arc::clone(cancel),
    };
    write_frame(&mut writer, HANDSHAKE, &serde_json::to_vec(hs)?)?;
    let mut credits: u32 = 0;
    loop {
        let (_, msg) = match rx.recv_timeout(POLL) {
            Ok(env) => env,
            Err(RecvTimeoutError::Timeout) => {
                if cancel.load(Ordering::Relaxed) {
                    return Ok(());
                }
                continue;
            }
            // The subtask ended without end of input: it failed or was cancelled.
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        while credits == 0 {
            credits += read_credit(&mut reader)?;
        }
        let end = matches!(msg, Message::EndOfInput);
        let (kind, payload) = encode(&msg)?;
        write_frame(&mut writer, kind, &payload)?;
        credits -= 1;
        if end {
            // Close gracefully: wait until the receiver has taken everything
            // and closes its side, so no unread credit turns into a reset
            // that would destroy frames still in its receive buffer.
            let _ = stream.shutdown(Shutdown::Write);
            while read_frame(&mut reader)?.is_some() {}
            return Ok(());
        }
    }
}

fn read_credit(r: &mut impl Read) -> Result<u32> {
    match read_frame(r)? {
        Some((CREDIT, p)) => {
            let b: [u8; 4] = p
                .as_slice()
                .try_into()
                .map_err(|_| Error::Protocol("credit frame is not 4 bytes".into()))?;
            Ok(u32::from_be_bytes(b))
        }
        Some((REFUSE, p)) => Err(Error::Refused(String::from_utf8_lossy(&p).into_owned())),
        Some((k, _)) => Err(Error::Protocol(format!(
            "expected credit, got frame kind {k}"
        ))),
        None => Err(Error::Protocol("receiver closed the channel".into())),
    }
}

/// Accepts remote channels on `listener` and delivers them through `registry`.
pub fn serve(listener: TcpListener, registry: Arc<dyn InputRegistry>) -> Result<()> {
    std::thread::Builder::new()
        .name("net-accept".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let registry = Arc::clone(&registry);
                let spawned = std::thread::Builder::new()
                    .name("net-in".into())
                    .spawn(move || {
                        let peer = stream
                            .peer_addr()
                            .map(|a| a.to_string())
                            .unwrap_or_default();
                        if let Err(e) = receive_channel(stream, registry.as_ref()) {
                            tracing::debug!(peer = %peer, error = %e, "data connection ended");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a data connection thread");
                }
            }
        })?;
    Ok(())
}

fn receive_channel(stream: TcpStream, registry: &dyn InputRegistry) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    // Bound the wait for a handshake so idle probes do not hold a thread forever.
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let hs: Handshake = match read_frame(&mut writer)? {
        Some((HANDSHAKE, p)) => serde_json::from_slice(&p)?,
        Some((k, _)) => {
            return Err(Error::Protocol(format!(
                "expected a handshake, got frame kind {k}"
            )));
        }
        None => return Ok(()),
    };
    stream.set_read_timeout(Some(POLL))?;
    let started = Instant::now();
    let (input, cancel) = loop {
        if let Some(found) = registry.lookup(&hs) {
            break found;
        }
        if started.elapsed() > DEPLOY_WAIT {
            let reason = format!(
                "job {} attempt {} {} is not deployed here",
                hs.job_id,
                hs.attempt,
                subtask(hs.to)
            );
            let _ = write_frame(&mut writer, REFUSE, reason.as_bytes());
            return Err(Error::Refused(reason));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut reader = Cancellable {
        stream,
        cancel: Arc::clone(&cancel),
    };
    write_frame(&mut writer, CREDIT, &CREDITS.to_be_bytes())?;
    let result = deliver(&mut reader, &mut writer, &hs, &input, &cancel);
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            if !cancel.load(Ordering::Relaxed) {
                registry.channel_failed(
                    &hs,
                    format!("channel from upstream {} broke: {e}", subtask(hs.from)),
                );
            }
            Err(e)
        }
    }
}

fn deliver(
    reader: &mut impl Read,
    writer: &mut impl Write,
    hs: &Handshake,
    input: &Sender<Envelope>,
    cancel: &AtomicBool,
) -> Result<()> {
    loop {
        let Some((kind, payload)) = read_frame(reader)? else {
            return Err(Error::Protocol(format!(
                "upstream {} closed its channel before end of input",
                subtask(hs.from)
            )));
        };
        let msg = decode(kind, &payload)?;
        let end = matches!(msg, Message::EndOfInput);
        let mut env = (hs.channel, msg);
        loop {
            match input.send_timeout(env, POLL) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(back)) => {
                    if cancel.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    env = back;
                }
                Err(SendTimeoutError::Disconnected(_)) => return Ok(()),
            }
        }
        if end {
            return Ok(());
        }
        write_frame(writer, CREDIT, &1u32.to_be_bytes())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Mutex;

    fn chunk(kinds: bool) -> Chunk {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("x"), None, Some("z")])),
            ],
        )
        .unwrap();
        if kinds {
            Chunk::with_kinds(b, UInt8Array::from(vec![0, 1, 2])).unwrap()
        } else {
            Chunk::insert_only(b)
        }
    }

    #[test]
    fn every_message_round_trips() {
        for msg in [
            Message::Data(chunk(false)),
            Message::Data(chunk(true)),
            Message::Watermark(Watermark(-5)),
            Message::Barrier(CheckpointBarrier {
                checkpoint_id: 3,
                timestamp_ms: 9,
                is_savepoint: true,
                stop: false,
            }),
            Message::Idle(true),
            Message::EndOfInput,
        ] {
            let (k, p) = encode(&msg).unwrap();
            let back = decode(k, &p).unwrap();
            assert_eq!(format!("{back:?}"), format!("{msg:?}"));
        }
        assert!(decode(DATA, &[1, 2, 3]).is_err());
        assert!(decode(42, &[]).is_err());
        assert!(decode(WATERMARK, &[1]).is_err());
    }

    struct OneInput {
        tx: Sender<Envelope>,
        cancel: Arc<AtomicBool>,
        failures: Mutex<Vec<String>>,
    }

    impl InputRegistry for OneInput {
        fn lookup(&self, hs: &Handshake) -> Option<(Sender<Envelope>, Arc<AtomicBool>)> {
            (hs.attempt == 0).then(|| (self.tx.clone(), Arc::clone(&self.cancel)))
        }
        fn channel_failed(&self, _: &Handshake, reason: String) {
            self.failures.lock().unwrap().push(reason);
        }
    }

    fn handshake(attempt: u32) -> Handshake {
        Handshake {
            job_id: JobId::from_seed("j"),
            attempt,
            from: (0, 0),
            to: (1, 0),
            channel: 3,
        }
    }

    #[test]
    fn a_channel_delivers_in_order_with_backpressure() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // A tiny input queue: the sender must wait for credits.
        let (tx, rx) = bounded(1);
        let cancel = Arc::new(AtomicBool::new(false));
        let registry = Arc::new(OneInput {
            tx,
            cancel: Arc::clone(&cancel),
            failures: Mutex::new(Vec::new()),
        });
        serve(listener, Arc::clone(&registry) as Arc<dyn InputRegistry>).unwrap();
        let errors = Arc::new(Mutex::new(Vec::<String>::new()));
        let e2 = Arc::clone(&errors);
        let out = open_channel(
            addr,
            handshake(0),
            Arc::clone(&cancel),
            Arc::new(move |e| e2.lock().unwrap().push(e)),
        )
        .unwrap();
        let e3 = Arc::clone(&errors);
        let producer = std::thread::spawn(move || {
            let _ = &e3;
            for i in 0..50 {
                out.send((0, Message::Watermark(Watermark(i)))).unwrap();
            }
            out.send((0, Message::Data(chunk(true)))).unwrap();
            out.send((0, Message::EndOfInput)).unwrap();
        });
        let mut got = Vec::new();
        loop {
            let (ch, m) = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| {
                    panic!(
                        "{e:?} {:?} {:?}",
                        errors.lock().unwrap(),
                        registry.failures.lock().unwrap()
                    )
                });
            assert_eq!(ch, 3);
            // A slow consumer.
            std::thread::sleep(Duration::from_millis(2));
            let end = matches!(m, Message::EndOfInput);
            got.push(m);
            if end {
                break;
            }
        }
        producer.join().unwrap();
        assert_eq!(got.len(), 52);
        assert!(matches!(got[49], Message::Watermark(Watermark(49))));
        assert!(matches!(&got[50], Message::Data(c) if c.num_rows() == 3));
        assert!(errors.lock().unwrap().is_empty());
        assert!(registry.failures.lock().unwrap().is_empty());
    }

    #[test]
    fn a_channel_for_an_unknown_attempt_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, _rx) = bounded(1);
        let registry = Arc::new(OneInput {
            tx,
            cancel: Arc::new(AtomicBool::new(false)),
            failures: Mutex::new(Vec::new()),
        });
        // Only the handshake matters here; use a raw socket to avoid the 30 s wait.
        serve(listener, registry).unwrap();
        let mut s = TcpStream::connect(&addr).unwrap();
        write_frame(&mut s, DATA, b"x").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The receiver closes the connection on a non-handshake frame.
        assert!(matches!(read_frame(&mut s), Ok(None) | Err(_)));
    }

    #[test]
    fn a_dead_sender_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = bounded(4);
        let registry = Arc::new(OneInput {
            tx,
            cancel: Arc::new(AtomicBool::new(false)),
            failures: Mutex::new(Vec::new()),
        });
        serve(listener, Arc::clone(&registry) as Arc<dyn InputRegistry>).unwrap();
        let mut s = TcpStream::connect(&addr).unwrap();
        write_frame(
            &mut s,
            HANDSHAKE,
            &serde_json::to_vec(&handshake(0)).unwrap(),
        )
        .unwrap();
        let (k, p) = encode(&Message::Watermark(Watermark(1))).unwrap();
        write_frame(&mut s, k, &p).unwrap();
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok((3, Message::Watermark(_)))
        ));
        drop(s);
        let start = Instant::now();
        while registry.failures.lock().unwrap().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "failure not reported"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let f = registry.failures.lock().unwrap()[0].clone();
        assert!(f.contains("broke"), "{f}");
    }
}
