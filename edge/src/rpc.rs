//! The messages between the frontend and the three Durable Objects, the
//! bindings' names, and one small client per object. Internal only: never
//! exposed to clients.
//!
//! Every message is a type that names its answer ([`Message`]), sent as one
//! variant of its object's serde enum (`{"acquire": {"owner": …}}`,
//! externally tagged: the cheapest form to decode in wasm) as the JSON body
//! of a `POST`. A client method sends it and reads its `Answer`; the object
//! matches the variant and answers with its [`Handles`] impl, which must
//! return that same `Answer`. So a misspelt message, a new one without a
//! handler, or an answer of the wrong type fails to compile instead of
//! failing at run time.

use playback_core::admission::Admission;
use playback_core::download::PlayAnswer;
use playback_core::fill::FillView;
use playback_core::peaks::PeaksRecord;
use playback_core::slots::Acquire;
use playback_core::twilio::StillServed;
use playback_core::wire::{CallSummary, StatusBody};
use playback_core::BusinessId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Bucket, Env, Headers, Method, Request, RequestInit, Response, Stub};

use crate::error::{json_response, EdgeError, EdgeResult};

use playback_core::ids::CallIdentity;

/// The R2 bucket of recordings.
const RECORDINGS: &str = "RECORDINGS";
/// One `CallRecording` object per `(business, call_sid)`.
const CALL_RECORDING: &str = "CALL_RECORDING";
/// One `BusinessSlots` object per business.
const BUSINESS_SLOTS: &str = "BUSINESS_SLOTS";
/// One `CallLists` object per business.
const CALL_LISTS: &str = "CALL_LISTS";

pub(crate) fn recordings(env: &Env) -> EdgeResult<Bucket> {
    Ok(env.bucket(RECORDINGS)?)
}

/// A message to an object, tied to the answer its handler gives: the
/// client reads `Answer` ([`send`]), the handler must return it
/// ([`Handles`]), so the two cannot disagree.
pub(crate) trait Message: Into<Self::Object> {
    /// The object's messages, one variant each: the request's JSON body.
    type Object: Serialize + DeserializeOwned;
    /// What the object answers.
    type Answer: Serialize + DeserializeOwned;
}

/// An object's handler of the message `M`.
pub(crate) trait Handles<M: Message> {
    async fn handle(&self, message: M) -> EdgeResult<M::Answer>;
}

/// The response to a message: its handler's answer, as JSON.
pub(crate) fn reply(answer: EdgeResult<impl Serialize>) -> EdgeResult<Response> {
    Ok(json_response(200, &answer?))
}

/// Ties a message to its object's variant and to its answer.
macro_rules! message {
    ($message:ident => $object:ident::$variant:ident, $answer:ty) => {
        impl Message for $message {
            type Object = $object;
            type Answer = $answer;
        }

        impl From<$message> for $object {
            fn from(message: $message) -> $object {
                $object::$variant(message)
            }
        }
    };
}

/// What a call object is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallMessage {
    Play(Play),
    Status(Status),
    Wake,
    Fill(Fill),
    Peaks(Peaks),
    Recheck(Recheck),
}

/// A play that missed R2, from `agent` (the session's `sub`, for its
/// download budget).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Play {
    pub(crate) id: CallIdentity,
    pub(crate) agent: String,
    /// The request's id, for the audit line of a download it starts.
    pub(crate) request_id: String,
}
message!(Play => CallMessage::Play, PlayAnswer);

/// Whether the stored recording may still be served (Twilio: asked again
/// of the provider once `RECORDING_RECHECK_MS` has passed since its last
/// check; a recording deleted there is deleted here too, and `No`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Recheck {
    pub(crate) id: CallIdentity,
}
message!(Recheck => CallMessage::Recheck, StillServed);

/// The call's status; reads only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Status {
    pub(crate) id: CallIdentity,
}
message!(Status => CallMessage::Status, StatusBody);

/// The business granted this call a slot that no held acquire could carry:
/// take it now. Answered `true`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wake;

impl Message for Wake {
    type Object = CallMessage;
    type Answer = bool;
}

impl From<Wake> for CallMessage {
    fn from(_: Wake) -> CallMessage {
        CallMessage::Wake
    }
}

/// The download in progress; reads only. With `piece`, held (up to
/// `PIECE_HOLD_MS`) until that piece has landed or the fill has ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fill {
    pub(crate) piece: Option<u32>,
}
message!(Fill => CallMessage::Fill, Option<FillView>);

/// The stored recording's peaks record: the one its download wrote with
/// `ready`, or for a recording stored without one (its body came without a
/// length), computed from R2 and kept, one computation however many ask.
/// `None` while R2 does not have the recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Peaks {
    pub(crate) id: CallIdentity,
}
message!(Peaks => CallMessage::Peaks, Option<PeaksRecord>);

