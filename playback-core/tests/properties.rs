//! Property tests: random sequences of clicks, alarms (duplicates included),
//! origin outcomes, lease expiries and restarts, run against the call state
//! machine and the slot table the way the edge's Durable Objects run them;
//! and any input against the range parser and the token verifier.

use std::collections::BTreeSet;

use playback_core::download::{self, AttemptOutcome, CallState, DownloadPolicy, Effect};
use playback_core::range::{decide, parse_range, resolve, Conditions, ServeDecision};
use playback_core::session::{self, Claims};
use playback_core::slots::{Acquire, SlotTable};
use playback_core::BusinessId;
use proptest::prelude::*;

const CALLS: usize = 5;
const LEASE_MS: u64 = 10_000;
const P: DownloadPolicy = DownloadPolicy {
    max_attempts: 3,
    slot_lease_ms: LEASE_MS,
    failed_cooldown_ms: 5_000,
    not_found_ttl_ms: 3_000,
};

#[derive(Debug, Clone)]
enum Ev {
    Play(usize),
    Alarm(usize),
    /// The business object's answer to a held acquire, or its wake, reaches the call object.
    Deliver(usize),
    /// The business object's hold of an acquire runs out: it answers "queued".
    HoldEnds(usize),
    Finish(usize, u8),
    Advance(u64),
    Restart,
}

fn event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => (0..CALLS).prop_map(Ev::Play),
        4 => (0..CALLS).prop_map(Ev::Alarm),
        3 => (0..CALLS).prop_map(Ev::Deliver),
        1 => (0..CALLS).prop_map(Ev::HoldEnds),
        3 => (0..CALLS, 0u8..5).prop_map(|(c, o)| Ev::Finish(c, o)),
        2 => (1u64..(LEASE_MS / 3)).prop_map(Ev::Advance),
        1 => Just(Ev::Restart),
    ]
}

/// One business with `slots` slots and CALLS calls, run as the edge runs it.
struct World {
    now: u64,
    slots: u32,
    table: SlotTable,
    state: Vec<CallState>,
    running: Vec<bool>,
    /// Origin downloads in flight per call (a restart cuts them).
    in_flight: Vec<u32>,
    alarm: Vec<bool>,
    /// The call's alarm waits on an acquire the business object holds open.
    held: Vec<bool>,
    /// A grant answering a held acquire (its lease's expiry), sent but not yet delivered.
    grant: Vec<Option<u64>>,
    /// Wakes sent by the business object, not yet delivered (a restart loses them).
    wake: Vec<bool>,
    downloads_after_ready: u32,
    cached: Vec<bool>,
}

impl World {
    fn new(slots: u32) -> World {
        World {
            now: 1_000,
            slots,
            table: SlotTable::default(),
            state: vec![CallState::None; CALLS],
            running: vec![false; CALLS],
            in_flight: vec![0; CALLS],
            alarm: vec![false; CALLS],
            held: vec![false; CALLS],
            grant: vec![None; CALLS],
            wake: vec![false; CALLS],
            downloads_after_ready: 0,
            cached: vec![false; CALLS],
        }
    }

    fn owner(c: usize) -> String {
        format!("acme/{c}")
    }

    fn wake(&mut self, owners: Vec<String>) {
        for o in owners {
            let c: usize = o.trim_start_matches("acme/").parse().unwrap();
            if self.held[c] {
                self.held[c] = false;
                self.grant[c] = match self.table.standing(&o, self.now) {
                    Acquire::Granted { expires_ms } => Some(expires_ms),
                    Acquire::Queued { .. } => unreachable!("a woken owner holds a lease"),
                };
            } else {
                self.wake[c] = true;
            }
        }
    }

