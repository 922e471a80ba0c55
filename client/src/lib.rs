//! The browser player. `api` talks to the edge; `app` renders. The decisions
//! (when to ask, how long to wait) live in `playback-core`.

pub mod api;
mod app;

pub use app::App;
