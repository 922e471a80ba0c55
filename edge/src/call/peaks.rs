//! The stored recording's peaks record.

use std::rc::Rc;

use playback_core::peaks::PeaksRecord;
use serde_json::json;

use super::commit::PEAKS_KEY;
use super::Call;
use crate::error::{EdgeError, EdgeResult};
use crate::origin;
use crate::rpc::{Handles, Peaks};

/// As its download wrote it with `ready`, or, for a recording stored
/// without one, computed from R2 here and kept (concurrent requests share
/// one computation). `None` while R2 does not have the recording.
impl Handles<Peaks> for Rc<Call> {
    async fn handle(&self, Peaks { id }: Peaks) -> EdgeResult<Option<PeaksRecord>> {
        let storage = self.state.storage();
        if let Some(json) = storage.get::<String>(PEAKS_KEY).await? {
            return Ok(Some(
                serde_json::from_str(&json)
                    .map_err(|e| EdgeError::Internal(format!("stored peaks: {e}")))?,
            ));
        }
        let start = || {
            let env = self.env.clone();
            async move {
                let record = origin::peaks_from_r2(env, id.clone()).await?;
                // Kept: a failure only costs computing them again.
                if let Ok(json) = serde_json::to_string(&record) {
                    if let Err(e) = storage.put(PEAKS_KEY, json).await {
                        let detail = json!({"detail": format!("{e:?}")});
                        crate::log::call_event(&id, "peaks_not_stored", detail);
                    }
                }
                Some(record)
            }
        };
        Ok(self.peaks.join_or_start(start).await)
    }
}
