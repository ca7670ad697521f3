//! `riffle gen`: write generated data as files other engines can read.
//!
//! `riffle gen nexmark --events N --out DIR` runs the job
//! `INSERT INTO files SELECT event_type, person, auction, bid FROM datagen`
//! with the `nexmark` connector and a `filesystem` json sink, so the events
//! are exactly those the connector produces, in Flink's JSON format.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::run::{RunArgs, run};

/// Arguments of `riffle gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// What to generate: `nexmark`.
    pub what: String,
    /// Number of events.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Output directory (one JSON file per generator split).
    #[arg(long)]
    pub out: PathBuf,
    /// Extra `nexmark` connector options, `key=value`; repeatable (e.g. seed=7).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

/// The `datagen` table DDL of the Nexmark benchmark, with our connector options.
pub const NEXMARK_COLUMNS: &str = "
    event_type int,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>";

fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

/// Runs the generator job.
pub fn generate(args: GenArgs) -> Result<ExitCode> {
    if args.what != "nexmark" {
        anyhow::bail!("unknown generator '{}'; available: nexmark", args.what);
    }
    let mut opts = vec![
        "'connector' = 'nexmark'".to_string(),
        format!("'events.num' = '{}'", args.events),
    ];
    for o in &args.options {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--option expects key=value, got '{o}'"))?;
        opts.push(format!("'{}' = '{}'", quote(k.trim()), quote(v.trim())));
    }
    let sql = format!(
        "CREATE TABLE datagen ({NEXMARK_COLUMNS}) WITH ({});\n\
         CREATE TABLE files ({NEXMARK_COLUMNS}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         INSERT INTO files SELECT event_type, person, auction, bid FROM datagen;\n",
        opts.join(", "),
        quote(&args.out.to_string_lossy())
    );
    let dir = tempfile_dir()?;
    let file = dir.join("gen.sql");
    std::fs::write(&file, sql)?;
    let code = run(RunArgs {
        file,
        parallelism: Some(1),
        cluster: crate::client::Target {
            jobmanager: None,
            target: None,
            define: Vec::new(),
        },
        quiet: false,
        detached: false,
        from_savepoint: None,
        allow_non_restored_state: false,
    });
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("riffle-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
