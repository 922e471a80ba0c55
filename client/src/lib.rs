//! The browser player. `api` talks to the edge; `app`, `list`, `row` and `bar`
//! render and feed events to the pure state machines in `playback-core`.

pub mod api;
mod app;
pub mod bar;
mod json;
mod list;
pub mod row;

pub use app::{App, SignIn};
pub use bar::{Player, PlayerBar};
pub use list::CallList;
pub use row::CallRow;
