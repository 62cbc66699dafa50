//! The ratatui example's plugin. Edit it while `tui-host` runs: the next frame is drawn by
//! the new code, and the tasks marked done stay done (the host owns them).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, List, ListState, Paragraph};
use tui_api::App;

/// The list's title; change it and save.
const TITLE: &str = "Tasks";

struct TasksUi;

impl tui_api::tasks_ui::Implementation for TasksUi {
    fn draw(frame: &mut Frame<'_>, app: &App) {
        let [list_area, help_area] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
        let items = app.tasks.iter().map(|task| {
            let mark = if app.is_done(task) { "[x]" } else { "[ ]" };
            format!("{mark} {task}")
        });
        let list = List::new(items)
            .block(
                Block::bordered()
                    .title(TITLE)
                    .title_bottom(Line::from(app.status.as_str()).right_aligned()),
            )
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .highlight_symbol("> ");
        let mut state = ListState::default().with_selected(Some(app.selected));
        frame.render_stateful_widget(list, list_area, &mut state);
        frame.render_widget(
            Paragraph::new("j/k: move   space: done   q: quit"),
            help_area,
        );
    }

    fn key(app: &mut App, key: char) {
        let last = app.tasks.len().saturating_sub(1);
        match key {
            'j' => app.selected = (app.selected + 1).min(last),
            'k' => app.selected = app.selected.saturating_sub(1),
            ' ' => {
                if let Some(task) = app.tasks.get(app.selected) {
                    let done = app.done.entry(task.clone()).or_default();
                    *done = !*done;
                }
            }
            _ => {}
        }
    }
}

reloadable::export_plugin!(interface: tui_api::tasks_ui, implementation: TasksUi);
