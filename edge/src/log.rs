//! One structured JSON log line per event, stamped with the time in
//! milliseconds (`at`, unless the line brings its own) so one click can be followed across objects. Never
//! given a token or a secret.

pub fn event(mut line: serde_json::Value) {
    if let Some(fields) = line.as_object_mut() {
        fields
            .entry("at")
            .or_insert_with(|| worker::Date::now().as_millis().into());
    }
    worker::console_log!("{line}");
}
