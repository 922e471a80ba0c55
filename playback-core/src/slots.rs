//! The per-business slot table: at most `slots` leases at once, each with an
//! owner (a call object's name) and an expiry, and a first-come-first-served
//! queue of owners waiting for one.
//!
//! When a slot frees (release or expiry), the head of the queue is granted a
//! lease at once and reported back so the shell can hand it over (on the
//! waiter's held request, or by waking it); a waiter never loses its place,
//! and no later arrival can take its slot.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How long the business object holds open an acquire that found no free
/// slot, to answer it with the next one that frees, before it answers
/// "queued": half a lease, at most 20 s.
pub fn acquire_hold_ms(lease_ms: u64) -> u64 {
    (lease_ms / 2).min(20_000)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLease {
    pub owner: String,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotTable {
    pub leases: Vec<SlotLease>,
    pub queue: VecDeque<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Acquire {
    Granted {
        expires_ms: u64,
    },
    /// `position` 0 is the head of the queue.
    Queued {
        position: u32,
    },
}

impl SlotTable {
    /// Takes a slot for `owner`, or queues it. Idempotent: an owner that
    /// holds a lease gets it renewed, one already queued keeps its place.
    /// Returns the answer and the owners newly granted a lease by expiries.
    pub fn acquire(
        &mut self,
        owner: &str,
        now: u64,
        slots: u32,
        lease_ms: u64,
    ) -> (Acquire, Vec<String>) {
        let woken = self.expire(now, slots, lease_ms);
        if let Some(lease) = self.leases.iter_mut().find(|l| l.owner == owner) {
            lease.expires_ms = now + lease_ms;
            return (
                Acquire::Granted {
                    expires_ms: lease.expires_ms,
                },
                woken,
            );
        }
        if !self.queue.iter().any(|q| q == owner) {
            if self.queue.is_empty() && self.leases.len() < slots as usize {
                self.leases.push(SlotLease {
                    owner: owner.to_owned(),
                    expires_ms: now + lease_ms,
                });
                return (
                    Acquire::Granted {
                        expires_ms: now + lease_ms,
                    },
                    woken,
                );
            }
            self.queue.push_back(owner.to_owned());
        }
        (
            Acquire::Queued {
                position: self.position(owner).unwrap_or(0),
            },
            woken,
        )
    }

    /// Extends `owner`'s lease; `false` when it no longer holds one.
    pub fn renew(&mut self, owner: &str, now: u64, lease_ms: u64) -> bool {
        match self
            .leases
            .iter_mut()
            .find(|l| l.owner == owner && l.expires_ms > now)
        {
            Some(lease) => {
                lease.expires_ms = now + lease_ms;
                true
            }
            None => false,
        }
    }

    /// Gives up `owner`'s lease or place in the queue (a release after its
    /// lease expired is a no-op) and grants freed slots to the queue's head.
    /// Returns the owners newly granted a lease.
    pub fn release(&mut self, owner: &str, now: u64, slots: u32, lease_ms: u64) -> Vec<String> {
        self.leases.retain(|l| l.owner != owner);
        self.queue.retain(|q| q != owner);
        self.expire(now, slots, lease_ms)
    }

    /// Reclaims expired leases and fills free slots from the queue.
    pub fn expire(&mut self, now: u64, slots: u32, lease_ms: u64) -> Vec<String> {
        self.leases.retain(|l| l.expires_ms > now);
        let mut granted = Vec::new();
        while self.leases.len() < slots as usize {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.leases.push(SlotLease {
                owner: next.clone(),
                expires_ms: now + lease_ms,
            });
            granted.push(next);
        }
        granted
    }

    pub fn position(&self, owner: &str) -> Option<u32> {
        self.queue.iter().position(|q| q == owner).map(|p| p as u32)
    }

    /// `owner`'s standing without changing anything: its live lease, or its
    /// place in the queue (0 when it is in neither).
    pub fn standing(&self, owner: &str, now: u64) -> Acquire {
        match self
            .leases
            .iter()
            .find(|l| l.owner == owner && l.expires_ms > now)
        {
            Some(lease) => Acquire::Granted {
                expires_ms: lease.expires_ms,
            },
            None => Acquire::Queued {
                position: self.position(owner).unwrap_or(0),
            },
        }
    }

    pub fn holds(&self, owner: &str, now: u64) -> bool {
        self.leases
            .iter()
            .any(|l| l.owner == owner && l.expires_ms > now)
    }

    /// When the next lease expires, for the business object's alarm.
    pub fn next_expiry(&self) -> Option<u64> {
        self.leases.iter().map(|l| l.expires_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_reports_a_live_lease_or_the_place_in_the_queue() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, 100);
        t.acquire("b", 0, 1, 100);
        assert_eq!(t.standing("a", 50), Acquire::Granted { expires_ms: 100 });
        assert_eq!(t.standing("b", 50), Acquire::Queued { position: 0 });
        assert_eq!(t.standing("a", 100), Acquire::Queued { position: 0 });
        assert_eq!(acquire_hold_ms(120_000), 20_000);
        assert_eq!(acquire_hold_ms(3_000), 1_500);
    }

    const LEASE: u64 = 1000;

    fn granted(a: Acquire) -> bool {
        matches!(a, Acquire::Granted { .. })
    }

    #[test]
    fn grants_up_to_the_slot_count_then_queues_in_order() {
        let mut t = SlotTable::default();
        assert!(granted(t.acquire("a", 0, 2, LEASE).0));
        assert!(granted(t.acquire("b", 0, 2, LEASE).0));
        assert_eq!(
            t.acquire("c", 0, 2, LEASE).0,
            Acquire::Queued { position: 0 }
        );
        assert_eq!(
            t.acquire("d", 0, 2, LEASE).0,
            Acquire::Queued { position: 1 }
        );
        assert_eq!(t.leases.len(), 2);
    }

    #[test]
    fn acquire_is_idempotent_for_holders_and_waiters() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, LEASE);
        assert_eq!(
            t.acquire("a", 500, 1, LEASE).0,
            Acquire::Granted { expires_ms: 1500 }
        );
        t.acquire("b", 0, 1, LEASE);
        t.acquire("c", 0, 1, LEASE);
        assert_eq!(
            t.acquire("b", 0, 1, LEASE).0,
            Acquire::Queued { position: 0 }
        );
        assert_eq!(t.queue.len(), 2);
    }

    #[test]
    fn a_release_grants_the_head_of_the_queue_and_reports_it() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, LEASE);
        t.acquire("b", 0, 1, LEASE);
        t.acquire("c", 0, 1, LEASE);
        assert_eq!(t.release("a", 10, 1, LEASE), vec!["b".to_string()]);
        assert!(t.holds("b", 10));
        assert_eq!(
            t.acquire("b", 20, 1, LEASE).0,
            Acquire::Granted { expires_ms: 1020 }
        );
        assert_eq!(t.position("c"), Some(0));
    }

    #[test]
    fn a_newcomer_cannot_jump_the_queue() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, LEASE);
        t.acquire("b", 0, 1, LEASE);
        t.release("a", 10, 1, LEASE);
        assert_eq!(
            t.acquire("z", 10, 1, LEASE).0,
            Acquire::Queued { position: 0 }
        );
        assert!(t.holds("b", 10));
    }

    #[test]
    fn an_expired_lease_is_reclaimed_for_the_next_waiter() {
        let mut t = SlotTable::default();
        t.acquire("dead", 0, 1, LEASE);
        t.acquire("b", 0, 1, LEASE);
        assert_eq!(t.next_expiry(), Some(LEASE));
        let (answer, woken) = t.acquire("c", LEASE, 1, LEASE);
        assert_eq!(woken, vec!["b".to_string()]);
        assert_eq!(answer, Acquire::Queued { position: 0 });
        assert!(!t.holds("dead", LEASE));
    }

    #[test]
    fn a_release_after_expiry_changes_nothing_it_should_not() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, LEASE);
        t.expire(LEASE, 1, LEASE);
        t.acquire("b", LEASE, 1, LEASE);
        assert!(t.release("a", LEASE + 1, 1, LEASE).is_empty());
        assert!(t.holds("b", LEASE + 1));
    }

    #[test]
    fn renew_extends_only_a_live_lease() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, LEASE);
        assert!(t.renew("a", 900, LEASE));
        assert_eq!(t.next_expiry(), Some(1900));
        assert!(!t.renew("a", 1900, LEASE));
        assert!(!t.renew("nobody", 0, LEASE));
    }

    #[test]
    fn releasing_a_waiter_removes_it_from_the_queue() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, 1, LEASE);
        t.acquire("b", 0, 1, LEASE);
        t.acquire("c", 0, 1, LEASE);
        t.release("b", 0, 1, LEASE);
        assert_eq!(t.position("c"), Some(0));
    }
}
