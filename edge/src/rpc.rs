//! The messages between the frontend and the three Durable Objects, the
//! bindings' names, and one small client per object. Internal only: never
//! exposed to clients.
//!
//! Every message is one variant of a serde enum (`{"acquire": {"owner":
//! …}}`, externally tagged: the cheapest form to decode in wasm), sent as the JSON body of a `POST` to the object; each
//! client method sends one variant and reads the answer type that variant
//! has. So a misspelt message, a new one without a handler, or an answer of
//! the wrong type fails to compile instead of failing at run time.

use playback_core::admission::Admission;
use playback_core::download::PlayAnswer;
use playback_core::fill::FillView;
use playback_core::peaks::PeaksRecord;
use playback_core::slots::Acquire;
use playback_core::wire::{CallSummary, StatusBody};
use playback_core::BusinessId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Bucket, Env, Headers, Method, Request, RequestInit, Stub};

use crate::error::{EdgeError, EdgeResult};

/// The R2 bucket of recordings.
const RECORDINGS: &str = "RECORDINGS";
/// One `CallRecording` object per `(business, call_sid)`.
const CALL_RECORDING: &str = "CALL_RECORDING";
/// One `BusinessSlots` object per business.
const BUSINESS_SLOTS: &str = "BUSINESS_SLOTS";
/// One `CallLists` object per business.
const CALL_LISTS: &str = "CALL_LISTS";

pub fn recordings(env: &Env) -> EdgeResult<Bucket> {
    Ok(env.bucket(RECORDINGS)?)
}

/// Identifies the recording a call object is for; sent with every request
/// so a fresh object learns who it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallIdentity {
    pub business: BusinessId,
    pub call_sid: playback_core::CallSid,
}

impl CallIdentity {
    pub fn object_name(&self) -> String {
        playback_core::ids::call_object_name(&self.business, &self.call_sid)
    }
}

/// What a call object is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMessage {
    /// A play that missed R2, from `agent` (the session's `sub`, for its
    /// download budget). Answered with a `PlayAnswer`.
    Play { id: CallIdentity, agent: String },
    /// Answered with a `StatusBody`; reads only.
    Status { id: CallIdentity },
    /// The business granted this call a slot that no held acquire could
    /// carry: take it now. Answered `true`.
    Wake,
    /// The download in progress, as an `Option<FillView>`; reads only. With
    /// `piece`, held (up to `PIECE_HOLD_MS`) until that piece has landed or
    /// the fill has ended.
    Fill { piece: Option<u32> },
    /// The stored recording's peaks record, as an `Option<PeaksRecord>`:
    /// the one its download wrote with `ready`, or for a recording stored
    /// without one (its body came without a length), computed from R2 and
    /// kept, one computation however many ask. `None` while R2 does not
    /// have the recording.
    Peaks { id: CallIdentity },
}

/// What a business object is asked about one call object's slot (`owner`
/// is the call object's name).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotMessage {
    /// May this call start a new download for `agent`? An `Admission`.
    Admit { call: CallIdentity, agent: String },
    /// A lease, or a place in the queue (the request may be held). An `Acquire`.
    Acquire { owner: String },
    /// Extends the lease `grant`: its new expiry, or `None` when it is gone.
    Renew { owner: String, grant: u64 },
    /// Gives back the lease `grant` (an older grant frees nothing). `true`.
    Release { owner: String, grant: u64 },
    /// The owner's place in the queue, if it waits; reads only.
    Position { owner: String },
    /// The call as the business's list has it (`Result<Option<CallSummary>,
    /// ()>`, `Err` when the list could not be read), learnt as a play's
    /// listing is (a read of the list that started after the question, at
    /// most one per `CALL_LIST_REFRESH_MS`).
    Call { call: CallIdentity },
    /// The calls of a page of the list the list object read from the
    /// origin for an agent's player: listed (`directory::learnt_key`). `true`.
    Learn { calls: Vec<CallSummary> },
}

/// What a business's list object is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListMessage {
    /// One page of the business's call list; `query` is a valid
    /// `ListQuery::canonical` form. A `PageAnswer`.
    Page { business: BusinessId, query: String },
}

/// A page of a call list: its calls, newest first, and the cursor of the
/// next page while more remain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallPage {
    pub calls: Vec<CallSummary>,
    pub next_cursor: Option<String>,
}

/// Why a page could not be had.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageFailure {
    /// The origin refused the query (400): its cursor is the origin's to
    /// judge, and every other parameter was checked as the origin checks it.
    BadCursor,
    /// The origin could not give it; the detail is for the request's log
    /// line, never for its body.
    Origin(String),
}

