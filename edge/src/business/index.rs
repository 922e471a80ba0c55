//! The business's calls indexed in its object's SQLite storage (Twilio),
//! as the crawl and the agents' pages read them, and the number searches it
//! answers (`playback_core::call_index` writes every statement).

use std::cell::Cell;
use std::time::Duration;

use futures_util::future::select;
use playback_core::call_index::{self, After, Bind, SearchWay, Statement};
use playback_core::config::OriginConfig;
use playback_core::directory::{search_waits_for_read, COMPLETE_KEY};
use playback_core::list_query::ListQuery;
use playback_core::wire::CallSummary;
use serde::Deserialize;
use worker::{Delay, SqlStorage, SqlStorageValue, Storage};

use super::BusinessSlots;
use crate::config;
use crate::error::{EdgeError, EdgeResult};
use crate::log::now_ms;
use crate::rpc::{CallPage, Handles, PageAnswer, PageFailure, SearchCalls};

/// How long a search waits for a read of the list it asked for, when the
/// last one is not recent (a refresh of an indexed list is a page or two),
/// before it answers from the index.
const SEARCH_WAITS_FOR_READ_MS: u64 = 2_000;

/// The index in one object's storage; its table is created on first use.
#[derive(Default)]
pub(super) struct CallIndex {
    ready: Cell<bool>,
}

impl CallIndex {
    fn sql(&self, storage: &Storage) -> EdgeResult<SqlStorage> {
        let sql = storage.sql();
        if !self.ready.get() {
            for statement in call_index::SCHEMA {
                sql.exec(statement, None)?;
            }
            self.ready.set(true);
        }
        Ok(sql)
    }

    /// Indexes `calls` (one already indexed is replaced).
    pub(super) fn insert(&self, storage: &Storage, calls: &[CallSummary]) -> EdgeResult<()> {
        let sql = self.sql(storage)?;
        for statement in call_index::inserts(calls) {
            run(&sql, statement)?;
        }
        Ok(())
    }

    fn search(&self, storage: &Storage, statement: Statement) -> EdgeResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            summary: String,
        }
        let rows: Vec<Row> = run(&self.sql(storage)?, statement)?.to_array()?;
        Ok(rows.into_iter().map(|r| r.summary).collect())
    }

    fn count(&self, storage: &Storage) -> EdgeResult<u64> {
        #[derive(Deserialize)]
        struct Count {
            n: f64,
        }
        let count: Count = self.sql(storage)?.exec(call_index::COUNT, None)?.one()?;
        Ok(count.n as u64)
    }
}

fn run(sql: &SqlStorage, statement: Statement) -> EdgeResult<worker::SqlCursor> {
    let binds: Vec<SqlStorageValue> = statement
        .binds
        .into_iter()
        .map(|b| match b {
            Bind::Int(n) => SqlStorageValue::from(n),
            Bind::Text(t) => SqlStorageValue::from(t),
        })
        .collect();
    Ok(sql.exec(&statement.sql, binds)?)
}

/// A number search (or a time range with it) of the business's calls.
impl Handles<SearchCalls> for BusinessSlots {
    async fn handle(&self, SearchCalls { business, query }: SearchCalls) -> EdgeResult<PageAnswer> {
        let config = config::load(&self.env)?;
        let query = ListQuery::from_canonical(&query)
            .map_err(|e| EdgeError::Internal(format!("not a canonical query: {e:?}")))?;
        let after = match query.cursor.as_deref() {
            None => None,
            Some(cursor) => match After::of_cursor(cursor) {
                Some(after) => Some(after),
                None => return Ok(Err(PageFailure::BadCursor)),
            },
        };
        if !matches!(config.origin, OriginConfig::Twilio(_)) {
            return Err(EdgeError::Internal(
                "a search of the index without Twilio".into(),
            ));
        }
        // Calls made since the last read, when it is not recent and none is
        // under way: a read from now on, waited for a while. A read under
        // way (the first crawl of a large list, say) is not waited for: the
        // index answers with what it has so far, and says so.
        let clock = *self.directory.clock.borrow();
        let reading = self.directory.reading();
        if !reading && search_waits_for_read(&clock, now_ms(), config.call_list_refresh_ms) {
            let read = self.read_from_now(&config, &business);
            let waited = Delay::from(Duration::from_millis(SEARCH_WAITS_FOR_READ_MS));
            let _ = select(read, waited).await;
        }
        let storage = self.state.storage();
        let complete = storage.get::<bool>(COMPLETE_KEY).await?.unwrap_or(false);
        // Before the crawl has reached the oldest calls, a whole number is
        // asked of Twilio itself, which knows every call.
        if let SearchWay::AskTwilio(number) = call_index::search_way(query.q.as_deref(), complete) {
            let page =
                crate::origin::number_page(&config, &business, &query, &number, after.as_ref())
                    .await;
            return Ok(page
                .map(|page| CallPage {
                    calls: page.calls,
                    next_cursor: page.next_cursor,
                    note: None,
                })
                .map_err(PageFailure::of));
        }
        let rows = self
            .index
            .search(&storage, call_index::search(&query, after.as_ref()))?;
        let (calls, next_cursor) = call_index::page_of(&query, rows);
        let note = match complete {
            true => None,
            false => call_index::searched_note(self.index.count(&storage)?, complete),
        };
        Ok(Ok(CallPage {
            calls,
            next_cursor,
            note,
        }))
    }
}
