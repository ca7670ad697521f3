//! Generation of Nexmark events straight into Arrow arrays.
//!
//! The deterministic parts (event kind, ids, hot keys, timestamps, auction
//! expiry horizon) use Flink's integer arithmetic, including its quirks: event
//! ids start at 2, `bid.bidder` carries the person offset twice (+2000), and
//! `Integer.reverse`/`Math.abs` shape the channel ids in URLs.
//!
//! The random parts use a SplitMix64 stream seeded per event from the `seed`
//! option and the event id. Seeding per event (rather than one stream per
//! generator) is what lets a batch skip the columns nobody reads without
//! shifting the random values of the columns that are read, and what makes the
//! output independent of batch sizes. Tables that Flink draws once per JVM
//! (the 1 MiB `extra` text pool, the channel URLs, the hot-channel URLs) are
//! drawn once per generator from the seed alone, so all splits of one table
//! agree on them.
//!
//! Speed comes from four things: unwanted top-level columns are never
//! generated; strings are appended straight into pre-sized Arrow builders (no
//! per-row allocation); channel names and URLs are pre-rendered into one packed
//! table; and bids record only table offsets per row, copying their strings
//! in a final pass whose random table lookups are issued a chunk at a time so
//! that their cache misses overlap.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBufferBuilder, Int32Array, Int64Array, StringBuilder, StructArray,
    TimestampMillisecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::config::NexmarkConfig;

/// Index of the `event_type` column in [`nexmark_schema`].
pub const EVENT_TYPE_COLUMN: usize = 0;
/// Index of the `person` column in [`nexmark_schema`].
pub const PERSON_COLUMN: usize = 1;
/// Index of the `auction` column in [`nexmark_schema`].
pub const AUCTION_COLUMN: usize = 2;
/// Index of the `bid` column in [`nexmark_schema`].
pub const BID_COLUMN: usize = 3;

/// `event_type` value of a person row.
pub const EVENT_TYPE_PERSON: i32 = 0;
/// `event_type` value of an auction row.
pub const EVENT_TYPE_AUCTION: i32 = 1;
/// `event_type` value of a bid row.
pub const EVENT_TYPE_BID: i32 = 2;

const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u32 = 5;
const HOT_AUCTION_RATIO: i64 = 100;
const HOT_BIDDER_RATIO: i64 = 100;
const HOT_SELLER_RATIO: i64 = 100;
const NUM_IN_FLIGHT_AUCTIONS: i64 = 100;
const NUM_ACTIVE_PEOPLE: i64 = 1000;
const AUCTION_ID_LEAD: i64 = 10;
const PERSON_ID_LEAD: i64 = 10;
/// Event number of a split's first event, for every split (`firstEventNumber`).
const FIRST_EVENT_NUMBER: i64 = 1;

const HOT_CHANNELS_RATIO: u32 = 2;
const CHANNELS_NUMBER: u32 = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Rows whose table lookups are issued together; see [`BidColumns`].
const TOUCH_CHUNK: usize = 16;
/// Length of the pre-generated text that `extra` fields are cut from.
const EXTRA_POOL_LEN: usize = 1 << 20;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// Domain constants mixed into the seed so the tables and the per-event
/// streams never share random values.
const EVENT_DOMAIN: u64 = 0x6e65_786d_6172_6b31;
const TABLE_DOMAIN: u64 = 0x7461_626c_6573_3031;

// ---------------------------------------------------------------------------
// Schema

/// Nullable field helper.
fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

/// `TIMESTAMP(3)`: milliseconds, no time zone.
fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Fields of the `person` struct.
fn person_fields() -> Fields {
    Fields::from(vec![
        field("id", DataType::Int64),
        field("name", DataType::Utf8),
        field("emailAddress", DataType::Utf8),
        field("creditCard", DataType::Utf8),
        field("city", DataType::Utf8),
        field("state", DataType::Utf8),
        field("dateTime", timestamp_ms()),
        field("extra", DataType::Utf8),
    ])
}

/// Fields of the `auction` struct.
fn auction_fields() -> Fields {
    Fields::from(vec![
        field("id", DataType::Int64),
        field("itemName", DataType::Utf8),
        field("description", DataType::Utf8),
        field("initialBid", DataType::Int64),
        field("reserve", DataType::Int64),
        field("dateTime", timestamp_ms()),
        field("expires", timestamp_ms()),
        field("seller", DataType::Int64),
        field("category", DataType::Int64),
        field("extra", DataType::Utf8),
    ])
}

/// Fields of the `bid` struct.
fn bid_fields() -> Fields {
    Fields::from(vec![
        field("auction", DataType::Int64),
        field("bidder", DataType::Int64),
        field("price", DataType::Int64),
        field("channel", DataType::Utf8),
        field("url", DataType::Utf8),
        field("dateTime", timestamp_ms()),
        field("extra", DataType::Utf8),
    ])
}

/// The physical columns of the `datagen` table: `event_type` and one struct
/// per event kind, of which exactly one is non-null in each row.
pub fn nexmark_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("event_type", DataType::Int32),
        field("person", DataType::Struct(person_fields())),
        field("auction", DataType::Struct(auction_fields())),
        field("bid", DataType::Struct(bid_fields())),
    ]))
}

// ---------------------------------------------------------------------------
// Randomness

/// The SplitMix64 output function: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64: tiny, fast and good enough for synthetic data.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, bound)` by multiply-shift; `bound` must be positive.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Like Java's `nextInt(bound)`: uniform in `[0, bound)`.
    fn next_int(&mut self, bound: u32) -> u32 {
        self.below(u64::from(bound)) as u32
    }

    /// Like Nexmark's `LongGenerator.nextLong(bound)`; 0 when `bound <= 0`.
    fn next_long(&mut self, bound: i64) -> i64 {
        if bound <= 0 {
            return 0;
        }
        self.below(bound as u64) as i64
    }

    /// Like Java's `nextInt()`: any `i32`.
    fn next_i32(&mut self) -> i32 {
        (self.next_u64() >> 32) as u32 as i32
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A picked element of a non-empty constant table.
    fn pick<'a>(&mut self, table: &[&'a str]) -> &'a str {
        let i = self.below(table.len() as u64) as usize;
        table.get(i).copied().unwrap_or_default()
    }
}

/// `PriceGenerator.nextPrice`: `round(10^(U*6) * 100)`, log-uniform cents.
///
/// `10^x` is computed as `e^(x ln 10)` and rounded half up as Java's
/// `Math.round` does for positive values (`floor(x + 0.5)`, the truncating
/// cast being a floor here); both are much cheaper than `powf` and `round`.
fn next_price(rng: &mut SplitMix64) -> i64 {
    let cents = (rng.next_f64() * 6.0 * std::f64::consts::LN_10).exp() * 100.0;
    (cents + 0.5) as i64
}

/// `StringsGenerator.nextString(max, space)` appended to `out`: 3..max-1
/// characters from `a`–`z` or `space` (P = 1/13), trimmed when `space` is a
/// blank, as Java's `String.trim()` would.
fn push_next_string(rng: &mut SplitMix64, max: u32, space: char, out: &mut String) {
    let start = out.len();
    let len = 3 + rng.next_int(max - 3);
    for _ in 0..len {
        if rng.next_int(13) == 0 {
            out.push(space);
        } else {
            out.push(char::from(b'a' + rng.next_int(26) as u8));
        }
    }
    if space == ' ' {
        let trimmed_end = out.trim_end().len().max(start);
        out.truncate(trimmed_end);
        let leading = out
            .get(start..)
            .map_or(0, |s| s.len() - s.trim_start().len());
        out.drain(start..start + leading);
    }
}

