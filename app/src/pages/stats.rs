//! Statistics: for a range of days and one DVR (the server switcher) or all, watch time
//! and plays by channel, device and kind, the top programs, when people watch (day ×
//! hour), streams at once with the peak, and recording outcomes per day. Every chart
//! is plain SVG coloured by the theme's variables, rendered on the server first.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{self, duration, query_string, when};
use crate::layout::use_scope;
use wire::history::{RecordingOutcomes, StatSlice, Stats, StreamsPoint};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

#[component]
pub(crate) fn StatsPage() -> impl IntoView {
    let query = use_query_map();
    let scope = use_scope();
    let asked = Memo::new(move |_| {
        let q = query.read();
        query_string([
            ("dvr_id", scope.get().unwrap_or_default()),
            ("from", q.get("from").unwrap_or_default()),
            ("to", q.get("to").unwrap_or_default()),
            ("days", q.get("days").unwrap_or_default()),
        ])
    });
    let stats = Resource::new(
        move || asked.get(),
        |qs| async move { api::get::<Stats>(&format!("/api/v1/stats?{qs}")).await },
    );
    // Quick ranges: the last N days, ending today.
    let quick = move |days: u32| {
        let qs = query_string([
            ("dvr", scope.get().unwrap_or_default()),
            ("days", days.to_string()),
        ]);
        format!("/stats?{qs}")
    };
    view! {
        <h1>"Statistics"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || stats.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{e.message}</p> }.into_any(),
                Ok(s) => view! { <StatsView stats=s quick=quick/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn StatsView(
    stats: Stats,
    quick: impl Fn(u32) -> String + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let scope = use_scope();
    let s = stats;
    let peak = s.peak.clone().map(|p| {
        format!(
            "{} at once, {} ({} live, {} library, {} recording)",
            p.total,
            when(&p.at),
            p.live,
            p.library,
            p.recording
        )
    });
    view! {
        <form class="filters" id="stats-range" method="get" action="/stats">
            <input type="hidden" name="dvr" value=move || scope.get().unwrap_or_default()/>
            <label><span>"From"</span><input type="date" name="from" id="stats-from" value=s.from.clone()/></label>
            <label><span>"To"</span><input type="date" name="to" id="stats-to" value=s.to.clone()/></label>
            <div class="filter-actions">
                <button type="submit" id="apply-range">"Show"</button>
                <a class="button secondary" href=move || quick(7)>"7 days"</a>
                <a class="button secondary" href=move || quick(30)>"30 days"</a>
                <a class="button secondary" href=move || quick(365)>"A year"</a>
            </div>
        </form>
        <dl class="counts" id="stats-totals">
            <div><dt>"Plays"</dt><dd id="stat-plays">{s.plays}</dd></div>
            <div><dt>"Watch time"</dt><dd id="stat-watch-time">{duration(s.watched_seconds)}</dd></div>
            <div><dt>"Most streams at once"</dt><dd id="stat-peak">{s.peak.as_ref().map(|p| p.total).unwrap_or(0)}</dd></div>
            <div><dt>"Days"</dt><dd>{format!("{} – {}", s.from, s.to)}</dd></div>
        </dl>
        {(s.plays == 0).then(|| view! {
            <p class="empty" id="stats-empty">"Nothing was watched in this range."</p>
        })}
        <div class="stats-grid">
            <Bars id="by-channel" title="Channels" slices=s.by_channel.clone()/>
            <Bars id="by-device" title="Devices" slices=s.by_device.clone()/>
            <Bars id="top-programs" title="Top programs" slices=s.top_programs.clone()/>
            <Bars id="by-kind" title="Live TV or library" slices=s.by_kind.clone()/>
        </div>
        <section class="panel" id="heatmap">
            <h2>"When people watch"</h2>
            <p class="meta">{move || format!("Plays by the day and hour they started ({}).", crate::zone::name())}</p>
            <HeatMap grid=s.heatmap.clone()/>
        </section>
        <section class="panel" id="streams-chart">
            <h2>"Streams at once"</h2>
            <p class="meta">{peak.unwrap_or_else(|| "No streams were seen in this range.".into())}</p>
            <StreamsChart points=s.streams.clone()/>
        </section>
        <section class="panel" id="recording-outcomes">
            <h2>"Recordings"</h2>
            <p class="meta">"Outcomes per day, as far back as alerts are kept."</p>
            <OutcomesChart days=s.recordings.clone()/>
        </section>
    }
}

/// A ranking: one horizontal bar per value, by watch time.
#[component]
fn Bars(id: &'static str, title: &'static str, slices: Vec<StatSlice>) -> impl IntoView {
    let max = slices
        .iter()
        .map(|s| s.watched_seconds)
        .max()
        .unwrap_or(0)
        .max(1);
    let rows = slices
        .into_iter()
        .map(|s| {
            let width = (s.watched_seconds * 1000 / max).max(4);
            let plays = if s.plays == 1 { "1 play".to_string() } else { format!("{} plays", s.plays) };
            view! {
                <li>
                    <span class="bar-label" title=s.label.clone()>{s.label.clone()}</span>
                    <span class="bar-value">{format!("{} · {plays}", duration(s.watched_seconds))}</span>
                    <svg class="bar" viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">
                        <rect class="bar-track" width="1000" height="10" rx="3"/>
                        <rect class="fill-accent" width=width height="10" rx="3"/>
                    </svg>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="panel bars" id=id>
            <h2>{title}</h2>
            <ol class="bar-list">{rows}</ol>
        </section>
    }
}

/// Day of week × hour of day, darker where more plays started.
#[component]
fn HeatMap(grid: Vec<Vec<u64>>) -> impl IntoView {
    let max = grid.iter().flatten().copied().max().unwrap_or(0).max(1);
    let (cell, left, top) = (24, 40, 16);
    let cells = grid
        .iter()
        .enumerate()
        .flat_map(|(d, hours)| {
            hours.iter().enumerate().map(move |(h, n)| {
                // Ten steps of strength; an empty hour keeps a faint cell.
                let level = if *n == 0 { 0 } else { 1 + n * 9 / max };
                view! {
                    <rect class=format!("heat heat-{level}") x=left + h * cell y=top + d * cell
                        width=cell - 2 height=cell - 2 rx="3">
                        <title>{format!("{} {h:02}:00 — {n} plays", DAYS[d % 7])}</title>
                    </rect>
                }
            })
        })
        .collect_view();
    let day_labels = DAYS
        .iter()
        .enumerate()
        .map(|(d, name)| view! { <text class="tick" x="0" y=top + d * cell + 16>{*name}</text> })
        .collect_view();
    let hour_labels = [0, 6, 12, 18]
        .into_iter()
        .map(
            |h| view! { <text class="tick" x=left + h * cell y="11">{format!("{h:02}:00")}</text> },
        )
        .collect_view();
    view! {
        <svg class="heatmap" viewBox=format!("0 0 {} {}", left + 24 * cell, top + 7 * cell) role="img"
            aria-label="Plays by day of week and hour of day">
            {hour_labels}{day_labels}{cells}
        </svg>
    }
}

/// Streams at once: one stacked bar per stretch (live, library, recording).
#[component]
fn StreamsChart(points: Vec<StreamsPoint>) -> impl IntoView {
    if points.iter().all(|p| p.total == 0) {
        return view! { <p class="empty">"No streams in this range."</p> }.into_any();
    }
    let highest = points.iter().map(|p| p.total).max().unwrap_or(0);
    let bars = points
        .into_iter()
        .map(|p| {
            let at = when(&p.at);
            (
                at,
                vec![
                    u64::from(p.live),
                    u64::from(p.library),
                    u64::from(p.recording),
                ],
            )
        })
        .collect();
    view! {
        <StackedBars label="Streams at once over the range, by kind" height=160 bars=bars
            series=&[("fill-live", "Live TV"), ("fill-library", "Library"), ("fill-recording", "Recording")]
            note=format!("Highest: {highest}")/>
    }
    .into_any()
}

/// Recording outcomes: one stacked bar per day.
#[component]
fn OutcomesChart(days: Vec<RecordingOutcomes>) -> impl IntoView {
    if days.is_empty() {
        return view! { <p class="empty">"No recordings ended in this range."</p> }.into_any();
    }
    let bars = days
        .into_iter()
        .map(|d| (d.day, vec![d.completed, d.failed, d.missed, d.interrupted]))
        .collect();
    view! {
        <StackedBars label="Recording outcomes per day" height=140 bars=bars
            series=&[("fill-ok", "Completed"), ("fill-bad", "Failed"), ("fill-warn", "Missed"), ("fill-recording", "Interrupted")]
            note=String::new()/>
    }
    .into_any()
}

/// One stacked bar per `(when, values)`, a value per series (its fill class and name),
/// scaled to the tallest bar, with a legend and each bar's figures on hover.
#[component]
fn StackedBars(
    label: &'static str,
    height: u64,
    bars: Vec<(String, Vec<u64>)>,
    series: &'static [(&'static str, &'static str)],
    note: String,
) -> impl IntoView {
    let (w, h) = (720u64, height);
    let n = bars.len().max(1) as u64;
    let width = (w / n).saturating_sub(1).max(1);
    let max = bars
        .iter()
        .map(|(_, v)| v.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let drawn = bars
        .into_iter()
        .enumerate()
        .map(|(i, (at, values))| {
            let x = i as u64 * w / n;
            let mut y = h;
            let title = series
                .iter()
                .zip(&values)
                .map(|((_, name), v)| format!("{v} {}", name.to_lowercase()))
                .collect::<Vec<_>>()
                .join(", ");
            let parts = series
                .iter()
                .zip(values)
                .map(|((class, _), v)| {
                    let part = v * h / max;
                    y -= part;
                    view! { <rect class=*class x=x y=y width=width height=part/> }
                })
                .collect_view();
            view! { <g><title>{format!("{at}: {title}")}</title>{parts}</g> }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img" aria-label=label>
                <line x1="0" y1=h x2=w y2=h class="axis"/>
                {drawn}
            </svg>
            <figcaption class="legend">
                {series.iter().map(|(class, name)| view! { <Key class=*class text=*name/> }).collect_view()}
                {(!note.is_empty()).then(|| view! { <span class="meta">{note}</span> })}
            </figcaption>
        </figure>
    }
}

#[component]
fn Key(class: &'static str, text: &'static str) -> impl IntoView {
    view! {
        <span class="key">
            <svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect class=class width="10" height="10" rx="2"/></svg>
            {text}
        </span>
    }
}
