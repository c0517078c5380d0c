//! One organization, found by typing part of its name: the server is searched as the user
//! types (a short pause first), so any number of organizations can be chosen from. The field is
//! a combobox: ↓/↑ move through the matches, Enter picks, Escape closes the list.

use leptos::prelude::*;
use model::tenancy::OrgQuery;
use serde::{Deserialize, Serialize};

use super::api::{get_organization, list_organizations};

/// Matches shown at once; typing more narrows them.
const MATCHES: u32 = 10;
/// Typing pauses this long before the server is asked.
const SEARCH_PAUSE_MS: u64 = 200;

/// A picked organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgChoice {
    pub id: i64,
    pub name: String,
}

/// The organization of a filter's URL value, read once for its name.
pub fn initial_choice(id: Option<i64>) -> Resource<Option<OrgChoice>> {
    Resource::new(
        move || id,
        |id| async move {
            let id = id?;
            get_organization(id).await.ok().map(|o| OrgChoice {
                id: o.id,
                name: o.name,
            })
        },
    )
}

/// The first matches of `name`, by the server.
async fn search(name: String) -> Vec<OrgChoice> {
    let query = OrgQuery {
        name,
        per_page: MATCHES,
        ..OrgQuery::default()
    };
    list_organizations(query)
        .await
        .map(|page| {
            page.items
                .into_iter()
                .map(|o| OrgChoice {
                    id: o.id,
                    name: o.name,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[component]
pub fn OrganizationPicker(
    /// Names the field (and its list, for assistive technology).
    #[prop(into)]
    label: String,
    /// Called with the pick, or with `None` when the field is emptied.
    on_pick: Callback<Option<OrgChoice>>,
    /// What the field shows at first.
    #[prop(default = None)]
    initial: Option<OrgChoice>,
    /// Empty the field after each pick (to pick several, one after the other).
    #[prop(optional)]
    clear_on_pick: bool,
    #[prop(optional, into)] placeholder: Option<String>,
) -> impl IntoView {
    let list_id = format!(
        "org-picker-{}",
        label
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    let text = RwSignal::new(initial.map(|c| c.name).unwrap_or_default());
    // Matches live in a signal, filled by the search task, not in a resource: a resource read by
    // the field would suspend the enclosing Suspense and take the field (and its focus) away.
    let found = RwSignal::new(None::<Vec<OrgChoice>>);
    let open = RwSignal::new(false);
    let active = RwSignal::new(0usize);
    let typed = RwSignal::new(0u64);
    let current = move || found.get().unwrap_or_default();
    let pick = move |choice: OrgChoice| {
        text.set(if clear_on_pick {
            String::new()
        } else {
            choice.name.clone()
        });
        open.set(false);
        on_pick.run(Some(choice));
    };
    let on_input = move |ev| {
        let value = event_target_value(&ev);
        text.set(value.clone());
        active.set(0);
        open.set(true);
        if value.trim().is_empty() {
            on_pick.run(None);
        }
        // Only the last keystroke of a pause searches, and only its answer is shown.
        let generation = typed.get_untracked() + 1;
        typed.set(generation);
        set_timeout(
            move || {
                if typed.get_untracked() == generation {
                    leptos::task::spawn_local(async move {
                        let matches = search(value.trim().to_owned()).await;
                        if typed.get_untracked() == generation {
                            found.set(Some(matches));
                        }
                    });
                }
            },
            std::time::Duration::from_millis(SEARCH_PAUSE_MS),
        );
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let count = current().len();
        match ev.key().as_str() {
            "ArrowDown" => {
                ev.prevent_default();
                open.set(true);
                if count > 0 {
                    active.update(|a| *a = (*a + 1).min(count - 1));
                }
            }
            "ArrowUp" => {
                ev.prevent_default();
                active.update(|a| *a = a.saturating_sub(1));
            }
            "Enter" if open.get_untracked() && count > 0 => {
                ev.prevent_default();
                if let Some(choice) = current().into_iter().nth(active.get_untracked()) {
                    pick(choice);
                }
            }
            "Escape" => open.set(false),
            _ => {}
        }
    };
    let option_id = {
        let list_id = list_id.clone();
        move |index: usize| format!("{list_id}-{index}")
    };
    let active_descendant = {
        let option_id = option_id.clone();
        move || (open.get() && !current().is_empty()).then(|| option_id(active.get()))
    };
    view! {
        <span class="org-picker-field">
            <input type="search" role="combobox" autocomplete="off" aria-autocomplete="list"
                aria-label=label.clone() aria-controls=list_id.clone()
                aria-expanded=move || if open.get() { "true" } else { "false" }
                aria-activedescendant=active_descendant
                placeholder=placeholder.unwrap_or_else(|| "Type to search…".into())
                prop:value=move || text.get()
                on:input=on_input on:keydown=on_keydown
                on:blur=move |_| open.set(false) />
            <ul role="listbox" id=list_id aria-label=label class="org-picker-list"
                hidden=move || !open.get() || found.with(Option::is_none)>
                {move || {
                    let matches = current();
                    if matches.is_empty() {
                        return view! { <li class="muted" role="presentation">"No organization matches."</li> }.into_any();
                    }
                    matches.into_iter().enumerate().map(|(index, choice)| {
                        let chosen = choice.clone();
                        view! {
                            <li role="option" id=option_id(index)
                                aria-selected=move || if active.get() == index { "true" } else { "false" }
                                on:mousedown=move |ev| { ev.prevent_default(); pick(chosen.clone()); }>
                                {choice.name}
                            </li>
                        }
                    }).collect_view().into_any()
                }}
            </ul>
        </span>
    }
}
