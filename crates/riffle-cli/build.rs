//! Link-time layout of the `riffle` executable for the operator's resident memory.
//!
//! `riffle operator run` is a long-lived, mostly idle process of a binary that carries the
//! whole engine. Its steady work (the periodic reconciliations, the watches, the Lease, the
//! probes) runs a few thousand functions that the default layout spreads over the executable's
//! code, and the kernel maps code 64 KiB around every page touched, so the steady operator kept
//! ~10 MB of code resident for what fits in a few (see `docs/benchmarks.md`).
//!
//! `operator-symbol-order.txt` names those functions, recorded from a profiled steady operator
//! by `bench/operator_symbol_order.sh`; the linker lays them out first and next to each other.
//! The order changes nothing but addresses: a name that no longer exists (renamed code, another
//! compiler) is skipped without a warning, and the layout of everything else stays the
//! compiler's. Only for x86-64 Linux, whose default linker (lld) reads such a file.

use std::env;
use std::path::PathBuf;

const ORDER: &str = "operator-symbol-order.txt";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=RIFFLE_NO_SYMBOL_ORDER");
    let linux_x86_64 = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let opted_out = env::var_os("RIFFLE_NO_SYMBOL_ORDER").is_some();
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return;
    };
    let order = dir.join(ORDER);
    if !(linux_x86_64 && !opted_out && order.is_file()) {
        return;
    }
    // The linker reads a copy in OUT_DIR: the target directory may be shared
    // by several clones (CI caches it), and a cached build-script output
    // naming another clone's file would fail the link once that clone is gone.
    let Some(copy) = env::var_os("OUT_DIR").map(|d| PathBuf::from(d).join(ORDER)) else {
        return;
    };
    if std::fs::copy(&order, &copy).is_err() {
        println!("cargo:warning=cannot copy {ORDER} to OUT_DIR; linking without it");
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        copy.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
