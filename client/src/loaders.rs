//! The page's loaders, one per recording shown (a row's call's first, and
//! any other the bar picked): the registry the rows and the player bar
//! share, so that a call's row and the bar drive the same `Loader`. It
//! knows which recording the bar holds, whose loader outlives its row.

use leptos::prelude::*;
use playback_core::bar::RecordingRef;
use playback_core::player::RowEvent;
use playback_core::wire::CallSummary;

use crate::row::{AudioSink, Loader};

#[derive(Clone, Copy)]
pub struct Loaders {
    /// (A list, looked through: a few thousand at most, and a map's code
    /// would cost the player's download more than the look-ups cost.)
    loaders: StoredValue<Vec<(RecordingRef, Loader)>, LocalStorage>,
    owner: StoredValue<Owner, LocalStorage>,
    sink: AudioSink,
    /// The recording in the bar, once a row played or a link named one.
    pub bar_call: RwSignal<Option<RecordingRef>>,
}

impl Loaders {
    /// A registry whose loaders send their audio commands to `sink`, made
    /// under the current owner (loaders live as long as it).
    pub fn new(sink: AudioSink) -> Loaders {
        Loaders {
            loaders: StoredValue::new_local(Vec::new()),
            owner: StoredValue::new_local(Owner::current().unwrap_or_default()),
            sink,
            bar_call: RwSignal::new(None),
        }
    }

    /// The page's registry (a fresh one, with no audio, where none was
    /// provided, as in a component test of one row).
    pub fn get() -> Loaders {
        use_context::<Loaders>().unwrap_or_else(|| {
            let loaders = Loaders::new(AudioSink::new());
            provide_context(loaders);
            loaders
        })
    }

    /// The loader of `recording` (made on first use), told the call's
    /// summary when it is known.
    pub fn loader(self, recording: &RecordingRef, call: Option<&CallSummary>) -> Loader {
        if let Some(loader) = self.of(recording) {
            if let Some(call) = call {
                loader.call.set(Some(call.clone()));
            }
            return loader;
        }
        let loader = self
            .owner
            .with_value(|o| o.with(|| Loader::new(recording, call.cloned(), self.sink)));
        self.loaders
            .update_value(|l| l.push((recording.clone(), loader)));
        loader
    }

    /// The loader of `recording`, if there is one.
    pub fn of(self, recording: &RecordingRef) -> Option<Loader> {
        self.loaders
            .with_value(|l| l.iter().find(|(r, _)| r == recording).map(|(_, l)| *l))
    }

    /// The bar call's loader.
    pub fn bar_loader(self) -> Option<Loader> {
        self.of(&self.bar_call.get_untracked()?)
    }

    /// Stops and drops the loader of `recording`, unless the bar holds it.
    pub fn forget(self, recording: &RecordingRef) {
        if self
            .bar_call
            .with_untracked(|b| b.as_ref() == Some(recording))
        {
            return;
        }
        if let Some(loader) = self
            .loaders
            .try_update_value(|l| {
                let at = l.iter().position(|(r, _)| r == recording)?;
                Some(l.swap_remove(at).1)
            })
            .flatten()
        {
            loader.dispatch(RowEvent::Stop);
            loader.dispose();
        }
    }
}
