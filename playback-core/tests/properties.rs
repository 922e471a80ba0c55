//! Property tests: random interleavings of clicks, the edge's R2 look-ups,
//! admissions, alarms (duplicates and lost ones included), origin outcomes,
//! R2 writes, lease renewals that fail, lease expiries and restarts, run
//! against the call state machine, the slot table and the admission budget
//! the way the edge's Durable Objects run them; and any input against the
//! range parser, the token verifier and the call SID parser.
//!
//! Every step that awaits in the edge is a step of its own here, so the
//! generator can put any other step between its start and its end:
//! - the frontend's R2 look-up, then its play reaching the call object;
//! - the call object's R2 look-up for a `ready` call, and its admission
//!   request, each answered later than asked;
//! - an attempt's R2 look-up (skipped by a fresh attempt: one a play
//!   queued after the frontend missed R2), its origin download, its R2 write (which may
//!   end after the origin's body did), its lease renewals (which may not
//!   reach the business), its timeout;
//! - the business's held acquire and its hand-over or wake;
//! - alarms that fire late, twice, or are lost; a restart that kills every
//!   instance (a write whose bytes were all sent may still land), after
//!   which the runtime runs again each alarm whose handler had not ended
//!   (it delivers an alarm at least once; that retry may be lost too);
//! - with the Twilio origin, the alarm's ask of which recording plays
//!   (before any slot), answered later: a recording to play, one the
//!   provider still processes (asked again later, holding no slot), none,
//!   the call gone, or a transient failure;
//! - a play's run, at once, of the alarm it armed (its acquire and attempt
//!   in the play's request), with that alarm still set: delivered later,
//!   or lost, or run again after a restart that killed the run.
//!
//! Assumed, not generated: the business object's own alarm reclaims expired
//! leases on time (every step of the table runs `expire` too); a wake that
//! fails is like one lost to a restart; a renew is answered before the
//! lease's confirmed expiry or counts as lost (the shell races it against
//! that expiry); renewal timers fire on time.

use std::collections::BTreeSet;

use playback_core::admission::Budgets;
use playback_core::download::{
    self, AttemptOutcome, CallState, DownloadPolicy, Effect, Failure, PlayCheck, PlayFact,
    PlayInput, Resolved,
};
use playback_core::ids::recording_key;
use playback_core::range::{decide, parse_range, resolve, Conditions, ServeDecision};
use playback_core::session::{self, Claims};
use playback_core::slots::{
    keep_downloading, renew_every_ms, Acquire, RenewOutcome, SlotPolicy, SlotTable,
};
use playback_core::{BusinessId, CallIdentity, CallSid};
use proptest::prelude::*;

const CALLS: usize = 3;
/// The shell ends an attempt only when its R2 write has ended (set to
/// `false` to see a write left running after a timeout race the next attempt).
const ATTEMPT_WAITS_FOR_ITS_WRITE: bool = true;
const LEASE_MS: u64 = 9_000;
const BUDGET_PER_MINUTE: u32 = 4;
const P: DownloadPolicy = DownloadPolicy {
    max_attempts: 3,
    slot_lease_ms: LEASE_MS,
    failed_cooldown_ms: 5_000,
    not_found_ttl_ms: 3_000,
    download_timeout_ms: 20_000,
};

