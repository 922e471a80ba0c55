//! A page of a business's call list from the origin, as the edge uses it:
//! the calls, newest first, and the edge's own cursor of the next page.
//!
//! The generic origin takes the edge's query as it is and names its next
//! page in a `Link` on its own host, whose `cursor` alone travels on.
//! Twilio's `Calls.json` takes its own parameters (`CallsRequest`: whole
//! days, `PageSize` up to 1000) and names its next page in
//! `next_page_uri`, whose page and token alone travel on (`PageMark`), never
//! its host or account; the edge filters its calls again by the query,
//! exactly (`ListQuery::matches`), and leaves out child legs.

use futures_util::future::join;
use playback_core::call_index::{self, After};
use playback_core::config::{EdgeConfig, OriginConfig, TwilioConfig};
use playback_core::directory::next_link;
use playback_core::list_query::{next_cursor, ListQuery};
use playback_core::origin_rules::{list_status, ListStatus};
use playback_core::origin_url::calls_url;
use playback_core::twilio::{CallsPage, CallsRequest, PageMark, Sid, MAX_TWILIO_PAGE_SIZE};
use playback_core::wire::CallSummary;
use playback_core::BusinessId;
use worker::{Fetch, Response};

use super::http::origin_request;
use crate::error::{EdgeError, EdgeResult};

/// One page of a business's call list.
pub(crate) struct ListPage {
    pub calls: Vec<CallSummary>,
    /// The edge's cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Who reads the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// An agent's player: the query's page size.
    Agent,
    /// The business object learning which calls exist: as many calls per
    /// origin request as the origin gives.
    Crawl,
}

/// Reads the page `query` (its cursor one this function gave) of
/// `business`'s calls.
pub(crate) async fn list_page(
    config: &EdgeConfig,
    business: &BusinessId,
    query: &ListQuery,
    reader: Reader,
) -> EdgeResult<ListPage> {
    match &config.origin {
        OriginConfig::Generic { base_url, .. } => {
            generic_page(config, base_url, business, query).await
        }
        OriginConfig::Twilio(twilio) => twilio_page(config, twilio, business, query, reader).await,
    }
}

async fn generic_page(
    config: &EdgeConfig,
    base_url: &str,
    business: &BusinessId,
    query: &ListQuery,
) -> EdgeResult<ListPage> {
    let url = calls_url(base_url, business, &query.canonical());
    let mut response = get(config, &url).await?;
    if let Some(empty) = page_status(config, response.status_code())? {
        return Ok(empty);
    }
    let next_cursor = match response.headers().get("Link").ok().flatten() {
        None => None,
        Some(link) => {
            let next = next_link(&link, base_url).and_then(|target| next_cursor(&target));
            Some(next.ok_or_else(|| {
                EdgeError::Origin("calls: the next link carries no usable cursor".into())
            })?)
        }
    };
    let calls = response
        .json()
        .await
        .map_err(|e| EdgeError::Origin(format!("calls: bad JSON: {e}")))?;
    Ok(ListPage { calls, next_cursor })
}

async fn twilio_page(
    config: &EdgeConfig,
    twilio: &TwilioConfig,
    business: &BusinessId,
    query: &ListQuery,
    reader: Reader,
) -> EdgeResult<ListPage> {
    let account = twilio.account(business).ok_or(EdgeError::NoAccount)?;
    let mark = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(PageMark::of_cursor(cursor).ok_or(EdgeError::BadQuery("cursor"))?),
    };
    let page_size = match reader {
        Reader::Agent => query.page_size(),
        Reader::Crawl => MAX_TWILIO_PAGE_SIZE,
    };
    let url = CallsRequest::for_query(query, page_size, mark).url(&twilio.api_base, account);
    let mut response = get(config, &url).await?;
    twilio_calls_status(config, response.status_code())?;
    let page: CallsPage = response
        .json()
        .await
        .map_err(|e| EdgeError::Origin(format!("calls: bad JSON: {e}")))?;
    let next_cursor = match page.next_page_uri.as_deref() {
        None | Some("") => None,
        Some(uri) => Some(PageMark::of_uri(uri).map(|m| m.cursor()).ok_or_else(|| {
            EdgeError::Origin("calls: next_page_uri carries no usable page".into())
        })?),
    };
    let calls = page
        .calls
        .iter()
        .filter_map(|c| c.summary())
        .filter(|c| query.matches(&c.started_at, &c.from, &c.to))
        .collect();
    Ok(ListPage { calls, next_cursor })
}

