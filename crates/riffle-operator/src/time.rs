//! Times as the resources write them: epoch milliseconds inside the
//! operator, RFC 3339 text in `status` fields that Flink spells that way.

/// Epoch milliseconds as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// RFC 3339 text as epoch milliseconds; `None` when it does not read.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_second_precision() {
        let ms = 1_700_000_123_000;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert_eq!(rfc3339(ms), "2023-11-14T22:15:23Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
