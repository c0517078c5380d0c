//! Small pieces shared by every area.

mod icons;
mod lists;
mod modal;

pub use icons::{Icon, icon};
pub use lists::{
    DefaultSort, FilterForm, ListText, PageButtons, Pager, Tabs, contains_filter, current_params, paged_list,
    sort_button, sort_header,
};
pub use modal::Modal;

use leptos::prelude::*;
use model::AppError;

/// The message of a failed request, announced to screen readers.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let field = error.field().map(str::to_owned);
    view! {
        <p class="error" role="alert" data-field=field>
            {error.to_string()}
        </p>
    }
}

/// The error of an action's last run, if it failed.
pub fn action_error<T, S>(value: S) -> impl IntoView
where
    T: Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Err(error)) => Some(view! { <ErrorBox error /> }),
        _ => None,
    }
}

/// Full page load to `path` (after sign-in and sign-out, so every page renders afresh).
pub fn load_page(path: &str) {
    let _ = window().location().assign(path);
}

/// Whether a key press activates a focused row or other custom control, as a click would.
pub fn activates(ev: &leptos::ev::KeyboardEvent) -> bool {
    matches!(ev.key().as_str(), "Enter" | " ")
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}

/// `path` with the current query, some parameters replaced and `None` ones removed.
pub fn href_with(
    path: &str,
    query: &leptos_router::params::ParamsMap,
    changes: &[(&str, Option<String>)],
) -> String {
    let mut query = query.clone();
    for (key, value) in changes {
        match value {
            Some(value) => query.replace(key.to_string(), value.clone()),
            None => {
                query.remove(key);
            }
        }
    }
    format!("{path}{}", query.to_query_string())
}

/// UTC, to the minute; the same on server and client so hydration matches.
pub fn format_time(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A moment in the viewer's own time zone. The server renders it in UTC (it does not know the
/// viewer's zone); once the page is live in the browser it shows local time with the zone name.
#[component]
pub fn LocalTime(unix_ms: i64) -> impl IntoView {
    let text = RwSignal::new(format_time(unix_ms));
    Effect::new(move || text.set(local_time(unix_ms)));
    let iso = chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    view! { <time datetime=iso data-ms=unix_ms>{text}</time> }
}

/// How long ago a moment was ("Just now", "24 minutes ago"), the moment itself in the viewer's
/// zone on hover. The server renders the absolute time (the page may be read later); the
/// browser switches to the relative form once the page is live.
#[component]
pub fn RelativeTime(unix_ms: i64) -> impl IntoView {
    let text = RwSignal::new(format_time(unix_ms));
    let title = RwSignal::new(format_time(unix_ms));
    Effect::new(move || {
        text.set(time_ago(js_sys::Date::now() as i64, unix_ms));
        title.set(local_time(unix_ms));
    });
    let iso = chrono::DateTime::from_timestamp_millis(unix_ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    view! { <time datetime=iso data-ms=unix_ms title=title>{text}</time> }
}

/// "Just now", "1 minute ago", "3 hours ago", "2 weeks ago" (spec portal-a §3.12).
pub fn time_ago(now_ms: i64, unix_ms: i64) -> String {
    const UNITS: [(&str, i64); 6] = [
        ("year", 365 * 86_400),
        ("month", 30 * 86_400),
        ("week", 7 * 86_400),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
    ];
    let seconds = (now_ms - unix_ms).max(0) / 1000;
    UNITS.into_iter().find(|(_, size)| seconds >= *size).map_or_else(
        || "Just now".to_owned(),
        |(unit, size)| {
            let n = seconds / size;
            format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
        },
    )
}

/// Unix ms as "2026-11-23 23:00 Europe/Berlin" in the browser's zone.
fn local_time(unix_ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_ms as f64));
    let options =
        js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new()).resolved_options();
    let zone = js_sys::Reflect::get(&options, &"timeZone".into())
        .ok()
        .and_then(|z| z.as_string())
        .unwrap_or_else(|| "local time".into());
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {zone}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}

/// The submit ("Save" unless named) and Cancel buttons at the foot of a dialog's form; a
/// `danger` submit is for what deletes or removes.
#[component]
pub fn SubmitOrCancel(
    #[prop(default = "Save")] submit: &'static str,
    #[prop(optional)] danger: bool,
    on_cancel: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="actions">
            <button type="submit" class=if danger { "danger" } else { "primary" }>{submit}</button>
            <button type="button" on:click=move |_| on_cancel()>"Cancel"</button>
        </div>
    }
}

/// An `<option>` of a filter select, selected when it is the current value.
pub fn select_option(value: String, label: String, current: &str) -> impl IntoView + use<> {
    let chosen = value == current;
    view! { <option value=value selected=chosen>{label}</option> }
}

/// Bytes in binary units, two significant decimals: "1.50 GiB".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// A duration as "1 h 05 min", "3 min 20 s" or "42 s".
pub fn format_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
    }
}

/// A new password typed twice, with the rules it must meet (the server checks them again).
#[component]
pub fn NewPasswordFields() -> impl IntoView {
    view! {
        <label>"Password" <input type="password" name="password" required autocomplete="new-password" /></label>
        <p class="hint">"6–100 characters with an upper-case letter, a lower-case letter and a character that is not a letter or digit."</p>
        <label>"Confirm password" <input type="password" name="confirm" required autocomplete="new-password" /></label>
    }
}

/// Asks the user to type DELETE before a destructive action; the server checks it again.
#[component]
pub fn TypeDeleteToConfirm() -> impl IntoView {
    view! {
        <label>"Type DELETE to confirm"
            <input name="confirmation" autocomplete="off" required pattern="DELETE" />
        </label>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(format_bytes(200 * 1024 * 1024), "200.00 MiB");
        assert_eq!(format_duration(42), "42 s");
        assert_eq!(format_duration(200), "3 min 20 s");
        assert_eq!(format_duration(3900), "1 h 05 min");
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let now = 1_800_000_000_000;
        let ago = |seconds: i64| time_ago(now, now - seconds * 1000);
        assert_eq!(ago(0), "Just now");
        assert_eq!(ago(59), "Just now");
        assert_eq!(ago(-30), "Just now", "a clock a little ahead is not the future");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(24 * 60 + 59), "24 minutes ago");
        assert_eq!(ago(2 * 3600), "2 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(15 * 86_400), "2 weeks ago");
        assert_eq!(ago(65 * 86_400), "2 months ago");
        assert_eq!(ago(800 * 86_400), "2 years ago");
    }
}
