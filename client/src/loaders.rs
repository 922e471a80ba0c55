//! The page's loaders, one per call shown: the registry the rows and the
//! player bar share, so that a call's row and the bar drive the same
//! `Loader`. It knows which call the bar holds, whose loader outlives its
//! row.

use std::collections::HashMap;

use leptos::prelude::*;
use playback_core::player::RowEvent;
use playback_core::wire::CallSummary;

use crate::row::{AudioSink, Loader};

#[derive(Clone, Copy)]
pub struct Loaders {
    loaders: StoredValue<HashMap<String, Loader>, LocalStorage>,
    owner: StoredValue<Owner, LocalStorage>,
    sink: AudioSink,
    /// The call in the bar, once a row played or a link named one.
    pub bar_call: RwSignal<Option<String>>,
}

impl Loaders {
    /// A registry whose loaders send their audio commands to `sink`, made
    /// under the current owner (loaders live as long as it).
    pub fn new(sink: AudioSink) -> Loaders {
        Loaders {
            loaders: StoredValue::new_local(HashMap::new()),
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

    /// The loader of `sid` (made on first use), told the call's summary
    /// when it is known.
    pub fn loader(self, sid: &str, call: Option<&CallSummary>) -> Loader {
        if let Some(loader) = self.of(sid) {
            if let Some(call) = call {
                loader.call.set(Some(call.clone()));
            }
            return loader;
        }
        let loader = self
            .owner
            .with_value(|o| o.with(|| Loader::new(sid, call.cloned(), self.sink)));
        self.loaders.update_value(|l| {
            l.insert(sid.to_owned(), loader);
        });
        loader
    }

    /// The loader of `sid`, if there is one.
    pub fn of(self, sid: &str) -> Option<Loader> {
        self.loaders.with_value(|l| l.get(sid).copied())
    }

    /// The bar call's loader.
    pub fn bar_loader(self) -> Option<Loader> {
        self.of(&self.bar_call.get_untracked()?)
    }

    /// Stops and drops the loader of `sid`, unless it is the bar's call.
    pub fn forget(self, sid: &str) {
        if self.bar_call.get_untracked().as_deref() == Some(sid) {
            return;
        }
        if let Some(loader) = self.loaders.try_update_value(|l| l.remove(sid)).flatten() {
            loader.dispatch(RowEvent::Stop);
            loader.dispose();
        }
    }
}
