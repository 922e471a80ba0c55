//! The page's one clock.

/// Milliseconds since the epoch, as the browser tells them.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
