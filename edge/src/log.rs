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

/// One line of the audit trail (`"event": "audit"`, schema in docs/API.md):
/// who (`agent`, the session's `sub`) did what (`action`) to which
/// recording of which call of which business, in which request. Never a
/// token, a cookie or a credential: its fields are these and `fields`.
pub(crate) fn audit(
    id: &CallIdentity,
    action: &str,
    agent: &str,
    request_id: &str,
    mut fields: Value,
) {
    if let Some(map) = fields.as_object_mut() {
        map.insert("action".into(), action.into());
        map.insert("agent".into(), agent.into());
        map.insert("recording".into(), id.recording.unwrap_or(1).into());
        map.insert("request_id".into(), request_id.into());
    }
    call_event(id, "audit", fields);
}
