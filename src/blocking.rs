//! Blocking work (files, git) called from async code: run off the async
//! threads where the runtime allows it (a multi-threaded one, as `apply`
//! and the daemon use), and in place on a current-thread runtime or none
//! (tests, the one-shot commands).

pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
