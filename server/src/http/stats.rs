//! `GET /api/v1/stats?dvr_id=&from=&to=`: the Statistics page's figures for whole days
//! (default: the last 30), read from the roll-ups.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use domain::times::rfc3339_secs;
use storage::stats::{self, Dim, Range, Slice};
use wire::history::{RecordingOutcomes, StatSlice, Stats, StreamsPeak, StreamsPoint};

/// Days shown when no range is asked for.
const DEFAULT_DAYS: i64 = 30;
/// The longest range: ten years (the longest retention).
const MAX_DAYS: i64 = 3650;
/// Rows per ranking.
const TOP: i64 = 10;

#[derive(Debug, Deserialize, Default)]
pub struct StatsQuery {
    dvr_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Instead of `from`: the last N days up to `to` (today by default).
    days: Option<String>,
}

fn day_of(name: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(s) = v.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.to_utc().date_naive())
        })
        .ok_or_else(|| ApiError::invalid(format!("{name}: not a date (like 2026-12-05)")))?;
    Ok(Some(
        date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() / 86_400,
    ))
}

fn date(day: i64) -> String {
    DateTime::<Utc>::from_timestamp(day * 86_400, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

impl StatsQuery {
    fn range(&self, today: i64) -> Result<Range, ApiError> {
        let to = day_of("to", &self.to)?.unwrap_or(today);
        let days = match self
            .days
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => DEFAULT_DAYS,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_DAYS).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!("days: must be between 1 and {MAX_DAYS}"))
                })?,
        };
        let from = day_of("from", &self.from)?.unwrap_or(to - (days - 1));
        if from > to {
            return Err(ApiError::invalid("from: must not be after to"));
        }
        if to - from >= MAX_DAYS {
            return Err(ApiError::invalid(format!(
                "from: a range is at most {MAX_DAYS} days"
            )));
        }
        Ok(Range {
            dvr_id: self
                .dvr_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            from_day: from,
            to_day: to,
        })
    }
}

/// One point per hour up to two days, then coarser, so a chart has at most a few
/// hundred points.
fn step_for(days: i64) -> i64 {
    match days {
        ..=2 => 3600,
        3..=14 => 3 * 3600,
        15..=62 => 12 * 3600,
        _ => 86_400,
    }
}

/// Every stretch of the range in order, nothing-playing ones as zeros, so a chart
/// needs no clock arithmetic of its own.
fn dense(sparse: &[stats::Streams], start: i64, end: i64, step: i64) -> Vec<StreamsPoint> {
    let mut known = sparse.iter().peekable();
    (start..end)
        .step_by(step.max(1) as usize)
        .map(|at| {
            while known.peek().is_some_and(|s| s.at < at) {
                known.next();
            }
            let s = known.peek().filter(|s| s.at == at).copied().copied();
            let s = s.unwrap_or_default();
            StreamsPoint {
                at: rfc3339_secs(at),
                live: s.live as u32,
                library: s.vod as u32,
                recording: s.recording as u32,
                total: s.total as u32,
            }
        })
        .collect()
}

fn kind_label(k: &str) -> String {
    match k {
        "live" => "Live TV".into(),
        "vod" => "Recordings and library".into(),
        other => other.into(),
    }
}

fn slices(v: Vec<Slice>, label: impl Fn(&Slice) -> String) -> Vec<StatSlice> {
    v.into_iter()
        .map(|s| StatSlice {
            label: label(&s),
            key: s.key,
            plays: s.plays.max(0) as u64,
            watched_seconds: s.seconds.max(0) as u64,
        })
        .collect()
}

