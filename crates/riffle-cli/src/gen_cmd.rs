//! `riffle gen`: write generated data as files other engines can read.
//!
//! `riffle gen nexmark --events N --out DIR` runs the job
//! `INSERT INTO files SELECT event_type, person, auction, bid FROM datagen`
//! with the `nexmark` connector and a `filesystem` json sink, so the events
//! are exactly those the connector produces, in Flink's JSON format.
//!
//! `riffle gen nexmark-side-input --out FILE` writes the side table of
//! Nexmark's q13 as the benchmark's side-input generator does: one line
//! `i,i` for each `i` below `--events` (10 000 by default). q13 reads it
//! from `${FLINK_HOME}/data/side_input.txt`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::run::{RunArgs, run};

/// Arguments of `riffle gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// What to generate: `nexmark` or `nexmark-side-input`.
    pub what: String,
    /// Number of events (default 1 000 000), or of side-input rows (default 10 000).
    #[arg(long)]
    pub events: Option<u64>,
    /// Output directory (one JSON file per generator split); for the side
    /// input, the file to write.
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
    match args.what.as_str() {
        "nexmark" => {}
        "nexmark-side-input" => return side_input(&args),
        other => {
            anyhow::bail!("unknown generator '{other}'; available: nexmark, nexmark-side-input")
        }
    }
    let mut opts = vec![
        "'connector' = 'nexmark'".to_string(),
        format!("'events.num' = '{}'", args.events.unwrap_or(1_000_000)),
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

/// Writes q13's side input: `i,i` for `i` in `0..rows`.
fn side_input(args: &GenArgs) -> Result<ExitCode> {
    use anyhow::Context;
    use std::io::Write;
    let rows = args.events.unwrap_or(10_000);
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for i in 0..rows {
        writeln!(w, "{i},{i}")?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {rows} side-input rows to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("riffle-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
