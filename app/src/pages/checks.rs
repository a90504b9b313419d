//! A group of checkboxes bound to a list of chosen keys (days, DVRs, kinds, sources),
//! shared by the quiet-hours and the routing-rules forms.

use leptos::prelude::*;

/// A group of checkboxes over `options` bound to the chosen keys.
#[component]
pub(crate) fn Checks(
    name: &'static str,
    options: Vec<(String, String)>,
    chosen: RwSignal<Vec<String>>,
    disabled: bool,
) -> impl IntoView {
    options
        .into_iter()
        .map(|(key, label)| {
            let k = StoredValue::new(key.clone());
            view! {
                <label class="check">
                    <input type="checkbox" name=name value=key disabled=disabled
                        prop:checked=move || chosen.with(|c| c.contains(&k.get_value()))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            chosen.update(|c| {
                                c.retain(|x| *x != k.get_value());
                                if on { c.push(k.get_value()) }
                            });
                        }/>
                    {format!(" {label}")}
                </label>
            }
        })
        .collect_view()
}
