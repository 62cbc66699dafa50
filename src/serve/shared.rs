//! What the HTTP workers, the event streams and the reload loop of the process that serves
//! share: the plugin, the browsers' hub, the terminal, `--events`, the calls in flight.

use std::sync::RwLock;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hotdev_host::Plugin;
use reloadable::web::app;

use super::live::Hub;
use super::static_files::StaticDir;
use super::{breaker, calls, hosts};
use crate::allowed_hosts::AllowedHosts;
use crate::events::{Event, EventWriter};
use crate::term::Term;

/// The plugin type the server runs.
pub(super) type WebPlugin = Plugin<app::Interface>;

/// Maps the host's generation numbers (1, 2, ... in each process that loads the plugin)
/// to the server's, which go on counting across worker processes: the first generation a
/// worker loads is `first` (a generation that served before a crash, or the next build),
/// the ones after it count up from `second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gens {
    pub(super) first: u64,
    pub(super) second: u64,
}

impl Gens {
    /// One process: the host's numbers as they are.
    pub(crate) const ONE_PROCESS: Gens = Gens {
        first: 1,
        second: 2,
    };

    /// The server's number for the host's generation `host`.
    pub(crate) fn display(&self, host: u64) -> u64 {
        match host {
            0 => 0,
            1 => self.first,
            h => self.second + (h - 2),
        }
    }
}

/// What the HTTP workers, the event streams and the reload loop share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) plugin: RwLock<Option<WebPlugin>>,
    /// How host generation numbers are shown.
    pub(super) gens: Gens,
    pub(super) hub: Hub,
    pub(super) term: Term,
    pub(super) events: Option<EventWriter>,
    pub(super) static_dir: Option<StaticDir>,
    pub(super) calls: calls::Calls,
    pub(super) breaker: breaker::Breaker,
    /// Whether the limit of stuck calls was reported.
    pub(super) cap_reported: AtomicBool,
    /// The `Host` and `Origin` headers answered, and the refusals already reported.
    pub(super) hosts: hosts::HostCheck,
}

impl Shared {
    /// What a process that serves starts with: no plugin yet.
    pub(super) fn new(
        term: Term,
        events: Option<EventWriter>,
        static_dir: Option<StaticDir>,
        handler_timeout: Duration,
        gens: Gens,
        allowed: AllowedHosts,
    ) -> Self {
        Shared {
            plugin: RwLock::new(None),
            gens,
            hub: Hub::default(),
            term,
            events,
            static_dir,
            calls: calls::Calls::new(handler_timeout),
            breaker: breaker::Breaker::default(),
            cap_reported: AtomicBool::new(false),
            hosts: hosts::HostCheck::new(allowed),
        }
    }

    /// The plugin, once the first build has loaded.
    pub(super) fn plugin(&self) -> Option<WebPlugin> {
        self.plugin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The generation serving, once one is.
    pub(super) fn generation(&self) -> Option<u64> {
        self.plugin().map(|p| self.gens.display(p.generation()))
    }

    pub(super) fn emit(&self, event: &Event) {
        if let Some(events) = &self.events {
            events.emit(event);
        }
    }
}
