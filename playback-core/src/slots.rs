//! The per-business slot table: at most `slots` leases at once, each with an
//! owner (a call object's name), a grant id and an expiry, and a
//! first-come-first-served queue of owners waiting for one, of at most
//! `max_queue` owners.
//!
//! Every lease carries a grant id, new for each grant: renew and release
//! must name it, so a late release (or renew) from an attempt whose lease
//! expired can never touch a newer lease of the same call.
//!
//! When a slot frees (release or expiry), the head of the queue is granted a
//! lease at once and reported back so the shell can hand it over (on the
//! waiter's held request, or by waking it); a waiter never loses its place,
//! and no later arrival can take its slot. The table's size is bounded:
//! `slots` leases and `max_queue` waiters; an acquire that finds the queue
//! full is answered `Full`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How long the business object holds open an acquire that found no free
/// slot, to answer it with the next one that frees, before it answers
/// "queued": half a lease, at most 20 s.
pub fn acquire_hold_ms(lease_ms: u64) -> u64 {
    (lease_ms / 2).min(20_000)
}

/// What a full queue tells a call to wait before it asks again.
pub const QUEUE_FULL_RETRY_MS: u64 = 5_000;

/// Whether the business object holds an acquire open (until a lease frees
/// or the hold runs out) rather than answering at once: when it queued.
pub fn holds_acquire(answer: &Acquire) -> bool {
    matches!(answer, Acquire::Queued { .. })
}