#[derive(Debug, Clone)]
enum Ev {
    /// A click: the frontend looks in R2; on a miss its play heads for the call object.
    Play(usize),
    /// A play that missed R2 reaches the call object.
    PlayArrives(usize),
    /// The call object's R2 look-up or admission request for a play comes back.
    FactArrives(usize),
    Alarm(usize),
    /// The business object's answer to a held acquire, or its wake, reaches the call object.
    Deliver(usize),
    /// The business object's hold of an acquire runs out: it answers "queued".
    HoldEnds(usize),
    /// The oldest release the call object sent reaches the business object.
    ReleaseArrives(usize),
    /// An attempt's R2 look-up comes back.
    Lookup(usize),
    /// The origin's answer ends: 0–1 body read whole, 2 a 500, 3 a 404, 4 a cut body, 5 a 429.
    OriginEnds(usize, u8),
    /// The provider answers which recording plays: 0–1 one plays, 2 still
    /// processing, 3 none, 4 the call is gone, 5 a 429.
    ResolveEnds(usize, u8),
    /// The attempt's R2 write ends (`true`: stored).
    PutEnds(usize, bool),
    Timeout(usize),
    /// From now on the call's renewals do (not) reach the business.
    RenewReaches(usize, bool),
    LoseAlarm(usize),
    /// Someone deletes the recording from R2.
    Evict(usize),
    Advance(u64),
    /// Every instance dies; `true`: a write whose bytes were all sent lands anyway.
    Restart(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Looking in R2.
    Lookup,
    /// The origin's body is streaming into the R2 write.
    Origin,
    /// The origin's body was read whole and its slot given back; the R2 write finishes.
    Putting,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    grant: u64,
    /// The last expiry the business confirmed.
    expires_ms: u64,
    renew_due_ms: u64,
    phase: Phase,
}

/// One business with `slots` slots and CALLS calls, run as the edge runs it.
struct World {
    now: u64,
    /// The Twilio origin: a call's recording is resolved before its first slot.
    twilio: bool,
    /// The call object stored which recording plays (kept across restarts).
    resolved: Vec<bool>,
    /// The alarm's handler waits on the provider's answer.
    resolving: Vec<bool>,
    policy: SlotPolicy,
    table: SlotTable,
    budgets: Budgets,
    state: Vec<CallState>,
    run: Vec<Option<Run>>,
    /// When the call object's alarm is set for (the last one set wins, as
    /// the object's commit writes the last `SetAlarm` of a step). An alarm
    /// may fire at any point after it is set: late, twice, or not at all.
    alarm: Vec<Option<u64>>,
    /// The call's alarm waits on an acquire the business object holds open.
    held: Vec<bool>,
    /// An alarm's handler is in flight: from the alarm firing until its
    /// acquire is answered without a slot, or its attempt has ended. Only
    /// it asks for a slot and runs an attempt; a restart makes the runtime
    /// run the alarm again.
    handler: Vec<bool>,
    /// The handler in flight is a play's run of the alarm it armed, due at
    /// once (`download::runs_alarm_at_once`), which the runtime has not
    /// delivered yet: that alarm stays set, and its handler, once
    /// delivered, joins the run. Until then a restart runs only that alarm
    /// (if it was not lost), not the run.
    early: Vec<bool>,
    /// A grant answering a held acquire (grant, expiry), sent but not yet delivered.
    grant: Vec<Option<(u64, u64)>>,
    /// Wakes sent by the business object, not yet delivered (a restart loses them).
    wake: Vec<bool>,
    /// Plays that missed R2 at the frontend, on their way to the call object.
    in_transit: Vec<u32>,
    /// What the call object learnt for a play, with the object's generation
    /// when it asked, not yet back at it.
    facts: Vec<Vec<(PlayFact, u64)>>,
    /// The call object's count of its state changes (memory: 0 after a restart).
    generation: Vec<u64>,
    renew_reaches: Vec<bool>,
    cached: Vec<bool>,
    /// An R2 write still running after its attempt ended.
    orphan_write: Vec<bool>,
    /// Releases sent to the business object, not yet arrived (grant ids).
    releases: Vec<Vec<u64>>,
    /// An alarm of the call was lost: only a click can wake it again.
    lost: Vec<bool>,
}

impl World {
    fn new(slots: u32, twilio: bool) -> World {
        World {
            now: 1_000,
            twilio,
            resolved: vec![false; CALLS],
            resolving: vec![false; CALLS],
            policy: SlotPolicy {
                slots,
                lease_ms: LEASE_MS,
                max_queue: 2,
            },
            table: SlotTable::default(),
            budgets: Budgets::default(),
            state: vec![CallState::None; CALLS],
            run: vec![None; CALLS],
            alarm: vec![None; CALLS],
            held: vec![false; CALLS],
            handler: vec![false; CALLS],
            early: vec![false; CALLS],
            grant: vec![None; CALLS],
            wake: vec![false; CALLS],
            in_transit: vec![0; CALLS],
            facts: vec![Vec::new(); CALLS],
            generation: vec![0; CALLS],
            renew_reaches: vec![true; CALLS],
            cached: vec![false; CALLS],
            orphan_write: vec![false; CALLS],
            releases: vec![Vec::new(); CALLS],
            lost: vec![false; CALLS],
        }
    }

