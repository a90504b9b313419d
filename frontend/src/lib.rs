#![recursion_limit = "256"]
//! Browser entry point: hydrates the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Times show in the monitor's zone, as the server rendered them.
    app::zone::install_from_page();
    // Every page is a wasm chunk of its own (lazy routes):
    // hydration waits for the chunk of the page it starts on.
    leptos::mount::hydrate_lazy(app::App);
}
