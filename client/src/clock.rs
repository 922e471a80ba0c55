//! The page's one clock.

/// Milliseconds since the epoch, as the browser tells them.
pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
