//! Small pieces shared by every area.

use leptos::prelude::*;
use model::AppError;
use model::lists::DEFAULT_PAGE_SIZE;
use model::tenancy::PAGE_SIZES;

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

/// The list's default order: its sort key, and whether that key runs newest/largest first.
#[derive(Debug, Clone, Copy)]
pub struct DefaultSort {
    pub key: &'static str,
    pub descending: bool,
}

/// A column header linking to the list at `path` sorted by `key` (flipping the direction when
/// it is already the sort), keeping the other filters; marks the current sort with an arrow.
pub fn sort_header(
    path: &'static str,
    query: &leptos_router::params::ParamsMap,
    default: DefaultSort,
    key: &'static str,
    label: &'static str,
) -> impl IntoView + use<> {
    let current = query.get("sort").unwrap_or_else(|| default.key.into());
    let descending = query
        .get("desc")
        .map_or(current == default.key && default.descending, |d| d == "1");
    let next_desc = current == key && !descending;
    let href = href_with(
        path,
        query,
        &[
            ("sort", Some(key.into())),
            ("desc", Some(if next_desc { "1" } else { "0" }.into())),
            ("page", None),
        ],
    );
    let mark = (current == key).then_some(if descending { " ↓" } else { " ↑" });
    view! { <th><a href=href>{label}{mark}</a></th> }
}

/// "Page N of M" with previous/next links that keep the other parameters. With `capped_at`,
/// a total beyond it reads "more than N" (the list stopped counting there).
#[component]
pub fn Pager(
    #[prop(into)] path: String,
    page: u32,
    pages: u32,
    total: i64,
    #[prop(optional)] capped_at: Option<i64>,
) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let link = {
        let path = path.clone();
        move |to: u32| href_with(&path, &query.get_untracked(), &[("page", Some(to.to_string()))])
    };
    let summary = match capped_at {
        Some(cap) if total > cap => format!("More than {cap} · page {page}"),
        _ => format!("{total} in all · page {page} of {pages}"),
    };
    let current_size = query.with_untracked(|q| {
        q.get("per_page")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| PAGE_SIZES.contains(n))
            .unwrap_or(DEFAULT_PAGE_SIZE)
    });
    let size_link = {
        move |size: u32| {
            href_with(
                &path,
                &query.get_untracked(),
                &[("per_page", Some(size.to_string())), ("page", None)],
            )
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            <span class="muted">{summary}</span>
            {(page > 1).then(|| view! { <a href=link(page - 1) rel="prev">"← Previous"</a> })}
            {(page < pages).then(|| view! { <a href=link(page + 1) rel="next">"Next →"</a> })}
            <span class="page-sizes" aria-label="Rows per page">
                <span class="muted">"Rows per page:"</span>
                {PAGE_SIZES.into_iter().map(|size| if size == current_size {
                    view! { <span aria-current="true" class="current">{size}</span> }.into_any()
                } else {
                    view! { <a href=size_link(size)>{size}</a> }.into_any()
                }).collect_view()}
            </span>
        </nav>
    }
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

/// The Save and Cancel buttons at the foot of a dialog's form.
#[component]
pub fn SaveOrCancel(on_cancel: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    view! {
        <div class="actions">
            <button type="submit" class="primary">"Save"</button>
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
}
