//! Text records (JSON lines, CSV rows) read from a file in chunks and decoded
//! into Arrow batches, with Flink's treatment of records that do not parse.
//!
//! Reading: [`RecordReader`] cuts a file into records, one line each (a CSV
//! record goes on over the next line while a quoted field is open), and
//! keeps the number of the line each record starts on, so that an error can
//! name it. Blank lines are not records: they are dropped, as Flink drops
//! empty messages, and they do not count as read. A chunk is up to
//! `batch_size` records, copied into one buffer.
//!
//! Decoding ([`decode_chunk`]): the good path hands the whole chunk to one
//! call of Arrow's decoder, kept from chunk to chunk as Arrow's own readers
//! keep it, so reading a good file costs Arrow's decoding plus the search
//! for line breaks (a few per cent with short lines). Only if that fails, or
//! gives a number of rows other than the number of records (two JSON
//! objects on one line, a line break inside a quoted CSV field, which
//! Arrow's CSV decoder splits), the chunk is halved until each failing
//! record stands alone, and that record is read on its own by
//! [`RecordFormat::decode_one`], field by field, which can tell which field
//! is at fault. A chunk with one bad record costs about three decodes of the
//! chunk, and the good records around it get exactly the values the good
//! path gives them.
//!
//! What happens to a record that does not parse is the format's business
//! (Flink's rules, see `json.rs` and `csv.rs`): without
//! `<format>.ignore-parse-errors` the first one fails the job with its line
//! and field; with it the record is kept with the fields that do not parse
//! set to NULL, or skipped if it is not a record at all. Either way it is
//! reported as a [`BadRecord`], which the source counts in
//! `numRecordsInErrors` and logs.

use std::io::{BufRead, BufReader, Read};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

/// How Flink's `<format>.ignore-parse-errors` and
/// `json.fail-on-missing-field` options treat records (from the table's
/// options, parsed at planning time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseErrors {
    /// Keep records with NULL in the fields that do not parse, skip those
    /// that are not records at all, instead of failing.
    pub ignore: bool,
    /// Fail on a JSON record that lacks a declared field (JSON only; the
    /// planner refuses it together with `ignore`, as Flink does).
    pub fail_on_missing_field: bool,
}

/// How a file is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line; lines of white space only are blank.
    Lines,
    /// One record per line, unless a quoted field (`"..."`, with `""` for a
    /// quote) goes on over the line break; empty lines are blank.
    Csv,
}

/// Where a record lies in the chunk buffer, and the line it starts on
/// (counted from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte (the record ends with its `\n`).
    pub end: usize,
    /// The line the record starts on.
    pub line: u64,
}

/// A record that did not parse as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The line it starts on.
    pub line: u64,
    /// The fields at fault, as `a` or `a.b` (empty: the record as a whole).
    pub fields: Vec<String>,
    /// What is wrong (with the first field at fault).
    pub reason: String,
    /// Whether it was kept with `fields` set to NULL (else it was skipped).
    pub kept: bool,
}

/// One record read on its own.
#[derive(Debug, Default)]
pub struct Single {
    /// Its row, unless it was skipped.
    pub row: Option<RecordBatch>,
    /// What was wrong with it, if anything.
    pub bad: Option<BadRecord>,
}

/// Why a chunk could not be decoded.
#[derive(Debug)]
pub enum ChunkError {
    /// A record does not parse and parse errors are not ignored.
    Record(BadRecord),
    /// Arrow could not put good rows together: a bug.
    Internal(ArrowError),
}

/// A format's decoding of records into rows of the table's schema.
pub trait RecordFormat: Send {
    /// The schema of the rows (the table's physical columns).
    fn schema(&self) -> &SchemaRef;

    /// How files of this format are cut into records.
    fn framing(&self) -> Framing;

