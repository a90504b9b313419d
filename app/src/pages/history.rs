//! Watch history: every play, filtered by DVR (the server switcher), device, channel,
//! kind, dates and text, sorted, paged, and exported as CSV. The filters live in the
//! page's address, so a filtered view can be bookmarked and shared, and the form works
//! before the app has loaded.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{self, duration, query_string, when};
use crate::layout::use_scope;
use wire::history::{HistoryFacets, HistoryItem, HistoryPage};

/// The page's own query keys (besides `dvr`, the switcher's), as the API names them.
const FILTERS: [&str; 7] = ["device", "channel", "kind", "from", "to", "q", "sort"];

#[component]
pub(crate) fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    let scope = use_scope();
    let value = move |k: &'static str| move || query.read().get(k).unwrap_or_default();
    // The filters as the API takes them (no cursor): for the CSV and the first page.
    let filters = Memo::new(move |_| {
        let q = query.read();
        let mut pairs: Vec<(&str, String)> = vec![("dvr_id", scope.get().unwrap_or_default())];
        pairs.extend(FILTERS.iter().map(|k| (*k, q.get(k).unwrap_or_default())));
        query_string(pairs)
    });
    let before = Memo::new(move |_| query.read().get("before").unwrap_or_default());
    let page = Resource::new(
        move || (filters.get(), before.get()),
        |(f, before)| async move {
            let cursor = query_string([("before", before)]);
            let sep = if f.is_empty() || cursor.is_empty() {
                ""
            } else {
                "&"
            };
            api::get::<HistoryPage>(&format!("/api/v1/history?limit=50&{f}{sep}{cursor}")).await
        },
    );
    let facets = Resource::new(
        || (),
        |_| api::get::<HistoryFacets>("/api/v1/history/facets"),
    );
    let csv = move || {
        let f = filters.get();
        if f.is_empty() {
            "/api/v1/history.csv".to_string()
        } else {
            format!("/api/v1/history.csv?{f}")
        }
    };
    // The page's address for another cursor, filters kept.
    let at = move |before: Option<String>| {
        let q = query.read();
        let mut pairs: Vec<(&str, String)> = vec![("dvr", scope.get().unwrap_or_default())];
        pairs.extend(FILTERS.iter().map(|k| (*k, q.get(k).unwrap_or_default())));
        pairs.push(("before", before.unwrap_or_default()));
        let qs = query_string(pairs);
        if qs.is_empty() {
            "/history".to_string()
        } else {
            format!("/history?{qs}")
        }
    };
    let clear = move || match scope.get() {
        Some(d) => format!("/history?{}", query_string([("dvr", d)])),
        None => "/history".to_string(),
    };
    let selected = move |k: &'static str, v: &str| query.read().get(k).as_deref() == Some(v);
    view! {
        <h1>"Watch history"</h1>
        <form class="filters" id="history-filters" method="get" action="/history">
            <input type="hidden" name="dvr" value=move || scope.get().unwrap_or_default()/>
            <label>
                <span>"Device"</span>
                <select name="device" id="filter-device">
                    <option value="">"Any device"</option>
                    <Suspense fallback=|| ()>
                        {move || facets.get().and_then(|r| r.ok()).map(|f| f.devices.into_iter().map(|d| {
                            let sel = selected("device", &d);
                            view! { <option value=d.clone() selected=sel>{d.clone()}</option> }
                        }).collect_view())}
                    </Suspense>
                </select>
            </label>
            <label>
                <span>"Channel"</span>
                <select name="channel" id="filter-channel">
                    <option value="">"Any channel"</option>
                    <Suspense fallback=|| ()>
                        {move || facets.get().and_then(|r| r.ok()).map(|f| f.channels.into_iter().map(|c| {
                            let sel = selected("channel", &c.number);
                            let label = match &c.call_sign {
                                Some(call) => format!("{} {call}", c.number),
                                None => c.number.clone(),
                            };
                            view! { <option value=c.number.clone() selected=sel>{label}</option> }
                        }).collect_view())}
                    </Suspense>
                </select>
            </label>
            <label>
                <span>"Kind"</span>
                <select name="kind" id="filter-kind">
                    <option value="">"Live TV and library"</option>
                    <option value="live" selected=move || selected("kind", "live")>"Live TV"</option>
                    <option value="vod" selected=move || selected("kind", "vod")>"Recordings and library"</option>
                </select>
            </label>
            <label>
                <span>"From"</span>
                <input type="date" name="from" id="filter-from" prop:value=value("from")/>
            </label>
            <label>
                <span>"To"</span>
                <input type="date" name="to" id="filter-to" prop:value=value("to")/>
            </label>
            <label class="grow">
                <span>"Search"</span>
                <input type="search" name="q" id="filter-q" placeholder="Title, device, channel or call sign"
                    maxlength="200" prop:value=value("q")/>
            </label>
            <label>
                <span>"Sort"</span>
                <select name="sort" id="filter-sort">
                    <option value="">"Newest first"</option>
                    <option value="oldest" selected=move || selected("sort", "oldest")>"Oldest first"</option>
                    <option value="longest" selected=move || selected("sort", "longest")>"Longest first"</option>
                </select>
            </label>
            <div class="filter-actions">
                <button type="submit" id="apply-filters">"Apply"</button>
                <a class="button secondary" href=clear>"Clear"</a>
                <a class="button secondary" id="export-csv" href=csv download="">"Export CSV"</a>
            </div>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || page.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                Ok(p) if p.items.is_empty() => view! {
                    <p class="empty" id="history-empty">"No plays match these filters."</p>
                }.into_any(),
                Ok(p) => {
                    let next = p.next_before.clone();
                    let first = !before.get().is_empty();
                    view! {
                        <div class="table-scroll">
                            <table class="table history-table" id="history-table">
                                <thead><tr>
                                    <th scope="col">"Started"</th><th scope="col">"DVR"</th>
                                    <th scope="col">"Device"</th><th scope="col">"What"</th>
                                    <th scope="col">"Title"</th><th scope="col" class="num">"Watched"</th>
                                    <th scope="col">"Ended"</th>
                                </tr></thead>
                                <tbody>{p.items.into_iter().map(|i| view! { <Row item=i/> }).collect_view()}</tbody>
                            </table>
                        </div>
                        <nav class="pager" aria-label="Pages">
                            {first.then(|| view! { <a class="button secondary" id="newest-page" href=at(None)>"Newest"</a> })}
                            {next.map(|c| view! { <a class="button secondary" id="next-page" href=at(Some(c))>"Older →"</a> })}
                        </nav>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}

/// How a play ended, in words.
fn ended(i: &HistoryItem) -> &'static str {
    match i.ended_by.as_deref() {
        None => "Playing",
        Some("stopped") => "Stopped",
        Some("dvr_lost") => "DVR lost",
        Some("monitor_restarted") => "Monitor restarted",
        Some("dvr_removed") => "DVR removed",
        Some(_) => "Ended",
    }
}

#[component]
fn Row(item: HistoryItem) -> impl IntoView {
    let what = match (item.kind.as_str(), &item.channel) {
        ("live", Some(ch)) => match &item.call_sign {
            Some(c) => format!("Ch {ch} · {c}"),
            None => format!("Ch {ch}"),
        },
        _ => "Library".to_string(),
    };
    let device = item
        .device
        .clone()
        .or_else(|| item.client_ip.clone())
        .unwrap_or_else(|| "Unknown device".into());
    let playing = item.ended_by.is_none();
    // The address and what the DVR's client list says of the app, on hover.
    let about = [
        item.client_ip.clone(),
        item.platform.clone().map(|p| {
            format!("{p} {}", item.app_version.clone().unwrap_or_default())
                .trim()
                .to_string()
        }),
        item.remote.map(|r| {
            if r {
                "remote".to_string()
            } else {
                "local".to_string()
            }
        }),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let remote = item.remote == Some(true);
    view! {
        <tr class:playing=playing>
            <td><time datetime=item.started_at.clone()>{when(&item.started_at)}</time></td>
            <td>{item.dvr_name.clone()}</td>
            <td title=about>{device}{remote.then(|| view! { " " <span class="badge remote">"remote"</span> })}</td>
            <td><span class=format!("kind kind-{}", item.kind)>{what}</span></td>
            <td class="title">{item.title.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="num">{duration(item.watched_seconds)}</td>
            <td><span class=format!("ended ended-{}", item.ended_by.clone().unwrap_or_else(|| "playing".into()))>{ended(&item)}</span></td>
        </tr>
    }
}