/// The business's slot rules (`SLOTS_PER_BUSINESS`, `SLOT_LEASE_MS`,
/// `MAX_QUEUE_PER_BUSINESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPolicy {
    pub slots: u32,
    pub lease_ms: u64,
    pub max_queue: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLease {
    pub owner: String,
    pub expires_ms: u64,
    /// Names this grant; renew and release must present it.
    #[serde(default)]
    pub grant: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotTable {
    pub leases: Vec<SlotLease>,
    pub queue: VecDeque<String>,
    /// The last grant id given out.
    #[serde(default)]
    pub last_grant: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Acquire {
    Granted {
        expires_ms: u64,
        grant: u64,
    },
    /// `position` 0 is the head of the queue.
    Queued {
        position: u32,
    },
    /// The queue holds `max_queue` waiters: ask again after `retry_after_ms`.
    Full {
        retry_after_ms: u64,
    },
}

/// A renew's answer: the lease's new expiry, or `None` when the grant no
/// longer holds a live lease.
pub type Renewal = Option<u64>;

impl SlotTable {
    fn grant_to(&mut self, owner: String, now: u64, lease_ms: u64) -> SlotLease {
        self.last_grant += 1;
        let lease = SlotLease {
            owner,
            expires_ms: now + lease_ms,
            grant: self.last_grant,
        };
        self.leases.push(lease.clone());
        lease
    }

    /// Takes a slot for `owner`, or queues it, or refuses when the queue is
    /// full. Idempotent: an owner that holds a lease keeps its slot (under a
    /// new grant), one already queued keeps its place. Returns the answer and
    /// the owners newly granted a lease by expiries.
    pub fn acquire(&mut self, owner: &str, now: u64, p: &SlotPolicy) -> (Acquire, Vec<String>) {
        let woken = self.expire(now, p);
        // An owner asking again while it holds a lease gets the slot under a
        // new grant: a release of the old one still on its way then frees
        // nothing. (A call object asks only from its alarm, never while an
        // attempt of its own runs, so no running attempt loses its grant here.)
        if let Some(i) = self.leases.iter().position(|l| l.owner == owner) {
            self.leases.swap_remove(i);
            let lease = self.grant_to(owner.to_owned(), now, p.lease_ms);
            return (
                Acquire::Granted {
                    expires_ms: lease.expires_ms,
                    grant: lease.grant,
                },
                woken,
            );
        }
        if !self.queue.iter().any(|q| q == owner) {
            if self.queue.is_empty() && self.leases.len() < p.slots as usize {
                let lease = self.grant_to(owner.to_owned(), now, p.lease_ms);
                return (
                    Acquire::Granted {
                        expires_ms: lease.expires_ms,
                        grant: lease.grant,
                    },
                    woken,
                );
            }
            if self.queue.len() >= p.max_queue as usize {
                return (
                    Acquire::Full {
                        retry_after_ms: QUEUE_FULL_RETRY_MS,
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

    /// Extends the lease `grant` of `owner`; `None` when it no longer holds it.
    pub fn renew(&mut self, owner: &str, grant: u64, now: u64, lease_ms: u64) -> Renewal {
        let lease = self
            .leases
            .iter_mut()
            .find(|l| l.owner == owner && l.grant == grant && l.expires_ms > now)?;
        lease.expires_ms = now + lease_ms;
        Some(lease.expires_ms)
    }

    /// Gives up the lease `grant` of `owner` (a release of an older or
    /// expired grant is a no-op) and grants freed slots to the queue's head.
    /// Returns the owners newly granted a lease.
    pub fn release(&mut self, owner: &str, grant: u64, now: u64, p: &SlotPolicy) -> Vec<String> {
        self.leases
            .retain(|l| !(l.owner == owner && l.grant == grant));
        self.expire(now, p)
    }

    /// Reclaims expired leases and fills free slots from the queue.
    pub fn expire(&mut self, now: u64, p: &SlotPolicy) -> Vec<String> {
        self.leases.retain(|l| l.expires_ms > now);
        let mut granted = Vec::new();
        while self.leases.len() < p.slots as usize {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.grant_to(next.clone(), now, p.lease_ms);
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
                grant: lease.grant,
            },
            None => Acquire::Queued {
                position: self.position(owner).unwrap_or(0),
            },
        }
    }

    /// When the next lease expires, for the business object's alarm.
    pub fn next_expiry(&self) -> Option<u64> {
        self.leases.iter().map(|l| l.expires_ms).min()
    }

    /// Where the business object's alarm must be set, written with the
    /// table, given the alarm `current`ly set; `None` leaves it as it is.
    /// The alarm must fire no later than the next expiry, to reclaim that
    /// lease on time. One set earlier stays: it fires early, reclaims
    /// nothing, and its handler sets the next one. So a release never moves
    /// the alarm later (each move is a write to the runtime's alarm store on
    /// its one thread, in the hand-over's path: BENCHMARKS.md, the drain),
    /// and with no lease left an alarm still set fires once for nothing.
    pub fn alarm_to_set(&self, current: Option<u64>) -> Option<u64> {
        match (self.next_expiry(), current) {
            (Some(next), Some(set)) if set <= next => None,
            (next, _) => next,
        }
    }
}

/// Longest an admission that will wait in the queue is held behind the
/// admitted calls of its burst that take a free slot (see [`Admitted`]):
/// they ask within milliseconds, so it only bounds the wait behind one
/// that never asks (its play failed, or its object died).
pub const STARTERS_FIRST_MS: u64 = 1_000;

/// The calls the business admitted whose acquire has not come yet, kept in
/// the business object's memory: a burst's order of work.
///
/// A burst of clicks is admitted one after the other, and each admitted
/// call then stores `queued` and asks for a slot. The business answers the
/// admissions of calls that will wait in the queue only once those that
/// take a free slot have asked for it (`hold_ms`), so a burst's first
/// downloads start before the rest of the burst is taken in, not after.
/// It orders answers only: the table still serves acquires first come,
/// first served, and grants a lease only to an acquire.
#[derive(Debug, Default)]
pub struct Admitted {
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    owner: String,
    at_ms: u64,
    /// It takes a free slot (fewer than `slots` were ahead of it).
    starts: bool,
}

impl Admitted {
    /// Notes `owner` admitted at `now`, given the table; whether it takes a
    /// free slot: fewer than `slots` leases, queued calls and admitted calls
    /// whose acquire has not come are ahead of it. Calls admitted more than
    /// `STARTERS_FIRST_MS` ago are forgotten (one that never asked).
    pub fn admit(&mut self, owner: &str, now: u64, table: &SlotTable, slots: u32) -> bool {
        self.pending
            .retain(|p| p.owner != owner && now < p.at_ms + STARTERS_FIRST_MS);
        let ahead = table.leases.len() + table.queue.len() + self.pending.len();
        let starts = ahead < slots as usize;
        self.pending.push(Pending {
            owner: owner.to_owned(),
            at_ms: now,
            starts,
        });
        starts
    }

    /// `owner`'s acquire came at `now` (the table counts it from then on).
    /// Whether it was the last admitted call that takes a free slot to ask
    /// (one admitted `STARTERS_FIRST_MS` ago or more is forgotten): the
    /// admissions held behind them may be answered.
    pub fn acquired(&mut self, owner: &str, now: u64) -> bool {
        let starter = self.pending.iter().any(|p| p.owner == owner && p.starts);
        self.pending
            .retain(|p| p.owner != owner && now < p.at_ms + STARTERS_FIRST_MS);
        starter && !self.pending.iter().any(|p| p.starts)
    }

    /// How long an admission that waits is still held at `now`: until every
    /// admitted call that takes a free slot has asked for it, at most
    /// `STARTERS_FIRST_MS` after that call's admission. `None`: answer now.
    pub fn hold_ms(&self, now: u64) -> Option<u64> {
        self.pending
            .iter()
            .filter(|p| p.starts)
            .map(|p| (p.at_ms + STARTERS_FIRST_MS).saturating_sub(now))
            .filter(|&ms| ms > 0)
            .max()
    }
}

/// How a running download's lease stands after one of its renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewOutcome {
    /// The business extended the lease to this expiry.
    Renewed(u64),
    /// The business says the grant holds no live lease.
    Lost,
    /// The renew did not reach the business (or its answer did not come back).
    Unreachable,
}

/// Whether a download may go on after a renew. `expires_ms` is the last
/// expiry the business confirmed; renews come every `renew_every_ms`. A
/// download stops when the business says the lease is gone, or when the
/// next renew would come after the confirmed expiry (so it never runs on a
/// lease the business may have given to the next call).
pub fn keep_downloading(
    outcome: RenewOutcome,
    now: u64,
    expires_ms: u64,
    renew_every_ms: u64,
) -> Option<u64> {
    match outcome {
        RenewOutcome::Renewed(expires) => Some(expires),
        RenewOutcome::Lost => None,
        RenewOutcome::Unreachable if now + renew_every_ms < expires_ms => Some(expires_ms),
        RenewOutcome::Unreachable => None,
    }
}

/// How often a download renews its lease: a third of it, so that one lost
/// renew is survived and two are not.
pub fn renew_every_ms(lease_ms: u64) -> u64 {
    (lease_ms / 3).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: u64 = 1000;

    #[test]
    fn the_alarm_moves_only_earlier_and_always_covers_the_next_expiry() {
        let p = policy(2);
        let mut t = SlotTable::default();
        assert_eq!(t.alarm_to_set(None), None, "no lease, no alarm needed");
        t.acquire("a", 0, &p);
        assert_eq!(t.alarm_to_set(None), Some(LEASE));
        t.acquire("b", 10, &p);
        assert_eq!(t.alarm_to_set(Some(LEASE)), None, "already in time");
        let grant_a = t.leases[0].grant;
        t.release("a", grant_a, 20, &p);
        assert_eq!(
            t.alarm_to_set(Some(LEASE)),
            None,
            "a release never moves it later"
        );
        // Fired (the handler sees none set): the next expiry.
        assert_eq!(t.alarm_to_set(None), Some(10 + LEASE));
        // Set too late (a lease renewed early, then a new one): moved earlier.
        assert_eq!(t.alarm_to_set(Some(50 + LEASE)), Some(10 + LEASE));
        for (now, current) in [(0, None), (5, Some(3)), (7, Some(10_000))] {
            let mut t = SlotTable::default();
            t.acquire("c", now, &p);
            let set = t.alarm_to_set(current).or(current);
            assert!(set.is_some_and(|at| at <= t.next_expiry().unwrap()));
        }
    }

    fn policy(slots: u32) -> SlotPolicy {
        SlotPolicy {
            slots,
            lease_ms: LEASE,
            max_queue: 3,
        }
    }

    fn granted(a: Acquire) -> Option<u64> {
        match a {
            Acquire::Granted { grant, .. } => Some(grant),
            _ => None,
        }
    }

    #[test]
    fn standing_reports_a_live_lease_or_the_place_in_the_queue() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, &policy(1));
        t.acquire("b", 0, &policy(1));
        assert_eq!(
            t.standing("a", 50),
            Acquire::Granted {
                expires_ms: 1000,
                grant: 1
            }
        );
        assert_eq!(t.standing("b", 50), Acquire::Queued { position: 0 });
        assert_eq!(t.standing("a", 1000), Acquire::Queued { position: 0 });
        assert_eq!(acquire_hold_ms(120_000), 20_000);
        assert_eq!(acquire_hold_ms(3_000), 1_500);
        // Only a queued acquire is held open; a grant or a full queue is answered at once.
        assert!(holds_acquire(&Acquire::Queued { position: 0 }));
        assert!(!holds_acquire(&Acquire::Full { retry_after_ms: 1 }));
        assert!(!holds_acquire(&t.standing("a", 50)));
    }

    #[test]
    fn grants_up_to_the_slot_count_then_queues_in_order() {
        let mut t = SlotTable::default();
        assert!(granted(t.acquire("a", 0, &policy(2)).0).is_some());
        assert!(granted(t.acquire("b", 0, &policy(2)).0).is_some());
        assert_eq!(
            t.acquire("c", 0, &policy(2)).0,
            Acquire::Queued { position: 0 }
        );
        assert_eq!(
            t.acquire("d", 0, &policy(2)).0,
            Acquire::Queued { position: 1 }
        );
        assert_eq!(t.leases.len(), 2);
    }

    #[test]
    fn every_grant_has_a_new_id() {
        let mut t = SlotTable::default();
        let a = granted(t.acquire("a", 0, &policy(1)).0).unwrap();
        t.release("a", a, 1, &policy(1));
        let again = granted(t.acquire("a", 2, &policy(1)).0).unwrap();
        assert_ne!(a, again);
    }

    #[test]
    fn a_full_queue_refuses_newcomers_but_keeps_its_waiters() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, &policy(1));
        for w in ["b", "c", "d"] {
            assert!(matches!(
                t.acquire(w, 0, &policy(1)).0,
                Acquire::Queued { .. }
            ));
        }
        assert_eq!(
            t.acquire("e", 0, &policy(1)).0,
            Acquire::Full {
                retry_after_ms: QUEUE_FULL_RETRY_MS
            }
        );
        assert_eq!(t.queue.len(), 3);
        // A waiter asking again keeps its place even when the queue is full.
        assert_eq!(
            t.acquire("d", 0, &policy(1)).0,
            Acquire::Queued { position: 2 }
        );
    }

    #[test]
    fn acquire_is_idempotent_for_holders_and_waiters() {
        let mut t = SlotTable::default();
        t.acquire("a", 0, &policy(1));
        assert_eq!(
            t.acquire("a", 500, &policy(1)).0,
            Acquire::Granted {
                expires_ms: 1500,
                grant: 2
            }
        );
        assert_eq!(t.leases.len(), 1);
        t.acquire("b", 0, &policy(1));
        t.acquire("c", 0, &policy(1));
        assert_eq!(
            t.acquire("b", 0, &policy(1)).0,
            Acquire::Queued { position: 0 }
        );
        assert_eq!(t.queue.len(), 2);
    }

    #[test]
    fn a_release_grants_the_head_of_the_queue_and_reports_it() {
        let mut t = SlotTable::default();
        let a = granted(t.acquire("a", 0, &policy(1)).0).unwrap();
        t.acquire("b", 0, &policy(1));
        t.acquire("c", 0, &policy(1));
        assert_eq!(t.release("a", a, 10, &policy(1)), vec!["b".to_string()]);
        assert!(matches!(t.standing("b", 10), Acquire::Granted { .. }));
        assert!(granted(t.acquire("b", 20, &policy(1)).0).is_some());
        assert_eq!(t.position("c"), Some(0));
    }

    #[test]
    fn a_newcomer_cannot_jump_the_queue() {
        let mut t = SlotTable::default();
        let a = granted(t.acquire("a", 0, &policy(1)).0).unwrap();
        t.acquire("b", 0, &policy(1));
        t.release("a", a, 10, &policy(1));
        assert_eq!(
            t.acquire("z", 10, &policy(1)).0,
            Acquire::Queued { position: 0 }
        );
        assert!(matches!(t.standing("b", 10), Acquire::Granted { .. }));
    }

    #[test]
    fn an_expired_lease_is_reclaimed_for_the_next_waiter() {
        let mut t = SlotTable::default();
        t.acquire("dead", 0, &policy(1));
        t.acquire("b", 0, &policy(1));
        assert_eq!(t.next_expiry(), Some(LEASE));
        let (answer, woken) = t.acquire("c", LEASE, &policy(1));
        assert_eq!(woken, vec!["b".to_string()]);
        assert_eq!(answer, Acquire::Queued { position: 0 });
        assert!(!matches!(
            t.standing("dead", LEASE),
            Acquire::Granted { .. }
        ));
    }

    #[test]
    fn a_late_release_or_renew_of_an_old_grant_never_touches_a_newer_lease() {
        let mut t = SlotTable::default();
        let old = granted(t.acquire("a", 0, &policy(1)).0).unwrap();
        t.expire(LEASE, &policy(1));
        let new = granted(t.acquire("a", LEASE, &policy(1)).0).unwrap();
        assert_ne!(old, new);
        assert_eq!(t.renew("a", old, LEASE + 1, LEASE), None);
        assert!(t.release("a", old, LEASE + 1, &policy(1)).is_empty());
        assert!(matches!(
            t.standing("a", LEASE + 1),
            Acquire::Granted { .. }
        ));
        assert_eq!(t.renew("a", new, LEASE + 1, LEASE), Some(LEASE + 1 + LEASE));
    }

    #[test]
    fn renew_extends_only_a_live_lease() {
        let mut t = SlotTable::default();
        let g = granted(t.acquire("a", 0, &policy(1)).0).unwrap();
        assert_eq!(t.renew("a", g, 900, LEASE), Some(1900));
        assert_eq!(t.next_expiry(), Some(1900));
        assert_eq!(t.renew("a", g, 1900, LEASE), None);
        assert_eq!(t.renew("nobody", g, 0, LEASE), None);
    }

    #[test]
    fn a_download_survives_one_unreachable_renew_but_not_two() {
        let every = renew_every_ms(900);
        assert_eq!(every, 300);
        // Renewed at 0 until 900: a failed renew at 300 goes on, at 600 stops.
        assert_eq!(
            keep_downloading(RenewOutcome::Unreachable, 300, 900, every),
            Some(900)
        );
        assert_eq!(
            keep_downloading(RenewOutcome::Unreachable, 600, 900, every),
            None
        );
        assert_eq!(keep_downloading(RenewOutcome::Lost, 300, 900, every), None);
        assert_eq!(
            keep_downloading(RenewOutcome::Renewed(1200), 300, 900, every),
            Some(1200)
        );
    }

    #[test]
    fn a_bursts_calls_that_take_a_free_slot_go_first_and_the_rest_wait_for_them() {
        let p = policy(3);
        let mut t = SlotTable::default();
        t.acquire("before", 0, &p);
        let mut admitted = Admitted::default();
        // Two slots are free: the burst's first two calls take them.
        let starts: Vec<bool> = ["a", "b", "c", "d"]
            .iter()
            .map(|owner| admitted.admit(owner, 10, &t, p.slots))
            .collect();
        assert_eq!(starts, [true, true, false, false]);
        // The others are held until both have asked for their slot.
        assert_eq!(admitted.hold_ms(10), Some(STARTERS_FIRST_MS));
        assert!(!admitted.acquired("a", 11));
        t.acquire("a", 11, &p);
        assert_eq!(admitted.hold_ms(11), Some(STARTERS_FIRST_MS - 1));
        assert!(admitted.acquired("b", 12));
        t.acquire("b", 12, &p);
        assert_eq!(admitted.hold_ms(12), None);
        // Every slot is taken: the next call waits, and is answered at once.
        assert!(!admitted.admit("e", 13, &t, p.slots));
        assert_eq!(admitted.hold_ms(13), None);
        // A waiter's acquire releases nobody.
        assert!(!admitted.acquired("c", 14));
    }

    #[test]
    fn calls_admitted_but_not_yet_asking_count_ahead_of_a_newcomer() {
        let p = policy(2);
        let t = SlotTable::default();
        let mut admitted = Admitted::default();
        assert!(admitted.admit("a", 0, &t, p.slots));
        assert!(admitted.admit("b", 0, &t, p.slots));
        // Nothing is in the table yet, but both free slots are spoken for.
        assert!(!admitted.admit("c", 1, &t, p.slots));
    }

    #[test]
    fn a_call_that_never_asks_holds_the_others_at_most_starters_first_ms() {
        let t = SlotTable::default();
        let mut admitted = Admitted::default();
        assert!(admitted.admit("s", 100, &t, 1));
        assert!(!admitted.admit("w", 100, &t, 1));
        assert_eq!(admitted.hold_ms(99 + STARTERS_FIRST_MS), Some(1));
        assert_eq!(admitted.hold_ms(100 + STARTERS_FIRST_MS), None);
        // Forgotten then: the free slot goes to the next call admitted.
        assert!(admitted.admit("n", 100 + STARTERS_FIRST_MS, &t, 1));
        // And the last other call that takes a free slot answers the held
        // admissions when it asks, though no admission came since the one
        // that never asked ran out.
        let mut admitted = Admitted::default();
        assert!(admitted.admit("s", 0, &t, 2));
        assert!(admitted.admit("late", STARTERS_FIRST_MS - 10, &t, 2));
        assert!(!admitted.admit("w", STARTERS_FIRST_MS - 10, &t, 2));
        assert!(admitted.acquired("late", STARTERS_FIRST_MS));
    }
}
