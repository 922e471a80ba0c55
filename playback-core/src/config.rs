//! The edge's configuration, parsed from the contract's names into a typed
//! struct (the edge parses it once per isolate, see `edge/src/config.rs`).
//!
//! A missing var takes the contract's default; a present but invalid one is
//! an error that names the var and what is wrong, never a silent default.

use std::fmt;

use std::collections::BTreeMap;

use base64::Engine;

use crate::ids::BusinessId;
use crate::twilio::{Sid, DEFAULT_TWILIO_API_BASE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Where recordings and call lists come from (`ORIGIN_KIND`).
    pub origin: OriginConfig,
    /// The key session tokens are signed with (`SESSION_SECRET`), and the
    /// one before it while a rotation is under way (`SESSION_SECRET_PREVIOUS`).
    pub session_secret: String,
    pub session_secret_previous: Option<String>,
    /// What a token's `aud` must name (`SESSION_AUDIENCE`) and who must have
    /// minted it (`SESSION_ISSUER`).
    pub session_audience: String,
    pub session_issuer: String,
    pub slots_per_business: u32,
    pub slot_lease_ms: u64,
    pub download_timeout_ms: u64,
    pub max_attempts: u32,
    pub failed_cooldown_ms: u64,
    pub not_found_ttl_ms: u64,
    pub dev_login: bool,
    /// Waiters a business's queue holds at most (`MAX_QUEUE_PER_BUSINESS`).
    pub max_queue_per_business: u32,
    /// New downloads one agent may start per minute (`DOWNLOAD_BUDGET_PER_MINUTE`).
    pub download_budget_per_minute: u32,
    /// The largest recording the edge stores (`MAX_RECORDING_BYTES`).
    pub max_recording_bytes: u64,
    /// The least time between two refreshes of a business's call list
    /// (`CALL_LIST_REFRESH_MS`).
    pub call_list_refresh_ms: u64,
    /// How long a page of a business's call list is answered from the
    /// edge's cache (`CALL_LIST_TTL_MS`; 0: only concurrent identical
    /// requests share one origin request).
    pub call_list_ttl_ms: u64,
    /// How long a stored Twilio recording is served before the provider is
    /// asked again whether it still has it (`RECORDING_RECHECK_MS`; 0: before
    /// every answer that carries its bytes).
    pub recording_recheck_ms: u64,
}

/// The origin the edge reads: the generic API (`docs/API.md`, the origin)
/// or Twilio's REST API.
#[derive(Clone, PartialEq, Eq)]
pub enum OriginConfig {
    Generic {
        /// Without a trailing slash (`ORIGIN_BASE_URL`).
        base_url: String,
        /// The bearer token (`ORIGIN_TOKEN`).
        token: String,
    },
    Twilio(TwilioConfig),
}

impl fmt::Debug for OriginConfig {
    /// Never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginConfig::Generic { base_url, .. } => write!(f, "Generic({base_url}, …)"),
            OriginConfig::Twilio(twilio) => write!(f, "{twilio:?}"),
        }
    }
}

impl OriginConfig {
    /// The variables to check when the origin refuses the edge's credentials.
    pub fn credential_vars(&self) -> &'static str {
        match self {
            OriginConfig::Generic { .. } => "ORIGIN_TOKEN",
            OriginConfig::Twilio(t) => t.credentials.vars(),
        }
    }
}

/// Which pair of credentials the edge signs in with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// The (parent) account's SID and Auth Token: they reach the account
    /// and its subaccounts.
    AuthToken { account: Sid, token: String },
    /// An API key's SID and secret: they reach the key's own account only.
    ApiKey { key: Sid, secret: String },
}