    /// Every step that can happen now. The generator picks among these, so
    /// every generated step does something and long interleavings are reached.
    fn enabled(&self) -> Vec<Ev> {
        let mut evs = vec![
            Ev::Advance(50),
            Ev::Advance(700),
            Ev::Advance(LEASE_MS / 3 - 1),
            Ev::Restart(false),
            Ev::Restart(true),
        ];
        for c in 0..CALLS {
            if self.in_transit[c] < 2 {
                evs.push(Ev::Play(c));
            }
            if self.in_transit[c] > 0 {
                evs.push(Ev::PlayArrives(c));
            }
            if !self.facts[c].is_empty() {
                evs.push(Ev::FactArrives(c));
            }
            // The runtime delivers an alarm a play runs at once whatever
            // that run waits on: it does not know of it.
            if self.alarm[c].is_some()
                && (self.early[c]
                    || (!self.held[c] && self.grant[c].is_none() && !self.resolving[c]))
            {
                evs.push(Ev::Alarm(c));
                evs.push(Ev::LoseAlarm(c));
            }
            if self.grant[c].is_some() || self.wake[c] {
                evs.push(Ev::Deliver(c));
            }
            if self.resolving[c] {
                evs.extend((0..6).map(|o| Ev::ResolveEnds(c, o)));
            }
            if self.held[c] {
                evs.push(Ev::HoldEnds(c));
            }
            if !self.releases[c].is_empty() {
                evs.push(Ev::ReleaseArrives(c));
            }
            evs.push(Ev::RenewReaches(c, !self.renew_reaches[c]));
            if self.cached[c] {
                evs.push(Ev::Evict(c));
            }
            if let Some(run) = self.run[c] {
                evs.push(Ev::Timeout(c));
                match run.phase {
                    Phase::Lookup => evs.push(Ev::Lookup(c)),
                    Phase::Origin => evs.extend((0..6).map(|o| Ev::OriginEnds(c, o))),
                    Phase::Putting => {}
                }
            }
            if self.run[c].is_some_and(|r| r.phase == Phase::Putting) || self.orphan_write[c] {
                evs.push(Ev::PutEnds(c, true));
                evs.push(Ev::PutEnds(c, false));
            }
        }
        evs
    }

    fn owner(c: usize) -> String {
        format!("acme/{c}")
    }

    fn running(&self, c: usize) -> bool {
        self.run[c].is_some()
    }

    /// An alarm will run for the object: one set, or its handler in flight
    /// (the shell tells plays so; the runtime runs it again after a restart).
    fn alarm_set(&self, c: usize) -> bool {
        self.alarm[c].is_some() || self.handler[c]
    }

    /// An alarm's handler ends once it neither waits on its acquire (held,
    /// or its grant on the way) nor runs an attempt.
    fn end_handlers(&mut self) {
        for c in 0..CALLS {
            if self.held[c] || self.grant[c].is_some() || self.run[c].is_some() || self.resolving[c]
            {
                continue;
            }
            self.handler[c] = false;
            self.early[c] = false;
        }
    }

    /// A play's step: applied, then the alarm it arms run at once when the
    /// core says so, as the shell does (the alarm stays set).
    fn play_step(&mut self, c: usize, step: download::Step) {
        let at_once = download::runs_alarm_at_once(&step, self.now, self.handler[c]);
        self.apply(c, step);
        if at_once {
            self.handler[c] = true;
            self.early[c] = true;
            let step = self.alarm_step(c);
            self.apply(c, step);
        }
    }

    /// The step of call `c`'s alarm, run now.
    fn alarm_step(&self, c: usize) -> download::Step {
        download::on_alarm(
            &self.state[c],
            self.now,
            self.running(c),
            self.unresolved(c),
            &P,
        )
    }

    /// Which recording plays is not known yet (Twilio).
    fn unresolved(&self, c: usize) -> bool {
        self.twilio && !self.resolved[c]
    }

    fn wake(&mut self, owners: Vec<String>) {
        for o in owners {
            let c: usize = o.trim_start_matches("acme/").parse().unwrap();
            if self.held[c] {
                self.held[c] = false;
                self.grant[c] = match self.table.standing(&o, self.now) {
                    Acquire::Granted { expires_ms, grant } => Some((grant, expires_ms)),
                    other => unreachable!("a woken owner holds a lease, not {other:?}"),
                };
            } else {
                self.wake[c] = true;
            }
        }
    }

    /// A release leaves for the business object; it arrives later (`ReleaseArrives`).
    fn release(&mut self, c: usize, grant: u64) {
        self.releases[c].push(grant);
    }

    fn release_arrives(&mut self, c: usize) {
        if self.releases[c].is_empty() {
            return;
        }
        let grant = self.releases[c].remove(0);
        let woken = self
            .table
            .release(&Self::owner(c), grant, self.now, &self.policy);
        self.wake(woken);
    }

