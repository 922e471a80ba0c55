//! Reads the contract's vars and secrets from the worker's `Env` into the
//! core's typed [`EdgeConfig`]. The parsing and its rules live in the core.

use playback_core::config::{ConfigError, EdgeConfig};
use worker::Env;

pub fn load(env: &Env) -> Result<EdgeConfig, ConfigError> {
    EdgeConfig::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}
