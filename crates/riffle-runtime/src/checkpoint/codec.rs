//! A small binary codec for operator state.
//!
//! State values are Rust structures (accumulators, session lists, ranked
//! rows) holding a few primitive kinds and DataFusion `ScalarValue`s. Each
//! stateful operator writes its values with an [`Encoder`] and reads them
//! back with a [`Decoder`]; the snapshot file around them carries the
//! operator's state descriptor and a checksum, so a value written by one
//! shape of state is never read as another. Integers are little-endian and
//! fixed-width: snapshots are dominated by key bytes and strings, and fixed
//! widths keep decoding branch-free.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::ScalarValue;

use crate::{Error, Result};

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Encoder::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a bool as one byte.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Writes a `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Overwrites the `u64` written at byte offset `at` (a length known
    /// only after what follows it was written). Out of range does nothing.
    pub fn patch_u64(&mut self, at: usize, v: u64) {
        if let Some(slot) = self.buf.get_mut(at..at + 8) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Writes an `i64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes an `i128`.
    pub fn i128(&mut self, v: i128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes an `f64`.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    /// Writes a length (as `u64`).
    pub fn len_prefix(&mut self, n: usize) {
        self.u64(n as u64);
    }

    /// Writes length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.len_prefix(v.len());
        self.buf.extend_from_slice(v);
    }

    /// Writes a length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// Writes bytes without a length (the reader must know it).
    pub fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// Writes an optional row of scalars (e.g. the result a key emitted
    /// last, `None` before its first).
    pub fn opt_scalars(&mut self, values: Option<&[ScalarValue]>) -> Result<()> {
        let Some(values) = values else {
            self.u8(0);
            return Ok(());
        };
        self.u8(1);
        self.len_prefix(values.len());
        values.iter().try_for_each(|v| self.scalar(v))
    }

    /// Writes a scalar with its type. Fails for types state never holds
    /// (nested values), naming the type.
    pub fn scalar(&mut self, v: &ScalarValue) -> Result<()> {
        use ScalarValue as S;
        macro_rules! opt {
            ($tag:expr, $v:expr, $w:ident, $conv:expr) => {{
                self.u8($tag);
                match $v {
                    None => self.u8(0),
                    Some(x) => {
                        self.u8(1);
                        self.$w($conv(*x));
                    }
                }
            }};
        }
        match v {
            S::Null => self.u8(0),
            S::Boolean(b) => opt!(1, b, bool, |x: bool| x),
            S::Int8(x) => opt!(2, x, i64, i64::from),
            S::Int16(x) => opt!(3, x, i64, i64::from),
            S::Int32(x) => opt!(4, x, i64, i64::from),
            S::Int64(x) => opt!(5, x, i64, |x: i64| x),
            S::UInt8(x) => opt!(6, x, u64, u64::from),
            S::UInt16(x) => opt!(7, x, u64, u64::from),
            S::UInt32(x) => opt!(8, x, u64, u64::from),
            S::UInt64(x) => opt!(9, x, u64, |x: u64| x),
            S::Float32(x) => opt!(10, x, f64, f64::from),
            S::Float64(x) => opt!(11, x, f64, |x: f64| x),
            S::Utf8(s) => self.opt_str(12, s.as_deref()),
            S::LargeUtf8(s) => self.opt_str(13, s.as_deref()),
            S::Utf8View(s) => self.opt_str(14, s.as_deref()),
            S::Binary(b) => self.opt_bytes(15, b.as_deref()),
            S::LargeBinary(b) => self.opt_bytes(16, b.as_deref()),
            S::Decimal128(x, p, s) => {
                self.u8(17);
                self.u8(*p);
                self.u8(*s as u8);
                match x {
                    None => self.u8(0),
                    Some(x) => {
                        self.u8(1);
                        self.i128(*x);
                    }
                }
            }
            S::Date32(x) => opt!(18, x, i64, i64::from),
            S::Date64(x) => opt!(19, x, i64, |x: i64| x),
            S::TimestampSecond(x, tz) => self.timestamp(0, *x, tz.as_deref()),
            S::TimestampMillisecond(x, tz) => self.timestamp(1, *x, tz.as_deref()),
            S::TimestampMicrosecond(x, tz) => self.timestamp(2, *x, tz.as_deref()),
            S::TimestampNanosecond(x, tz) => self.timestamp(3, *x, tz.as_deref()),
            S::Time32Second(x) => opt!(21, x, i64, i64::from),
            S::Time32Millisecond(x) => opt!(22, x, i64, i64::from),
            S::Time64Microsecond(x) => opt!(23, x, i64, |x: i64| x),
            S::Time64Nanosecond(x) => opt!(24, x, i64, |x: i64| x),
            other => {
                return Err(Error::User(format!(
                    "state holding a value of type {} cannot be checkpointed yet",
                    other.data_type()
                )));
            }
        }
        Ok(())
    }

    fn opt_str(&mut self, tag: u8, s: Option<&str>) {
        self.u8(tag);
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    fn opt_bytes(&mut self, tag: u8, b: Option<&[u8]>) {
        self.u8(tag);
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }

    fn timestamp(&mut self, unit: u8, v: Option<i64>, tz: Option<&str>) {
        self.u8(20);
        self.u8(unit);
        match tz {
            None => self.u8(0),
            Some(tz) => {
                self.u8(1);
                self.str(tz);
            }
        }
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
        }
    }
}