/// `StringsGenerator.nextExtra` sizing: the `extra` field pads a record of
/// `current` bytes toward `average` bytes with a length uniform in
/// `[d - delta, d + delta)`, where `d = average - current` and
/// `delta = round(0.2 * d)`; empty when the record is already too big.
#[derive(Debug, Clone, Copy)]
struct ExtraSize {
    min: i64,
    span: i64,
}

impl ExtraSize {
    fn new(current: i64, average: i64) -> Self {
        if current > average {
            return Self { min: 0, span: 0 };
        }
        let desired = average - current;
        let delta = (desired as f64 * 0.2).round() as i64;
        Self {
            min: desired - delta,
            span: 2 * delta,
        }
    }

    /// Draws a length (no draw at all when `delta` is 0, as in Java).
    fn draw(self, rng: &mut SplitMix64) -> usize {
        let size = if self.span == 0 {
            self.min
        } else {
            self.min + rng.next_long(self.span)
        };
        usize::try_from(size).unwrap_or(0)
    }
}

/// Draws the length of an `extra` field; see [`ExtraSize`].
fn next_extra_len(rng: &mut SplitMix64, current: i64, average: i64) -> usize {
    ExtraSize::new(current, average).draw(rng)
}

/// `nextExactString` semantics for the pool: `'a' + rnd % 26` on a signed
/// `int`, so the characters span `'H'..='z'`, six per random `int`.
fn build_extra_pool(rng: &mut SplitMix64) -> String {
    let mut pool = String::with_capacity(EXTRA_POOL_LEN);
    let mut rnd = 0i32;
    let mut left = 0;
    for _ in 0..EXTRA_POOL_LEN {
        if left == 0 {
            rnd = rng.next_i32();
            left = 6;
        }
        let code = i32::from(b'a') + rnd % 26;
        pool.push(char::from(code as u8));
        rnd /= 26;
        left -= 1;
    }
    pool
}

/// Where a channel's name and URL sit in [`Tables::channel_text`]: the name
/// at `start`, immediately followed by the URL.
#[derive(Debug, Clone, Copy)]
struct ChannelSlot {
    start: u32,
    name_len: u16,
    url_len: u16,
}

/// Per-seed tables that Flink draws once at class-load time.
///
/// The channel table is packed into one string with 8-byte slots: bids pick
/// channels at random, so the fewer cache lines a lookup touches the better.
struct Tables {
    extra_pool: String,
    /// Names and URLs of all channels, back to back.
    channel_text: String,
    /// `channel-0` .. `channel-9999`, then the hot channels.
    channels: Vec<ChannelSlot>,
}

impl Tables {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(mix64(seed ^ TABLE_DOMAIN));
        let extra_pool = build_extra_pool(&mut rng);
        let mut tables = Self {
            extra_pool,
            channel_text: String::with_capacity(800 * 1024),
            channels: Vec::with_capacity(CHANNELS_NUMBER as usize + HOT_CHANNELS.len()),
        };
        for i in 0..CHANNELS_NUMBER {
            let mut url = base_url(&mut rng);
            if rng.next_int(10) > 0 {
                let id = (i as i32).reverse_bits().wrapping_abs();
                url.push_str("&channel_id=");
                url.push_str(&id.to_string());
            }
            tables.push_channel(&format!("channel-{i}"), &url);
        }
        for name in HOT_CHANNELS {
            let url = base_url(&mut rng);
            tables.push_channel(name, &url);
        }
        tables
    }

    /// Appends a channel to the packed table (names and URLs are short).
    fn push_channel(&mut self, name: &str, url: &str) {
        let slot = ChannelSlot {
            start: u32::try_from(self.channel_text.len()).unwrap_or(u32::MAX),
            name_len: u16::try_from(name.len()).unwrap_or(0),
            url_len: u16::try_from(url.len()).unwrap_or(0),
        };
        self.channel_text.push_str(name);
        self.channel_text.push_str(url);
        self.channels.push(slot);
    }

    /// Name and URL of channel `index`.
    fn channel(&self, index: usize) -> Option<(&str, &str)> {
        let slot = self.channels.get(index)?;
        let start = slot.start as usize;
        let mid = start + usize::from(slot.name_len);
        let end = mid + usize::from(slot.url_len);
        Some((
            self.channel_text.get(start..mid)?,
            self.channel_text.get(mid..end)?,
        ))
    }

    /// Reads the first and last byte of the channels of `rows`: independent
    /// loads whose cache misses overlap, so the copies that follow hit the cache.
    fn touch_channels(&self, rows: &[BidText]) {
        let text = self.channel_text.as_bytes();
        let mut acc = 0u8;
        for t in rows {
            if let Some(slot) = self.channels.get(t.channel as usize) {
                let start = slot.start as usize;
                let last = start + usize::from(slot.name_len) + usize::from(slot.url_len);
                acc ^= text.get(start).copied().unwrap_or(0);
                acc ^= text.get(last.saturating_sub(1)).copied().unwrap_or(0);
            }
        }
        std::hint::black_box(acc);
    }

    /// Like [`Self::touch_channels`], for the pool text of the extras of `rows`.
    fn touch_extras(&self, rows: &[BidText]) {
        let pool = self.extra_pool.as_bytes();
        let mut acc = 0u8;
        for t in rows {
            let start = t.extra_start as usize;
            let last = (start + t.extra_len as usize).saturating_sub(1);
            acc ^= pool.get(start).copied().unwrap_or(0);
            acc ^= pool.get(last).copied().unwrap_or(0);
        }
        std::hint::black_box(acc);
    }

    /// A bid's channel index: hot with P = 1/2, else one of 10 000 numbered ones.
    fn pick_channel(&self, rng: &mut SplitMix64) -> u32 {
        if rng.next_int(HOT_CHANNELS_RATIO) > 0 {
            CHANNELS_NUMBER + rng.next_int(HOT_CHANNELS.len() as u32)
        } else {
            rng.next_int(CHANNELS_NUMBER)
        }
    }

    /// A random start for an `extra` of `len` bytes in the pool.
    fn pick_extra_start(&self, rng: &mut SplitMix64, len: usize) -> usize {
        let pool_len = self.extra_pool.len();
        if len <= pool_len {
            rng.below((pool_len - len + 1) as u64) as usize
        } else {
            0
        }
    }

    /// Appends an `extra` of `len` bytes cut from the pool at a random offset.
    fn append_extra(&self, rng: &mut SplitMix64, len: usize, out: &mut StringBuilder) {
        let start = self.pick_extra_start(rng, len);
        self.append_extra_at(start, len, out);
    }

    /// Appends the `len` pool bytes at `start`; repeats the pool from its
    /// beginning when `len` exceeds it (only with a huge `avg-size`).
    fn append_extra_at(&self, start: usize, len: usize, out: &mut StringBuilder) {
        let pool = self.extra_pool.as_str();
        if let Some(text) = pool.get(start..start + len) {
            out.append_value(text);
        } else {
            let mut text = String::with_capacity(len);
            while text.len() < len {
                let take = (len - text.len()).min(pool.len());
                text.push_str(pool.get(..take).unwrap_or_default());
            }
            out.append_value(&text);
        }
    }
}

