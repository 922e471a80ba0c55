//! The browser player. `api` talks to the edge; `app`, `list` and `row`
//! render and feed events to the pure state machines in `playback-core`.

pub mod api;
mod app;
mod list;
pub mod row;

pub use app::{App, SignIn};
pub use list::CallList;
pub use row::CallRow;