    fn apply(&mut self, c: usize, step: download::Step) {
        self.state[c] = step.state;
        for e in step.effects {
            match e {
                Effect::SetAlarm { .. } => self.alarm[c] = true,
                Effect::ReleaseSlot => {
                    let woken = self
                        .table
                        .release(&Self::owner(c), self.now, self.slots, LEASE_MS);
                    self.wake(woken);
                }
                Effect::AcquireSlot => {
                    let (answer, woken) =
                        self.table
                            .acquire(&Self::owner(c), self.now, self.slots, LEASE_MS);
                    self.wake(woken);
                    let next = match answer {
                        Acquire::Granted { expires_ms } => download::on_slot_granted(
                            &self.state[c],
                            self.now,
                            self.running[c],
                            expires_ms,
                            &P,
                        ),
                        Acquire::Queued { .. } => {
                            // Held open; the shell armed a safety alarm for after the hold first.
                            self.held[c] = true;
                            self.alarm[c] = true;
                            continue;
                        }
                    };
                    self.apply(c, next);
                }
                Effect::StartAttempt { .. } => {
                    if self.cached[c] {
                        self.downloads_after_ready += 1;
                    }
                    self.running[c] = true;
                    self.in_flight[c] += 1;
                }
                Effect::NotifyWaiters => {}
            }
        }
    }

    fn run(&mut self, ev: Ev) {
        match ev {
            Ev::Play(c) => {
                // The frontend serves a cached recording from R2 without asking the object.
                if !self.cached[c] {
                    let step = download::on_play(&self.state[c], self.now, self.running[c], &P);
                    self.apply(c, step);
                }
            }
            Ev::Alarm(c) => {
                // The runtime runs one alarm of an object at a time: not while
                // the running one waits on its held acquire or its answer.
                if self.alarm[c] && !self.held[c] && self.grant[c].is_none() {
                    self.alarm[c] = false;
                    let step = download::on_alarm(&self.state[c], self.now, self.running[c]);
                    self.apply(c, step);
                }
            }
            Ev::Deliver(c) => {
                if let Some(expires_ms) = self.grant[c].take() {
                    let step = download::on_slot_granted(
                        &self.state[c],
                        self.now,
                        self.running[c],
                        expires_ms,
                        &P,
                    );
                    self.apply(c, step);
                } else if self.wake[c] {
                    // The call object arms its alarm for now.
                    self.wake[c] = false;
                    self.alarm[c] = true;
                }
            }
            Ev::HoldEnds(c) => {
                if self.held[c] {
                    self.held[c] = false;
                    let step = download::on_slot_queued(&self.state[c], self.now);
                    self.apply(c, step);
                }
            }
            Ev::Finish(c, o) => {
                if self.running[c] {
                    self.running[c] = false;
                    self.in_flight[c] -= 1;
                    let outcome = match o {
                        0 | 1 => AttemptOutcome::Stored { size: 10 },
                        2 => AttemptOutcome::Transient("500".into()),
                        3 => AttemptOutcome::OriginNotFound,
                        _ => AttemptOutcome::Transient("timeout".into()),
                    };
                    if matches!(outcome, AttemptOutcome::Stored { .. }) {
                        self.cached[c] = true;
                    }
                    let step =
                        download::on_attempt_finished(&self.state[c], outcome, self.now, 0.5, &P);
                    self.apply(c, step);
                }
            }
            Ev::Advance(ms) => {
                // A running download renews its lease every third of its life (the shell's timer).
                for c in 0..CALLS {
                    if self.running[c] {
                        self.table.renew(&Self::owner(c), self.now, LEASE_MS);
                    }
                }
                self.now += ms;
                let woken = self.table.expire(self.now, self.slots, LEASE_MS);
                self.wake(woken);
                // Alarms set for a time now past fire eventually; the harness fires them by Alarm events.
            }
            Ev::Restart => {
                for c in 0..CALLS {
                    self.running[c] = false;
                    self.in_flight[c] = 0;
                    self.wake[c] = false;
                    self.held[c] = false;
                    self.grant[c] = None;
                    if matches!(self.state[c], CallState::Downloading { .. }) {
                        // The watchdog alarm stays set across a restart.
                        self.alarm[c] = true;
                    }
                }
            }
        }
    }