/// `https://www.nexmark.com/<s>/<s>/<s>/item.htm?query=1` with `s` from
/// `nextString(5, '_')`.
fn base_url(rng: &mut SplitMix64) -> String {
    let mut url = String::with_capacity(96);
    url.push_str("https://www.nexmark.com/");
    for _ in 0..3 {
        push_next_string(rng, 5, '_', &mut url);
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

// ---------------------------------------------------------------------------
// Id arithmetic

/// The kind of an event, decided by `eventId % totalProportion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Person,
    Auction,
    Bid,
}

/// An event id split into its block of `totalProportion` ids and its offset
/// in the block, tracked incrementally to avoid a division per id rule.
#[derive(Debug, Clone, Copy)]
struct EventPos {
    id: i64,
    epoch: i64,
    offset: i64,
}

/// Everything fixed for the lifetime of one generator.
struct Model {
    person_proportion: i64,
    auction_proportion: i64,
    total_proportion: i64,
    hot_auction_ratio: u32,
    hot_bidders_ratio: u32,
    hot_sellers_ratio: u32,
    person_avg_size: i64,
    auction_avg_size: i64,
    bid_extra: ExtraSize,
    base_time_ms: i64,
    inter_event_delay_us: f64,
    num_events_for_auctions: i64,
    event_key: u64,
    tables: Tables,
}

impl Model {
    fn new(cfg: &NexmarkConfig, num_generators: usize) -> Self {
        let person = i64::from(cfg.person_proportion);
        let auction = i64::from(cfg.auction_proportion);
        let total = (person + auction + i64::from(cfg.bid_proportion)).max(1);
        let num_events_for_auctions = if auction > 0 {
            NUM_IN_FLIGHT_AUCTIONS * total / auction
        } else {
            0
        };
        Self {
            person_proportion: person,
            auction_proportion: auction,
            total_proportion: total,
            hot_auction_ratio: cfg.hot_auction_ratio.max(1),
            hot_bidders_ratio: cfg.hot_bidders_ratio.max(1),
            hot_sellers_ratio: cfg.hot_sellers_ratio.max(1),
            person_avg_size: i64::from(cfg.person_avg_size),
            auction_avg_size: i64::from(cfg.auction_avg_size),
            // A bid's fixed fields count 8 + 8 + 8 + 8 bytes.
            bid_extra: ExtraSize::new(32, i64::from(cfg.bid_avg_size)),
            base_time_ms: cfg.base_time_ms,
            inter_event_delay_us: 1_000_000.0 / f64::from(cfg.first_event_rate.max(1))
                * num_generators as f64,
            num_events_for_auctions,
            event_key: mix64(cfg.seed ^ EVENT_DOMAIN),
            tables: Tables::new(cfg.seed),
        }
    }

    /// `timestampForEvent(n) = baseTime + (long)(n * interEventDelayUs) / 1000`.
    fn timestamp(&self, event_number: i64) -> i64 {
        let us = (event_number as f64 * self.inter_event_delay_us) as i64;
        self.base_time_ms.wrapping_add(us / 1000)
    }

    fn pos(&self, id: i64) -> EventPos {
        EventPos {
            id,
            epoch: id / self.total_proportion,
            offset: id % self.total_proportion,
        }
    }

    fn advance(&self, pos: &mut EventPos) {
        pos.id += 1;
        pos.offset += 1;
        if pos.offset == self.total_proportion {
            pos.offset = 0;
            pos.epoch += 1;
        }
    }

    fn kind(&self, pos: EventPos) -> Kind {
        if pos.offset < self.person_proportion {
            Kind::Person
        } else if pos.offset < self.person_proportion + self.auction_proportion {
            Kind::Auction
        } else {
            Kind::Bid
        }
    }

    /// The random stream of one event: a function of the seed and the id only.
    fn event_rng(&self, pos: EventPos) -> SplitMix64 {
        SplitMix64::new(mix64(pos.id as u64 ^ self.event_key))
    }

    /// `PersonGenerator.lastBase0PersonId`.
    fn last_base0_person_id(&self, pos: EventPos) -> i64 {
        let offset = if pos.offset >= self.person_proportion {
            self.person_proportion - 1
        } else {
            pos.offset
        };
        pos.epoch * self.person_proportion + offset
    }

    /// `AuctionGenerator.lastBase0AuctionId`.
    fn last_base0_auction_id(&self, pos: EventPos) -> i64 {
        let (epoch, offset) = if pos.offset < self.person_proportion {
            (pos.epoch - 1, self.auction_proportion - 1)
        } else if pos.offset >= self.person_proportion + self.auction_proportion {
            (pos.epoch, self.auction_proportion - 1)
        } else {
            (pos.epoch, pos.offset - self.person_proportion)
        };
        epoch * self.auction_proportion + offset
    }

    /// `PersonGenerator.nextBase0PersonId`: an active person or a few ahead.
    fn next_base0_person_id(&self, pos: EventPos, rng: &mut SplitMix64) -> i64 {
        let num_people = self.last_base0_person_id(pos) + 1;
        let active = num_people.min(NUM_ACTIVE_PEOPLE);
        let n = rng.next_long(active + PERSON_ID_LEAD);
        num_people - active + n
    }

    /// `AuctionGenerator.nextBase0AuctionId`: an in-flight auction or a few ahead.
    fn next_base0_auction_id(&self, pos: EventPos, rng: &mut SplitMix64) -> i64 {
        let max = self.last_base0_auction_id(pos);
        let min = (max - NUM_IN_FLIGHT_AUCTIONS).max(0);
        min + rng.next_long(max - min + 1 + AUCTION_ID_LEAD)
    }

    /// Seller of an auction (base 0): the block's first person when hot.
    fn next_seller(&self, pos: EventPos, rng: &mut SplitMix64) -> i64 {
        if rng.next_int(self.hot_sellers_ratio) > 0 {
            (self.last_base0_person_id(pos) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        } else {
            self.next_base0_person_id(pos, rng)
        }
    }

    /// Auction a bid names (base 0): the block's first auction when hot.
    fn next_bid_auction(&self, pos: EventPos, rng: &mut SplitMix64) -> i64 {
        if rng.next_int(self.hot_auction_ratio) > 0 {
            (self.last_base0_auction_id(pos) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
        } else {
            self.next_base0_auction_id(pos, rng)
        }
    }

    /// Bidder of a bid (base 0): the block's second person when hot.
    fn next_bidder(&self, pos: EventPos, rng: &mut SplitMix64) -> i64 {
        if rng.next_int(self.hot_bidders_ratio) > 0 {
            (self.last_base0_person_id(pos) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
        } else {
            self.next_base0_person_id(pos, rng)
        }
    }

    /// `expires` of an auction generated as event number `number` at `ts`.
    fn auction_expires(&self, number: i64, ts: i64, rng: &mut SplitMix64) -> i64 {
        let horizon = self.timestamp(number + self.num_events_for_auctions) - ts;
        ts + 1 + rng.next_long((horizon * 2).max(1))
    }
}

// ---------------------------------------------------------------------------
// Column builders

/// Builds an `Int64` child that shares its parent struct's validity.
fn int64_child(values: Vec<i64>, nulls: &NullBuffer) -> ArrayRef {
    Arc::new(Int64Array::new(values.into(), Some(nulls.clone())))
}

/// Builds a `Timestamp(ms)` child that shares its parent struct's validity.
fn timestamp_child(values: Vec<i64>, nulls: &NullBuffer) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::new(
        values.into(),
        Some(nulls.clone()),
    ))
}

/// Finishes a string child (its nulls were appended alongside the parent's).
fn string_child(mut builder: StringBuilder) -> ArrayRef {
    Arc::new(builder.finish())
}

/// Assembles a struct column from its children and validity.
fn struct_column(fields: &Fields, children: Vec<ArrayRef>, nulls: NullBuffer) -> ArrayRef {
    Arc::new(StructArray::new(fields.clone(), children, Some(nulls)))
}

/// Builders of the `person` column.
struct PersonColumns {
    valid: BooleanBufferBuilder,
    id: Vec<i64>,
    name: StringBuilder,
    email: StringBuilder,
    credit_card: StringBuilder,
    city: StringBuilder,
    state: StringBuilder,
    date_time: Vec<i64>,
    extra: StringBuilder,
}

impl PersonColumns {
    fn with_capacity(rows: usize) -> Self {
        Self {
            valid: BooleanBufferBuilder::new(rows),
            id: Vec::with_capacity(rows),
            name: StringBuilder::with_capacity(rows, rows),
            email: StringBuilder::with_capacity(rows, rows),
            credit_card: StringBuilder::with_capacity(rows, rows),
            city: StringBuilder::with_capacity(rows, rows),
            state: StringBuilder::with_capacity(rows, rows),
            date_time: Vec::with_capacity(rows),
            extra: StringBuilder::with_capacity(rows, rows),
        }
    }

    fn append_null(&mut self) {
        self.valid.append(false);
        self.id.push(0);
        self.name.append_null();
        self.email.append_null();
        self.credit_card.append_null();
        self.city.append_null();
        self.state.append_null();
        self.date_time.push(0);
        self.extra.append_null();
    }

    /// `PersonGenerator.nextPerson`.
    fn append(&mut self, m: &Model, pos: EventPos, ts: i64, scratch: &mut String) {
        let mut rng = m.event_rng(pos);
        self.valid.append(true);
        self.id.push(m.last_base0_person_id(pos) + FIRST_PERSON_ID);
        let mut size = 8;

        scratch.clear();
        scratch.push_str(rng.pick(&FIRST_NAMES));
        scratch.push(' ');
        scratch.push_str(rng.pick(&LAST_NAMES));
        size += scratch.len();
        self.name.append_value(scratch.as_str());

        scratch.clear();
        push_next_string(&mut rng, 7, ' ', scratch);
        scratch.push('@');
        push_next_string(&mut rng, 5, ' ', scratch);
        scratch.push_str(".com");
        size += scratch.len();
        self.email.append_value(scratch.as_str());

        scratch.clear();
        push_credit_card(&mut rng, scratch);
        size += scratch.len();
        self.credit_card.append_value(scratch.as_str());

        let city = rng.pick(&US_CITIES);
        let state = rng.pick(&US_STATES);
        size += city.len() + state.len();
        self.city.append_value(city);
        self.state.append_value(state);
        self.date_time.push(ts);

        let len = next_extra_len(&mut rng, size as i64, m.person_avg_size);
        m.tables.append_extra(&mut rng, len, &mut self.extra);
    }

    fn finish(mut self, fields: &Fields) -> ArrayRef {
        let nulls = NullBuffer::new(self.valid.finish());
        let children = vec![
            int64_child(self.id, &nulls),
            string_child(self.name),
            string_child(self.email),
            string_child(self.credit_card),
            string_child(self.city),
            string_child(self.state),
            timestamp_child(self.date_time, &nulls),
            string_child(self.extra),
        ];
        struct_column(fields, children, nulls)
    }
}

/// Four `%04d` groups joined by spaces.
fn push_credit_card(rng: &mut SplitMix64, out: &mut String) {
    for group in 0..4 {
        if group > 0 {
            out.push(' ');
        }
        let mut v = rng.next_int(10_000);
        let mut digits = [b'0'; 4];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        for d in digits {
            out.push(char::from(d));
        }
    }
}

/// Builders of the `auction` column.
struct AuctionColumns {
    valid: BooleanBufferBuilder,
    id: Vec<i64>,
    item_name: StringBuilder,
    description: StringBuilder,
    initial_bid: Vec<i64>,
    reserve: Vec<i64>,
    date_time: Vec<i64>,
    expires: Vec<i64>,
    seller: Vec<i64>,
    category: Vec<i64>,
    extra: StringBuilder,
}

impl AuctionColumns {
    fn with_capacity(rows: usize) -> Self {
        Self {
            valid: BooleanBufferBuilder::new(rows),
            id: Vec::with_capacity(rows),
            item_name: StringBuilder::with_capacity(rows, rows),
            description: StringBuilder::with_capacity(rows, rows * 4),
            initial_bid: Vec::with_capacity(rows),
            reserve: Vec::with_capacity(rows),
            date_time: Vec::with_capacity(rows),
            expires: Vec::with_capacity(rows),
            seller: Vec::with_capacity(rows),
            category: Vec::with_capacity(rows),
            extra: StringBuilder::with_capacity(rows, rows * 24),
        }
    }

    fn append_null(&mut self) {
        self.valid.append(false);
        self.id.push(0);
        self.item_name.append_null();
        self.description.append_null();
        self.initial_bid.push(0);
        self.reserve.push(0);
        self.date_time.push(0);
        self.expires.push(0);
        self.seller.push(0);
        self.category.push(0);
        self.extra.append_null();
    }

    /// `AuctionGenerator.nextAuction`.
    fn append(&mut self, m: &Model, pos: EventPos, number: i64, ts: i64, scratch: &mut String) {
        let mut rng = m.event_rng(pos);
        self.valid.append(true);
        self.id
            .push(m.last_base0_auction_id(pos) + FIRST_AUCTION_ID);
        self.seller
            .push(m.next_seller(pos, &mut rng) + FIRST_PERSON_ID);
        self.category
            .push(FIRST_CATEGORY_ID + i64::from(rng.next_int(NUM_CATEGORIES)));
        let initial_bid = next_price(&mut rng);
        self.initial_bid.push(initial_bid);
        self.expires.push(m.auction_expires(number, ts, &mut rng));
        self.date_time.push(ts);

        scratch.clear();
        push_next_string(&mut rng, 20, ' ', scratch);
        let mut size = 8 + scratch.len() + 40;
        self.item_name.append_value(scratch.as_str());
        scratch.clear();
        push_next_string(&mut rng, 100, ' ', scratch);
        size += scratch.len();
        self.description.append_value(scratch.as_str());

        self.reserve.push(initial_bid + next_price(&mut rng));
        let len = next_extra_len(&mut rng, size as i64, m.auction_avg_size);
        m.tables.append_extra(&mut rng, len, &mut self.extra);
    }

    fn finish(mut self, fields: &Fields) -> ArrayRef {
        let nulls = NullBuffer::new(self.valid.finish());
        let children = vec![
            int64_child(self.id, &nulls),
            string_child(self.item_name),
            string_child(self.description),
            int64_child(self.initial_bid, &nulls),
            int64_child(self.reserve, &nulls),
            timestamp_child(self.date_time, &nulls),
            timestamp_child(self.expires, &nulls),
            int64_child(self.seller, &nulls),
            int64_child(self.category, &nulls),
            string_child(self.extra),
        ];
        struct_column(fields, children, nulls)
    }
}

/// The strings of one bid row, resolved when the column is finished.
#[derive(Debug, Clone, Copy)]
struct BidText {
    /// Index into the channel table, or [`BidText::NULL_ROW`].
    channel: u32,
    extra_start: u32,
    extra_len: u32,
}

impl BidText {
    /// Marks a row whose bid is null.
    const NULL_ROW: u32 = u32::MAX;
}

/// Builders of the `bid` column.
///
/// The string fields are copied from the channel table and the extra pool,
/// both too large for the L2 cache at random offsets. Recording only the
/// offsets per row and copying the strings in a tight loop at the end lets
/// the CPU overlap the cache misses of many rows instead of stalling on each.
struct BidColumns {
    valid: BooleanBufferBuilder,
    auction: Vec<i64>,
    bidder: Vec<i64>,
    price: Vec<i64>,
    date_time: Vec<i64>,
    text: Vec<BidText>,
}

impl BidColumns {
    fn with_capacity(rows: usize) -> Self {
        Self {
            valid: BooleanBufferBuilder::new(rows),
            auction: Vec::with_capacity(rows),
            bidder: Vec::with_capacity(rows),
            price: Vec::with_capacity(rows),
            date_time: Vec::with_capacity(rows),
            text: Vec::with_capacity(rows),
        }
    }

    fn append_null(&mut self) {
        self.valid.append(false);
        self.auction.push(0);
        self.bidder.push(0);
        self.price.push(0);
        self.date_time.push(0);
        self.text.push(BidText {
            channel: BidText::NULL_ROW,
            extra_start: 0,
            extra_len: 0,
        });
    }

    /// `BidGenerator.nextBid`, including the doubled person offset.
    fn append(&mut self, m: &Model, pos: EventPos, ts: i64) {
        let mut rng = m.event_rng(pos);
        self.valid.append(true);
        self.auction
            .push(m.next_bid_auction(pos, &mut rng) + FIRST_AUCTION_ID);
        self.bidder
            .push(m.next_bidder(pos, &mut rng) + 2 * FIRST_PERSON_ID);
        self.price.push(next_price(&mut rng));
        let channel = m.tables.pick_channel(&mut rng);
        self.date_time.push(ts);
        let extra_len = m.bid_extra.draw(&mut rng);
        let extra_start = m.tables.pick_extra_start(&mut rng, extra_len);
        self.text.push(BidText {
            channel,
            extra_start: u32::try_from(extra_start).unwrap_or(0),
            extra_len: u32::try_from(extra_len).unwrap_or(u32::MAX),
        });
    }

    /// Copies channel names and URLs into their builders.
    fn channel_children(&self, tables: &Tables) -> (ArrayRef, ArrayRef) {
        let rows = self.text.len();
        let mut channel = StringBuilder::with_capacity(rows, rows * 12);
        let mut url = StringBuilder::with_capacity(rows, rows * 72);
        let chunks: Vec<&[BidText]> = self.text.chunks(TOUCH_CHUNK).collect();
        tables.touch_channels(chunks.first().copied().unwrap_or_default());
        for (i, chunk) in chunks.iter().enumerate() {
            tables.touch_channels(chunks.get(i + 1).copied().unwrap_or_default());
            for t in *chunk {
                if t.channel == BidText::NULL_ROW {
                    channel.append_null();
                    url.append_null();
                } else {
                    let (name, link) = tables.channel(t.channel as usize).unwrap_or_default();
                    channel.append_value(name);
                    url.append_value(link);
                }
            }
        }
        (string_child(channel), string_child(url))
    }

    /// Copies the `extra` texts into their builder.
    fn extra_child(&self, tables: &Tables) -> ArrayRef {
        let rows = self.text.len();
        let mut extra = StringBuilder::with_capacity(rows, rows * 72);
        let chunks: Vec<&[BidText]> = self.text.chunks(TOUCH_CHUNK).collect();
        tables.touch_extras(chunks.first().copied().unwrap_or_default());
        for (i, chunk) in chunks.iter().enumerate() {
            tables.touch_extras(chunks.get(i + 1).copied().unwrap_or_default());
            for t in *chunk {
                if t.channel == BidText::NULL_ROW {
                    extra.append_null();
                } else {
                    let (start, len) = (t.extra_start as usize, t.extra_len as usize);
                    tables.append_extra_at(start, len, &mut extra);
                }
            }
        }
        string_child(extra)
    }

    fn finish(mut self, fields: &Fields, tables: &Tables) -> ArrayRef {
        let nulls = NullBuffer::new(self.valid.finish());
        let (channel, url) = self.channel_children(tables);
        let extra = self.extra_child(tables);
        let children = vec![
            int64_child(self.auction, &nulls),
            int64_child(self.bidder, &nulls),
            int64_child(self.price, &nulls),
            channel,
            url,
            timestamp_child(self.date_time, &nulls),
            extra,
        ];
        struct_column(fields, children, nulls)
    }
}

/// The builders of one batch; `None` for columns not projected.
struct BatchColumns {
    event_type: Option<Vec<i32>>,
    person: Option<PersonColumns>,
    auction: Option<AuctionColumns>,
    bid: Option<BidColumns>,
}

impl BatchColumns {
    fn new(wanted: [bool; 4], rows: usize) -> Self {
        Self {
            event_type: wanted[EVENT_TYPE_COLUMN].then(|| Vec::with_capacity(rows)),
            person: wanted[PERSON_COLUMN].then(|| PersonColumns::with_capacity(rows)),
            auction: wanted[AUCTION_COLUMN].then(|| AuctionColumns::with_capacity(rows)),
            bid: wanted[BID_COLUMN].then(|| BidColumns::with_capacity(rows)),
        }
    }

    /// Appends one event to every projected column.
    fn append(&mut self, m: &Model, pos: EventPos, number: i64, scratch: &mut String) {
        let ts = m.timestamp(number);
        let kind = m.kind(pos);
        if let Some(types) = self.event_type.as_mut() {
            types.push(match kind {
                Kind::Person => EVENT_TYPE_PERSON,
                Kind::Auction => EVENT_TYPE_AUCTION,
                Kind::Bid => EVENT_TYPE_BID,
            });
        }
        if let Some(p) = self.person.as_mut() {
            match kind {
                Kind::Person => p.append(m, pos, ts, scratch),
                _ => p.append_null(),
            }
        }
        if let Some(a) = self.auction.as_mut() {
            match kind {
                Kind::Auction => a.append(m, pos, number, ts, scratch),
                _ => a.append_null(),
            }
        }
        if let Some(b) = self.bid.as_mut() {
            match kind {
                Kind::Bid => b.append(m, pos, ts),
                _ => b.append_null(),
            }
        }
    }

    /// The finished arrays, indexed like the schema.
    fn finish(self, fields: &[Fields; 3], tables: &Tables) -> [Option<ArrayRef>; 4] {
        let [person_fields, auction_fields, bid_fields] = fields;
        [
            self.event_type
                .map(|v| Arc::new(Int32Array::new(v.into(), None)) as ArrayRef),
            self.person.map(|p| p.finish(person_fields)),
            self.auction.map(|a| a.finish(auction_fields)),
            self.bid.map(|b| b.finish(bid_fields, tables)),
        ]
    }
}

// ---------------------------------------------------------------------------
// The generator

/// Generates the events of one split of a `nexmark` table as record batches.
///
/// A split is Flink's `GeneratorConfig.split(n)` part `i`: a disjoint range
/// of event ids on its own event-time timeline that starts at `base-time`.
pub struct NexmarkGenerator {
    model: Model,
    schema: SchemaRef,
    struct_fields: [Fields; 3],
    first_event_id: i64,
    total: u64,
    emitted: u64,
    scratch: String,
}

impl NexmarkGenerator {
    /// Creates the generator of split `split_index` out of `num_splits`.
    ///
    /// Split `i` starts at event id `1 + i * (maxEvents / n)` and holds
    /// `maxEvents / n` events, the last split also taking the remainder; all
    /// splits start at event number 1. `num_splits` also scales the
    /// inter-event delay, so the rate is `first-event.rate` over all splits.
    /// A non-negative `stop-at` is divided the same way. A `num_splits` of 0
    /// counts as 1; a `split_index` outside the splits gives an empty split.
    pub fn new(cfg: &NexmarkConfig, split_index: usize, num_splits: usize) -> Self {
        let n = num_splits.max(1);
        let (first_event_id, total) = split_range(cfg, split_index, n);
        Self {
            model: Model::new(cfg, n),
            schema: nexmark_schema(),
            struct_fields: [person_fields(), auction_fields(), bid_fields()],
            first_event_id,
            total,
            emitted: 0,
            scratch: String::with_capacity(128),
        }
    }

    /// The next at most `max_rows` events (at least one is asked for), or
    /// `None` when the split is exhausted.
    ///
    /// `projection` lists the top-level columns of [`nexmark_schema`] wanted,
    /// in the order they appear in the batch (`None` means all); indices past
    /// the schema are ignored. Columns not listed are not generated at all,
    /// and the values of listed columns do not depend on the projection.
    pub fn next_batch(
        &mut self,
        max_rows: usize,
        projection: Option<&[usize]>,
    ) -> Option<RecordBatch> {
        let remaining = self.total - self.emitted;
        if remaining == 0 {
            return None;
        }
        let rows = usize::try_from(remaining)
            .map_or(max_rows, |r| r.min(max_rows))
            .max(1);
        let all = [EVENT_TYPE_COLUMN, PERSON_COLUMN, AUCTION_COLUMN, BID_COLUMN];
        let projection = projection.unwrap_or(&all);
        let mut wanted = [false; 4];
        for &i in projection {
            if let Some(w) = wanted.get_mut(i) {
                *w = true;
            }
        }

        let mut columns = BatchColumns::new(wanted, rows);
        let number0 = FIRST_EVENT_NUMBER + self.emitted as i64;
        let mut pos = self.model.pos(self.first_event_id + number0);
        for k in 0..rows {
            let number = number0 + k as i64;
            columns.append(&self.model, pos, number, &mut self.scratch);
            self.model.advance(&mut pos);
        }
        self.emitted += rows as u64;
        Some(self.assemble(
            columns.finish(&self.struct_fields, &self.model.tables),
            projection,
            rows,
        ))
    }

    /// Orders the finished arrays as `projection` asks and wraps them in a batch.
    fn assemble(
        &self,
        arrays: [Option<ArrayRef>; 4],
        projection: &[usize],
        rows: usize,
    ) -> RecordBatch {
        let mut fields = Vec::with_capacity(projection.len());
        let mut columns = Vec::with_capacity(projection.len());
        for &i in projection {
            if let Some(Some(array)) = arrays.get(i) {
                fields.push(Arc::clone(&self.schema.fields()[i]));
                columns.push(Arc::clone(array));
            }
        }
        let table = if columns.is_empty() {
            StructArray::new_empty_fields(rows, None)
        } else {
            StructArray::new(Fields::from(fields), columns, None)
        };
        RecordBatch::from(table)
    }

    /// Number of events this generator has produced so far.
    pub fn events_emitted(&self) -> u64 {
        self.emitted
    }

    /// Number of events this split produces in all (after `stop-at`).
    pub fn total_events(&self) -> u64 {
        self.total
    }

    /// Repositions the generator as if `events_emitted` events had been
    /// produced (clamped to [`Self::total_events`]), e.g. when restoring a
    /// checkpoint: the following events are exactly those of an
    /// uninterrupted run.
    pub fn set_events_emitted(&mut self, events_emitted: u64) {
        self.emitted = events_emitted.min(self.total);
    }

    /// Event time (epoch ms) of the next event, for pacing emission by wall
    /// clock when `max-emit-speed` is false. Past the end it is the time the
    /// next event would have had.
    pub fn event_timestamp_of_next(&self) -> i64 {
        self.model
            .timestamp(FIRST_EVENT_NUMBER + self.emitted as i64)
    }
}

/// `GeneratorConfig.maxEvents`: `events.num`, or when 0 a bound that keeps
/// Flink's size estimate from overflowing.
fn max_events(cfg: &NexmarkConfig) -> u64 {
    if cfg.events_num > 0 {
        return cfg.events_num;
    }
    let biggest = cfg
        .person_avg_size
        .max(cfg.auction_avg_size)
        .max(cfg.bid_avg_size)
        .max(1);
    i64::MAX as u64 / (cfg.total_proportion().max(1) * u64::from(biggest))
}

/// First event id and event count of split `index` out of `n` (`n >= 1`).
fn split_range(cfg: &NexmarkConfig, index: usize, n: usize) -> (i64, u64) {
    let n64 = n as u64;
    let max = max_events(cfg);
    let share = max / n64;
    let i = index as u64;
    let first_event_id = 1 + (i.min(n64) * share) as i64;
    let count = match index.cmp(&(n - 1)) {
        std::cmp::Ordering::Less => share,
        std::cmp::Ordering::Equal => max - share * (n64 - 1),
        std::cmp::Ordering::Greater => 0,
    };
    let limit = match u64::try_from(cfg.stop_at) {
        Ok(stop) if index + 1 < n => stop / n64,
        Ok(stop) => stop - (stop / n64) * (n64 - 1),
        Err(_) => u64::MAX,
    };
    (first_event_id, count.min(limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, Int64Type, TimestampMillisecondType};
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> NexmarkConfig {
        let options: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        NexmarkConfig::parse(&crate::TableDescriptor {
            name: "datagen".into(),
            schema: nexmark_schema(),
            options,
            partition_keys: Vec::new(),
            metadata: Vec::new(),
        })
        .unwrap()
    }

    fn struct_col<'a>(batch: &'a RecordBatch, name: &str) -> &'a StructArray {
        batch.column_by_name(name).unwrap().as_struct()
    }

    fn i64_child(s: &StructArray, name: &str) -> Vec<Option<i64>> {
        s.column_by_name(name)
            .unwrap()
            .as_primitive::<Int64Type>()
            .iter()
            .collect()
    }

    fn event_types(batch: &RecordBatch) -> Vec<i32> {
        batch
            .column_by_name("event_type")
            .unwrap()
            .as_primitive::<Int32Type>()
            .values()
            .to_vec()
    }

    /// The event time of every row, taken from whichever struct is set.
    fn row_times(batch: &RecordBatch) -> Vec<i64> {
        let types = event_types(batch);
        let times: Vec<_> = ["person", "auction", "bid"]
            .iter()
            .map(|c| {
                struct_col(batch, c)
                    .column_by_name("dateTime")
                    .unwrap()
                    .as_primitive::<TimestampMillisecondType>()
                    .clone()
            })
            .collect();
        types
            .iter()
            .enumerate()
            .map(|(row, t)| times[*t as usize].value(row))
            .collect()
    }

    #[test]
    fn schema_has_four_nullable_columns() {
        let schema = nexmark_schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["event_type", "person", "auction", "bid"]);
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
        let DataType::Struct(bid) = schema.field(BID_COLUMN).data_type() else {
            panic!("bid is a struct");
        };
        assert_eq!(bid.len(), 7);
        assert_eq!(bid[5].data_type(), &timestamp_ms());
    }

    #[test]
    fn stream_starts_as_flink_derives() {
        let mut g = NexmarkGenerator::new(&config(&[("events.num", "100")]), 0, 1);
        let batch = g.next_batch(100, None).unwrap();
        let types = event_types(&batch);
        // Rows 0, 1 are event ids 2, 3: auctions 1001 and 1002.
        assert_eq!(
            &types[..3],
            &[EVENT_TYPE_AUCTION, EVENT_TYPE_AUCTION, EVENT_TYPE_BID]
        );
        let auction_ids = i64_child(struct_col(&batch, "auction"), "id");
        assert_eq!(auction_ids[0], Some(1001));
        assert_eq!(auction_ids[1], Some(1002));
        // Ids 4..=49 are bids; id 50 (row 48) is person 1001.
        assert!(types[2..48].iter().all(|t| *t == EVENT_TYPE_BID));
        assert_eq!(types[48], EVENT_TYPE_PERSON);
        let person_ids = i64_child(struct_col(&batch, "person"), "id");
        assert_eq!(person_ids[48], Some(1001));
        // Ids 51..=53 are auctions 1003..=1005.
        assert_eq!(&auction_ids[49..52], &[Some(1003), Some(1004), Some(1005)]);
        // Exactly one struct is set per row.
        for row in 0..batch.num_rows() {
            let set = ["person", "auction", "bid"]
                .iter()
                .filter(|c| struct_col(&batch, c).is_valid(row))
                .count();
            assert_eq!(set, 1, "row {row}");
        }
    }

    #[test]
    fn proportions_over_10000_events() {
        let mut g = NexmarkGenerator::new(&config(&[("events.num", "10000")]), 0, 1);
        let mut counts = [0usize; 3];
        while let Some(batch) = g.next_batch(1024, Some(&[EVENT_TYPE_COLUMN])) {
            for t in event_types(&batch) {
                counts[t as usize] += 1;
            }
        }
        assert_eq!(counts, [200, 600, 9200]);
        assert_eq!(g.events_emitted(), 10_000);
        assert!(g.next_batch(10, None).is_none());
    }

    #[test]
    fn same_seed_same_batches_other_seed_differs() {
        let run = |seed: &str| {
            let cfg = config(&[("events.num", "3000"), ("seed", seed)]);
            let mut g = NexmarkGenerator::new(&cfg, 0, 1);
            let mut batches = Vec::new();
            while let Some(b) = g.next_batch(700, None) {
                batches.push(b);
            }
            batches
        };
        assert_eq!(run("7"), run("7"));
        assert_ne!(run("7"), run("8"));
    }

    #[test]
    fn values_do_not_depend_on_projection_or_batch_size() {
        let cfg = config(&[("events.num", "2000"), ("seed", "3")]);
        let mut whole = NexmarkGenerator::new(&cfg, 0, 1);
        let all = whole.next_batch(2000, None).unwrap();
        let mut bids_only = NexmarkGenerator::new(&cfg, 0, 1);
        let mut offset = 0;
        while let Some(b) = bids_only.next_batch(333, Some(&[BID_COLUMN])) {
            assert_eq!(b.num_columns(), 1);
            let expected = all.column(BID_COLUMN).slice(offset, b.num_rows());
            assert_eq!(b.column(0).to_data(), expected.to_data());
            offset += b.num_rows();
        }
        assert_eq!(offset, 2000);
    }

    #[test]
    fn projection_gives_only_wanted_columns() {
        let mut g = NexmarkGenerator::new(&config(&[("events.num", "100")]), 0, 1);
        let b = g
            .next_batch(10, Some(&[EVENT_TYPE_COLUMN, BID_COLUMN]))
            .unwrap();
        let names: Vec<_> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["event_type", "bid"]);
        let empty = g.next_batch(10, Some(&[])).unwrap();
        assert_eq!((empty.num_columns(), empty.num_rows()), (0, 10));
        assert_eq!(g.events_emitted(), 20);
    }

    #[test]
    fn two_splits_are_disjoint_and_sum_to_events_num() {
        let cfg = config(&[("events.num", "1001")]);
        let mut total = 0;
        let mut id_ranges = Vec::new();
        let mut auction_ids = Vec::new();
        for split in 0..2 {
            let mut g = NexmarkGenerator::new(&cfg, split, 2);
            total += g.total_events();
            let mut ids = Vec::new();
            while let Some(b) = g.next_batch(256, Some(&[AUCTION_COLUMN])) {
                ids.extend(
                    i64_child(struct_col(&b, "auction"), "id")
                        .into_iter()
                        .flatten(),
                );
            }
            let first = g.first_event_id + FIRST_EVENT_NUMBER;
            id_ranges.push((first, first + g.events_emitted() as i64 - 1));
            auction_ids.push(ids);
        }
        assert_eq!(total, 1001);
        assert_eq!(id_ranges, [(2, 501), (502, 1002)]);
        let last_of_first = auction_ids[0].iter().max().unwrap();
        let first_of_second = auction_ids[1].iter().min().unwrap();
        assert!(last_of_first < first_of_second);
        // Both splits start their event-time timelines at base-time.
        let a = NexmarkGenerator::new(&cfg, 0, 2);
        let b = NexmarkGenerator::new(&cfg, 1, 2);
        assert_eq!(a.event_timestamp_of_next(), b.event_timestamp_of_next());
        assert_eq!(NexmarkGenerator::new(&cfg, 2, 2).total_events(), 0);
    }

    #[test]
    fn second_split_starts_mid_stream() {
        let cfg = config(&[("events.num", "100")]);
        let mut g = NexmarkGenerator::new(&cfg, 1, 2);
        // Split 1 starts at firstEventId 51, so its first event ids are 52, 53
        // (auctions 1004 and 1005, as in the single-split stream) and then 54 (a bid).
        let b = g.next_batch(3, None).unwrap();
        assert_eq!(
            event_types(&b),
            [EVENT_TYPE_AUCTION, EVENT_TYPE_AUCTION, EVENT_TYPE_BID]
        );
        let ids = i64_child(struct_col(&b, "auction"), "id");
        assert_eq!(ids, [Some(1004), Some(1005), None]);
        let mut g = NexmarkGenerator::new(&cfg, 1, 2);
        let b = g.next_batch(50, Some(&[EVENT_TYPE_COLUMN])).unwrap();
        // Id 100 (row 48) is a person.
        assert_eq!(event_types(&b)[48], EVENT_TYPE_PERSON);
    }

    #[test]
    fn stop_at_is_divided_over_splits() {
        let cfg = config(&[("events.num", "1000"), ("stop-at", "301")]);
        let a = NexmarkGenerator::new(&cfg, 0, 2);
        let b = NexmarkGenerator::new(&cfg, 1, 2);
        assert_eq!((a.total_events(), b.total_events()), (150, 151));
    }

    #[test]
    fn id_rules_hold() {
        let cfg = config(&[("events.num", "20000"), ("seed", "11")]);
        let mut g = NexmarkGenerator::new(&cfg, 0, 1);
        let batch = g.next_batch(20000, None).unwrap();
        let bid = struct_col(&batch, "bid");
        let auction = struct_col(&batch, "auction");
        let bidders: Vec<i64> = i64_child(bid, "bidder").into_iter().flatten().collect();
        assert!(bidders.iter().all(|b| *b >= 2000));
        // Hot bidders (second person of a block of 100, plus 2000) are common.
        let hot = bidders.iter().filter(|b| (*b - 2000) % 100 == 1).count();
        assert!(hot * 2 > bidders.len(), "{hot} of {}", bidders.len());
        let categories: Vec<i64> = i64_child(auction, "category")
            .into_iter()
            .flatten()
            .collect();
        assert!(categories.iter().all(|c| (10..=14).contains(c)));
        for c in 10..=14 {
            assert!(categories.contains(&c));
        }
        let sellers: Vec<i64> = i64_child(auction, "seller").into_iter().flatten().collect();
        assert!(sellers.iter().all(|s| *s >= 1000));
        let auctions: Vec<i64> = i64_child(bid, "auction").into_iter().flatten().collect();
        assert!(auctions.iter().all(|a| *a >= 1000));
        let prices: Vec<i64> = i64_child(bid, "price").into_iter().flatten().collect();
        assert!(prices.iter().all(|p| (100..=100_000_000).contains(p)));
    }

    #[test]
    fn timestamps_follow_the_inter_event_delay() {
        let cfg = config(&[
            ("events.num", "5000"),
            ("first-event.rate", "3000"),
            ("base-time", "1000000"),
        ]);
        let mut g = NexmarkGenerator::new(&cfg, 0, 1);
        let batch = g.next_batch(5000, None).unwrap();
        let times = row_times(&batch);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        // Event number n = row + 1, delay 333.33.. us, truncated as in Java.
        for (row, t) in times.iter().enumerate() {
            let n = (row + 1) as f64;
            let expected = 1_000_000 + (n * (1_000_000.0 / 3000.0)) as i64 / 1000;
            assert_eq!(*t, expected, "row {row}");
        }
        assert_eq!(
            g.event_timestamp_of_next(),
            1_000_000 + (5001.0 * (1_000_000.0 / 3000.0)) as i64 / 1000
        );
        // Auctions expire after they start.
        let auction = struct_col(&batch, "auction");
        let start = auction
            .column_by_name("dateTime")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        let end = auction
            .column_by_name("expires")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        for row in 0..batch.num_rows() {
            if auction.is_valid(row) {
                assert!(end.value(row) > start.value(row));
            }
        }
    }

    #[test]
    fn strings_follow_the_generators() {
        let mut g = NexmarkGenerator::new(&config(&[("events.num", "5000")]), 0, 1);
        let batch = g.next_batch(5000, None).unwrap();
        let bid = struct_col(&batch, "bid");
        let channels = bid.column_by_name("channel").unwrap().as_string::<i32>();
        let urls = bid.column_by_name("url").unwrap().as_string::<i32>();
        let extras = bid.column_by_name("extra").unwrap().as_string::<i32>();
        let mut hot = 0;
        for row in 0..batch.num_rows() {
            if !bid.is_valid(row) {
                assert!(channels.is_null(row));
                continue;
            }
            let (channel, url) = (channels.value(row), urls.value(row));
            assert!(url.starts_with("https://www.nexmark.com/"), "{url}");
            assert_eq!(url.split('/').count(), 7, "{url}");
            if HOT_CHANNELS.contains(&channel) {
                hot += 1;
                assert!(!url.contains("channel_id"));
            } else {
                assert!(channel.starts_with("channel-"), "{channel}");
            }
            let extra = extras.value(row);
            assert!((54..=81).contains(&extra.len()), "{}", extra.len());
            assert!(extra.bytes().all(|c| (b'H'..=b'z').contains(&c)));
        }
        assert!(hot > 2000 && hot < 2600, "{hot}");
        let person = struct_col(&batch, "person");
        let emails = person
            .column_by_name("emailAddress")
            .unwrap()
            .as_string::<i32>();
        let cards = person
            .column_by_name("creditCard")
            .unwrap()
            .as_string::<i32>();
        for row in 0..batch.num_rows() {
            if person.is_valid(row) {
                assert!(emails.value(row).ends_with(".com"));
                assert_eq!(cards.value(row).len(), 19);
            }
        }
    }

    #[test]
    fn channel_ids_use_java_reverse_and_abs() {
        let tables = Tables::new(5);
        let channels: Vec<_> = (0..tables.channels.len())
            .map(|i| tables.channel(i).unwrap())
            .collect();
        assert_eq!(channels.len(), 10_004);
        assert_eq!(channels[10_003].0, "Apple");
        let with_id = channels
            .iter()
            .take(CHANNELS_NUMBER as usize)
            .filter(|(_, url)| url.contains("&channel_id="))
            .count();
        assert!(with_id > 8500 && with_id < 9500);
        // Integer.reverse(2) = 0x40000000; Math.abs(Integer.reverse(1)) stays MIN_VALUE.
        for (name, url) in &channels[..3] {
            if let Some((_, id)) = url.split_once("&channel_id=") {
                let expected = match *name {
                    "channel-0" => "0",
                    "channel-1" => "-2147483648",
                    _ => "1073741824",
                };
                assert_eq!(id, expected);
            }
        }
    }

    #[test]
    fn next_string_is_trimmed_and_bounded() {
        let mut rng = SplitMix64::new(1);
        for _ in 0..1000 {
            let mut s = String::new();
            push_next_string(&mut rng, 20, ' ', &mut s);
            assert!(s.len() <= 19);
            assert_eq!(s.trim(), s);
            let mut u = String::new();
            push_next_string(&mut rng, 5, '_', &mut u);
            assert!((3..=4).contains(&u.len()));
        }
    }

    #[test]
    fn restore_continues_the_same_stream() {
        let cfg = config(&[("events.num", "500"), ("seed", "9")]);
        let mut a = NexmarkGenerator::new(&cfg, 0, 1);
        a.next_batch(200, None);
        let expected = a.next_batch(100, None).unwrap();
        let mut b = NexmarkGenerator::new(&cfg, 0, 1);
        b.set_events_emitted(200);
        assert_eq!(b.next_batch(100, None).unwrap(), expected);
    }
}
