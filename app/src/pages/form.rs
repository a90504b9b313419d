//! Form parts the quiet-hours, snooze and routing-rules editors share: checkbox groups
//! bound to a list of chosen keys, the DVRs to choose from, and an edit's outcome.

use leptos::prelude::*;

use crate::api::{self, Session};
use crate::layout::use_dashboard;

/// An outcome line's state: the words of a change, or its error.
pub(crate) type OutcomeSignal = RwSignal<Option<Result<String, String>>>;

/// Sends one change; its outcome says `done` or the server's error, then `then(ok)`
/// runs (a list is reread, a form cleared).
pub(crate) fn edit(
    session: Session,
    method: &'static str,
    path: String,
    body: Option<serde_json::Value>,
    outcome: OutcomeSignal,
    done: &'static str,
    then: impl FnOnce(bool) + 'static,
) {
    api::send(session, method, path, body, move |r| {
        let ok = r.is_ok();
        outcome.set(Some(r.map(|_| done.to_string()).map_err(|e| e.message)));
        then(ok);
    });
}

/// A DVR's name from the dashboard feed, else its id. Made where the feed is in
/// context; the namer may be called anywhere later (a request's callback).
pub(crate) fn dvr_namer() -> impl Fn(&str) -> String + Copy + 'static {
    let feed = use_dashboard().dash;
    move |id: &str| {
        feed.with_untracked(|d| {
            d.dvrs
                .iter()
                .find(|x| x.dvr_id == id)
                .map(|x| x.name.clone())
        })
        .unwrap_or_else(|| id.to_string())
    }
}

/// The DVRs to choose from, as `(dvr_id, name)` (tracked: follows the feed).
pub(crate) fn dvr_options() -> Vec<(String, String)> {
    use_dashboard()
        .dash
        .get()
        .dvrs
        .into_iter()
        .map(|d| (d.dvr_id, d.name))
        .collect()
}

/// Constant `(key, label)` pairs as [`Checks`] options.
pub(crate) fn options(l: &[(&str, &str)]) -> Vec<(String, String)> {
    l.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An edit's outcome: its words, or the error's.
#[component]
pub(crate) fn Outcome(outcome: OutcomeSignal) -> impl IntoView {
    move || {
        outcome.get().map(|o| match o {
            Ok(m) => view! { <p class="success" role="status">{m}</p> }.into_any(),
            Err(m) => view! { <p class="error" role="alert">{m}</p> }.into_any(),
        })
    }
}

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
