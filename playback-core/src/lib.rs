//! The pure core of call-recording playback.
//!
//! Every decision the edge, the client and the tests share lives here as a
//! plain function or a small state machine over plain data. Time and
//! randomness come in as arguments. Nothing in this crate performs I/O or
//! names a `worker`, `web_sys` or `tokio` type, so all of it is tested
//! natively in milliseconds.

pub mod admission;
pub mod bar;
pub mod call_index;
pub mod call_list;
pub mod clock;
pub mod config;
pub mod directory;
pub mod download;
pub mod fill;
pub mod ids;
pub mod list_cache;
pub mod list_query;
pub mod origin_rules;
pub mod origin_url;
pub mod peaks;
pub mod player;
pub mod range;
pub mod request;
pub mod retry;
pub mod route;
pub mod session;
pub mod slots;
pub mod twilio;
pub mod wire;

pub use ids::{BusinessId, CallIdentity, CallSid, IdError};
