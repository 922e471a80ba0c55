//! Who may start a new origin download, decided by the business object
//! before a call object leaves `none`: each agent (the session's `sub`) has
//! a budget of new downloads (a token bucket refilled at
//! `DOWNLOAD_BUDGET_PER_MINUTE`, holding at most `BURST` at once, so a
//! burst of made-up plays costs a handful of origin requests that all end
//! while their plays are still held), and a business whose queue is full
//! takes no newcomer. So one session playing made-up call SIDs costs the origin
//! at most its budget, never one request per play, and other agents keep
//! their own budgets and their place in the queue.
//!
//! The table is bounded: at most `MAX_AGENTS` budgets are kept; a budget
//! that has refilled is dropped (it is the same as a new one), and when the
//! table is still full the longest-idle agent's is.

use serde::{Deserialize, Serialize};

use crate::slots::QUEUE_FULL_RETRY_MS;

/// At most this many agents' budgets are kept per business.
pub const MAX_AGENTS: usize = 1024;
/// New downloads an agent may start at once, before the refill paces it.
pub const BURST: u32 = 5;
const MINUTE_MS: u64 = 60_000;
/// Budgets count thousandths of a download, so refills are exact enough.
const ONE: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The agent started more new downloads than its budget allows.
    RateLimited,
    /// The business's queue is full.
    QueueFull,
}

impl Refusal {
    /// The error code of the 429 body.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::RateLimited => "rate_limited",
            Refusal::QueueFull => "queue_full",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "admission", rename_all = "snake_case")]
pub enum Admission {
    Admitted,
    /// The business's call list, read after the play asked, does not have
    /// this call (see `directory`): answered 404, nothing starts.
    Unlisted,
    Refused {
        reason: Refusal,
        retry_after_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentBudget {
    pub agent: String,
    /// Thousandths of a download left at `at_ms`.
    pub left: u64,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budgets {
    pub agents: Vec<AgentBudget>,
}

impl Budgets {
    /// Admits a new download for `agent` (taking one from its budget), or
    /// refuses it. `queued` is the business's queue length now.
    pub fn admit(
        &mut self,
        agent: &str,
        now: u64,
        per_minute: u32,
        queued: usize,
        max_queue: u32,
    ) -> Admission {
        if queued >= max_queue as usize {
            return Admission::Refused {
                reason: Refusal::QueueFull,
                retry_after_ms: QUEUE_FULL_RETRY_MS,
            };
        }
        let capacity = per_minute.min(BURST) as u64 * ONE;
        let refill = |b: &AgentBudget| {
            let gained = now
                .saturating_sub(b.at_ms)
                .saturating_mul(per_minute as u64 * ONE)
                / MINUTE_MS;
            (b.left + gained).min(capacity)
        };
        self.agents.retain(|b| refill(b) < capacity);
        // A session's `sub` is kept as it is up to 64 bytes, beyond that by its digest.
        let agent = &agent_key(agent);
        let index = match self.agents.iter().position(|b| b.agent == *agent) {
            Some(i) => i,
            None => {
                if self.agents.len() >= MAX_AGENTS {
                    if let Some(oldest) =
                        (0..self.agents.len()).min_by_key(|&i| self.agents[i].at_ms)
                    {
                        self.agents.swap_remove(oldest);
                    }
                }
                self.agents.push(AgentBudget {
                    agent: agent.to_owned(),
                    left: capacity,
                    at_ms: now,
                });
                self.agents.len() - 1
            }
        };
        let budget = &mut self.agents[index];
        let left = refill(budget);
        // Only an admission moves the budget's clock, so refusals never lose a refill.
        if left >= ONE {
            budget.left = left - ONE;
            budget.at_ms = now;
            Admission::Admitted
        } else {
            let missing = ONE - left;
            Admission::Refused {
                reason: Refusal::RateLimited,
                retry_after_ms: (missing * MINUTE_MS).div_ceil(per_minute.max(1) as u64 * ONE),
            }
        }
    }
}

fn agent_key(agent: &str) -> String {
    use sha2::{Digest, Sha256};
    if agent.len() <= 64 {
        return agent.to_owned();
    }
    let digest = Sha256::digest(agent.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_gets_its_budget_then_waits_for_the_refill() {
        let mut b = Budgets::default();
        for _ in 0..3 {
            assert_eq!(b.admit("a", 0, 3, 0, 10), Admission::Admitted);
        }
        assert_eq!(
            b.admit("a", 0, 3, 0, 10),
            Admission::Refused {
                reason: Refusal::RateLimited,
                retry_after_ms: 20_000
            }
        );
        // Another agent has a budget of its own.
        assert_eq!(b.admit("b", 0, 3, 0, 10), Admission::Admitted);
        // One download comes back every 20 s.
        assert!(matches!(
            b.admit("a", 19_999, 3, 0, 10),
            Admission::Refused {
                retry_after_ms: 20,
                ..
            }
        ));
        assert_eq!(b.admit("a", 20_000, 3, 0, 10), Admission::Admitted);
    }

    #[test]
    fn a_burst_is_capped_then_paced_by_the_rate() {
        let mut b = Budgets::default();
        for _ in 0..BURST {
            assert_eq!(b.admit("a", 0, 60, 0, 10), Admission::Admitted);
        }
        assert!(matches!(
            b.admit("a", 0, 60, 0, 10),
            Admission::Refused {
                retry_after_ms: 1_000,
                ..
            }
        ));
        // A long pause refills the burst, never more.
        for _ in 0..BURST {
            assert_eq!(b.admit("a", 3_600_000, 60, 0, 10), Admission::Admitted);
        }
        assert!(matches!(
            b.admit("a", 3_600_000, 60, 0, 10),
            Admission::Refused { .. }
        ));
    }

    #[test]
    fn a_full_queue_refuses_without_spending_the_budget() {
        let mut b = Budgets::default();
        assert!(matches!(
            b.admit("a", 0, 1, 5, 5),
            Admission::Refused {
                reason: Refusal::QueueFull,
                ..
            }
        ));
        assert_eq!(b.admit("a", 0, 1, 4, 5), Admission::Admitted);
    }

    #[test]
    fn a_long_agent_name_is_kept_by_its_digest_and_old_budgets_never_overflow() {
        let mut b = Budgets::default();
        let long = "x".repeat(10_000);
        assert_eq!(b.admit(&long, 0, 10_000, 0, 10), Admission::Admitted);
        assert!(b.agents[0].agent.len() <= 64);
        assert_eq!(b.admit(&long, u64::MAX, 10_000, 0, 10), Admission::Admitted);
    }

    #[test]
    fn the_table_stays_bounded_and_forgets_refilled_budgets() {
        let mut b = Budgets::default();
        for i in 0..(MAX_AGENTS + 50) {
            b.admit(&format!("agent{i}"), i as u64, 60, 0, 10);
        }
        assert!(b.agents.len() <= MAX_AGENTS);
        // A minute later every budget has refilled: nothing is kept.
        b.admit("late", 10 * MINUTE_MS, 60, 0, 10);
        assert_eq!(b.agents.len(), 1);
    }
}