    fn apply(&mut self, c: usize, step: download::Step) {
        let was_ready_and_cached =
            matches!(self.state[c], CallState::Ready { .. }) && self.cached[c];
        if self.state[c] != step.state || step.effects.contains(&Effect::Forget) {
            self.generation[c] += 1;
        }
        self.state[c] = step.state;
        assert!(
            !(was_ready_and_cached && matches!(self.state[c], CallState::Queued { .. })),
            "call {c} is in R2 and ready, yet queued a download"
        );
        for e in step.effects {
            match e {
                Effect::SetAlarm { at_ms } => self.alarm[c] = Some(at_ms),
                Effect::ReleaseSlot { grant } => self.release(c, grant),
                // The look while the business holds the acquire is the attempt's own, below.
                Effect::AcquireSlot { .. } => {
                    // Asked in an alarm's handler, which a restart runs again.
                    assert!(
                        self.handler[c],
                        "call {c} asked for a slot outside an alarm's handler"
                    );
                    // Guarantee: a recording the provider has not said it
                    // can play (still processing, or not asked yet) never
                    // takes a slot.
                    assert!(
                        !self.unresolved(c),
                        "call {c} asked for a slot before the provider said a recording plays ({:?})",
                        self.state[c]
                    );
                    let (answer, woken) =
                        self.table.acquire(&Self::owner(c), self.now, &self.policy);
                    self.wake(woken);
                    let next = match answer {
                        Acquire::Granted { expires_ms, grant } => download::on_slot_granted(
                            &self.state[c],
                            self.now,
                            self.running(c),
                            grant,
                            expires_ms,
                            &P,
                        ),
                        Acquire::Queued { .. } => {
                            self.held[c] = true;
                            continue;
                        }
                        Acquire::Full { retry_after_ms } => {
                            download::on_slot_full(&self.state[c], self.now, retry_after_ms)
                        }
                    };
                    self.apply(c, next);
                }
                Effect::StartAttempt {
                    grant,
                    expires_ms,
                    fresh,
                    ..
                } => {
                    assert!(self.run[c].is_none(), "two attempts of call {c} at once");
                    self.run[c] = Some(Run {
                        grant,
                        expires_ms,
                        renew_due_ms: self.now + renew_every_ms(LEASE_MS),
                        // A fresh attempt asks the origin without looking in R2.
                        phase: if fresh { Phase::Origin } else { Phase::Lookup },
                    });
                    // Run in the alarm's handler, which a restart runs again.
                    assert!(
                        self.handler[c],
                        "call {c} started an attempt outside an alarm's handler"
                    );
                }
                Effect::Resolve => {
                    assert!(
                        self.handler[c],
                        "call {c} asked the provider outside an alarm's handler"
                    );
                    assert!(
                        !self.resolving[c],
                        "call {c} asks the provider twice at once"
                    );
                    self.resolving[c] = true;
                }
                // Stored with the step: the next download asks the provider again.
                Effect::Unresolve => self.resolved[c] = false,
                Effect::NotifyWaiters => {}
                Effect::Forget => {
                    self.alarm[c] = None;
                    self.resolved[c] = false;
                }
            }
        }
    }

    /// The attempt ends (its R2 write has ended) with `outcome`.
    fn finish(&mut self, c: usize, outcome: AttemptOutcome) {
        let run = self.run[c].take().expect("a running attempt");
        let step =
            download::on_attempt_finished(&self.state[c], run.grant, outcome, self.now, 0.5, &P);
        self.apply(c, step);
    }

    fn play_input(&self, c: usize, fact: PlayFact) -> PlayInput {
        PlayInput {
            now: self.now,
            running_here: self.running(c),
            alarm_set: self.alarm_set(c),
            fact,
        }
    }

    /// One renewal of call `c`'s lease, at `self.now`.
    fn renew(&mut self, c: usize) {
        let Some(run) = self.run[c] else { return };
        if run.phase == Phase::Putting {
            return;
        }
        let outcome = if self.renew_reaches[c] {
            match self
                .table
                .renew(&Self::owner(c), run.grant, self.now, LEASE_MS)
            {
                Some(expires) => RenewOutcome::Renewed(expires),
                None => RenewOutcome::Lost,
            }
        } else {
            RenewOutcome::Unreachable
        };
        match keep_downloading(outcome, self.now, run.expires_ms, renew_every_ms(LEASE_MS)) {
            Some(expires_ms) => {
                self.run[c] = Some(Run {
                    expires_ms,
                    renew_due_ms: self.now + renew_every_ms(LEASE_MS),
                    ..run
                })
            }
            // The origin fetch is aborted; the write then fails, storing nothing.
            None => self.finish(c, AttemptOutcome::transient(Failure::LeaseLost, "")),
        }
    }

