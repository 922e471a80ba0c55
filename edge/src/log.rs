//! One structured JSON log line per event, stamped with the time in
//! milliseconds (`at`, unless the line brings its own) so one click can be
//! followed across objects. Never given a token or a secret.

use playback_core::ids::CallIdentity;
use serde_json::Value;

/// Milliseconds since the epoch, the edge's one clock.
pub(crate) fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

pub(crate) fn event(mut line: Value) {
    if let Some(fields) = line.as_object_mut() {
        fields.entry("at").or_insert_with(|| now_ms().into());
    }
    worker::console_log!("{line}");
}

/// A line about one call: `event`, its business and call SID, and `fields`.
pub(crate) fn call_event(id: &CallIdentity, event_name: &str, mut fields: Value) {
    if let Some(map) = fields.as_object_mut() {
        map.insert("event".into(), event_name.into());
        map.insert("business".into(), id.business.as_str().into());
        map.insert("call_sid".into(), id.call_sid.as_str().into());
    }
    event(fields);
}
