//! Inline SVG charts: sessions per DVR over 24 hours, and each DVR's disk trend.
//! Plain SVG, no chart library: small in the bundle and identical on server and browser.

use leptos::prelude::*;

use wire::ActivitySeries;

const PALETTE: [&str; 8] = [
    "#3ea6ff", "#3fb950", "#d29922", "#f85149", "#a371f7", "#39c5cf", "#ff7b72", "#e3b341",
];

pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// SVG polyline points for `(x, y)` values scaled into a `w`×`h` box, as whole
/// numbers (the view boxes are hundreds of units wide, so nothing visible is lost, and
/// float formatting stays out of the bundle).
pub(crate) fn polyline(
    points: &[(f64, f64)],
    x0: f64,
    x1: f64,
    y_max: f64,
    w: f64,
    h: f64,
) -> String {
    let span = (x1 - x0).max(1.0);
    let y_max = if y_max <= 0.0 { 1.0 } else { y_max };
    points
        .iter()
        .map(|(x, y)| {
            let px = ((x - x0) / span * w).round() as i64;
            let py = (h - (y / y_max).clamp(0.0, 1.0) * h).round() as i64;
            format!("{px},{py}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sessions per DVR over the window, one line each, with a legend.
#[component]
pub(crate) fn SessionsChart(series: Vec<ActivitySeries>, from: i64, to: i64) -> impl IntoView {
    let (w, h) = (600.0, 160.0);
    // Until a day of samples exists the chart starts at the first one (a few minutes
    // drawn over 24 hours would be a few pixels at the right edge).
    let from = shown_from(&series, from, to);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let lines = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0 as f64, p.1 as f64)).collect();
            let d = polyline(&pts, from as f64, to as f64, max, w, h);
            view! { <polyline points=d fill="none" stroke=color(i) stroke-width="2"/> }
        })
        .collect_view();
    let legend = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let now = s.points.last().map(|p| p.1).unwrap_or(0);
            // An SVG swatch, not a `style` attribute: the page's CSP allows no inline
            // styles (style-src 'self').
            view! {
                <li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true">
                        <rect width="10" height="10" rx="2" fill=color(i)/>
                    </svg>
                    {format!("{} ({now} now)", s.dvr_name)}</li>
            }
        })
        .collect_view();
    let empty = series.iter().all(|s| s.points.is_empty());
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img"
                aria-label="Active sessions per DVR over the last 24 hours">
                <line x1="0" y1=h x2=w y2=h class="axis"/>
                {lines}
            </svg>
            <div class="chart-scale"><span>{crate::api::ago((to - from).max(0) as u64)}</span><span>{format!("max {max}")}</span><span>"now"</span></div>
            {empty.then(|| view! { <p class="hint">"No samples yet: the chart fills in as ChannelWatch runs (one point a minute)."</p> })}
            <ul class="legend">{legend}</ul>
        </figure>
    }
}

/// One DVR's disk use (percent) over the window.
#[component]
pub(crate) fn DiskTrend(series: ActivitySeries, from: i64, to: i64, index: usize) -> impl IntoView {
    let (w, h) = (200.0, 40.0);
    let from = shown_from(std::slice::from_ref(&series), from, to);
    let pts: Vec<(f64, f64)> = series
        .points
        .iter()
        .filter_map(|p| p.2.map(|u| (p.0 as f64, u)))
        .collect();
    let now = pts.last().map(|p| format!("{}% used", p.1.round() as i64));
    let d = polyline(&pts, from as f64, to as f64, 100.0, w, h);
    // The level now fills the box from the bottom, so the chart says something from the
    // first sample on (a day's line starts as a few pixels at the right edge).
    let level = pts
        .last()
        .map(|p| (p.1.clamp(0.0, 100.0) / 100.0 * h).round() as i64)
        .unwrap_or(0);
    let last = d.rsplit(' ').next().unwrap_or_default().to_string();
    let (cx, cy) = last.split_once(',').unwrap_or(("0", "0"));
    let (cx, cy) = (cx.to_string(), cy.to_string());
    view! {
        <div class="disk-trend">
            <span class="disk-name">{series.dvr_name.clone()}</span>
            <svg viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img"
                aria-label=format!("Disk use of {} over 24 hours", series.dvr_name)>
                <rect class="disk-level" x="0" y=h as i64 - level width=w height=level/>
                <polyline points=d fill="none" stroke=color(index) stroke-width="2"/>
                {(!pts.is_empty()).then(|| view! { <circle cx=cx cy=cy r="3" fill=color(index)/> })}
            </svg>
            <span class="disk-now">{now.unwrap_or_else(|| "no disk data yet".into())}</span>
        </div>
    }
}

/// Where a chart's time axis starts: the window's start, or the first sample when the
/// samples cover less (at least ten minutes before the end, so a line has room).
pub(crate) fn shown_from(series: &[ActivitySeries], from: i64, to: i64) -> i64 {
    let first = series
        .iter()
        .filter_map(|s| s.points.first().map(|p| p.0))
        .min()
        .unwrap_or(from);
    first.max(from).min(to - 600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_scale_into_the_box() {
        assert_eq!(
            polyline(
                &[(0.0, 0.0), (10.0, 2.0), (20.0, 4.0)],
                0.0,
                20.0,
                4.0,
                100.0,
                50.0
            ),
            "0,50 50,25 100,0"
        );
        assert_eq!(polyline(&[(5.0, 9.0)], 5.0, 5.0, 0.0, 10.0, 10.0), "0,0");
    }

    #[test]
    fn a_young_chart_starts_at_its_first_sample() {
        let s = |first: i64| ActivitySeries {
            dvr_id: "a".into(),
            dvr_name: "A".into(),
            points: vec![(first, 1, None), (first + 300, 2, None)],
        };
        let (from, to) = (0, 86_400);
        assert_eq!(shown_from(&[s(86_000 - 3600)], from, to), 86_000 - 3600);
        assert_eq!(
            shown_from(&[s(86_300)], from, to),
            86_400 - 600,
            "ten minutes at least"
        );
        assert_eq!(
            shown_from(&[s(-50)], from, to),
            0,
            "never before the window"
        );
        assert_eq!(shown_from(&[], from, to), 0);
    }
}
