//! The plugin's state across generations and workers: what a reload did with it, and the
//! bytes its hooks save when a generation goes live and restore in the next worker.

use hotdev_host::StateChange;

use super::Shared;
#[cfg(unix)]
use super::crash;
use super::live::Notice;
use crate::events::Event;

/// Tells what a reload did with the plugin's state, before the reload itself is reported
/// (so that browsers reloading for it find the notice).
pub(super) fn report_state(shared: &Shared, generation: u64, state: StateChange) {
    match state {
        StateChange::Reset { diff, reason } => {
            let message = format!(
                "the plugin's state was reset: {} ({reason}); generation {generation} starts \
                 from Default",
                diff.join("; ")
            );
            shared
                .term
                .line(&format!("{message} (--keep-state refuses such changes)"));
            shared.hub.notice(Notice {
                generation,
                kind: "state_reset",
                message,
            });
            shared.emit(&Event::StateReset {
                generation,
                diff,
                reason,
            });
        }
        StateChange::Migrated { bytes } => {
            shared.term.line(&format!(
                "the plugin's state was migrated to generation {generation} ({bytes} bytes)"
            ));
            shared.emit(&Event::StateMigrated { generation, bytes });
        }
        _ => {}
    }
}

/// Restores the state that generation `from` saved into `generation` (the first a new
/// worker loads after a crash), and says how it went.
pub(super) fn restore_state(shared: &Shared, generation: u64, from: u64, bytes: &[u8]) {
    let Some(plugin) = shared.plugin() else {
        return;
    };
    #[cfg(unix)]
    crash::enter_load(generation);
    let restored = plugin.restore_state(bytes);
    #[cfg(unix)]
    crash::leave();
    match restored {
        Ok(true) => shared.term.line(&format!(
            "the plugin's state was restored in generation {generation} ({} bytes, saved when \
             generation {from} went live)",
            bytes.len()
        )),
        Ok(false) => shared.term.line(&format!(
            "the plugin's state could not be restored in generation {generation} (it has no \
             restore hook, or calls held the state): it starts from Default"
        )),
        Err(error) => {
            let message = format!(
                "the plugin's state could not be restored in generation {generation}: {error}; \
                 it starts from Default"
            );
            shared.term.line(&format!("warning: {message}"));
            shared.emit(&Event::Warning { message });
        }
    }
}

/// The plugin's state as its save hook writes it, when it has one.
pub(super) fn save_state(shared: &Shared) -> Option<Vec<u8>> {
    let plugin = shared.plugin()?;
    match plugin.save_state() {
        Ok(bytes) => bytes,
        Err(error) => {
            let message = format!(
                "the plugin's state could not be saved: {error}; after a crash it would \
                 start from Default"
            );
            shared.term.line(&format!("warning: {message}"));
            shared.emit(&Event::Warning { message });
            None
        }
    }
}
