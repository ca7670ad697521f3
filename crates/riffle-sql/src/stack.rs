//! The planner's own thread, with a stack it cannot exhaust.
//!
//! Parsing, planning and optimizing recurse over the statement: sqlparser's
//! and DataFusion's tree walks, and dropping the trees, take one stack frame
//! (often several kilobytes in a debug build) per level of nesting. The
//! threads that ask for a plan have small stacks: 2 MiB for a tokio worker or
//! a `spawn_blocking` thread in the JobManager's REST server, 2 MiB for the
//! TaskManager's deployment thread. A long generated `OR` chain used to
//! overflow them and abort the whole process, taking every job of a session
//! cluster with it.
//!
//! So every entry point that parses or plans ([`crate::Session::run_script`],
//! [`crate::Session::explain_script`], [`crate::parse_statements`]) runs its
//! work through [`on_planner_stack`]: on a thread of its own with
//! [`PLANNER_STACK_BYTES`] of stack, joined before it returns, so callers see
//! an ordinary blocking call. The stack is reserved address space; only the
//! pages a deep statement touches are ever committed, so an ordinary script
//! costs no more memory than before.
//!
//! The large stack is one half of the guarantee; the other half is
//! [`crate::depth`], which refuses statements nested deeper than the planner
//! (and the runtime's expression evaluation, on its 2 MiB task threads) can
//! handle, before any recursive walk starts. Together: no SQL text can
//! overflow a stack, whatever its size.
//!
//! A call made on the planner thread (a planning step that parses again, a
//! test that nests entries) runs inline instead of spawning another thread.

use std::cell::Cell;

use crate::{Error, Result};

/// Stack size of the planner thread: 256 MiB of reserved address space.
///
/// Sized for the worst statement [`crate::depth`] lets through (expressions
/// and plans at their nesting limits, scripts at the token limit, whose
/// partial trees the parser drops recursively when it fails) with a wide
/// margin in a debug build, whose frames are several times larger than a
/// release build's.
pub const PLANNER_STACK_BYTES: usize = 256 * 1024 * 1024;

thread_local! {
    /// Whether this thread is a planner thread (then work runs inline).
    static ON_PLANNER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on a planner thread with [`PLANNER_STACK_BYTES`] of stack and
/// returns its result; runs it inline when already on one.
///
/// The caller's tracing span is entered on the planner thread, so log lines
/// of planning keep their job context. A panic in `f` is resumed on the
/// calling thread, as if `f` had run there.
pub fn on_planner_stack<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send,
    T: Send,
{
    if ON_PLANNER.with(Cell::get) {
        return f();
    }
    let span = tracing::Span::current();
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("riffle-planner".into())
            .stack_size(PLANNER_STACK_BYTES)
            .spawn_scoped(scope, move || {
                ON_PLANNER.with(|c| c.set(true));
                let _entered = span.enter();
                f()
            })
            .map_err(Error::PlannerThread)?;
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_named_planner_thread_once() -> Result<()> {
        let (outer, inner) = on_planner_stack(|| {
            let outer = std::thread::current().name().map(str::to_string);
            let inner = on_planner_stack(|| Ok(std::thread::current().id()))?;
            Ok((outer, inner == std::thread::current().id()))
        })?;
        assert_eq!(outer.as_deref(), Some("riffle-planner"));
        assert!(inner, "a nested call spawned another thread");
        Ok(())
    }

    #[test]
    fn errors_and_panics_reach_the_caller() {
        let e = on_planner_stack::<(), _>(|| Err(Error::plan("no"))).unwrap_err();
        assert!(e.to_string().contains("no"), "{e}");
        let panicked = std::panic::catch_unwind(|| on_planner_stack::<(), _>(|| panic!("boom")));
        assert!(panicked.is_err());
    }
}
