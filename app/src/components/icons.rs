//! Icons drawn inline as SVG in the text colour. Never emoji or font glyphs: a machine without
//! an emoji font (Debian's Chromium by default) shows those as empty boxes.

use leptos::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    Bell,
    Settings,
    Menu,
    Close,
    Check,
    ArrowUp,
    ArrowDown,
    ArrowLeft,
    ArrowRight,
}

impl Icon {
    /// Strokes on a 24 × 24 grid.
    fn path(self) -> &'static str {
        match self {
            Icon::Bell => "M6 16v-5a6 6 0 0 1 12 0v5l2 2H4zM10 21h4",
            Icon::Settings => {
                "M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6zM12 2v3M12 19v3M2 12h3M19 12h3\
                 M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1l2.1-2.1M17 7l2.1-2.1"
            }
            Icon::Menu => "M4 6h16M4 12h16M4 18h16",
            Icon::Close => "M6 6l12 12M18 6L6 18",
            Icon::Check => "M5 12l5 5L20 7",
            Icon::ArrowUp => "M12 19V5M6 11l6-6 6 6",
            Icon::ArrowDown => "M12 5v14M6 13l6 6 6-6",
            Icon::ArrowLeft => "M19 12H5M11 6l-6 6 6 6",
            Icon::ArrowRight => "M5 12h14M13 6l6 6-6 6",
        }
    }
}

/// The icon, hidden from screen readers: the control around it carries the words.
pub fn icon(icon: Icon) -> impl IntoView + use<> {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d=icon.path() />
        </svg>
    }
}
