//! Loop tests with fakes and paused time.
