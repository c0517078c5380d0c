//! The wasm entry point: hydrates the server-rendered page.
#![cfg(target_arch = "wasm32")]
// The release build (opt-level z, LTO) needs deeper trait queries for the whole app's views.
#![recursion_limit = "512"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
