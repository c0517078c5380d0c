//! The parts every list page shares: tabs above it, sortable headers, the pager with its page
//! sizes, and what a page shows when nothing matches or the request failed.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use model::AppError;
use model::lists::DEFAULT_PAGE_SIZE;
use model::tenancy::{PAGE_SIZES, Page};

use super::{ErrorBox, Icon, href_with, icon};

/// Links to the sibling pages of an area, the current one marked (`aria-current="page"`).
#[component]
pub fn Tabs(
    /// What the tabs switch between, for screen readers ("Jobs").
    label: &'static str,
    /// Each tab's path and label, in order.
    tabs: &'static [(&'static str, &'static str)],
    current: &'static str,
) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label=label>
            {tabs.iter().map(|&(href, text)| {
                let here = href == current;
                view! { <a href=href class:active=here aria-current=here.then_some("page")>{text}</a> }
            }).collect_view()}
        </nav>
    }
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
    let sorted = current == key;
    let order = sorted.then_some(if descending { "descending" } else { "ascending" });
    let arrow = sorted.then(|| {
        icon(if descending {
            Icon::ArrowDown
        } else {
            Icon::ArrowUp
        })
    });
    view! { <th aria-sort=order><a href=href>{label}" "{arrow}</a></th> }
}

/// A column header of a list held and sorted in the browser: a click sorts by `key`, a second
/// click reverses; `order` holds the column and whether it runs descending.
pub fn sort_button<K>(order: RwSignal<(K, bool)>, key: K, label: &'static str) -> impl IntoView + use<K>
where
    K: Copy + PartialEq + Send + Sync + 'static,
{
    let sorted = move || order.with(|(k, _)| *k == key);
    let descending = move || order.with(|(_, d)| *d);
    let aria = move || sorted().then(|| if descending() { "descending" } else { "ascending" });
    let arrow = move || {
        sorted().then(|| {
            icon(if descending() {
                Icon::ArrowDown
            } else {
                Icon::ArrowUp
            })
        })
    };
    let click = move |_| {
        order.update(|(k, d)| {
            *d = *k == key && !*d;
            *k = key;
        })
    };
    view! { <th aria-sort=aria><button type="button" class="link sort" on:click=click>{label}" "{arrow}</button></th> }
}

/// "Page N of M" with previous/next links that keep the other parameters. With `capped_at`,
/// a total beyond it reads "more than N" (the list stopped counting there).
#[component]
pub fn Pager(
    #[prop(into)] path: String,
    page: u32,
    pages: u32,
    total: i64,
    #[prop(optional_no_strip)] capped_at: Option<i64>,
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
            {(page > 1).then(|| view! { <a href=link(page - 1) rel="prev">{icon(Icon::ArrowLeft)}" Previous"</a> })}
            {(page < pages).then(|| view! { <a href=link(page + 1) rel="next">"Next "{icon(Icon::ArrowRight)}</a> })}
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

/// Where a paged list lives and what it says when nothing matches.
pub struct ListText {
    /// The list page's path, for the pager's links.
    pub path: String,
    /// Shown instead of the table when nothing matches.
    pub empty: &'static str,
    /// The list stops counting beyond this many (see [`Pager`]).
    pub capped_at: Option<i64>,
}

/// One fetched page of a list: the table `rows` draws and the pager, the empty message, or
/// the error.
pub fn paged_list<T, V>(
    result: Result<Page<T>, AppError>,
    text: ListText,
    rows: impl FnOnce(Vec<T>) -> V,
) -> AnyView
where
    V: IntoView + 'static,
{
    match result {
        Ok(page) if page.items.is_empty() => view! { <p class="empty">{text.empty}</p> }.into_any(),
        Ok(page) => {
            let pages = page.page_count();
            let (number, total) = (page.page, page.total);
            view! {
                {rows(page.items)}
                <Pager path=text.path page=number pages total capped_at=text.capped_at />
            }
            .into_any()
        }
        Err(error) => view! { <ErrorBox error /> }.into_any(),
    }
}

/// A list's filters: a GET form, so the filters live in the URL, with its Apply button.
#[component]
pub fn FilterForm(#[prop(into)] action: String, children: Children) -> impl IntoView {
    view! {
        <Form method="GET" action=action attr:class="filters">
            {children()}
            <button type="submit">"Apply"</button>
        </Form>
    }
}

/// The value of each of the page's URL parameters as the filters show it ("" when absent).
pub fn current_params() -> impl Fn(&str) -> String + Clone + 'static {
    let query = use_query_map().get_untracked();
    move |key: &str| query.get(key).unwrap_or_default()
}

/// A "contains…" search box of a filter form.
pub fn contains_filter(label: &'static str, name: &'static str, value: String) -> impl IntoView + use<> {
    view! { <label>{label}" "<input type="search" name=name value=value placeholder="contains…" /></label> }
}

/// Previous / "Page n of m" / Next for a list paged in the page itself (dialogs, cards).
#[component]
pub fn PageButtons(page: RwSignal<u32>, pages: u32, label: String) -> impl IntoView {
    view! {
        <nav class="pager" aria-label=label>
            <button type="button" disabled=move || page.get() <= 1 on:click=move |_| page.update(|p| *p -= 1)>"Previous"</button>
            <span>{move || format!("Page {} of {pages}", page.get())}</span>
            <button type="button" disabled=move || page.get() >= pages on:click=move |_| page.update(|p| *p += 1)>"Next"</button>
        </nav>
    }
}