    fn run(&mut self, ev: Ev) {
        self.step(ev);
        self.end_handlers();
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Play(c) => {
                // The frontend serves a cached recording from R2 without asking the object.
                if !self.cached[c] {
                    self.in_transit[c] += 1;
                }
            }
            Ev::PlayArrives(c) => {
                if self.in_transit[c] == 0 {
                    return;
                }
                self.in_transit[c] -= 1;
                match download::play_check(&self.state[c], self.now, &P) {
                    PlayCheck::Store => {
                        self.facts[c].push((PlayFact::Stored(self.cached[c]), self.generation[c]))
                    }
                    PlayCheck::Admission => {
                        let admission = self.budgets.admit(
                            "agent",
                            self.now,
                            BUDGET_PER_MINUTE,
                            self.table.queue.len(),
                            self.policy.max_queue,
                        );
                        self.facts[c].push((PlayFact::Admission(admission), self.generation[c]));
                    }
                    PlayCheck::Nothing => {
                        let step = download::on_play(
                            &self.state[c],
                            self.play_input(c, PlayFact::Nothing),
                            &P,
                        );
                        self.play_step(c, step);
                    }
                }
            }
            Ev::FactArrives(c) => {
                if self.facts[c].is_empty() {
                    return;
                }
                let (fact, asked_at) = self.facts[c].remove(0);
                // The shell drops what it learnt about a state that has changed since.
                let fact = if asked_at == self.generation[c] {
                    fact
                } else {
                    PlayFact::Nothing
                };
                // The shell loads the state again after its await.
                let step = download::on_play(&self.state[c], self.play_input(c, fact), &P);
                self.play_step(c, step);
            }
            Ev::Alarm(c) => {
                if self.alarm[c].is_some() && self.early[c] {
                    // Its handler joins the play's run of it (in flight),
                    // and ends with it: from now on a restart runs it again.
                    self.alarm[c] = None;
                    self.early[c] = false;
                    return;
                }
                // The runtime runs one alarm of an object at a time: not while
                // the running one waits on its held acquire or its answer.
                if self.alarm[c].is_some() && !self.held[c] && self.grant[c].is_none() {
                    self.alarm[c] = None;
                    self.handler[c] = true;
                    let step = self.alarm_step(c);
                    self.apply(c, step);
                }
            }
            Ev::ResolveEnds(c, o) => {
                if !std::mem::take(&mut self.resolving[c]) {
                    return;
                }
                let resolved = match o {
                    0 | 1 => Resolved::Play,
                    2 => Resolved::Processing,
                    3 => Resolved::NoRecording,
                    4 => Resolved::CallGone,
                    _ => Resolved::Transient {
                        failure: Failure::OriginUnavailable,
                        retry_after_ms: None,
                    },
                };
                // Which recording plays is stored with the step it leads to.
                if resolved == Resolved::Play {
                    self.resolved[c] = true;
                }
                let step = download::on_resolved(&self.state[c], resolved, self.now, 0.5, &P);
                self.apply(c, step);
            }
            Ev::Deliver(c) => {
                if let Some((grant, expires_ms)) = self.grant[c].take() {
                    let step = download::on_slot_granted(
                        &self.state[c],
                        self.now,
                        self.running(c),
                        grant,
                        expires_ms,
                        &P,
                    );
                    self.apply(c, step);
                } else if self.wake[c] {
                    // The call object arms its alarm for now.
                    self.wake[c] = false;
                    self.alarm[c] = Some(self.now);
                }
            }
            Ev::HoldEnds(c) => {
                if self.held[c] {
                    self.held[c] = false;
                    let step = download::on_slot_queued(&self.state[c], self.now);
                    self.apply(c, step);
                }
            }
            Ev::Lookup(c) => {
                if let Some(run) = self.run[c].filter(|r| r.phase == Phase::Lookup) {
                    if self.cached[c] {
                        self.finish(c, AttemptOutcome::Stored { size: 10 });
                    } else {
                        // A miss: the origin fetch starts.
                        self.run[c] = Some(Run {
                            phase: Phase::Origin,
                            ..run
                        });
                    }
                }
            }
            Ev::OriginEnds(c, o) => {
                let Some(run) = self.run[c].filter(|r| r.phase == Phase::Origin) else {
                    return;
                };
                match o {
                    0 | 1 => {
                        // Body read whole: the slot goes back at once; the write goes on.
                        self.release(c, run.grant);
                        self.run[c] = Some(Run {
                            phase: Phase::Putting,
                            ..run
                        });
                    }
                    // Every other ending fails the write as well: nothing is stored.
                    2 => self.finish(c, AttemptOutcome::transient(Failure::OriginUnavailable, "")),
                    3 => self.finish(c, AttemptOutcome::OriginNotFound),
                    4 => self.finish(c, AttemptOutcome::transient(Failure::CutOff, "")),
                    _ => self.finish(
                        c,
                        download::classify_origin_status(429, Some(2_000), false).unwrap(),
                    ),
                }
            }
            Ev::PutEnds(c, ok) => {
                if self.orphan_write[c] {
                    self.orphan_write[c] = false;
                    self.cached[c] |= ok;
                    return;
                }
                if self.run[c].is_some_and(|r| r.phase == Phase::Putting) {
                    if ok {
                        self.cached[c] = true;
                        self.finish(c, AttemptOutcome::Stored { size: 10 });
                    } else {
                        self.finish(c, AttemptOutcome::transient(Failure::NotStored, ""));
                    }
                }
            }
            Ev::Timeout(c) => {
                // The origin fetch is aborted and the write with it. A write
                // whose bytes were all sent is waited for: the attempt ends
                // only when its write has ended.
                match self.run[c].map(|r| r.phase) {
                    Some(Phase::Lookup | Phase::Origin) => {
                        self.finish(c, AttemptOutcome::transient(Failure::TimedOut, ""))
                    }
                    Some(Phase::Putting) if !ATTEMPT_WAITS_FOR_ITS_WRITE => {
                        self.orphan_write[c] = true;
                        self.finish(c, AttemptOutcome::transient(Failure::TimedOut, ""));
                    }
                    _ => {}
                }
            }
            Ev::ReleaseArrives(c) => self.release_arrives(c),
            Ev::RenewReaches(c, ok) => self.renew_reaches[c] = ok,
            Ev::LoseAlarm(c) => {
                self.alarm[c] = None;
                self.lost[c] = true;
            }
            Ev::Evict(c) => self.cached[c] = false,
            Ev::Advance(ms) => {
                let target = self.now + ms;
                // Renewals fall due at their own times; leases expire in between.
                loop {
                    let due = (0..CALLS)
                        .filter_map(|c| {
                            self.run[c]
                                .filter(|r| r.phase != Phase::Putting && r.renew_due_ms <= target)
                                .map(|r| (r.renew_due_ms, c))
                        })
                        .min();
                    let Some((at, c)) = due else { break };
                    self.now = self.now.max(at);
                    let woken = self.table.expire(self.now, &self.policy);
                    self.wake(woken);
                    self.check();
                    self.renew(c);
                }
                self.now = target;
                let woken = self.table.expire(self.now, &self.policy);
                self.wake(woken);
            }
            Ev::Restart(lands) => {
                for c in 0..CALLS {
                    if let Some(run) = self.run[c].take() {
                        if run.phase == Phase::Putting && lands {
                            self.cached[c] = true;
                        }
                    }
                    if std::mem::take(&mut self.orphan_write[c]) && lands {
                        self.cached[c] = true;
                    }
                    self.wake[c] = false;
                    self.held[c] = false;
                    self.grant[c] = None;
                    self.resolving[c] = false;
                    // The runtime delivers an alarm at least once: one whose
                    // handler had not ended runs again on the new instance.
                    // A play's run of an alarm not yet delivered dies with
                    // the instance; the alarm it left set (if not lost) runs.
                    let early = std::mem::take(&mut self.early[c]);
                    if std::mem::take(&mut self.handler[c]) && !early {
                        self.alarm[c] = Some(self.now);
                    }
                    self.facts[c].clear();
                    self.generation[c] = 0;
                    self.in_transit[c] = 0;
                    // Releases on their way die with the sender; those leases expire.
                    self.releases[c].clear();
                }
            }
        }
    }