pub async fn stats(
    State(state): State<AppState>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<Stats>, ApiError> {
    let Query(q) =
        query.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let r = q.range(Utc::now().timestamp() / 86_400)?;
    let db = &state.services.db;
    let zone = state.services.alerts.time_zone().zone();
    let place = move |t: i64| zone.weekday_hour(DateTime::from_timestamp(t, 0).unwrap_or_default());
    let step = step_for(r.to_day - r.from_day + 1);
    let (kinds, channels, devices, titles, grid, streams, recordings) = tokio::try_join!(
        stats::by(db, &r, Dim::Kind, TOP),
        stats::by(db, &r, Dim::Channel, TOP),
        stats::by(db, &r, Dim::Device, TOP),
        stats::by(db, &r, Dim::Title, TOP),
        stats::heatmap(db, &r, place),
        stats::streams(db, &r, step),
        stats::recordings(db, &r),
    )?;
    let peak = streams
        .iter()
        .max_by_key(|s| (s.total, -s.at))
        .map(|s| StreamsPeak {
            at: rfc3339_secs(s.peak_at),
            total: s.total as u32,
            live: s.live as u32,
            library: s.vod as u32,
            recording: s.recording as u32,
        });
    let by_kind = slices(kinds, |s| kind_label(&s.key));
    Ok(Json(Stats {
        dvr_id: r.dvr_id.clone(),
        from: date(r.from_day),
        to: date(r.to_day),
        plays: by_kind.iter().map(|s| s.plays).sum(),
        watched_seconds: by_kind.iter().map(|s| s.watched_seconds).sum(),
        by_kind,
        by_channel: slices(channels, |s| match &s.label {
            Some(call) => format!("{} {call}", s.key),
            None => s.key.clone(),
        }),
        by_device: slices(devices, |s| s.key.clone()),
        top_programs: slices(titles, |s| s.key.clone()),
        heatmap: grid
            .iter()
            .map(|day| day.iter().map(|n| (*n).max(0) as u64).collect())
            .collect(),
        streams_step_seconds: step as u64,
        streams: dense(&streams, r.from_day * 86_400, (r.to_day + 1) * 86_400, step),
        peak: peak.filter(|p| p.total > 0),
        recordings: recordings
            .into_iter()
            .map(|d| RecordingOutcomes {
                day: d.day,
                completed: d.completed.max(0) as u64,
                failed: d.failed.max(0) as u64,
                missed: d.missed.max(0) as u64,
                interrupted: d.interrupted.max(0) as u64,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_default_to_thirty_days_and_bad_ones_are_named() {
        let today = 20_000;
        let r = StatsQuery::default().range(today).unwrap();
        assert_eq!((r.from_day, r.to_day), (today - 29, today));
        let q = |from: &str, to: &str| StatsQuery {
            dvr_id: None,
            from: Some(from.into()),
            to: Some(to.into()),
            days: None,
        };
        let week = StatsQuery {
            days: Some("7".into()),
            ..StatsQuery::default()
        };
        let r = week.range(today).unwrap();
        assert_eq!((r.from_day, r.to_day), (today - 6, today));
        let r = q("2024-10-01", "2024-10-04").range(today).unwrap();
        assert_eq!((r.from_day, r.to_day), (19_997, 20_000));
        let msg = |q: StatsQuery| q.range(today).unwrap_err().message;
        assert!(msg(q("2024-10-05", "2024-10-04")).contains("from"));
        assert!(msg(q("last week", "")).contains("from: not a date"));
        assert!(msg(q("1990-01-01", "2024-10-04")).contains("at most"));
        assert_eq!(step_for(1), 3600);
        assert_eq!(step_for(7), 3 * 3600);
        assert_eq!(step_for(30), 12 * 3600);
        assert_eq!(step_for(365), 86_400);
    }

    #[test]
    fn stream_points_cover_the_whole_range() {
        let s = |at: i64, total: i64| stats::Streams {
            at,
            live: total,
            total,
            ..Default::default()
        };
        let d = dense(&[s(3600, 2), s(3 * 3600, 5)], 0, 4 * 3600, 3600);
        assert_eq!(
            d.iter().map(|p| p.total).collect::<Vec<_>>(),
            vec![0, 2, 0, 5]
        );
        assert_eq!(d[1].at, "1970-01-01T01:00:00Z");
    }
}
