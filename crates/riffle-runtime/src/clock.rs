//! Processing time: the wall clock, read through [`Clock`] so that tests of
//! processing-time behaviour (timers, state expiry) can move time by hand.

/// Processing time in epoch milliseconds. Operators read it through a
/// [`Clock`] so that tests can move time by hand.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where an operator's processing time comes from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The wall clock.
    #[default]
    System,
    /// A time set by a test.
    #[cfg(test)]
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    /// The current processing time in epoch milliseconds.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => now_ms(),
            #[cfg(test)]
            Clock::Manual(t) => t.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}
