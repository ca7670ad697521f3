//! The resident memory of `riffle operator run`, a mostly idle process of a
//! large binary, kept to what it uses.
//!
//! Two things made an idle operator's resident set three times what it
//! needs (measured with `/proc/<pid>/smaps`, see `docs/benchmarks.md`):
//!
//! - **Transparent huge pages.** The allocator (mimalloc) asks for huge
//!   pages for its arenas, so a few kilobytes of live heap keep whole 2 MiB
//!   pages resident (10 MiB of an idle operator's 13.5 MiB anonymous
//!   memory). The operator's heap is small and its reconciliations are not
//!   TLB-bound, so it turns them off for itself (`PR_SET_THP_DISABLE`) as
//!   `main` begins; the other modes keep what they inherit. The allocator
//!   sets up its first arena before `main`, so the chart also sets
//!   `MIMALLOC_ALLOW_THP=0` for the operator's container (4 MiB less).
//! - **Start-up code.** The binary carries the whole engine; starting the
//!   operator touches code and read-only data (argument parsing, TLS set-up,
//!   the CRDs, configuration) that it never runs again, and the kernel maps
//!   64 KiB around every page touched. Once the operator has started, it
//!   asks the kernel to reclaim its executable's resident pages
//!   (`MADV_PAGEOUT`); what it runs afterwards comes back on first use, from
//!   the page cache.

use std::ffi::c_void;
use std::io;
use std::path::Path;
use std::ptr::NonNull;

use nix::sys::mman::{MmapAdvise, madvise};
use nix::sys::prctl;

/// Whether the process inherited "no transparent huge pages". Read and then
/// set before anything is allocated; `restore` gives the inherited value
/// back to modes that keep it.
#[derive(Debug, Clone, Copy)]
pub struct HugePages {
    inherited: bool,
}

impl HugePages {
    /// Turns transparent huge pages off for this process, remembering what
    /// it inherited. Allocates nothing.
    pub fn off() -> HugePages {
        let inherited = prctl::get_thp_disable().unwrap_or(false);
        // Best effort: a kernel without the setting keeps its default.
        let _ = prctl::set_thp_disable(true);
        HugePages { inherited }
    }

    /// Gives back the inherited setting (for every mode but the operator).
    pub fn restore(self) {
        if !self.inherited {
            let _ = prctl::set_thp_disable(false);
        }
    }
}

/// Asks the kernel to reclaim this process's resident pages of its own
/// executable; returns how many bytes of mappings were advised.
pub fn page_out_executable() -> io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut advised = 0;
    for (start, len) in mappings_of(&maps, &exe) {
        let Some(addr) = NonNull::new(start as *mut c_void) else {
            continue;
        };
        // SAFETY: `addr..addr + len` is a mapping of this process, as
        // `/proc/self/maps` lists it. MADV_PAGEOUT only reclaims: a clean
        // page of the file is dropped and read again on its next use, a
        // modified (relocated) one is written to swap or left resident. The
        // memory's contents never change, so no reference into it is
        // invalidated and nothing the program reads differs.
        unsafe { madvise(addr, len, MmapAdvise::MADV_PAGEOUT) }.map_err(io::Error::from)?;
        advised += len;
    }
    Ok(advised)
}

/// The `(start, length)` of each mapping of file `exe` in a
/// `/proc/<pid>/maps` text.
fn mappings_of(maps: &str, exe: &Path) -> Vec<(usize, usize)> {
    let exe = exe.to_string_lossy();
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            // perms, offset, device, inode, then the path.
            let path = fields.nth(4)?;
            if path != exe {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let start = usize::from_str_radix(a, 16).ok()?;
            let end = usize::from_str_radix(b, 16).ok()?;
            (end > start).then_some((start, end - start))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executables_mappings_are_picked() {
        let maps = "\
5555aa000000-5555aa400000 r--p 00000000 fd:01 123 /usr/bin/riffle
5555aa400000-5555ab000000 r-xp 00400000 fd:01 123 /usr/bin/riffle
5555ab000000-5555ab100000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 r--p 00000000 fd:01 456 /usr/lib/libc.so.6
7f0000002000-7f0000003000 rw-p 00000000 00:00 0
";
        assert_eq!(
            mappings_of(maps, Path::new("/usr/bin/riffle")),
            vec![(0x5555_aa00_0000, 0x40_0000), (0x5555_aa40_0000, 0xc0_0000)]
        );
    }

    #[test]
    fn this_process_can_page_out_its_executable() -> io::Result<()> {
        assert!(page_out_executable()? > 0);
        Ok(())
    }
}