    fn check(&self) {
        for c in 0..CALLS {
            if matches!(self.state[c], CallState::AwaitingProvider { .. }) {
                assert!(
                    self.run[c].is_none() && !self.held[c],
                    "call {c} waits for the provider while it downloads or waits for a slot"
                );
            }
            assert!(
                !(self.orphan_write[c] && self.run[c].is_some_and(|r| r.phase != Phase::Lookup)),
                "call {c}: a new download runs while an earlier attempt's R2 write is still running"
            );
            let Some(run) = self.run[c] else { continue };
            if run.phase == Phase::Origin {
                // Guarantee 2 and 3: an origin download runs only on a live lease of its own.
                assert!(
                    self.table.leases.iter().any(|l| l.owner == Self::owner(c)
                        && l.grant == run.grant
                        && l.expires_ms > self.now),
                    "call {c} downloads without its lease {} (table {:?})",
                    run.grant,
                    self.table
                );
                assert!(!self.cached[c], "call {c} downloads a recording R2 has");
            }
        }
        let downloading = self
            .run
            .iter()
            .flatten()
            .filter(|r| r.phase == Phase::Origin)
            .count();
        assert!(
            downloading <= self.policy.slots as usize,
            "{downloading} downloads at once with {} slots",
            self.policy.slots
        );
        assert!(
            self.table.leases.len() <= self.policy.slots as usize,
            "more leases than slots"
        );
        assert!(
            self.table.queue.len() <= self.policy.max_queue as usize,
            "queue over its bound"
        );
        let owners: BTreeSet<&str> = self.table.leases.iter().map(|l| l.owner.as_str()).collect();
        assert_eq!(
            owners.len(),
            self.table.leases.len(),
            "an owner holds two leases"
        );
    }

    /// Lets every step complete well, with time passing, and no click:
    /// every call whose alarms were never lost (a restart included: the
    /// runtime runs again an alarm whose handler had not ended) gets to
    /// its end by itself.
    fn settle_without_clicks(&mut self) {
        self.settle(false);
        for c in (0..CALLS).filter(|&c| !self.lost[c]) {
            assert!(
                !matches!(
                    self.state[c],
                    CallState::Queued { .. }
                        | CallState::Downloading { .. }
                        | CallState::RetryWait { .. }
                        | CallState::AwaitingProvider { .. }
                ) || self.cached[c],
                "call {c} waits for a click in {:?} (alarm {:?}, table {:?})",
                self.state[c],
                self.alarm[c],
                self.table
            );
        }
    }

