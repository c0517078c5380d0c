//! The wasm entry point: hydrates the server-rendered page.
#![cfg(target_arch = "wasm32")]
// The release build (opt-level z, LTO) needs deeper trait queries for the whole app's views.
#![recursion_limit = "512"]

use leptos::prelude::document;

/// Hydrates asynchronously: a lazy route's code arrives as its own wasm chunk, fetched before
/// that part of the page is hydrated. `data-hydrated` on `<body>` then tells end-to-end tests
/// that the whole page responds (the first frame's effects run before the chunks arrive).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async {
        let Some(body) = document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), app::App)
            .await
            .forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