    /// Decodes `records` whole records held in `bytes` with one call of
    /// Arrow's decoder: the good path. A result with another number of rows
    /// is not used. (`&mut`: the decoder keeps its Arrow decoder, and its
    /// buffers, from chunk to chunk.)
    fn decode_all(&mut self, bytes: &[u8], records: usize) -> Result<RecordBatch, ArrowError>;

    /// Reads the record `bytes` (starting on `line`) on its own, by Flink's
    /// rules: a row (possibly with NULL for fields that do not parse, then
    /// reported), nothing (skipped, reported), or, when parse errors are not
    /// ignored, the error.
    fn decode_one(&self, bytes: &[u8], line: u64) -> Result<Single, BadRecord>;

    /// Checks the rows the good path decoded from `spans` of `buf` against
    /// what Arrow does not check (JSON's `fail-on-missing-field`).
    fn check(&self, _batch: &RecordBatch, _buf: &[u8], _spans: &[Span]) -> Result<(), BadRecord> {
        Ok(())
    }
}

/// Decodes the records `spans` of `buf` (see the module docs); records that
/// were repaired or skipped are added to `bad`. `None` if no row is left.
pub fn decode_chunk(
    format: &mut dyn RecordFormat,
    buf: &[u8],
    spans: &[Span],
    bad: &mut Vec<BadRecord>,
) -> Result<Option<RecordBatch>, ChunkError> {
    let mut parts = Vec::new();
    decode_range(format, buf, spans, &mut parts, bad)?;
    if parts.len() <= 1 {
        return Ok(parts.pop());
    }
    arrow::compute::concat_batches(format.schema(), &parts)
        .map(Some)
        .map_err(ChunkError::Internal)
}

/// Decodes `spans` in one go, else halves them (see the module docs).
fn decode_range(
    format: &mut dyn RecordFormat,
    buf: &[u8],
    spans: &[Span],
    parts: &mut Vec<RecordBatch>,
    bad: &mut Vec<BadRecord>,
) -> Result<(), ChunkError> {
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return Ok(());
    };
    let bytes = buf.get(first.start..last.end).unwrap_or_default();
    if let Ok(batch) = format.decode_all(bytes, spans.len())
        && batch.num_rows() == spans.len()
    {
        format
            .check(&batch, buf, spans)
            .map_err(ChunkError::Record)?;
        parts.push(batch);
        return Ok(());
    }
    if spans.len() == 1 {
        let single = format
            .decode_one(bytes, first.line)
            .map_err(ChunkError::Record)?;
        parts.extend(single.row);
        bad.extend(single.bad);
        return Ok(());
    }
    let (left, right) = spans.split_at(spans.len() / 2);
    decode_range(format, buf, left, parts, bad)?;
    decode_range(format, buf, right, parts, bad)
}

/// Where the CSV scanner is within a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvState {
    /// At the start of a field.
    FieldStart,
    /// Inside a field without quotes.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// After a quote inside a quoted field: its end, or the first of `""`.
    QuoteInQuoted,
}

impl CsvState {
    /// The state after `bytes` (RFC 4180 with `,` and `"`, lenient as the
    /// `csv` crate Arrow uses: a quote inside an unquoted field is a
    /// character).
    fn after(mut self, bytes: &[u8]) -> CsvState {
        for &b in bytes {
            self = match (self, b) {
                (CsvState::Quoted, b'"') => CsvState::QuoteInQuoted,
                (CsvState::Quoted, _) => CsvState::Quoted,
                (CsvState::QuoteInQuoted, b'"') => CsvState::Quoted,
                (CsvState::FieldStart, b'"') => CsvState::Quoted,
                (_, b',' | b'\n' | b'\r') => CsvState::FieldStart,
                _ => CsvState::Unquoted,
            };
        }
        self
    }
}