impl fmt::Debug for Credentials {
    /// Never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::AuthToken { account, .. } => write!(f, "AuthToken({account}, …)"),
            Credentials::ApiKey { key, .. } => write!(f, "ApiKey({key}, …)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header's value (HTTP Basic).
    pub fn authorization(&self) -> String {
        let (user, secret) = match self {
            Credentials::AuthToken { account, token } => (account.as_str(), token.as_str()),
            Credentials::ApiKey { key, secret } => (key.as_str(), secret.as_str()),
        };
        let pair = format!("{user}:{secret}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// The variables an operator checks when Twilio refuses them.
    pub fn vars(&self) -> &'static str {
        match self {
            Credentials::AuthToken { .. } => "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            Credentials::ApiKey { .. } => "TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET",
        }
    }
}

/// The Twilio origin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioConfig {
    /// Without a trailing slash.
    pub api_base: String,
    pub credentials: Credentials,
    /// Which Twilio account each business is (`TWILIO_ACCOUNTS`).
    pub accounts: BTreeMap<BusinessId, Sid>,
}

impl TwilioConfig {
    /// Reads `TWILIO_*` through `lookup`; `parse_base` checks the API base
    /// as `ORIGIN_BASE_URL` is checked.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
        parse_base: impl Fn(&'static str, &str) -> Result<String, ConfigError>,
    ) -> Result<TwilioConfig, ConfigError> {
        let err = |var: &'static str, problem: &str| ConfigError {
            var,
            problem: problem.to_owned(),
        };
        let api_base = parse_base(
            "TWILIO_API_BASE",
            &lookup("TWILIO_API_BASE").unwrap_or_else(|| DEFAULT_TWILIO_API_BASE.to_owned()),
        )?;
        let account = lookup("TWILIO_ACCOUNT_SID")
            .ok_or_else(|| err("TWILIO_ACCOUNT_SID", "is not set (the account's SID, AC…)"))?;
        let account = Sid::parse("AC", account.trim()).ok_or_else(|| {
            err(
                "TWILIO_ACCOUNT_SID",
                "is not an account SID (AC and 32 hex digits)",
            )
        })?;
        let present = |var| lookup(var).filter(|v| !v.is_empty());
        let credentials = match (
            present("TWILIO_AUTH_TOKEN"),
            present("TWILIO_API_KEY_SID"),
            present("TWILIO_API_KEY_SECRET"),
        ) {
            (Some(token), None, None) => Credentials::AuthToken {
                account: account.clone(),
                token,
            },
            (None, Some(key), Some(secret)) => Credentials::ApiKey {
                key: Sid::parse("SK", key.trim()).ok_or_else(|| {
                    err(
                        "TWILIO_API_KEY_SID",
                        "is not an API key SID (SK and 32 hex digits)",
                    )
                })?,
                secret,
            },
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(err(
                    "TWILIO_AUTH_TOKEN",
                    "is set together with an API key: set one pair only",
                ))
            }
            (None, Some(_), None) => {
                return Err(err("TWILIO_API_KEY_SECRET", "is not set (a secret)"))
            }
            (None, None, Some(_)) => return Err(err("TWILIO_API_KEY_SID", "is not set")),
            (None, None, None) => {
                return Err(err(
                    "TWILIO_AUTH_TOKEN",
                    "is not set (a secret; or TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET)",
                ))
            }
        };
        let accounts = parse_accounts(lookup("TWILIO_ACCOUNTS").as_deref().unwrap_or("{}"))?;
        if let Credentials::ApiKey { .. } = credentials {
            if accounts.values().any(|a| *a != account) {
                return Err(err(
                    "TWILIO_ACCOUNTS",
                    "names an account other than TWILIO_ACCOUNT_SID, which an API key cannot reach: use the parent account's Auth Token",
                ));
            }
        }
        Ok(TwilioConfig {
            api_base,
            credentials,
            accounts,
        })
    }

    /// The business's Twilio account, `None` when it has none.
    pub fn account(&self, business: &BusinessId) -> Option<&Sid> {
        self.accounts.get(business)
    }
}

