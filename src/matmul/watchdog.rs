//! A time limit for tests that could block: the test's body runs on a thread of its own, and the test fails
//! (panics) if the body has not finished in time, instead of hanging the test run.

use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Runs `body` and returns its result; panics if it takes longer than `seconds` (a hang: the blocked thread is
/// left behind, and ends with the test process) or with `body`'s own panic.
#[track_caller]
pub(crate) fn within<T: Send + 'static>(seconds: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let result = body();
        let _ = done.send(());
        result
    });
    match finished.recv_timeout(Duration::from_secs(seconds)) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match runner.join() {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        },
        Err(RecvTimeoutError::Timeout) => panic!("still running after {seconds} s: it hangs"),
    }
}

#[test]
fn a_body_that_hangs_fails_in_time() {
    let started = std::time::Instant::now();
    let outcome = panic::catch_unwind(|| within(1, || std::thread::sleep(Duration::from_secs(3600))));
    assert!(outcome.is_err());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(within(5, || 6 * 7), 42);
}