/// Pages of one side of a whole number's calls Twilio is asked for at most
/// (1 000 calls each): a number with more calls than that on one side
/// before the crawl has indexed them is searched in its newest ones.
const MAX_NUMBER_PAGES: u32 = 5;

/// The page `query` asks for of the calls from or to `number` (E.164),
/// asked of Twilio itself (`From=` and `To=`, merged newest first), after
/// `after`: before the business's index holds every call, Twilio's own
/// filters know them all.
pub(crate) async fn number_page(
    config: &EdgeConfig,
    business: &BusinessId,
    query: &ListQuery,
    number: &str,
    after: Option<&After>,
) -> EdgeResult<ListPage> {
    let OriginConfig::Twilio(twilio) = &config.origin else {
        return Err(EdgeError::Internal("a number page without Twilio".into()));
    };
    let account = twilio.account(business).ok_or(EdgeError::NoAccount)?;
    // Both sides at once.
    let (from, to) = join(
        number_side(config, twilio, account, query, number, Side::From),
        number_side(config, twilio, account, query, number, Side::To),
    )
    .await;
    let mut calls = from?;
    calls.extend(to?);
    let (calls, next_cursor) = call_index::page_after(query, calls, after);
    Ok(ListPage { calls, next_cursor })
}

/// The calls with `number` on `side` (at most `MAX_NUMBER_PAGES` pages).
async fn number_side(
    config: &EdgeConfig,
    twilio: &TwilioConfig,
    account: &Sid,
    query: &ListQuery,
    number: &str,
    side: Side,
) -> EdgeResult<Vec<CallSummary>> {
    let mut request = CallsRequest::for_query(query, MAX_TWILIO_PAGE_SIZE, None);
    match side {
        Side::From => request.from = Some(number.to_owned()),
        Side::To => request.to = Some(number.to_owned()),
    }
    let mut calls = Vec::new();
    for _ in 0..MAX_NUMBER_PAGES {
        let mut response = get(config, &request.url(&twilio.api_base, account)).await?;
        twilio_calls_status(config, response.status_code())?;
        let page: CallsPage = response
            .json()
            .await
            .map_err(|e| EdgeError::Origin(format!("calls: bad JSON: {e}")))?;
        calls.extend(page.calls.iter().filter_map(|c| c.summary()));
        match page.next_page_uri.as_deref().and_then(PageMark::of_uri) {
            Some(mark) => request.mark = Some(mark),
            None => break,
        }
    }
    Ok(calls)
}

/// A side of a call a number is on.
#[derive(Clone, Copy)]
enum Side {
    From,
    To,
}

async fn get(config: &EdgeConfig, url: &str) -> EdgeResult<Response> {
    let request = origin_request(config, url, true)?;
    Fetch::Request(request)
        .send()
        .await
        .map_err(|e| EdgeError::Origin(format!("calls: {e}")))
}

/// Why an answer of Twilio's `Calls.json` is not a page, if it is not:
/// as the generic origin's, but a 404 (an account Twilio does not know;
/// one without calls has an empty page) is a mistake in `TWILIO_ACCOUNTS`.
fn twilio_calls_status(config: &EdgeConfig, status: u16) -> EdgeResult<()> {
    match page_status(config, status)? {
        None => Ok(()),
        Some(_) => Err(EdgeError::Origin(
            "calls: Twilio answered 404: TWILIO_ACCOUNTS names an account it does not know".into(),
        )),
    }
}

/// `Some(empty page)` when the origin says the business has no calls,
/// `None` when the answer is a page to read, or why it cannot be had.
fn page_status(config: &EdgeConfig, status: u16) -> EdgeResult<Option<ListPage>> {
    match list_status(status) {
        ListStatus::Page => Ok(None),
        ListStatus::NoCalls => Ok(Some(ListPage {
            calls: Vec::new(),
            next_cursor: None,
        })),
        ListStatus::BadCursor => Err(EdgeError::BadQuery("cursor")),
        ListStatus::TokenRefused => Err(EdgeError::OriginAuth(format!(
            "calls: origin answered {status}: it refused the edge's credentials, check {}",
            config.origin.credential_vars()
        ))),
        ListStatus::Failed => Err(EdgeError::Origin(format!(
            "calls: origin answered {status}"
        ))),
    }
}
