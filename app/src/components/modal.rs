//! Modal dialogs on the browser's own `<dialog>`: opened with `showModal()`, so the page behind
//! is inert, focus moves in, Escape closes it, and focus returns to where it was.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// A modal dialog, shown for as long as it is rendered; `on_close` is asked to stop rendering
/// it when the user presses Escape.
#[component]
pub fn Modal(
    /// The dialog's accessible name.
    #[prop(into)]
    label: String,
    /// Classes besides `modal` (`drawer` docks it at the side).
    #[prop(optional)]
    class: &'static str,
    on_close: impl Fn() + Send + Sync + 'static,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    // The open dialog and what had focus before it, once it is on the page.
    let opened = StoredValue::new_local(None::<(web_sys::HtmlDialogElement, Option<web_sys::Element>)>);
    dialog.on_load(move |dialog| {
        let opener = document().active_element();
        if let Err(error) = dialog.show_modal() {
            leptos::logging::warn!("the dialog could not open as a modal: {error:?}");
        }
        opened.set_value(Some((dialog, opener)));
    });
    on_cleanup(move || {
        let Some((dialog, opener)) = opened.try_get_value().flatten() else {
            return;
        };
        // Closed first: while it is modal, the rest of the page is inert and cannot take focus.
        dialog.close();
        if let Some(element) = opener.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = element.focus();
        }
    });
    view! {
        <dialog node_ref=dialog class=format!("modal {class}") aria-label=label
            on:cancel=move |ev: leptos::ev::Event| {
                ev.prevent_default();
                on_close();
            }>
            {children()}
        </dialog>
    }
}
