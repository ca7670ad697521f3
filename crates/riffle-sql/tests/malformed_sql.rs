//! Throws many malformed and random scripts at the parser and planner: every
//! one must come back as an `Err` (or plan), never as a panic.
//!
//! The scripts are mutations of valid ones — truncated, with tokens dropped,
//! duplicated or swapped, with random keywords and punctuation spliced in —
//! plus random token soup. A fixed-seed generator keeps failures repeatable;
//! set `RIFFLE_FUZZ_CASES` to run more.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use riffle_common::config::Configuration;
use riffle_runtime::metrics::JobMetrics;
use riffle_sql::Session;

const BASE: &str = include_str!("../../../examples/nexmark_q2.sql");

const QUERIES: &[&str] = &[
    "CREATE TABLE out1 (a BIGINT, b BIGINT) WITH ('connector' = 'blackhole');
     INSERT INTO out1 SELECT auction, COUNT(*) FROM bid GROUP BY auction;",
    "CREATE TABLE out2 (a BIGINT, s TIMESTAMP(3), e TIMESTAMP(3), c BIGINT) WITH ('connector' = 'blackhole');
     INSERT INTO out2 SELECT auction, window_start, window_end, COUNT(DISTINCT bidder) FILTER (WHERE price > 10)
     FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end;",
    "CREATE TABLE out3 (a BIGINT, s TIMESTAMP(3), e TIMESTAMP(3), c BIGINT) WITH ('connector' = 'blackhole');
     INSERT INTO out3 SELECT bidder, SESSION_START(`dateTime`, INTERVAL '5' SECOND), SESSION_END(`dateTime`, INTERVAL '5' SECOND), COUNT(*)
     FROM bid GROUP BY bidder, SESSION(`dateTime`, INTERVAL '5' SECOND);",
    "CREATE TABLE out4 (a BIGINT, p BIGINT, r BIGINT) WITH ('connector' = 'blackhole');
     INSERT INTO out4 SELECT auction, price, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bid) WHERE rn <= 3;",
    "SET 'parallelism.default' = '2'; EXPLAIN SELECT channel, AVG(price), MAX(url) FROM bid WHERE price > 5 GROUP BY channel;",
    "CREATE VIEW v AS SELECT * FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND, INTERVAL '4' SECOND));
     SELECT window_start, SUM(price) FROM v GROUP BY window_start, window_end;",
];

const SPLICE: &[&str] = &[
    "(",
    ")",
    ",",
    ";",
    "'",
    "`",
    "\"",
    "*",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "TABLE",
    "TUMBLE(",
    "SESSION(",
    "DESCRIPTOR(",
    "INTERVAL",
    "'10'",
    "SECOND",
    "OVER (",
    "PARTITION BY",
    "ORDER BY",
    "ROW_NUMBER()",
    "NULL",
    "CAST(",
    "AS",
    "ROW<",
    ">",
    "DECIMAL(40, 50)",
    "TIMESTAMP(9)",
    "WATERMARK FOR",
    "WITH (",
    "'connector'",
    "=",
    "INSERT INTO",
    "CREATE TABLE",
    "EXECUTE STATEMENT SET BEGIN",
    "END",
    "-1",
    "99999999999999999999999",
    "1e400",
    "x'zz'",
    "\u{1F600}",
    "\0",
    "--",
    "/*",
    "COUNT(DISTINCT",
    "FILTER (WHERE",
    "HAVING",
    "LIMIT",
    "UNION ALL",
    "JOIN",
    "ON",
    "window_start",
    "rn <= 0",
];

/// xorshift64*: tiny, fixed-seed, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn tokens(s: &str) -> Vec<String> {
    s.split_inclusive(|c: char| c.is_whitespace() || "(),;".contains(c))
        .map(str::to_string)
        .collect()
}

fn mutate(rng: &mut Rng, script: &str) -> String {
    let mut t = tokens(script);
    for _ in 0..=rng.below(4) {
        let n = t.len();
        match rng.below(6) {
            0 => t.truncate(rng.below(n + 1)),
            1 if n > 0 => {
                t.remove(rng.below(n));
            }
            2 if n > 0 => {
                let i = rng.below(n);
                let dup = t[i].clone();
                t.insert(i, dup);
            }
            3 if n > 1 => {
                let (i, j) = (rng.below(n), rng.below(n));
                t.swap(i, j);
            }
            _ => {
                let piece = SPLICE[rng.below(SPLICE.len())];
                t.insert(rng.below(n + 1), format!(" {piece} "));
            }
        }
    }
    t.concat()
}

fn soup(rng: &mut Rng) -> String {
    (0..rng.below(40))
        .map(|_| SPLICE[rng.below(SPLICE.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn malformed_scripts_never_panic() {
    let cases: usize = std::env::var("RIFFLE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let metrics = Arc::new(JobMetrics::default());
    let mut errors = 0;
    for case in 0..cases {
        let script = if case % 10 == 0 {
            soup(&mut rng)
        } else {
            let q = QUERIES[rng.below(QUERIES.len())];
            let whole = format!("{BASE}\n{q}");
            mutate(&mut rng, &whole)
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut s = Session::new(Configuration::new());
            let planned = s.run_script(&script, &metrics).is_ok();
            let mut s = Session::new(Configuration::new());
            let explained = s.explain_script(&script, &metrics).is_ok();
            planned && explained
        }));
        match outcome {
            Ok(ok) => errors += usize::from(!ok),
            Err(_) => panic!("case {case} panicked on:\n{script}"),
        }
    }
    // Most mutations must be rejected, or the mutator is not mutating.
    assert!(
        errors > cases / 4,
        "only {errors} of {cases} scripts failed"
    );
}

#[test]
fn the_unmutated_scripts_plan() {
    let metrics = Arc::new(JobMetrics::default());
    for q in QUERIES {
        let mut s = Session::new(Configuration::new());
        let script = format!("{BASE}\n{q}");
        if let Err(e) = s.run_script(&script, &metrics) {
            panic!("{q}\nfailed: {e}");
        }
    }
}