fn parse_accounts(raw: &str) -> Result<BTreeMap<BusinessId, Sid>, ConfigError> {
    let err = |problem: String| ConfigError {
        var: "TWILIO_ACCOUNTS",
        problem,
    };
    let map: BTreeMap<String, String> = serde_json::from_str(raw).map_err(|_| {
        err(r#"is not a JSON object of business to account SID ({"acme": "AC…"})"#.into())
    })?;
    map.into_iter()
        .map(|(business, account)| {
            let id = BusinessId::parse(&business)
                .map_err(|_| err(format!("{business:?} is not a business id")))?;
            let sid = Sid::parse("AC", &account)
                .ok_or_else(|| err(format!("{business}'s {account:?} is not an account SID")))?;
            Ok((id, sid))
        })
        .collect()
}

/// The example's session secret (`.dev.vars.example`): never a real one.
pub const EXAMPLE_SESSION_SECRET: &str = "dev-session-secret-change-me";
/// The shortest session secret accepted outside local development.
pub const MIN_SESSION_SECRET_BYTES: usize = 32;
/// The `aud` and `iss` of session tokens when `SESSION_AUDIENCE` and
/// `SESSION_ISSUER` are unset, which only `DEV_LOGIN` allows.
pub const DEV_SESSION_AUDIENCE: &str = "call-recordings";
pub const DEV_SESSION_ISSUER: &str = "dev-login";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.problem)
    }
}

impl std::error::Error for ConfigError {}

pub const DEFAULT_ORIGIN_BASE_URL: &str = "http://127.0.0.1:8790";
/// A stored Twilio recording is checked at Twilio at most this long after
/// its last check (a recording deleted there is served at most this long).
pub const DEFAULT_RECORDING_RECHECK_MS: u64 = 900_000;

impl EdgeConfig {
    /// The keys a session token may be signed with.
    pub fn session_keys(&self) -> crate::session::Keys<'_> {
        crate::session::Keys {
            current: self.session_secret.as_bytes(),
            previous: self.session_secret_previous.as_deref().map(str::as_bytes),
        }
    }

    /// What a session token's claims must say: this service, its issuer.
    pub fn session_expect(&self) -> crate::session::Expect<'_> {
        crate::session::Expect {
            audience: Some(&self.session_audience),
            issuer: Some(&self.session_issuer),
        }
    }

    /// The call object's rules for a download (`crate::download`).
    pub fn download_policy(&self) -> crate::download::DownloadPolicy {
        crate::download::DownloadPolicy {
            max_attempts: self.max_attempts,
            slot_lease_ms: self.slot_lease_ms,
            failed_cooldown_ms: self.failed_cooldown_ms,
            not_found_ttl_ms: self.not_found_ttl_ms,
            download_timeout_ms: self.download_timeout_ms,
        }
    }

    /// The business object's rules for its slots (`crate::slots`).
    pub fn slot_policy(&self) -> crate::slots::SlotPolicy {
        crate::slots::SlotPolicy {
            slots: self.slots_per_business,
            lease_ms: self.slot_lease_ms,
            max_queue: self.max_queue_per_business,
        }
    }

    /// `lookup` returns a var's or secret's value by name, `None` when unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let origin = match lookup("ORIGIN_KIND").as_deref().unwrap_or("generic") {
            "generic" => {
                let base_url =
                    lookup("ORIGIN_BASE_URL").unwrap_or_else(|| DEFAULT_ORIGIN_BASE_URL.to_owned());
                OriginConfig::Generic {
                    base_url: parse_base_url("ORIGIN_BASE_URL", &base_url)?,
                    token: secret(&lookup, "ORIGIN_TOKEN")?,
                }
            }
            "twilio" => OriginConfig::Twilio(TwilioConfig::from_lookup(&lookup, parse_base_url)?),
            other => {
                return Err(ConfigError {
                    var: "ORIGIN_KIND",
                    problem: format!("{other:?} is neither \"generic\" nor \"twilio\""),
                })
            }
        };
        let dev_login = boolean(&lookup, "DEV_LOGIN", false)?;
        let session_secret = session_key(&lookup, "SESSION_SECRET", dev_login)?;
        let session_secret_previous = match lookup("SESSION_SECRET_PREVIOUS") {
            None => None,
            Some(_) => Some(session_key(&lookup, "SESSION_SECRET_PREVIOUS", dev_login)?),
        };
        let session_audience =
            claim_name(&lookup, "SESSION_AUDIENCE", dev_login, DEV_SESSION_AUDIENCE)?;
        let session_issuer = claim_name(&lookup, "SESSION_ISSUER", dev_login, DEV_SESSION_ISSUER)?;
        Ok(EdgeConfig {
            origin,
            session_secret,
            session_secret_previous,
            session_audience,
            session_issuer,
            slots_per_business: number(&lookup, "SLOTS_PER_BUSINESS", 3, 1, 1_000)?,
            slot_lease_ms: number(&lookup, "SLOT_LEASE_MS", 120_000, 1_000, 86_400_000)?,
            download_timeout_ms: number(&lookup, "DOWNLOAD_TIMEOUT_MS", 60_000, 100, 3_600_000)?,
            max_attempts: number(&lookup, "MAX_ATTEMPTS", 4, 1, 100)?,
            failed_cooldown_ms: number(&lookup, "FAILED_COOLDOWN_MS", 60_000, 0, 86_400_000)?,
            not_found_ttl_ms: number(&lookup, "NOT_FOUND_TTL_MS", 30_000, 0, 86_400_000)?,
            dev_login,
            max_queue_per_business: number(&lookup, "MAX_QUEUE_PER_BUSINESS", 100, 1, 10_000)?,
            download_budget_per_minute: number(
                &lookup,
                "DOWNLOAD_BUDGET_PER_MINUTE",
                20,
                1,
                10_000,
            )?,
            max_recording_bytes: number(&lookup, "MAX_RECORDING_BYTES", 1 << 30, 1, 5 << 30)?,
            call_list_refresh_ms: number(&lookup, "CALL_LIST_REFRESH_MS", 2_000, 100, 600_000)?,
            call_list_ttl_ms: number(
                &lookup,
                "CALL_LIST_TTL_MS",
                crate::list_cache::DEFAULT_CALL_LIST_TTL_MS,
                0,
                600_000,
            )?,
            recording_recheck_ms: number(
                &lookup,
                "RECORDING_RECHECK_MS",
                DEFAULT_RECORDING_RECHECK_MS,
                0,
                86_400_000,
            )?,
        })
    }
}