/// Reads values written by an [`Encoder`]; every read checks bounds, so a
/// truncated or corrupt buffer is an error, never a panic.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn corrupt(what: &str) -> Error {
    Error::External(format!("corrupt state: {what}"))
}

impl<'a> Decoder<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| corrupt("value runs past the end of the data"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// Reads a bool.
    pub fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(corrupt(&format!("bool byte {b}"))),
        }
    }

    /// Reads a `u16`.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads an `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Reads an `i128`.
    pub fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(self.array()?))
    }

    /// Reads an `f64`.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Reads a length written by [`Encoder::len_prefix`], checked against
    /// the bytes left (each counted item takes at least `min_item` bytes).
    pub fn len_prefix(&mut self, min_item: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_item.max(1) as u64) > left && min_item > 0 {
            return Err(corrupt(&format!("length {n} exceeds the data left")));
        }
        usize::try_from(n).map_err(|_| corrupt("length overflows"))
    }

    /// Reads length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len_prefix(1)?;
        self.take(n)
    }

    /// Reads a length-prefixed string.
    pub fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("string is not UTF-8"))
    }

    /// Reads `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take(n)
    }

    fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(read(self)?)),
            b => Err(corrupt(&format!("option byte {b}"))),
        }
    }

    /// Reads a row written by [`Encoder::opt_scalars`].
    pub fn opt_scalars(&mut self) -> Result<Option<Vec<ScalarValue>>> {
        self.opt(|d| {
            let n = d.len_prefix(1)?;
            (0..n).map(|_| d.scalar()).collect()
        })
    }

    /// Reads a scalar written by [`Encoder::scalar`].
    pub fn scalar(&mut self) -> Result<ScalarValue> {
        use ScalarValue as S;
        let int = |d: &mut Self| d.i64();
        let uint = |d: &mut Self| d.u64();
        let narrow = |v: Option<i64>| -> Result<Option<i32>> {
            v.map(|x| i32::try_from(x).map_err(|_| corrupt("integer out of range")))
                .transpose()
        };
        let tag = self.u8()?;
        Ok(match tag {
            0 => S::Null,
            1 => S::Boolean(self.opt(|d| d.bool())?),
            2 => S::Int8(
                self.opt(int)?
                    .map(|x| i8::try_from(x).map_err(|_| corrupt("int8")))
                    .transpose()?,
            ),
            3 => S::Int16(
                self.opt(int)?
                    .map(|x| i16::try_from(x).map_err(|_| corrupt("int16")))
                    .transpose()?,
            ),
            4 => S::Int32(narrow(self.opt(int)?)?),
            5 => S::Int64(self.opt(int)?),
            6 => S::UInt8(
                self.opt(uint)?
                    .map(|x| u8::try_from(x).map_err(|_| corrupt("uint8")))
                    .transpose()?,
            ),
            7 => S::UInt16(
                self.opt(uint)?
                    .map(|x| u16::try_from(x).map_err(|_| corrupt("uint16")))
                    .transpose()?,
            ),
            8 => S::UInt32(
                self.opt(uint)?
                    .map(|x| u32::try_from(x).map_err(|_| corrupt("uint32")))
                    .transpose()?,
            ),
            9 => S::UInt64(self.opt(uint)?),
            10 => S::Float32(self.opt(|d| d.f64())?.map(|x| x as f32)),
            11 => S::Float64(self.opt(|d| d.f64())?),
            12 => S::Utf8(self.opt(|d| d.str().map(str::to_string))?),
            13 => S::LargeUtf8(self.opt(|d| d.str().map(str::to_string))?),
            14 => S::Utf8View(self.opt(|d| d.str().map(str::to_string))?),
            15 => S::Binary(self.opt(|d| d.bytes().map(<[u8]>::to_vec))?),
            16 => S::LargeBinary(self.opt(|d| d.bytes().map(<[u8]>::to_vec))?),
            17 => {
                let p = self.u8()?;
                let s = self.u8()? as i8;
                S::Decimal128(self.opt(|d| d.i128())?, p, s)
            }
            18 => S::Date32(narrow(self.opt(int)?)?),
            19 => S::Date64(self.opt(int)?),
            20 => {
                let unit = self.u8()?;
                let tz: Option<std::sync::Arc<str>> = self.opt(|d| d.str().map(Into::into))?;
                let v = self.opt(int)?;
                match unit {
                    0 => S::TimestampSecond(v, tz),
                    1 => S::TimestampMillisecond(v, tz),
                    2 => S::TimestampMicrosecond(v, tz),
                    3 => S::TimestampNanosecond(v, tz),
                    u => return Err(corrupt(&format!("timestamp unit {u}"))),
                }
            }
            21 => S::Time32Second(narrow(self.opt(int)?)?),
            22 => S::Time32Millisecond(narrow(self.opt(int)?)?),
            23 => S::Time64Microsecond(self.opt(int)?),
            24 => S::Time64Nanosecond(self.opt(int)?),
            t => return Err(corrupt(&format!("unknown value tag {t}"))),
        })
    }
}

