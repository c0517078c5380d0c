use leptos::prelude::*;
use leptos_meta::Title;
use model::Action;
use model::auth::SessionView;
use model::tenancy::Scope;

use super::api::{CreateScope, DeleteScope, RenameScope};
use crate::components::{ErrorBox, Loading, action_error};
use crate::organizations::api::list_scopes;

/// Settings → Scopes: every scope the user holds; Superusers add, rename and delete.
#[component]
pub fn ScopesPage() -> impl IntoView {
    let may_manage = use_context::<SessionView>().is_some_and(|s| s.role.can(Action::ManageScopes));
    let create = ServerAction::<CreateScope>::new();
    let rename = ServerAction::<RenameScope>::new();
    let delete = ServerAction::<DeleteScope>::new();
    let scopes = Resource::new(
        move || {
            (
                create.version().get(),
                rename.version().get(),
                delete.version().get(),
            )
        },
        |_| list_scopes(),
    );
    view! {
        <Title text="Scopes · Backplane" />
        <h1>"Scopes"</h1>
        <p class="muted">"A scope groups organizations; users see the organizations of the scopes they hold."</p>
        {may_manage.then(|| view! {
            <ActionForm action=create attr:class="inline-form">
                <label>"New scope" <input name="name" required /></label>
                <button type="submit" class="primary">"Add"</button>
            </ActionForm>
            {action_error(create.value())}
        })}
        {action_error(rename.value())}
        {action_error(delete.value())}
        <Transition fallback=Loading>
            {move || scopes.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty">"No scopes yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="list">
                        <thead><tr><th>"Name"</th><th>"Organizations"</th><th>"Users"</th>
                            {may_manage.then(|| view! { <th><span class="sr-only">"Actions"</span></th> })}</tr></thead>
                        <tbody>
                            {list.into_iter().map(|scope| view! { <ScopeRow scope may_manage rename delete /> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(error) => view! { <ErrorBox error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ScopeRow(
    scope: Scope,
    may_manage: bool,
    rename: ServerAction<RenameScope>,
    delete: ServerAction<DeleteScope>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let id = scope.id;
    let name = StoredValue::new(scope.name.clone());
    view! {
        <tr>
            <td>
                <Show when=move || editing.get() fallback=move || name.get_value()>
                    <ActionForm action=rename attr:class="inline-form">
                        <input type="hidden" name="id" value=id />
                        <input name="name" required value=name.get_value() aria-label="Scope name" />
                        <button type="submit" class="primary">"Save"</button>
                    </ActionForm>
                </Show>
            </td>
            <td class="num">{scope.organizations}</td>
            <td class="num">{scope.users}</td>
            {may_manage.then(|| view! {
                <td class="row-actions">
                    <button type="button" on:click=move |_| editing.update(|e| *e = !*e)>"Rename"</button>
                    <button type="button" class="danger" on:click=move |_| {
                        if window().confirm_with_message("Delete this scope?").unwrap_or(false) {
                            delete.dispatch(DeleteScope { id });
                        }
                    }>"Delete"</button>
                </td>
            })}
        </tr>
    }
}