/// What a business object is asked (`owner` is a call object's name).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SlotMessage {
    Admit(Admit),
    Acquire(AcquireSlot),
    Renew(RenewLease),
    Release(ReleaseLease),
    Position(QueuePosition),
    Call(ListedCall),
    Learn(LearnCalls),
    Search(SearchCalls),
    Withdraw(WithdrawAdmission),
}

/// May this call start a new download for `agent`?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Admit {
    pub(crate) call: CallIdentity,
    pub(crate) agent: String,
}
message!(Admit => SlotMessage::Admit, Admission);

/// An admitted call will not ask for a slot now (Twilio: its recording is
/// still processing, or there is none): the admissions held behind it
/// stop waiting for its acquire. `true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WithdrawAdmission {
    pub(crate) owner: String,
}
message!(WithdrawAdmission => SlotMessage::Withdraw, bool);

/// A lease, or a place in the queue (the request may be held).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AcquireSlot {
    pub(crate) owner: String,
}
message!(AcquireSlot => SlotMessage::Acquire, Acquire);

/// Extends the lease `grant`: its new expiry, or `None` when it is gone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RenewLease {
    pub(crate) owner: String,
    pub(crate) grant: u64,
}
message!(RenewLease => SlotMessage::Renew, Option<u64>);

/// Gives back the lease `grant` (an older grant frees nothing). `true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReleaseLease {
    pub(crate) owner: String,
    pub(crate) grant: u64,
}
message!(ReleaseLease => SlotMessage::Release, bool);

/// The owner's place in the queue, if it waits; reads only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct QueuePosition {
    pub(crate) owner: String,
}
message!(QueuePosition => SlotMessage::Position, Option<u32>);

/// The call as the business's list has it, learnt as a play's listing is
/// (a read of the list that started after the question, at most one per
/// `CALL_LIST_REFRESH_MS`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ListedCall {
    pub(crate) call: CallIdentity,
}
message!(ListedCall => SlotMessage::Call, Result<Option<CallSummary>, ListUnreadable>);

/// A page of the business's calls found by number (Twilio: from the
/// business's index of its calls); `query` is a valid `ListQuery::canonical`
/// form with `q`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SearchCalls {
    pub(crate) business: BusinessId,
    pub(crate) query: String,
}
message!(SearchCalls => SlotMessage::Search, PageAnswer);

/// The call list could not be read: nothing is known of the call.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct ListUnreadable;

/// The calls of a page of the list the list object read from the origin
/// for an agent's player: listed (`directory::learnt_key`). `true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LearnCalls {
    pub(crate) calls: Vec<CallSummary>,
}
message!(LearnCalls => SlotMessage::Learn, bool);

/// What a business's list object is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ListMessage {
    Page(PageQuery),
}

/// One page of the business's call list; `query` is a valid
/// `ListQuery::canonical` form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) business: BusinessId,
    pub(crate) query: String,
}
message!(PageQuery => ListMessage::Page, PageAnswer);

/// A page of a call list: its calls, newest first, and the cursor of the
/// next page while more remain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CallPage {
    pub(crate) calls: Vec<CallSummary>,
    pub(crate) next_cursor: Option<String>,
    /// What the page could not cover ("searched the newest N calls so
    /// far"), for the list to say beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// Why a page could not be had.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PageFailure {
    /// The origin refused the query (400): its cursor is the origin's to
    /// judge, and every other parameter was checked as the origin checks it.
    BadCursor,
    /// The origin could not give it; the detail is for the request's log
    /// line, never for its body.
    Origin(String),
    /// The origin refused the edge's credentials (detail as for `Origin`).
    OriginAuth(String),
    /// The business has no Twilio account.
    NoAccount,
}

impl PageFailure {
    /// How an error reading a page is told to its asker.
    pub(crate) fn of(e: EdgeError) -> PageFailure {
        match e {
            EdgeError::BadQuery(_) => PageFailure::BadCursor,
            EdgeError::Origin(detail) | EdgeError::Internal(detail) => PageFailure::Origin(detail),
            EdgeError::OriginAuth(detail) => PageFailure::OriginAuth(detail),
            EdgeError::NoAccount => PageFailure::NoAccount,
            other => PageFailure::Origin(format!("{other:?}")),
        }
    }
}

/// A page, or why not.
pub(crate) type PageAnswer = Result<CallPage, PageFailure>;

/// A call object, by its identity or its name.
pub(crate) struct CallObject(Stub);

impl CallObject {
    pub(crate) fn of(env: &Env, id: &CallIdentity) -> EdgeResult<CallObject> {
        CallObject::named(env, &id.object_name())
    }

    pub(crate) fn named(env: &Env, name: &str) -> EdgeResult<CallObject> {
        object(env, CALL_RECORDING, name).map(CallObject)
    }

