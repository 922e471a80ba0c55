//! The browser player. `api` talks to the edge; `app`, `list`, `row` and `bar`
//! render and feed events to the pure state machines in `playback-core`;
//! `loaders` is the registry of each call's loader that rows and the bar
//! share.

pub mod api;
pub mod app;
pub mod bar;
pub mod call_row;
mod clock;
pub mod list;
pub mod loaders;
pub mod row;
pub mod sign_in;

pub use app::App;
pub use bar::{Player, PlayerBar};
pub use call_row::CallRow;
pub use list::CallList;
pub use sign_in::SignIn;
