//! A plugin's `tracing` events reach the host without tracing's `log` feature.
//!
//! A plugin with its own std (a `cdylib`) has its own copy of `tracing-core`, and so its
//! own global dispatcher, which nothing sets: its events went nowhere. At load,
//! [`install`] makes a small [`Subscriber`] the plugin's global default (unless the plugin
//! already has one). It formats each event the way `tracing-subscriber`'s `fmt` does, the
//! spans it happens in first (`request{id=7}: answer computed answer=42`), and hands the
//! text to the host's log function with the event's level, target, file and line, the
//! road the plugin's `log` records take (see [`hooks`](super)).
//!
//! The spans live in a registry in the plugin: each span's name, fields and parent, and
//! each thread's stack of entered spans, behind one `Mutex`. A lock per span operation
//! and per event is fine for a development tool; user values are formatted outside it.
//! Threads are told apart by a number kept in a `const` thread-local `Cell<u64>`, which
//! needs no destructor: a thread-local with one would pin the library on glibc (see
//! [`rt`](crate::rt)), and so would `std::thread::current()`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::subscriber::{Interest, Subscriber};
use tracing_core::{Dispatch, Event, Level, LevelFilter, Metadata, dispatcher};

use super::HostLog;
use crate::ffi::RawStr;

/// Makes a [`Bridge`] to `host` this copy of tracing's global default, unless the plugin
/// set one of its own or the host takes no records (`max_level` 0).
pub(crate) fn install(host: HostLog, max_level: u32) {
    let max = level_filter(max_level);
    if max == LevelFilter::OFF || dispatcher::has_been_set() {
        return;
    }
    let _ = dispatcher::set_global_default(Dispatch::new(Bridge::new(host, max)));
}

/// The host's level numbers (0 off, 1 error … 5 trace) as tracing's.
fn level_filter(level: u32) -> LevelFilter {
    match level {
        0 => LevelFilter::OFF,
        1 => LevelFilter::ERROR,
        2 => LevelFilter::WARN,
        3 => LevelFilter::INFO,
        4 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Tracing's levels as the host's numbers.
fn level_number(level: &Level) -> u32 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// The subscriber set in a plugin's copy of tracing: events go to the host's log
/// function as text, with the context of their spans.
pub(crate) struct Bridge {
    host: HostLog,
    max: LevelFilter,
    next_id: AtomicU64,
    registry: Mutex<Registry>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge").field("max", &self.max).finish()
    }
}

/// The spans alive in the plugin and the spans each thread is in.
#[derive(Default)]
struct Registry {
    spans: BTreeMap<u64, SpanData>,
    /// A thread's number (see [`thread_number`]) → the spans it entered, innermost last.
    /// A thread whose stack empties leaves the map.
    stacks: BTreeMap<u64, Vec<u64>>,
}

struct SpanData {
    metadata: &'static Metadata<'static>,
    /// `a=1 b="x"`, as recorded so far.
    fields: String,
    parent: Option<u64>,
    /// Handles to the span, plus one per child span alive.
    refs: usize,
}

impl Registry {
    fn current(&self, thread: u64) -> Option<u64> {
        self.stacks.get(&thread).and_then(|s| s.last().copied())
    }

    /// `outer{a=1}:inner{b=2}` for `span` and its parents, outermost first.
    fn context(&self, span: Option<u64>) -> String {
        let mut chain = Vec::new();
        let mut next = span;
        while let Some(data) = next.and_then(|id| self.spans.get(&id)) {
            chain.push(data);
            next = data.parent;
        }
        let mut out = String::new();
        for (i, data) in chain.iter().rev().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(data.metadata.name());
            if !data.fields.is_empty() {
                let _ = write!(out, "{{{}}}", data.fields);
            }
        }
        out
    }

    /// Drops one reference to `id`; a span that loses its last goes, and with it its
    /// reference to its parent. Whether `id` went.
    fn release(&mut self, id: u64) -> bool {
        let mut next = Some(id);
        let mut first = true;
        let mut closed = false;
        while let Some(id) = next.take() {
            let Some(data) = self.spans.get_mut(&id) else {
                break;
            };
            data.refs -= 1;
            if data.refs == 0 {
                next = data.parent;
                self.spans.remove(&id);
                closed |= first;
            }
            first = false;
        }
        closed
    }
}