/// Splits one CSV record (with its line break) into its fields, quotes
/// removed and `""` read as `"`.
pub fn split_csv(record: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(record).map_err(|e| format!("not valid UTF-8: {e}"))?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut state = CsvState::FieldStart;
    for c in text.chars() {
        state = match (state, c) {
            (CsvState::FieldStart, '"') => CsvState::Quoted,
            (CsvState::Quoted, '"') => CsvState::QuoteInQuoted,
            (CsvState::Quoted, c) => {
                field.push(c);
                CsvState::Quoted
            }
            (CsvState::QuoteInQuoted, '"') => {
                field.push('"');
                CsvState::Quoted
            }
            (_, ',') => {
                fields.push(std::mem::take(&mut field));
                CsvState::FieldStart
            }
            (_, c) => {
                field.push(c);
                CsvState::Unquoted
            }
        };
    }
    if state == CsvState::Quoted {
        return Err("a quoted field is not closed before the end of the file".into());
    }
    fields.push(field);
    Ok(fields)
}

/// Whether `record` (a line with its break) is blank: not a record.
fn is_blank(framing: Framing, record: &[u8]) -> bool {
    // Cheap tests first: this runs for every line.
    match (framing, record.first()) {
        (_, None) => true,
        (Framing::Lines, Some(b'{')) => false,
        (Framing::Lines, _) => record.trim_ascii().is_empty(),
        (Framing::Csv, _) => record.len() <= 2 && matches!(record, b"\n" | b"\r\n" | b"\r"),
    }
}

/// Reads a file's records chunk by chunk (see the module docs).
///
/// Lines are found in the read buffer where they lie and copied into the
/// chunk a buffer's worth at a time; only a line that goes on past the read
/// buffer (or past the end of the file without a line break), and CSV with
/// quotes, whose records may span lines, are read line by line.
pub struct RecordReader<R> {
    input: BufReader<R>,
    framing: Framing,
    /// The records of the current chunk, back to back.
    buf: Vec<u8>,
    spans: Vec<Span>,
    /// The number of the next line to read.
    next_line: u64,
    /// A CSV file with quotes: read line by line from then on.
    quoted: bool,
}

impl<R: Read> RecordReader<R> {
    /// A reader at the start of `input`.
    pub fn new(input: R, framing: Framing) -> Self {
        RecordReader {
            input: BufReader::with_capacity(1 << 20, input),
            framing,
            buf: Vec::new(),
            spans: Vec::new(),
            next_line: 1,
            quoted: false,
        }
    }

    /// Reads the next chunk of up to `max` records; returns how many there
    /// are (0 at the end of the input).
    pub fn fill(&mut self, max: usize) -> std::io::Result<usize> {
        self.buf.clear();
        self.spans.clear();
        while self.spans.len() < max {
            if !self.take_lines(max)? && !self.read_record()? {
                break;
            }
        }
        Ok(self.spans.len())
    }

    /// Takes the whole lines the read buffer holds, up to `max` records in
    /// the chunk, with one copy; false if there are none to take that way.
    fn take_lines(&mut self, max: usize) -> std::io::Result<bool> {
        if self.quoted {
            return Ok(false);
        }
        let available = self.input.fill_buf()?;
        let base = self.buf.len();
        let first_span = self.spans.len();
        let mut rest = available;
        let mut taken = 0;
        let mut line = self.next_line;
        while self.spans.len() < max {
            // The standard library's vectorized search for the line break.
            let n = rest.skip_until(b'\n')?;
            let Some(record) = available.get(taken..taken + n) else {
                break;
            };
            if record.last() != Some(&b'\n') {
                // Goes on past the read buffer, or the end of the input.
                break;
            }
            if !is_blank(self.framing, record) {
                self.spans.push(Span {
                    start: base + taken,
                    end: base + taken + n,
                    line,
                });
            }
            taken += n;
            line += 1;
        }
        let block = available.get(..taken).unwrap_or_default();
        if self.framing == Framing::Csv && block.contains(&b'"') {
            // A quoted field may hold a line break: line by line.
            self.spans.truncate(first_span);
            self.quoted = true;
            return Ok(false);
        }
        self.buf.extend_from_slice(block);
        self.input.consume(taken);
        self.next_line = line;
        Ok(taken > 0)
    }