/// A page, or why not.
pub type PageAnswer = Result<CallPage, PageFailure>;

/// A call object, by its identity or its name.
pub struct CallObject(Stub);

impl CallObject {
    pub fn of(env: &Env, id: &CallIdentity) -> EdgeResult<CallObject> {
        CallObject::named(env, &id.object_name())
    }

    pub fn named(env: &Env, name: &str) -> EdgeResult<CallObject> {
        object(env, CALL_RECORDING, name).map(CallObject)
    }

    pub async fn status(&self, id: &CallIdentity) -> EdgeResult<StatusBody> {
        send(&self.0, &CallMessage::Status { id: id.clone() }).await
    }

    pub async fn play(&self, id: &CallIdentity, agent: &str) -> EdgeResult<PlayAnswer> {
        let (id, agent) = (id.clone(), agent.to_owned());
        send(&self.0, &CallMessage::Play { id, agent }).await
    }

    pub async fn fill(&self, piece: Option<u32>) -> EdgeResult<Option<FillView>> {
        send(&self.0, &CallMessage::Fill { piece }).await
    }

    pub async fn peaks(&self, id: &CallIdentity) -> EdgeResult<Option<PeaksRecord>> {
        send(&self.0, &CallMessage::Peaks { id: id.clone() }).await
    }

    pub async fn wake(&self) -> EdgeResult<()> {
        let _: bool = send(&self.0, &CallMessage::Wake).await?;
        Ok(())
    }
}

/// A business object.
pub struct BusinessObject(Stub);

impl BusinessObject {
    pub fn of(env: &Env, business: &str) -> EdgeResult<BusinessObject> {
        object(env, BUSINESS_SLOTS, business).map(BusinessObject)
    }

    pub async fn admit(&self, call: &CallIdentity, agent: &str) -> EdgeResult<Admission> {
        let (call, agent) = (call.clone(), agent.to_owned());
        send(&self.0, &SlotMessage::Admit { call, agent }).await
    }

    pub async fn acquire(&self, owner: &str) -> EdgeResult<Acquire> {
        let owner = owner.to_owned();
        send(&self.0, &SlotMessage::Acquire { owner }).await
    }

    pub async fn renew(&self, owner: &str, grant: u64) -> EdgeResult<Option<u64>> {
        let owner = owner.to_owned();
        send(&self.0, &SlotMessage::Renew { owner, grant }).await
    }

    pub async fn release(&self, owner: &str, grant: u64) -> EdgeResult<()> {
        let owner = owner.to_owned();
        let _: bool = send(&self.0, &SlotMessage::Release { owner, grant }).await?;
        Ok(())
    }

    pub async fn position(&self, owner: &str) -> EdgeResult<Option<u32>> {
        let owner = owner.to_owned();
        send(&self.0, &SlotMessage::Position { owner }).await
    }

    pub async fn learn(&self, calls: Vec<CallSummary>) -> EdgeResult<bool> {
        send(&self.0, &SlotMessage::Learn { calls }).await
    }

    pub async fn call(&self, call: &CallIdentity) -> EdgeResult<Option<CallSummary>> {
        let call = call.clone();
        let answer: std::result::Result<Option<CallSummary>, ()> =
            send(&self.0, &SlotMessage::Call { call }).await?;
        answer.map_err(|()| EdgeError::Origin("the call list could not be read".into()))
    }
}

/// A business's list object.
pub struct ListObject(Stub);

impl ListObject {
    pub fn of(env: &Env, business: &BusinessId) -> EdgeResult<ListObject> {
        object(env, CALL_LISTS, business.as_str()).map(ListObject)
    }

    pub async fn page(&self, business: &BusinessId, query: &str) -> EdgeResult<PageAnswer> {
        let (business, query) = (business.clone(), query.to_owned());
        send(&self.0, &ListMessage::Page { business, query }).await
    }
}

/// The object of the namespace `binding` named `name`.
fn object(env: &Env, binding: &str, name: &str) -> EdgeResult<Stub> {
    Ok(env.durable_object(binding)?.get_by_name(name)?)
}

/// Sends a message as JSON to an object and reads its JSON answer.
async fn send<M: Serialize, T: DeserializeOwned>(stub: &Stub, message: &M) -> EdgeResult<T> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let json = serde_json::to_string(message).map_err(|e| EdgeError::Internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(json.into()));
    let request = Request::new_with_init("https://object/", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    if response.status_code() != 200 {
        let text = response.text().await.unwrap_or_default();
        return Err(EdgeError::Internal(format!(
            "object answered {}: {text}",
            response.status_code()
        )));
    }
    Ok(response.json().await?)
}
