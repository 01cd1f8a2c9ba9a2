//! Independent work run concurrently where the target has threads, in order where it
//! has none (wasm32-unknown-unknown: the in-browser check, issue 15): the one place
//! the core crates spawn scoped threads, so both builds share every caller's code.
//!
//! Over a remote source each read is a round trip; tasks that do not depend on each
//! other overlap theirs (issue 16). Without threads a task runs when it is spawned,
//! so results and their order are the sequential walk's.

use std::marker::PhantomData;

/// Where tasks are spawned; see [`scope`].
#[derive(Clone, Copy)]
pub struct Scope<'scope, 'env: 'scope> {
    #[cfg(not(target_family = "wasm"))]
    inner: &'scope std::thread::Scope<'scope, 'env>,
    _env: PhantomData<&'scope &'env ()>,
}

/// A spawned task's result, to [`Task::join`].
pub enum Task<'scope, T> {
    #[cfg(not(target_family = "wasm"))]
    Thread(std::thread::ScopedJoinHandle<'scope, T>),
    /// Already run (no threads).
    Done(T, PhantomData<&'scope ()>),
}

/// Run `f` with a [`Scope`]; every task spawned in it has ended when this returns.
pub fn scope<'env, T>(f: impl for<'scope> FnOnce(Scope<'scope, 'env>) -> T) -> T {
    #[cfg(not(target_family = "wasm"))]
    {
        std::thread::scope(|s| {
            f(Scope {
                inner: s,
                _env: PhantomData,
            })
        })
    }
    #[cfg(target_family = "wasm")]
    {
        f(Scope { _env: PhantomData })
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Start `f` (on a thread, or now when there are none).
    pub fn spawn<T: Send + 'scope>(self, f: impl FnOnce() -> T + Send + 'scope) -> Task<'scope, T> {
        #[cfg(not(target_family = "wasm"))]
        {
            Task::Thread(self.inner.spawn(f))
        }
        #[cfg(target_family = "wasm")]
        {
            Task::Done(f(), PhantomData)
        }
    }
}

impl<T> Task<'_, T> {
    /// The task's result; its panic goes on in the caller, as it would have without
    /// the thread.
    pub fn join(self) -> T {
        self.try_join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The task's result, or the payload of its panic.
    pub fn try_join(self) -> std::thread::Result<T> {
        match self {
            #[cfg(not(target_family = "wasm"))]
            Task::Thread(h) => h.join(),
            Task::Done(v, _) => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tasks_return_their_results_and_borrow_the_caller() {
        let words = ["a", "bb", "ccc"];
        let total = super::scope(|s| {
            let tasks: Vec<_> = words.iter().map(|w| s.spawn(move || w.len())).collect();
            tasks.into_iter().map(|t| t.join()).sum::<usize>()
        });
        assert_eq!(total, 6);
    }
}
