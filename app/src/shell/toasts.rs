//! Toasts: how the commands this user started ended (Back up now, Cancel, policy changes, adding
//! an asset…), announced in an ARIA live region as the appliance answers, besides the row or
//! panel that shows the same result. Each stays 8 seconds or until dismissed.

use std::collections::HashSet;
use std::time::Duration;

use leptos::prelude::*;
use model::appliance::views::{CommandStatus, CommandView};

use crate::live::use_live;

const SHOWN_FOR: Duration = Duration::from_secs(8);

#[component]
pub fn CommandToasts(email: String) -> impl IntoView {
    let live = use_live();
    let toasts = RwSignal::new(Vec::<CommandView>::new());
    let announced = StoredValue::new(HashSet::<i64>::new());
    Effect::new(move || {
        let finished: Vec<CommandView> = live.commands.with(|commands| {
            commands
                .values()
                .filter(|c| c.requested_by == email && c.status.is_finished())
                .cloned()
                .collect()
        });
        for command in finished {
            if !announced
                .try_update_value(|seen| seen.insert(command.id))
                .unwrap_or(false)
            {
                continue;
            }
            let id = command.id;
            toasts.update(|shown| shown.push(command));
            set_timeout(
                move || {
                    toasts
                        .try_update(|shown| shown.retain(|c| c.id != id))
                        .unwrap_or(())
                },
                SHOWN_FOR,
            );
        }
    });
    view! {
        <div class="toasts" role="status" aria-live="polite" aria-label="Notifications">
            <For each=move || toasts.get() key=|c| c.id let:command>
                {
                    let id = command.id;
                    let failed = command.status == CommandStatus::Error;
                    view! {
                        <div class="toast" class:error=failed data-status=command.status.as_str()>
                            <strong>{command.description.clone()}</strong>
                            {if failed { ": failed. " } else { ": done. " }}
                            {command.message.clone().unwrap_or_default()}
                            <button type="button" class="link" aria-label="Dismiss"
                                on:click=move |_| toasts.update(|shown| shown.retain(|c| c.id != id))>"×"</button>
                        </div>
                    }
                }
            </For>
        </div>
    }
}