    /// Reads one record line by line, blank lines included; false at the
    /// end of the input.
    fn read_record(&mut self) -> std::io::Result<bool> {
        let start = self.buf.len();
        let line = self.next_line;
        if self.input.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(false);
        }
        self.next_line += 1;
        if self.framing == Framing::Csv {
            self.complete_csv_record(start)?;
        }
        let record = self.buf.get(start..).unwrap_or_default();
        if is_blank(self.framing, record) {
            self.buf.truncate(start);
            return Ok(true);
        }
        if record.last() != Some(&b'\n') {
            // The last line of a file without a final line break.
            self.buf.push(b'\n');
        }
        self.spans.push(Span {
            start,
            end: self.buf.len(),
            line,
        });
        Ok(true)
    }

    /// Appends lines to the CSV record starting at `start` while one of
    /// its quoted fields is open.
    fn complete_csv_record(&mut self, start: usize) -> std::io::Result<()> {
        let first = self.buf.get(start..).unwrap_or_default();
        // Most records have no quote at all: one vectorized search.
        if !first.contains(&b'"') {
            return Ok(());
        }
        let mut state = CsvState::FieldStart.after(first);
        while state == CsvState::Quoted {
            let from = self.buf.len();
            if self.input.read_until(b'\n', &mut self.buf)? == 0 {
                break;
            }
            self.next_line += 1;
            state = state.after(self.buf.get(from..).unwrap_or_default());
        }
        Ok(())
    }

    /// Passes over `n` records (read before a restore) without decoding
    /// them; returns how many there were.
    pub fn skip(&mut self, n: u64, chunk: usize) -> std::io::Result<u64> {
        let mut skipped = 0;
        while skipped < n {
            let want = usize::try_from(n - skipped).map_or(chunk, |left| left.min(chunk));
            let got = self.fill(want.max(1))?;
            if got == 0 {
                break;
            }
            skipped += got as u64;
        }
        self.buf.clear();
        self.spans.clear();
        Ok(skipped)
    }

    /// The current chunk's bytes.
    pub fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// The current chunk's records.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }
}