    fn check(&self) {
        for c in 0..CALLS {
            assert!(self.in_flight[c] <= 1, "two downloads of call {c} at once");
        }
        assert!(
            self.table.leases.len() <= self.slots as usize,
            "more leases than slots: {:?}",
            self.table
        );
        let running: u32 = self.in_flight.iter().sum();
        assert!(
            running <= self.slots,
            "{running} downloads at once with {} slots",
            self.slots
        );
        let owners: BTreeSet<&str> = self.table.leases.iter().map(|l| l.owner.as_str()).collect();
        assert_eq!(
            owners.len(),
            self.table.leases.len(),
            "an owner holds two leases"
        );
        assert_eq!(
            self.downloads_after_ready, 0,
            "a ready call downloaded again"
        );
    }

    /// Lets every download finish well and every alarm fire, with time passing,
    /// until nothing changes: no call may be left waiting.
    fn drain(&mut self) {
        for _ in 0..200 {
            for c in 0..CALLS {
                self.run(Ev::Finish(c, 0));
                self.run(Ev::Deliver(c));
                self.run(Ev::Alarm(c));
                self.check();
            }
            self.run(Ev::Advance(LEASE_MS / 3 - 1));
        }
        for c in 0..CALLS {
            assert!(
                matches!(
                    self.state[c],
                    CallState::None
                        | CallState::Ready { .. }
                        | CallState::Failed { .. }
                        | CallState::NotFound { .. }
                ),
                "call {c} stuck in {:?} (table {:?})",
                self.state[c],
                self.table
            );
        }
        assert!(
            self.table.leases.is_empty() && self.table.queue.is_empty(),
            "leases or waiters left: {:?}",
            self.table
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_call_machine_and_slot_table_keep_their_invariants(slots in 1u32..4, events in prop::collection::vec(event(), 1..120)) {
        let mut world = World::new(slots);
        for ev in events {
            world.run(ev);
            world.check();
        }
        world.drain();
    }

    #[test]
    fn any_range_header_resolves_inside_the_file(header in "\\PC{0,40}", size in 0u64..10_000) {
        if let Some(spec) = parse_range(&header) {
            if let ServeDecision::Partial { first, last } = resolve(spec, size) {
                prop_assert!(first <= last && last < size);
            }
        }
    }

    #[test]
    fn byte_ranges_of_digits_resolve_inside_the_file(a in any::<u64>(), b in any::<u64>(), size in 0u64..u64::MAX, form in 0u8..3) {
        let header = match form { 0 => format!("bytes={a}-{b}"), 1 => format!("bytes={a}-"), _ => format!("bytes=-{b}") };
        let d = decide(Conditions { range: Some(&header), ..Default::default() }, size, "\"e\"");
        match d {
            ServeDecision::Partial { first, last } => prop_assert!(first <= last && last < size),
            ServeDecision::Full | ServeDecision::Unsatisfiable => {}
            ServeDecision::NotModified => prop_assert!(false, "no If-None-Match was given"),
        }
    }

    #[test]
    fn the_token_verifier_never_panics_on_any_input(token in "\\PC{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(session::verify(&token, b"secret", 1_000).is_err());
        let as_text = String::from_utf8_lossy(&bytes);
        let _ = session::verify(&as_text, b"secret", 1_000);
    }

    #[test]
    fn only_a_correctly_signed_unexpired_token_is_accepted(
        secret in prop::collection::vec(any::<u8>(), 1..40),
        sub in "[a-z0-9]{1,12}",
        exp in 1u64..4_000_000_000,
        now in 0u64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let claims = Claims { bid: BusinessId::parse("acme").unwrap(), sub, exp };
        let token = session::sign(&claims, &secret);
        let verdict = session::verify(&token, &secret, now);
        prop_assert_eq!(verdict.is_ok(), now < exp);
        // Any single changed character is refused.
        let mut bytes = token.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        if tampered != token {
            prop_assert!(session::verify(&tampered, &secret, 0).is_err());
        }
        // Another secret is refused.
        let mut other = secret.clone();
        other[0] ^= 1;
        prop_assert!(session::verify(&token, &other, 0).is_err());
    }
}