fn parse_base_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let err = |problem: &str| ConfigError {
        var,
        problem: problem.to_owned(),
    };
    let rest = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
        .ok_or_else(|| err("must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || raw.contains(char::is_whitespace) || raw.contains(['?', '#']) {
        return Err(err("must be an absolute URL with a host and no query"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// A session key: a secret, and with `DEV_LOGIN` off a strong one.
fn session_key(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    dev_login: bool,
) -> Result<String, ConfigError> {
    let key = secret(lookup, var)?;
    if !dev_login && (key.len() < MIN_SESSION_SECRET_BYTES || key == EXAMPLE_SESSION_SECRET) {
        return Err(ConfigError {
            var,
            problem: format!(
                "must be at least {MIN_SESSION_SECRET_BYTES} bytes and not the example's value when DEV_LOGIN is off"
            ),
        });
    }
    Ok(key)
}

/// A claim's required value (`aud`, `iss`): set, or with `DEV_LOGIN` on
/// the development default.
fn claim_name(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    dev_login: bool,
    dev_default: &str,
) -> Result<String, ConfigError> {
    match lookup(var) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        Some(_) => Err(ConfigError {
            var,
            problem: "is empty".into(),
        }),
        None if dev_login => Ok(dev_default.to_owned()),
        None => Err(ConfigError {
            var,
            problem: "is not set (required unless DEV_LOGIN is on: session tokens must name this service and their issuer)".into(),
        }),
    }
}

fn secret(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<String, ConfigError> {
    match lookup(var) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(ConfigError {
            var,
            problem: "is empty".into(),
        }),
        None => Err(ConfigError {
            var,
            problem: "is not set (a secret: .dev.vars locally, wrangler secret put in production)"
                .into(),
        }),
    }
}

fn number<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = lookup(var) else {
        return Ok(default);
    };
    let value: T = raw.trim().parse().map_err(|_| ConfigError {
        var,
        problem: format!("{raw:?} is not a whole number"),
    })?;
    if value < min || value > max {
        return Err(ConfigError {
            var,
            problem: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

fn boolean(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match lookup(var).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError {
            var,
            problem: format!("{other:?} is neither \"true\" nor \"false\""),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<EdgeConfig, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("ORIGIN_TOKEN", "o"),
            ("SESSION_SECRET", "0123456789abcdef0123456789abcdef"),
            ("SESSION_AUDIENCE", "call-recordings"),
            ("SESSION_ISSUER", "https://login.example"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        EdgeConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn the_policies_carry_the_configured_values() {
        let c = parse(&[
            ("SLOTS_PER_BUSINESS", "7"),
            ("SLOT_LEASE_MS", "9000"),
            ("MAX_QUEUE_PER_BUSINESS", "11"),
            ("MAX_ATTEMPTS", "2"),
            ("DOWNLOAD_TIMEOUT_MS", "5000"),
        ])
        .unwrap();
        let slots = c.slot_policy();
        assert_eq!(
            (slots.slots, slots.lease_ms, slots.max_queue),
            (7, 9_000, 11)
        );
        let download = c.download_policy();
        assert_eq!(
            (
                download.max_attempts,
                download.slot_lease_ms,
                download.download_timeout_ms,
                download.failed_cooldown_ms,
                download.not_found_ttl_ms,
            ),
            (2, 9_000, 5_000, c.failed_cooldown_ms, c.not_found_ttl_ms)
        );
    }

    #[test]
    fn unset_vars_take_the_contract_defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.origin,
            OriginConfig::Generic {
                base_url: "http://127.0.0.1:8790".into(),
                token: "o".into()
            }
        );
        assert_eq!(
            (
                c.slots_per_business,
                c.slot_lease_ms,
                c.download_timeout_ms,
                c.max_attempts
            ),
            (3, 120_000, 60_000, 4)
        );
        assert_eq!(
            (c.failed_cooldown_ms, c.not_found_ttl_ms, c.dev_login),
            (60_000, 30_000, false)
        );
    }

    #[test]
    fn set_vars_are_used() {
        let c = parse(&[
            ("SLOTS_PER_BUSINESS", "5"),
            ("DEV_LOGIN", "true"),
            ("ORIGIN_BASE_URL", "http://x:1/"),
        ])
        .unwrap();
        assert_eq!((c.slots_per_business, c.dev_login), (5, true));
        assert!(
            matches!(c.origin, OriginConfig::Generic { base_url, .. } if base_url == "http://x:1")
        );
    }

    #[test]
    fn invalid_values_name_the_var_instead_of_falling_back() {
        for (var, value) in [
            ("SLOTS_PER_BUSINESS", "three"),
            ("SLOTS_PER_BUSINESS", "0"),
            ("SLOTS_PER_BUSINESS", "-1"),
            ("MAX_ATTEMPTS", ""),
            ("SLOT_LEASE_MS", "10"),
            ("DEV_LOGIN", "yes"),
            ("ORIGIN_BASE_URL", "ftp://x"),
            ("ORIGIN_BASE_URL", "http://"),
            ("ORIGIN_TOKEN", ""),
            ("ORIGIN_KIND", "Twilio"),
        ] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{var}={value:?}");
        }
    }

    #[test]
    fn a_short_or_example_session_secret_is_refused_unless_dev_login_is_on() {
        for weak in [
            "short",
            EXAMPLE_SESSION_SECRET,
            "0123456789abcdef0123456789abcde",
        ] {
            let err = parse(&[("SESSION_SECRET", weak)]).unwrap_err();
            assert_eq!(err.var, "SESSION_SECRET");
            assert!(
                !err.to_string().contains(weak),
                "the error names the var, not the value"
            );
            assert!(parse(&[("SESSION_SECRET", weak), ("DEV_LOGIN", "true")]).is_ok());
        }
    }

    #[test]
    fn abuse_bounds_have_defaults_and_are_checked() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            (
                c.max_queue_per_business,
                c.download_budget_per_minute,
                c.max_recording_bytes,
                c.call_list_refresh_ms,
                c.call_list_ttl_ms
            ),
            (100, 20, 1 << 30, 2_000, 5_000)
        );
        assert_eq!(
            parse(&[("CALL_LIST_TTL_MS", "600001")]).unwrap_err().var,
            "CALL_LIST_TTL_MS"
        );
        assert_eq!(
            parse(&[("CALL_LIST_REFRESH_MS", "10")]).unwrap_err().var,
            "CALL_LIST_REFRESH_MS"
        );
        assert_eq!(
            parse(&[("MAX_QUEUE_PER_BUSINESS", "0")]).unwrap_err().var,
            "MAX_QUEUE_PER_BUSINESS"
        );
        assert_eq!(
            parse(&[("DOWNLOAD_BUDGET_PER_MINUTE", "x")])
                .unwrap_err()
                .var,
            "DOWNLOAD_BUDGET_PER_MINUTE"
        );
    }

    #[test]
    fn the_session_audience_and_issuer_are_required_unless_dev_login_is_on() {
        for var in ["SESSION_AUDIENCE", "SESSION_ISSUER"] {
            let map: HashMap<&str, &str> = [
                ("ORIGIN_TOKEN", "o"),
                ("SESSION_SECRET", "0123456789abcdef0123456789abcdef"),
                ("SESSION_AUDIENCE", "call-recordings"),
                ("SESSION_ISSUER", "https://login.example"),
            ]
            .into_iter()
            .filter(|(k, _)| *k != var)
            .collect();
            let err = EdgeConfig::from_lookup(|n| map.get(n).map(|v| v.to_string())).unwrap_err();
            assert_eq!(err.var, var);
            assert_eq!(parse(&[(var, " ")]).unwrap_err().var, var, "empty");
        }
        let dev = EdgeConfig::from_lookup(|n| match n {
            "ORIGIN_TOKEN" => Some("o".into()),
            "SESSION_SECRET" => Some("short".into()),
            "DEV_LOGIN" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (dev.session_audience.as_str(), dev.session_issuer.as_str()),
            (DEV_SESSION_AUDIENCE, DEV_SESSION_ISSUER)
        );
        let c = parse(&[]).unwrap();
        let expect = c.session_expect();
        assert_eq!(
            (expect.audience, expect.issuer),
            (Some("call-recordings"), Some("https://login.example"))
        );
    }

    #[test]
    fn a_previous_session_key_is_optional_and_as_strong_as_the_current() {
        assert_eq!(parse(&[]).unwrap().session_keys().previous, None);
        let c = parse(&[(
            "SESSION_SECRET_PREVIOUS",
            "fedcba9876543210fedcba9876543210",
        )])
        .unwrap();
        assert_eq!(
            c.session_keys().previous,
            Some("fedcba9876543210fedcba9876543210".as_bytes())
        );
        for weak in ["short", EXAMPLE_SESSION_SECRET, ""] {
            let err = parse(&[("SESSION_SECRET_PREVIOUS", weak)]).unwrap_err();
            assert_eq!(err.var, "SESSION_SECRET_PREVIOUS", "{weak:?}");
        }
    }

    #[test]
    fn the_twilio_origin_needs_no_origin_token_and_checks_its_base_as_the_generic_one() {
        let account = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                [
                    ("ORIGIN_KIND", "twilio"),
                    ("TWILIO_ACCOUNT_SID", account),
                    ("TWILIO_AUTH_TOKEN", "t"),
                    ("SESSION_SECRET", "0123456789abcdef0123456789abcdef"),
                    ("SESSION_AUDIENCE", "call-recordings"),
                    ("SESSION_ISSUER", "https://login.example"),
                ]
                .iter()
                .chain(pairs)
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
            }
        };
        let c = EdgeConfig::from_lookup(lookup(&[])).unwrap();
        let OriginConfig::Twilio(twilio) = &c.origin else {
            panic!("twilio");
        };
        assert_eq!(twilio.api_base, crate::twilio::DEFAULT_TWILIO_API_BASE);
        assert_eq!(
            c.origin.credential_vars(),
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        );
        let c =
            EdgeConfig::from_lookup(lookup(&[("TWILIO_API_BASE", "http://127.0.0.1:9/")])).unwrap();
        assert!(matches!(&c.origin, OriginConfig::Twilio(t) if t.api_base == "http://127.0.0.1:9"));
        let err =
            EdgeConfig::from_lookup(lookup(&[("TWILIO_API_BASE", "api.twilio.com")])).unwrap_err();
        assert_eq!(err.var, "TWILIO_API_BASE");
    }

    #[test]
    fn missing_secrets_are_errors() {
        let err = EdgeConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(err.var, "ORIGIN_TOKEN");
    }

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const AC2: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const SK: &str = "SKcccccccccccccccccccccccccccccccc";

    fn twilio(pairs: &[(&str, &str)]) -> Result<TwilioConfig, ConfigError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TwilioConfig::from_lookup(&|name: &str| map.get(name).cloned(), |_, base| {
            Ok(base.trim_end_matches('/').to_owned())
        })
    }

    fn business_id(raw: &str) -> BusinessId {
        BusinessId::parse(raw).expect("a business id")
    }

    #[test]
    fn the_account_pair_reaches_every_mapped_account_and_a_business_without_one_has_none() {
        let c = twilio(&[
            ("TWILIO_ACCOUNT_SID", AC),
            ("TWILIO_AUTH_TOKEN", "tok"),
            (
                "TWILIO_ACCOUNTS",
                &format!(r#"{{"acme": "{AC}", "globex": "{AC2}"}}"#),
            ),
        ])
        .expect("valid");
        assert_eq!(c.api_base, DEFAULT_TWILIO_API_BASE);
        assert_eq!(
            c.account(&business_id("globex")).map(Sid::as_str),
            Some(AC2)
        );
        assert_eq!(c.account(&business_id("initech")), None);
        // Basic base64("AC…:tok").
        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{AC}:tok"));
        assert_eq!(c.credentials.authorization(), format!("Basic {expected}"));
        assert!(!format!("{:?}", c.credentials).contains("tok"));
    }

    #[test]
    fn an_api_key_reaches_its_own_account_only() {
        let own = format!(r#"{{"acme": "{AC}"}}"#);
        let other = format!(r#"{{"acme": "{AC}", "globex": "{AC2}"}}"#);
        let base = [
            ("TWILIO_ACCOUNT_SID", AC),
            ("TWILIO_API_KEY_SID", SK),
            ("TWILIO_API_KEY_SECRET", "s"),
        ];
        let with = |accounts: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("TWILIO_ACCOUNTS", accounts));
            twilio(&pairs)
        };
        let c = with(&own).expect("one account");
        assert!(matches!(c.credentials, Credentials::ApiKey { .. }));
        assert_eq!(with(&other).unwrap_err().var, "TWILIO_ACCOUNTS");
    }

    #[test]
    fn every_bad_credential_setting_names_its_variable() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("TWILIO_AUTH_TOKEN", "t")], "TWILIO_ACCOUNT_SID"),
            (
                &[("TWILIO_ACCOUNT_SID", "AC12"), ("TWILIO_AUTH_TOKEN", "t")],
                "TWILIO_ACCOUNT_SID",
            ),
            (&[("TWILIO_ACCOUNT_SID", AC)], "TWILIO_AUTH_TOKEN"),
            (
                &[
                    ("TWILIO_ACCOUNT_SID", AC),
                    ("TWILIO_AUTH_TOKEN", "t"),
                    ("TWILIO_API_KEY_SID", SK),
                ],
                "TWILIO_AUTH_TOKEN",
            ),
            (
                &[("TWILIO_ACCOUNT_SID", AC), ("TWILIO_API_KEY_SID", SK)],
                "TWILIO_API_KEY_SECRET",
            ),
            (
                &[
                    ("TWILIO_ACCOUNT_SID", AC),
                    ("TWILIO_AUTH_TOKEN", "t"),
                    ("TWILIO_ACCOUNTS", "[1]"),
                ],
                "TWILIO_ACCOUNTS",
            ),
        ];
        for (pairs, var) in cases {
            assert_eq!(twilio(pairs).unwrap_err().var, var, "{pairs:?}");
        }
        let bad_sid = r#"{"acme": "AC0"}"#.to_string();
        let bad_business = format!(r#"{{"a/b": "{AC}"}}"#);
        for accounts in [&bad_sid, &bad_business] {
            let e = twilio(&[
                ("TWILIO_ACCOUNT_SID", AC),
                ("TWILIO_AUTH_TOKEN", "t"),
                ("TWILIO_ACCOUNTS", accounts),
            ])
            .unwrap_err();
            assert_eq!(e.var, "TWILIO_ACCOUNTS");
        }
    }
}