    /// Every step completing well, time passing, and the agent clicking
    /// again now and then (which re-arms a lost alarm) when `clicks`.
    fn settle(&mut self, clicks: bool) {
        for c in 0..CALLS {
            self.renew_reaches[c] = true;
        }
        for round in 0..300 {
            for c in 0..CALLS {
                if clicks && round % 20 == 0 {
                    self.run(Ev::Play(c));
                }
                self.run(Ev::PlayArrives(c));
                self.run(Ev::FactArrives(c));
                self.run(Ev::Lookup(c));
                self.run(Ev::OriginEnds(c, 0));
                self.run(Ev::PutEnds(c, true));
                self.run(Ev::ReleaseArrives(c));
                self.run(Ev::Deliver(c));
                self.run(Ev::ResolveEnds(c, 0));
                self.run(Ev::Alarm(c));
                self.check();
            }
            self.run(Ev::Advance(LEASE_MS / 3 - 1));
            self.check();
        }
    }

    /// Lets every step complete well, with time passing and the agent
    /// clicking again now and then (which re-arms a lost alarm), until
    /// nothing changes: no call may be left waiting.
    fn drain(&mut self) {
        self.settle(true);
        for c in 0..CALLS {
            // A recording in R2 is served from there, whatever its object remembers.
            assert!(
                self.cached[c]
                    || matches!(
                        self.state[c],
                        CallState::None
                            | CallState::Ready { .. }
                            | CallState::Failed { .. }
                            | CallState::NotFound { .. }
                            | CallState::NoRecording { .. }
                            | CallState::Busy { .. }
                    ),
                "call {c} stuck in {:?} (alarm {:?}, table {:?})",
                self.state[c],
                self.alarm[c],
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
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn the_call_machine_and_slot_table_keep_their_invariants(slots in 1u32..4, twilio in any::<bool>(), picks in prop::collection::vec(any::<u32>(), 1..200)) {
        let mut world = World::new(slots, twilio);
        let mut trace = Vec::new();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for pick in picks {
                let enabled = world.enabled();
                let ev = enabled[pick as usize % enabled.len()].clone();
                trace.push(ev.clone());
                world.run(ev);
                world.check();
            }
            world.settle_without_clicks();
            world.drain();
        }));
        if let Err(e) = outcome {
            let message = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{message}\nsteps: {trace:?}");
        }
    }

    #[test]
    fn the_rfc_2822_reader_never_panics_and_reads_what_it_writes(text in "\\PC{0,40}", day in 0i64..2_000_000_000) {
        let _ = playback_core::twilio::parse_rfc2822(&text);
        let written = playback_core::twilio::format_rfc2822(day);
        prop_assert_eq!(playback_core::twilio::parse_rfc2822(&written), Some(day));
    }

    #[test]
    fn a_call_sid_in_any_case_is_one_call_one_key(hex in "[0-9a-f]{32}", mask in any::<u32>()) {
        let mixed: String = hex
            .chars()
            .enumerate()
            .map(|(i, ch)| if mask & (1 << i) != 0 { ch.to_ascii_uppercase() } else { ch })
            .collect();
        let a = CallSid::parse(&format!("CA{hex}")).unwrap();
        let b = CallSid::parse(&format!("CA{mixed}")).unwrap();
        let business = BusinessId::parse("acme").unwrap();
        prop_assert_eq!(
            recording_key(&CallIdentity::new(business.clone(), a.clone())),
            recording_key(&CallIdentity::new(business, b.clone()))
        );
        prop_assert_eq!(a, b);
    }

