//! Reads the contract's vars and secrets from the worker's `Env` into the
//! core's typed [`EdgeConfig`]. The parsing and its rules live in the core.
//!
//! An isolate's bindings never change while it lives (new vars or secrets
//! mean a new deployment, hence new isolates), so the first good parse is
//! kept for the isolate; a bad one is not, and every request reports it.

use std::cell::RefCell;
use std::rc::Rc;

use playback_core::config::{ConfigError, EdgeConfig};
use worker::Env;

thread_local! {
    static LOADED: RefCell<Option<Rc<EdgeConfig>>> = const { RefCell::new(None) };
}

pub(crate) fn load(env: &Env) -> Result<Rc<EdgeConfig>, ConfigError> {
    if let Some(config) = LOADED.with(|c| c.borrow().clone()) {
        return Ok(config);
    }
    let config = Rc::new(EdgeConfig::from_lookup(|name| {
        env.var(name).ok().map(|v| v.to_string())
    })?);
    LOADED.with(|c| *c.borrow_mut() = Some(config.clone()));
    Ok(config)
}