/// A short, stable text for a data type, used in state descriptors.
pub fn type_text(t: &DataType) -> String {
    match t {
        DataType::Timestamp(u, tz) => {
            let unit = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(_) => format!("TIMESTAMP_LTZ({unit})"),
                None => format!("TIMESTAMP({unit})"),
            }
        }
        other => other.to_string(),
    }
}

/// CRC-32 (IEEE), for detecting corrupt snapshot files.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut c = !0u32;
    for b in data {
        c = table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_round_trip() {
        let values = vec![
            ScalarValue::Null,
            ScalarValue::Boolean(Some(true)),
            ScalarValue::Int8(Some(-3)),
            ScalarValue::Int32(None),
            ScalarValue::Int64(Some(i64::MIN)),
            ScalarValue::UInt16(Some(7)),
            ScalarValue::Float64(Some(1.5)),
            ScalarValue::Utf8(Some("héllo".into())),
            ScalarValue::Utf8(None),
            ScalarValue::Decimal128(Some(-12345), 10, 2),
            ScalarValue::Date32(Some(19000)),
            ScalarValue::TimestampMillisecond(Some(1_700_000_000_000), None),
            ScalarValue::TimestampMillisecond(Some(5), Some("UTC".into())),
            ScalarValue::Binary(Some(vec![0, 1, 2])),
        ];
        let mut e = Encoder::new();
        for v in &values {
            e.scalar(v).unwrap();
        }
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes);
        for v in &values {
            assert_eq!(&d.scalar().unwrap(), v);
        }
        assert!(d.is_empty());
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut e = Encoder::new();
        e.str("a longer string");
        e.i64(7);
        let bytes = e.into_bytes();
        for cut in 0..bytes.len() {
            let mut d = Decoder::new(&bytes[..cut]);
            let ok = d.str().is_ok() && d.i64().is_ok();
            assert!(!ok, "cut at {cut} read fine");
        }
        let mut d = Decoder::new(&[99]);
        assert!(d.scalar().unwrap_err().to_string().contains("tag 99"));
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