    #[test]
    fn any_range_header_gets_the_answer_of_the_reference(
        (header, expected_spec) in range_header(),
        size in prop_oneof![0u64..4, 0u64..10_000, any::<u64>()],
    ) {
        let d = decide(Conditions { range: Some(&header), ..Default::default() }, size, "\"e\"");
        prop_assert_eq!(d, reference_answer(&expected_spec, size), "{:?} of {} bytes", header, size);
        if let ServeDecision::Partial { first, last } = d {
            prop_assert!(first <= last && last < size);
        }
        // The parser alone agrees: a spec exactly when the reference has one.
        prop_assert_eq!(parse_range(&header).is_some(), !matches!(expected_spec, RefRange::Ignored));
        if let Some(spec) = parse_range(&header) {
            prop_assert_eq!(resolve(spec, size), d);
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
        prop_assert!(session::verify(&token, session::Keys::one(b"secret"), session::Expect::default(), 1_000).is_err());
        let as_text = String::from_utf8_lossy(&bytes);
        let _ = session::verify(&as_text, session::Keys::one(b"secret"), session::Expect::default(), 1_000);
    }

    #[test]
    fn only_a_correctly_signed_unexpired_token_is_accepted(
        secret in prop::collection::vec(any::<u8>(), 1..40),
        sub in "[a-z0-9]{1,12}",
        exp in 1u64..4_000_000_000,
        now in 0u64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let claims = Claims::new(BusinessId::parse("acme").unwrap(), sub, exp);
        let token = session::sign(&claims, &secret);
        let verdict = session::verify(&token, session::Keys::one(&secret), session::Expect::default(), now);
        prop_assert_eq!(verdict.is_ok(), now < exp);
        // Any single changed character is refused.
        let mut bytes = token.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        if tampered != token {
            prop_assert!(session::verify(&tampered, session::Keys::one(&secret), session::Expect::default(), 0).is_err());
        }
        // Another secret is refused.
        let mut other = secret.clone();
        other[0] ^= 1;
        prop_assert!(session::verify(&token, session::Keys::one(&other), session::Expect::default(), 0).is_err());
    }
}

/// What a generated `Range` header means, by construction (numbers in
/// `u128`, so that ones past `u64::MAX` keep their value).
#[derive(Debug, Clone)]
enum RefRange {
    FromTo(u128, u128),
    From(u128),
    Suffix(u128),
    /// Malformed, another unit, several ranges, `a > b`: the whole file.
    Ignored,
}

/// RFC 9110 §14.1.2 and §14.2, written from the text, not from `range.rs`:
/// a range selecting no byte is 416; a last position past the end is the
/// end; a suffix longer than the file is the file.
fn reference_answer(spec: &RefRange, size: u64) -> ServeDecision {
    let size128 = u128::from(size);
    let (first, last) = match *spec {
        RefRange::Ignored => return ServeDecision::Full,
        RefRange::FromTo(a, b) => (a, b.min(size128.saturating_sub(1))),
        RefRange::From(a) => (a, size128.saturating_sub(1)),
        RefRange::Suffix(0) => return ServeDecision::Unsatisfiable,
        RefRange::Suffix(n) => (size128.saturating_sub(n), size128.saturating_sub(1)),
    };
    if first >= size128 {
        return ServeDecision::Unsatisfiable;
    }
    ServeDecision::Partial {
        first: first as u64,
        last: last as u64,
    }
}

/// A position: small, near a small file's end, any `u64`, or past `u64`.
fn position() -> impl Strategy<Value = u128> {
    prop_oneof![
        0u128..20,
        0u128..12_000,
        any::<u64>().prop_map(u128::from),
        (u128::from(u64::MAX) - 2)..=(u128::from(u64::MAX) + 2),
        (u128::from(u64::MAX) + 1)..u128::MAX,
    ]
}

/// Spaces a client or proxy may put around the parts (RFC 9110's OWS).
fn ows() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\t")]
}

/// One range of a set, `a-b`, `a-` or `-n`, and what it means.
fn single_range() -> impl Strategy<Value = (String, RefRange)> {
    (position(), position(), 0u8..3).prop_map(|(a, b, form)| match form {
        0 => (
            format!("{a}-{b}"),
            if a <= b {
                RefRange::FromTo(a, b)
            } else {
                RefRange::Ignored
            },
        ),
        1 => (format!("{a}-"), RefRange::From(a)),
        _ => (format!("-{b}"), RefRange::Suffix(b)),
    })
}

/// Real `Range` headers: the three single forms in any unit case and
/// spacing, several ranges, and near misses of each (another unit, a
/// missing `=`, a sign, hex, a doubled dash, `a > b`, an empty side).
fn range_header() -> impl Strategy<Value = (String, RefRange)> {
    let unit = prop_oneof![Just("bytes"), Just("BYTES"), Just("Bytes")];
    let good = (unit, ows(), ows(), single_range())
        .prop_map(|(unit, s1, s2, (set, spec))| (format!("{s1}{unit}{s2}={s2}{set}{s1}"), spec));
    let several = proptest::collection::vec(single_range(), 2..4).prop_map(|sets| {
        let joined: Vec<String> = sets.into_iter().map(|(set, _)| set).collect();
        (format!("bytes={}", joined.join(",")), RefRange::Ignored)
    });
    let near_miss = (single_range(), 0u8..8).prop_map(|((set, _), how)| {
        let header = match how {
            0 => format!("items={set}"),
            1 => format!("bytes{set}"),
            2 => format!("bytes=+{set}"),
            3 => format!("bytes=0x{set}"),
            4 => format!("bytes={}", set.replacen('-', "--", 1)),
            5 => "bytes=-".to_owned(),
            6 => format!("bytes={}", set.replace('-', "")),
            _ => format!("bites={set}"),
        };
        (header, RefRange::Ignored)
    });
    prop_oneof![6 => good, 1 => several, 3 => near_miss]
}
