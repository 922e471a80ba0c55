//! The browser player. `api` talks to the edge; `app` and `row` render and
//! feed events to the pure row state machine in `playback-core`.

pub mod api;
mod app;
pub mod row;

pub use app::{App, SignIn};
pub use row::CallRow;
