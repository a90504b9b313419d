//! The DVR page's figures for one server, and the upcoming recordings behind it and
//! the calendar feeds: its card, what its last `/status` said (platform, uptime), its
//! tuners and sources, the disk trend, outages, recent alerts and every scheduled
//! recording still to come.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use domain::times::rfc3339;
use storage::{activity, outages, outbox, StorageError};
use wire::dvr_page::{DvrOverview, DvrSource, OutageRow};
use wire::UpcomingRow;

use crate::services::Services;

/// How far back the disk trend and the outages go.
const TREND_DAYS: i64 = 7;
const OUTAGE_DAYS: i64 = 30;
/// Outages listed at most (a flapping DVR lists its latest).
const MAX_OUTAGES: i64 = 200;
const RECENT_ALERTS: i64 = 20;
/// A job list this old is fetched again for the page and the feeds.
const JOBS_MAX_AGE: Duration = Duration::from_secs(300);

/// The DVR page of `dvr_id`; `None` when the registry has no such DVR.
pub async fn overview(
    services: &Arc<Services>,
    dvr_id: &str,
) -> Result<Option<DvrOverview>, StorageError> {
    let frame = services.dashboard.current(services.as_ref()).await;
    let Some(card) = frame
        .dashboard
        .dvrs
        .iter()
        .find(|c| c.dvr_id == dvr_id)
        .cloned()
    else {
        return Ok(None);
    };
    let now = Utc::now().timestamp();
    let (platform, started) = services
        .engine
        .slot(dvr_id)
        .map(|s| s.server_info())
        .unwrap_or_default();
    let sources = match services.alerts.enrichers().get(&services.engine, dvr_id) {
        Some(e) => e.lock().await.sources().await,
        None => None,
    };
    let disk_trend = activity::buckets(&services.db, Some(dvr_id), now - TREND_DAYS * 86_400, 3600)
        .await?
        .into_iter()
        .filter_map(|(_, at, _, used)| used.map(|u| (at, u)))
        .collect();
    let since = now - OUTAGE_DAYS * 86_400;
    let periods = outages::list(&services.db, dvr_id, since, MAX_OUTAGES).await?;
    let outage_seconds_30d = periods
        .iter()
        .map(|o| (o.ended_at.unwrap_or(now) - o.started_at.max(since)).max(0) as u64)
        .sum();
    let outages = periods
        .into_iter()
        .map(|o| OutageRow {
            started_at: unix(o.started_at),
            ended_at: o.ended_at.map(unix),
            duration_seconds: (o.ended_at.unwrap_or(now) - o.started_at).max(0) as u64,
            kind: o.kind,
            detail: o.detail,
            ended_by: o.ended_by,
        })
        .collect();
    let alerts = outbox::history(&services.db, Some(dvr_id), RECENT_ALERTS, None)
        .await?
        .into_iter()
        .map(crate::dashboard::frame::alert_row)
        .collect();
    let upcoming = upcoming(services, Some(dvr_id)).await;
    Ok(Some(DvrOverview {
        platform,
        started_at: started.map(unix),
        uptime_seconds: started.map(|t| (now - t).max(0) as u64),
        sources: sources.map(|list| {
            list.into_iter()
                .map(|s| DvrSource {
                    id: s.id,
                    name: s.name,
                    kind: s.kind,
                    tuners: s.tuners,
                })
                .collect()
        }),
        disk_trend,
        outages,
        outage_seconds_30d,
        alerts,
        upcoming,
        card,
    }))
}

/// Every recording still to come on one DVR or all running DVRs, soonest first, with
/// program art through the image cache.
pub async fn upcoming(services: &Arc<Services>, dvr_id: Option<&str>) -> Vec<UpcomingRow> {
    let slots = match dvr_id {
        Some(id) => services.engine.slot(id).into_iter().collect(),
        None => services.engine.slots(),
    };
    let now = Utc::now().timestamp();
    let mut out = Vec::new();
    for slot in slots {
        let Some(enricher) = services
            .alerts
            .enrichers()
            .get(&services.engine, &slot.dvr_id)
        else {
            continue;
        };
        // Jobs already recording are on the dashboard, not here.
        let recording: std::collections::HashSet<String> =
            slot.with_state(|st| st.recordings().map(|r| r.job_id.clone()).collect());
        let jobs = enricher.lock().await.jobs(JOBS_MAX_AGE).await;
        let name = slot.name();
        for (job_id, j) in jobs {
            if j.start_time.is_none_or(|t| t <= now) || recording.contains(&job_id) {
                continue;
            }
            out.push(crate::dashboard::frame::upcoming_row(
                &services.images,
                &slot.dvr_id,
                &name,
                job_id,
                j,
            ));
        }
    }
    out.sort_by(|a, b| {
        (a.starts_at.as_deref(), &a.dvr_id, &a.job_id).cmp(&(
            b.starts_at.as_deref(),
            &b.dvr_id,
            &b.job_id,
        ))
    });
    out
}

fn unix(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .single()
        .map(rfc3339)
        .unwrap_or_default()
}
