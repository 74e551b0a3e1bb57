//! A closed standard output ends a command quietly, as it ends `cat`.
//!
//! Rust programs start with `SIGPIPE` ignored, so a write to a pipe whose
//! reader has gone (`backlog-scaler plan --json | head -1`) returns an error,
//! and `println!` turns that error into a panic (exit 101, "failed printing
//! to stdout"). The commands that print results restore the default action
//! instead: the process ends at that write, with no message, like any Unix
//! filter. Sockets are unaffected (the standard library sends with
//! `MSG_NOSIGNAL`), so the AWS calls of `plan` still see ordinary errors.
//!
//! `run` keeps `SIGPIPE` ignored: a daemon must not die because whoever
//! reads its logs went away (its log writer drops lines it cannot write).

/// Let a write to a closed pipe end the process quietly (from the start, so
/// `--help | true` is quiet too).
pub fn end_quietly_on_closed_pipe() {
    // SAFETY: called once at start-up, before any thread is spawned;
    // `signal` with `SIG_DFL` has no other effect than resetting the action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Back to Rust's default for the daemon: a closed pipe is an error on the
/// write, not the end of the process.
pub fn ignore_closed_pipe() {
    // SAFETY: as above; called before the runtime starts its threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
