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
//! - **Code run once.** The binary carries the whole engine; starting the
//!   operator touches code and read-only data (argument parsing, TLS set-up,
//!   the CRDs, configuration) that it never runs again, checking a new spec
//!   runs the SQL planner (the largest code it has), and the kernel maps
//!   64 KiB around every page touched. Once such work has settled
//!   (`riffle_operator::settle`), it unmaps its executable's read-only pages
//!   from its page tables (`MADV_DONTNEED`); what it runs afterwards is
//!   mapped again on first use, from the page cache, which keeps the file
//!   while memory allows. Its peak (`VmHWM`) still shows the burst.
//!   (`MADV_PAGEOUT` would say the same more politely, but the kernel takes
//!   it for a file's pages only from a process that may write the file, and
//!   a container's operator runs as a user that may not.)
//! - **Code spread out.** What the steady operator runs (~1 MB of
//!   functions) was spread over ~150 windows of 64 KiB. The link lays those
//!   functions out together (`build.rs`, `operator-symbol-order.txt`).

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

/// Drops this process's page-table entries of its own executable's
/// read-only mappings that hold no private copy of a page; returns how many
/// bytes of mappings that covered.
pub fn release_executable_pages() -> io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = 0;
    for (start, len) in uncopied_read_only_mappings(&smaps, &exe) {
        let Some(addr) = NonNull::new(start as *mut c_void) else {
            continue;
        };
        // SAFETY: `addr..addr + len` is a mapping of this process's
        // executable, private, without write permission, and without a
        // private copy of any page (`Anonymous: 0`; the relocated data is
        // read-only too but was copied when written at start, so it is not
        // among these). Every page of it is therefore the file's own page,
        // and none can be copied since (it is not writable). MADV_DONTNEED
        // only drops the page-table entries: the next access maps the same
        // page of the file again, so nothing the program reads ever differs
        // and no reference into the mapping is invalidated.
        unsafe { madvise(addr, len, MmapAdvise::MADV_DONTNEED) }.map_err(io::Error::from)?;
        released += len;
    }
    Ok(released)
}

/// The `(start, length)` of each mapping of file `exe` in a
/// `/proc/<pid>/smaps` text that is private, not writable, and holds no
/// private copy of a page (`Anonymous: 0`; `Private_Dirty` would not do: it
/// also counts the file's own pages not yet written back, as after a build).
fn uncopied_read_only_mappings(smaps: &str, exe: &Path) -> Vec<(usize, usize)> {
    let exe = exe.to_string_lossy();
    let mut out = Vec::new();
    // The mapping being read (None: not one of ours), and its copied size.
    let mut current: Option<(usize, usize)> = None;
    let mut copied = 0u64;
    let finish = |m: Option<(usize, usize)>, copied: u64, out: &mut Vec<(usize, usize)>| {
        if let Some(m) = m
            && copied == 0
        {
            out.push(m);
        }
    };
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            // A mapping's header: range, perms, offset, device, inode, path.
            finish(current.take(), copied, &mut out);
            copied = 0;
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            let read_only_private =
                perms.starts_with('r') && perms.get(1..2) == Some("-") && perms.ends_with('p');
            if path == exe && read_only_private && end > start {
                current = Some((start, end - start));
            }
        } else if first == "Anonymous:" {
            copied = fields
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(u64::MAX);
        }
    }
    finish(current, copied, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executables_uncopied_read_only_mappings_are_picked() {
        let smaps = "\
5555aa000000-5555aa400000 r--p 00000000 fd:01 123 /usr/bin/riffle
Rss:                1024 kB
Private_Dirty:       200 kB
Anonymous:             0 kB
5555aa400000-5555ab000000 r-xp 00400000 fd:01 123 /usr/bin/riffle
Private_Clean:       512 kB
Anonymous:             0 kB
5555ab000000-5555ab100000 r--p 01000000 fd:01 123 /usr/bin/riffle
Private_Dirty:       900 kB
Anonymous:           900 kB
5555ab100000-5555ab110000 rw-p 01100000 fd:01 123 /usr/bin/riffle
Anonymous:            16 kB
5555ab200000-5555ab300000 rw-p 00000000 00:00 0 [heap]
Anonymous:            64 kB
7f0000000000-7f0000001000 r--p 00000000 fd:01 456 /usr/lib/libc.so.6
Anonymous:             0 kB
";
        assert_eq!(
            uncopied_read_only_mappings(smaps, Path::new("/usr/bin/riffle")),
            vec![(0x5555_aa00_0000, 0x40_0000), (0x5555_aa40_0000, 0xc0_0000)]
        );
    }

    #[test]
    fn releasing_leaves_a_working_process() -> io::Result<()> {
        assert!(release_executable_pages()? > 0);
        // Code runs on after its pages were released.
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        assert!(smaps.contains("Anonymous:"));
        Ok(())
    }
}
