//! The edge's JSON bodies, parsed by the browser, read into
//! `playback_core::wire`'s types field by field. A body missing a required
//! field (or with one of the wrong type) reads as `None`, as serde would
//! refuse it; optional fields absent or `null` are `None`.

use js_sys::{Array, Reflect};
use playback_core::bar::Wave;
use playback_core::wire::{AcceptedBody, CallSummary, ErrorBody, StatusBody, WireStatus};
use playback_core::CallSid;
use wasm_bindgen::JsValue;

fn field(v: &JsValue, name: &str) -> JsValue {
    if !v.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(v, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn string(v: &JsValue, name: &str) -> Option<String> {
    field(v, name).as_string()
}

/// A whole, non-negative number.
fn whole(v: &JsValue) -> Option<u64> {
    v.as_f64()
        .filter(|n| *n >= 0.0 && *n <= 9_007_199_254_740_991.0 && n.trunc() == *n)
        .map(|n| n as u64)
}

fn number(v: &JsValue, name: &str) -> Option<u64> {
    whole(&field(v, name))
}

fn small(v: &JsValue, name: &str) -> Option<u32> {
    number(v, name).and_then(|n| u32::try_from(n).ok())
}

fn sid(v: &JsValue) -> Option<CallSid> {
    CallSid::parse(&string(v, "call_sid")?).ok()
}

fn status_of(v: &JsValue) -> Option<WireStatus> {
    string(v, "status").map(|s| WireStatus::from_code(&s))
}

fn array(v: &JsValue) -> Option<Array> {
    Array::is_array(v).then(|| Array::from(v))
}

/// One call, as the list and `/api/calls/{sid}` give it.
pub fn call(v: &JsValue) -> Option<CallSummary> {
    Some(CallSummary {
        call_sid: sid(v)?,
        started_at: string(v, "started_at")?,
        duration_s: small(v, "duration_s")?,
        from: string(v, "from")?,
        to: string(v, "to")?,
    })
}

/// A page of the call list: every entry must be a call.
pub fn calls(v: &JsValue) -> Option<Vec<CallSummary>> {
    array(v)?.iter().map(|c| call(&c)).collect()
}

pub fn accepted(v: &JsValue) -> Option<AcceptedBody> {
    Some(AcceptedBody {
        status: status_of(v)?,
        call_sid: sid(v)?,
        retry_after_ms: number(v, "retry_after_ms")?,
        queue_position: small(v, "queue_position"),
    })
}

pub fn error(v: &JsValue) -> Option<ErrorBody> {
    Some(ErrorBody {
        error: string(v, "error")?,
        detail: string(v, "detail"),
        retry_after_ms: number(v, "retry_after_ms"),
        request_id: string(v, "request_id"),
    })
}

pub fn status(v: &JsValue) -> Option<StatusBody> {
    Some(StatusBody {
        status: status_of(v)?,
        call_sid: sid(v)?,
        queue_position: small(v, "queue_position"),
        attempts: small(v, "attempts"),
        retry_after_ms: number(v, "retry_after_ms"),
        error: string(v, "error"),
        size: number(v, "size"),
        filling: field(v, "filling").as_bool().unwrap_or(false),
    })
}

/// What the bar draws of a peaks body: each channel's peaks (0–255) and
/// the silences.
pub fn wave(v: &JsValue) -> Option<Wave> {
    let channels = array(&field(v, "channels"))?
        .iter()
        .map(|c| {
            array(&c)?
                .iter()
                .map(|p| whole(&p).and_then(|p| u8::try_from(p).ok()))
                .collect::<Option<Vec<u8>>>()
        })
        .collect::<Option<Vec<_>>>()?;
    let silences = array(&field(v, "silences"))?
        .iter()
        .map(|pair| {
            let pair = array(&pair)?;
            Some((whole(&pair.get(0))?, whole(&pair.get(1))?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Wave { channels, silences })
}