/// This thread's number, given on first use. A `const` thread-local of a `Cell<u64>` has
/// no destructor (see the module docs).
fn thread_number() -> u64 {
    std::thread_local! {
        static NUMBER: Cell<u64> = const { Cell::new(0) };
    }
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

impl Bridge {
    pub(crate) fn new(host: HostLog, max: LevelFilter) -> Bridge {
        Bridge {
            host,
            max,
            next_id: AtomicU64::new(1),
            registry: Mutex::new(Registry::default()),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Subscriber for Bridge {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.registry();
        let parent = if let Some(parent) = attributes.parent() {
            Some(parent.into_u64())
        } else if attributes.is_contextual() {
            registry.current(thread_number())
        } else {
            None
        };
        let parent = parent.filter(|p| match registry.spans.get_mut(p) {
            Some(data) => {
                data.refs += 1;
                true
            }
            None => false,
        });
        registry.spans.insert(
            id,
            SpanData {
                metadata: attributes.metadata(),
                fields: fields.into_text(),
                parent,
                refs: 1,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        let more = fields.into_text();
        if more.is_empty() {
            return;
        }
        if let Some(data) = self.registry().spans.get_mut(&span.into_u64()) {
            if !data.fields.is_empty() {
                data.fields.push(' ');
            }
            data.fields.push_str(&more);
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let context = {
            let registry = self.registry();
            let span = if let Some(parent) = event.parent() {
                Some(parent.into_u64())
            } else if event.is_contextual() {
                registry.current(thread_number())
            } else {
                None
            };
            registry.context(span)
        };
        let mut message = context;
        if !message.is_empty() {
            message.push_str(": ");
        }
        fields.append_to(&mut message);
        let metadata = event.metadata();
        // SAFETY: the host's function, handed over at init and valid while the library
        // is loaded; the strings live for the call.
        unsafe {
            (self.host)(
                level_number(metadata.level()),
                RawStr::new(metadata.target()),
                RawStr::new(&message),
                RawStr::new(metadata.file().unwrap_or("")),
                metadata.line().unwrap_or(0),
            )
        }
    }

    fn enter(&self, span: &Id) {
        let thread = thread_number();
        self.registry()
            .stacks
            .entry(thread)
            .or_default()
            .push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let thread = thread_number();
        let mut registry = self.registry();
        if let Some(stack) = registry.stacks.get_mut(&thread) {
            if let Some(at) = stack.iter().rposition(|&s| s == span.into_u64()) {
                stack.remove(at);
            }
            if stack.is_empty() {
                registry.stacks.remove(&thread);
            }
        }
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(data) = self.registry().spans.get_mut(&span.into_u64()) {
            data.refs += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        self.registry().release(span.into_u64())
    }

    fn current_span(&self) -> Current {
        let registry = self.registry();
        match registry.current(thread_number()) {
            Some(id) => match registry.spans.get(&id) {
                Some(data) => Current::new(Id::from_u64(id), data.metadata),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}

/// An event's or span's fields as text: the message, then `name=value` pairs (strings
/// quoted, as `tracing-subscriber`'s `fmt` writes them).
#[derive(Default)]
struct Fields {
    message: String,
    pairs: String,
}

impl Fields {
    fn pair(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if !self.pairs.is_empty() {
            self.pairs.push(' ');
        }
        let _ = write!(self.pairs, "{}={}", field.name(), value);
    }

    fn append_to(self, out: &mut String) {
        out.push_str(&self.message);
        if !self.message.is_empty() && !self.pairs.is_empty() {
            out.push(' ');
        }
        out.push_str(&self.pairs);
    }

    fn into_text(self) -> String {
        let mut out = String::new();
        self.append_to(&mut out);
        out
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.pair(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.pair(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.pair(field, format_args!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing_core::{Dispatch, LevelFilter, dispatcher};

    use super::Bridge;
    use crate::ffi::RawStr;

    /// What the test host received: level, target, message, file, line.
    type Seen = (u32, String, String, String, u32);

    static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

    /// A test host's `HostLog`: records what it receives.
    ///
    /// # Safety
    /// As for [`HostLog`](crate::hooks::HostLog): the strings are alive for the call.
    unsafe extern "C" fn host(
        level: u32,
        target: RawStr,
        message: RawStr,
        file: RawStr,
        line: u32,
    ) {
        // SAFETY: the bridge passes strings alive for this call.
        let (target, message, file) = unsafe { (target.get(), message.get(), file.get()) };
        SEEN.lock()
            .unwrap()
            .push((level, target.into(), message.into(), file.into(), line));
    }

    /// Runs `f` with a bridge at `max` as this thread's dispatcher and returns what the
    /// host received from `target`.
    fn seen_with(max: LevelFilter, target: &str, f: impl FnOnce()) -> Vec<Seen> {
        dispatcher::with_default(&Dispatch::new(Bridge::new(host, max)), f);
        let seen = SEEN.lock().unwrap();
        seen.iter().filter(|s| s.1 == target).cloned().collect()
    }

    #[test]
    fn an_event_carries_its_fields_and_the_spans_it_is_in() {
        let line = line!() + 6;
        let seen = seen_with(LevelFilter::INFO, "bridge::fields", || {
            let request = tracing::info_span!("request", id = 7);
            let _entered = request.enter();
            let inner = tracing::info_span!("step", name = "parse");
            inner.in_scope(
                || tracing::info!(target: "bridge::fields", answer = 42, "traced from the plugin"),
            );
            tracing::warn!(target: "bridge::fields", "outside the step");
        });
        assert_eq!(seen.len(), 2, "{seen:?}");
        let (level, _, message, file, at) = &seen[0];
        assert_eq!(*level, 3);
        assert_eq!(
            message,
            "request{id=7}:step{name=\"parse\"}: traced from the plugin answer=42"
        );
        assert!(file.ends_with("trace.rs"), "{file}");
        assert_eq!(*at, line);
        assert_eq!(seen[1].0, 2);
        assert_eq!(seen[1].2, "request{id=7}: outside the step");
    }

    #[test]
    fn the_hosts_level_applies() {
        let seen = seen_with(LevelFilter::WARN, "bridge::level", || {
            tracing::info!(target: "bridge::level", "too chatty");
            tracing::error!(target: "bridge::level", code = 3, "broken");
        });
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].0, 1);
        assert_eq!(seen[0].2, "broken code=3");
    }

    #[test]
    fn fields_recorded_later_and_explicit_parents_show_and_closed_spans_go() {
        let bridge = Bridge::new(host, LevelFilter::TRACE);
        let dispatch = Dispatch::new(bridge);
        dispatcher::with_default(&dispatch, || {
            let outer = tracing::info_span!("job", stage = tracing::field::Empty);
            outer.record("stage", "load");
            let child = tracing::debug_span!(parent: &outer, "chunk", n = 2);
            tracing::debug!(target: "bridge::later", parent: &child, "done");
            drop(child);
            drop(outer);
        });
        let seen = SEEN.lock().unwrap();
        let later: Vec<_> = seen.iter().filter(|s| s.1 == "bridge::later").collect();
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(later[0].2, "job{stage=\"load\"}:chunk{n=2}: done");
        let bridge = dispatch.downcast_ref::<Bridge>().unwrap();
        let registry = bridge.registry();
        assert!(
            registry.spans.is_empty(),
            "spans left: {}",
            registry.spans.len()
        );
        assert!(registry.stacks.is_empty());
    }
}