/// What the format tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Decodes `text` in chunks of `chunk` records: the rows as Flink's
    /// print format shows them, and the bad records.
    pub(crate) fn read_rows(
        format: &mut dyn RecordFormat,
        text: &str,
        chunk: usize,
    ) -> Result<(Vec<String>, Vec<BadRecord>), BadRecord> {
        let mut reader = RecordReader::new(text.as_bytes(), format.framing());
        let (mut rows, mut bad) = (Vec::new(), Vec::new());
        while reader.fill(chunk).unwrap() > 0 {
            match decode_chunk(format, reader.buf(), reader.spans(), &mut bad) {
                Ok(Some(batch)) => {
                    for r in 0..batch.num_rows() {
                        let mut s = String::new();
                        super::super::write_print_row(
                            &batch,
                            r,
                            riffle_common::RowKind::Insert,
                            &mut s,
                        );
                        rows.push(s);
                    }
                }
                Ok(None) => {}
                Err(ChunkError::Record(b)) => return Err(b),
                Err(ChunkError::Internal(e)) => panic!("{e}"),
            }
        }
        Ok((rows, bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &str, framing: Framing, max: usize) -> Vec<Vec<(u64, String)>> {
        let mut r = RecordReader::new(text.as_bytes(), framing);
        let mut out = Vec::new();
        while r.fill(max).unwrap() > 0 {
            out.push(
                r.spans()
                    .iter()
                    .map(|s| {
                        let t = String::from_utf8(r.buf()[s.start..s.end].to_vec()).unwrap();
                        (s.line, t)
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn records_keep_their_line_numbers_and_blank_lines_are_dropped() {
        let c = chunks("{\"a\":1}\n\n  \n{\"a\":2}\r\n{\"a\":3}", Framing::Lines, 2);
        assert_eq!(
            c,
            vec![
                vec![
                    (1, "{\"a\":1}\n".to_string()),
                    (4, "{\"a\":2}\r\n".to_string())
                ],
                vec![(5, "{\"a\":3}\n".to_string())],
            ]
        );
    }

    #[test]
    fn a_quoted_csv_field_goes_on_over_line_breaks() {
        let text = "1,\"a\nb\",x\n\n2,\"say \"\"hi\"\"\",y\n3,ab\"c,z\n4,\"open\n";
        let c = chunks(text, Framing::Csv, 10);
        let records: Vec<(u64, String)> = c.concat();
        assert_eq!(
            records,
            vec![
                (1, "1,\"a\nb\",x\n".to_string()),
                (4, "2,\"say \"\"hi\"\"\",y\n".to_string()),
                // A quote inside an unquoted field is a character.
                (5, "3,ab\"c,z\n".to_string()),
                (6, "4,\"open\n".to_string()),
            ]
        );
        assert_eq!(split_csv(b"1,\"a\nb\",x\n").unwrap(), ["1", "a\nb", "x"]);
        assert_eq!(
            split_csv(b"2,\"say \"\"hi\"\"\",\r\n").unwrap(),
            ["2", "say \"hi\"", ""]
        );
        assert_eq!(split_csv(b"3,ab\"c,z\n").unwrap(), ["3", "ab\"c", "z"]);
        assert!(split_csv(b"4,\"open\n").unwrap_err().contains("not closed"));
    }

    /// Hands out at most `step` bytes per read, so lines straddle the ends
    /// of the read buffer.
    struct Trickle<'a> {
        text: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.text.len());
            out[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    #[test]
    fn records_are_the_same_however_the_input_arrives() {
        let long = format!("{{\"a\": \"{}\"}}\n", "x".repeat(3 << 20));
        for (framing, text) in [
            (
                Framing::Lines,
                format!("{{\"a\":1}}\n\n{long}  \n{{\"a\":2}}\r\n{{\"a\":3}}"),
            ),
            (Framing::Csv, "1,a\n\n2,b\r\n3,\"c\nd\"\n4,e".to_string()),
            (
                Framing::Csv,
                format!("1,a\n{}\n2,\"x\n", "y".repeat(3 << 20)),
            ),
        ] {
            let whole = {
                let mut r = RecordReader::new(text.as_bytes(), framing);
                let mut out = Vec::new();
                while r.fill(2).unwrap() > 0 {
                    for s in r.spans() {
                        out.push((s.line, r.buf()[s.start..s.end].to_vec()));
                    }
                }
                out
            };
            for step in [1, 3, 7, 4096] {
                let mut r = RecordReader::new(
                    Trickle {
                        text: text.as_bytes(),
                        step,
                    },
                    framing,
                );
                let mut out = Vec::new();
                while r.fill(2).unwrap() > 0 {
                    for s in r.spans() {
                        out.push((s.line, r.buf()[s.start..s.end].to_vec()));
                    }
                }
                assert!(out == whole, "{framing:?}, {step} bytes at a time");
            }
            let lines: Vec<u64> = whole.iter().map(|(l, _)| *l).collect();
            match framing {
                Framing::Lines => assert_eq!(lines, [1, 3, 5, 6]),
                Framing::Csv if whole.len() == 4 => assert_eq!(lines, [1, 3, 4, 6]),
                Framing::Csv => assert_eq!(lines, [1, 2, 3]),
            }
        }
    }

    #[test]
    fn skipping_counts_records_not_lines() {
        let mut r = RecordReader::new("a\n\nb\nc\nd\n".as_bytes(), Framing::Lines);
        assert_eq!(r.skip(2, 1).unwrap(), 2);
        assert_eq!(r.fill(10).unwrap(), 2);
        assert_eq!(r.spans()[0].line, 4);
        assert_eq!(r.skip(5, 10).unwrap(), 0);
    }
}
