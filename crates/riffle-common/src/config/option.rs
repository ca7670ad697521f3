//! Declarations of configuration keys: one [`ConfigOption`] per key, grouped
//! into one [`OptionTable`] per concern by the [`config_options!`] macro.
//!
//! A declaration holds everything Riffle knows about a key: its name, the
//! type of its value, Flink's default, the older names it falls back to, and a
//! one-line doc. Validation, typed reads, the unknown-key warning, `riffle
//! config` and the generated `docs/config.md` all read these tables, so a key
//! cannot be documented without being checked or the reverse.

use std::collections::BTreeMap;
use std::time::Duration;

use super::parse::{self, BadValue, Parsed, PortRange};

/// The type of a key's value, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueKind {
    /// Any text.
    Text,
    /// A host name or address: not empty, no spaces.
    Host,
    /// `true` or `false`, any case.
    Bool,
    /// An integer within the bounds.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A decimal number within the bounds.
    Float {
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// A Flink duration; `positive` refuses zero.
    Duration {
        /// Whether zero is refused.
        positive: bool,
    },
    /// A Flink memory size (`512mb`, `1g`).
    MemorySize,
    /// A TCP port, `0..=65535`.
    Port,
    /// A port or an inclusive range `N-M`.
    PortRange,
    /// One of the listed words, any case.
    Enum(&'static [&'static str]),
    /// A `;`-separated list.
    List,
    /// A `k1:v1,k2:v2` map.
    Map,
    /// `UTC`, `Z`, `GMT` or a fixed offset such as `+08:00`.
    TimeZone,
}

/// Flink's `Integer.MAX_VALUE`, the bound of its integer options.
pub const MAX_INT: i64 = i32::MAX as i64;

impl ValueKind {
    /// An integer of at least `min`, up to Flink's `Integer.MAX_VALUE`.
    pub const fn int_from(min: i64) -> Self {
        ValueKind::Int { min, max: MAX_INT }
    }

    /// Parses `text` as a value of this kind.
    pub fn parse(&self, text: &str) -> Parsed<Value> {
        Ok(match *self {
            ValueKind::Text => Value::Text(text.trim().to_string()),
            ValueKind::Host => Value::Text(parse::host(text)?),
            ValueKind::Bool => Value::Bool(parse::boolean(text)?),
            ValueKind::Int { min, max } => Value::Int(parse::integer(text, min..=max)?),
            ValueKind::Float { min, max } => Value::Float(parse::float(text, min..=max)?),
            ValueKind::Duration { positive } => {
                let d = parse::duration(text)?;
                // Durations are used in milliseconds, so "above zero" means at least 1 ms.
                if positive && d < std::time::Duration::from_millis(1) {
                    return Err(BadValue("expected a duration of at least 1 ms".into()));
                }
                Value::Duration(d)
            }
            ValueKind::MemorySize => Value::MemorySize(parse::memory_size(text)?),
            ValueKind::Port => Value::Int(i64::from(parse::port(text)?)),
            ValueKind::PortRange => Value::PortRange(PortRange::parse(text)?),
            ValueKind::Enum(allowed) => Value::Enum(parse::enumeration(text, allowed)?),
            ValueKind::List => Value::List(parse::list(text)?),
            ValueKind::Map => Value::Map(parse::map(text)?),
            ValueKind::TimeZone => {
                parse::time_zone_offset_ms(text)?;
                Value::Text(text.trim().to_string())
            }
        })
    }

    /// The type as the reference documentation names it.
    pub fn describe(&self) -> String {
        match *self {
            ValueKind::Text => "string".into(),
            ValueKind::Host => "host".into(),
            ValueKind::Bool => "boolean".into(),
            ValueKind::Int { min, max } if max == MAX_INT || max == i64::MAX => {
                format!("integer ≥ {min}")
            }
            ValueKind::Int { min, max } => format!("integer {min}..{max}"),
            ValueKind::Float { min, max } if max == f64::MAX => format!("number ≥ {min}"),
            ValueKind::Float { min, max } => format!("number {min}..{max}"),
            ValueKind::Duration { positive: true } => "duration > 0".into(),
            ValueKind::Duration { positive: false } => "duration".into(),
            ValueKind::MemorySize => "memory size".into(),
            ValueKind::Port => "port".into(),
            ValueKind::PortRange => "port or range N-M".into(),
            ValueKind::Enum(allowed) => format!("one of {}", allowed.join(", ")),
            ValueKind::List => "list (a;b)".into(),
            ValueKind::Map => "map (k1:v1,k2:v2)".into(),
            ValueKind::TimeZone => "time zone (UTC or ±HH:MM)".into(),
        }
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text, host names and time zones.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// An integer (ports too).
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// A duration.
    Duration(Duration),
    /// A memory size in bytes.
    MemorySize(u64),
    /// A port range.
    PortRange(PortRange),
    /// An enum value, spelled as declared.
    Enum(&'static str),
    /// A list.
    List(Vec<String>),
    /// A map.
    Map(BTreeMap<String, String>),
}

/// The declaration of one key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigOption {
    /// The key (Flink's name where Flink has the key).
    pub key: &'static str,
    /// The type of its value.
    pub kind: ValueKind,
    /// The default, in the text form a user would write; `None`: unset by default.
    pub default: Option<&'static str>,
    /// Older names read when `key` is not set, first match wins.
    pub fallback_keys: &'static [&'static str],
    /// One line saying what the key does.
    pub doc: &'static str,
}

/// The keys of one concern (execution, checkpointing, ...).
#[derive(Debug, Clone, Copy)]
pub struct OptionTable {
    /// The concern, as a heading.
    pub title: &'static str,
    /// What the keys have in common.
    pub doc: &'static str,
    /// The declarations, in the order they are documented.
    pub options: &'static [ConfigOption],
}

/// Declares the keys of one concern: a `pub const NAME: &str` per key and a
/// `pub const TABLE: OptionTable` listing them all.
///
/// ```ignore
/// config_options! {
///     /// When and how often checkpoints run.
///     CHECKPOINTING_OPTIONS = "Checkpointing" {
///         /// Checkpoint interval; unset = checkpointing disabled.
///         CHECKPOINTING_INTERVAL = "execution.checkpointing.interval":
///             ValueKind::Duration { positive: false }, default None, fallback [];
///     }
/// }
/// ```
#[macro_export]
macro_rules! config_options {
    (
        #[doc = $table_doc:literal]
        $table:ident = $title:literal {
            $(
                #[doc = $doc:literal]
                $name:ident = $key:literal : $kind:expr,
                    default $default:expr, fallback [$($fallback:literal),*];
            )*
        }
    ) => {
        $(
            #[doc = concat!("`", $key, "`:", $doc)]
            pub const $name: &str = $key;
        )*

        #[doc = $table_doc]
        pub const $table: $crate::config::OptionTable = $crate::config::OptionTable {
            title: $title,
            doc: $table_doc,
            options: &[
                $(
                    $crate::config::ConfigOption {
                        key: $key,
                        kind: $kind,
                        default: $default,
                        fallback_keys: &[$($fallback),*],
                        doc: $doc,
                    },
                )*
            ],
        };
    };
}