    pub(crate) async fn status(&self, id: &CallIdentity) -> EdgeResult<StatusBody> {
        send(&self.0, Status { id: id.clone() }).await
    }

    pub(crate) async fn play(
        &self,
        id: &CallIdentity,
        agent: &str,
        request_id: &str,
    ) -> EdgeResult<PlayAnswer> {
        let (id, agent, request_id) = (id.clone(), agent.to_owned(), request_id.to_owned());
        send(
            &self.0,
            Play {
                id,
                agent,
                request_id,
            },
        )
        .await
    }

    pub(crate) async fn fill(&self, piece: Option<u32>) -> EdgeResult<Option<FillView>> {
        send(&self.0, Fill { piece }).await
    }

    pub(crate) async fn recheck(&self, id: &CallIdentity) -> EdgeResult<StillServed> {
        send(&self.0, Recheck { id: id.clone() }).await
    }

    pub(crate) async fn peaks(&self, id: &CallIdentity) -> EdgeResult<Option<PeaksRecord>> {
        send(&self.0, Peaks { id: id.clone() }).await
    }

    pub(crate) async fn wake(&self) -> EdgeResult<()> {
        send(&self.0, Wake).await.map(|_| ())
    }
}

/// A business object.
pub(crate) struct BusinessObject(Stub);

impl BusinessObject {
    pub(crate) fn of(env: &Env, business: &str) -> EdgeResult<BusinessObject> {
        object(env, BUSINESS_SLOTS, business).map(BusinessObject)
    }

    pub(crate) async fn admit(&self, call: &CallIdentity, agent: &str) -> EdgeResult<Admission> {
        let (call, agent) = (call.clone(), agent.to_owned());
        send(&self.0, Admit { call, agent }).await
    }

    pub(crate) async fn withdraw(&self, owner: &str) -> EdgeResult<bool> {
        let owner = owner.to_owned();
        send(&self.0, WithdrawAdmission { owner }).await
    }

    pub(crate) async fn acquire(&self, owner: &str) -> EdgeResult<Acquire> {
        let owner = owner.to_owned();
        send(&self.0, AcquireSlot { owner }).await
    }

    pub(crate) async fn renew(&self, owner: &str, grant: u64) -> EdgeResult<Option<u64>> {
        let owner = owner.to_owned();
        send(&self.0, RenewLease { owner, grant }).await
    }

    pub(crate) async fn release(&self, owner: &str, grant: u64) -> EdgeResult<()> {
        let owner = owner.to_owned();
        send(&self.0, ReleaseLease { owner, grant })
            .await
            .map(|_| ())
    }

    pub(crate) async fn position(&self, owner: &str) -> EdgeResult<Option<u32>> {
        let owner = owner.to_owned();
        send(&self.0, QueuePosition { owner }).await
    }

    pub(crate) async fn learn(&self, calls: Vec<CallSummary>) -> EdgeResult<bool> {
        send(&self.0, LearnCalls { calls }).await
    }

    pub(crate) async fn search(
        &self,
        business: &BusinessId,
        query: &str,
    ) -> EdgeResult<PageAnswer> {
        let (business, query) = (business.clone(), query.to_owned());
        send(&self.0, SearchCalls { business, query }).await
    }

    pub(crate) async fn call(&self, call: &CallIdentity) -> EdgeResult<Option<CallSummary>> {
        let call = call.clone();
        let answer = send(&self.0, ListedCall { call }).await?;
        answer.map_err(|ListUnreadable| EdgeError::Origin("the call list could not be read".into()))
    }
}

/// A business's list object.
pub(crate) struct ListObject(Stub);

impl ListObject {
    pub(crate) fn of(env: &Env, business: &BusinessId) -> EdgeResult<ListObject> {
        object(env, CALL_LISTS, business.as_str()).map(ListObject)
    }

    pub(crate) async fn page(&self, business: &BusinessId, query: &str) -> EdgeResult<PageAnswer> {
        let (business, query) = (business.clone(), query.to_owned());
        send(&self.0, PageQuery { business, query }).await
    }
}

/// The object of the namespace `binding` named `name`.
fn object(env: &Env, binding: &str, name: &str) -> EdgeResult<Stub> {
    Ok(env.durable_object(binding)?.get_by_name(name)?)
}

/// Sends a message as JSON to an object and reads its answer.
async fn send<M: Message>(stub: &Stub, message: M) -> EdgeResult<M::Answer> {
    let json =
        serde_json::to_string(&message.into()).map_err(|e| EdgeError::Internal(e.to_string()))?;
    let mut response = post(stub, json).await?;
    Ok(response.json().await?)
}

/// Posts a message's `json` to an object: its answer, when it is a 200.
async fn post(stub: &Stub, json: String) -> EdgeResult<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
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
    Ok(response)
}
