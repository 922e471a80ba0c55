//! One structured JSON log line per event. Never given a token or a secret.

pub fn event(line: serde_json::Value) {
    worker::console_log!("{line}");
}
