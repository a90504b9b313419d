//! The upcoming-recordings calendar feeds: `GET /api/v1/feeds/upcoming.ics?token=`
//! (every DVR, or one with `&dvr_id=`), read by calendar apps that cannot sign in, so
//! they carry a feed token (`POST /api/v1/feeds/tokens`) that opens these feeds and
//! nothing else. Tokens are listed and revoked with the API keys.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};
use serde::Deserialize;

use super::dvrs::parse_body;
use super::error::ApiError;
use super::AppState;
use storage::api_keys::{self, Scope};
use wire::account::NewApiKey;
use wire::dvr_page::FeedTokenCreated;
use wire::UpcomingRow;

/// The feed's path (public: the token is the credential).
pub const FEED_PATH: &str = "/api/v1/feeds/upcoming.ics";
/// A recording without a known length is shown as this long.
const DEFAULT_MINUTES: i64 = 60;

#[derive(Debug, Deserialize, Default)]
pub struct FeedQuery {
    token: Option<String>,
    dvr_id: Option<String>,
}

/// `GET /api/v1/feeds/upcoming.ics?token=[&dvr_id=]`.
pub async fn upcoming(
    State(state): State<AppState>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        query.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let token = q.token.unwrap_or_default();
    let ok = !token.is_empty()
        && api_keys::verify_scoped(&state.services.db, &token, Scope::Feed)
            .await
            .map_err(|e| ApiError::internal("cannot check the feed token", e))?;
    if !ok {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_feed_token",
            "the feed token is missing, not valid or was revoked; create a calendar link on a DVR page",
        ));
    }
    let services = &state.services;
    let name = match q.dvr_id.as_deref() {
        Some(id) => {
            let record = services.registry.get(id).await?;
            format!("{}: upcoming recordings", record.name)
        }
        None => "ChannelWatch: upcoming recordings".to_string(),
    };
    let items = crate::dvr_page::upcoming(services, q.dvr_id.as_deref()).await;
    Ok((
        [
            (CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (CONTENT_DISPOSITION, "inline; filename=\"upcoming.ics\""),
            (CACHE_CONTROL, "private, max-age=300"),
        ],
        calendar(
            &name,
            &items,
            services.alerts.time_zone().zone().name(),
            Utc::now(),
        ),
    )
        .into_response())
}

/// An RFC 5545 calendar of `items` (one event per recording, stable ids, UTC times),
/// named as in `zone` (`X-WR-TIMEZONE`), so a calendar app shows it in the monitor's zone.
pub fn calendar(name: &str, items: &[UpcomingRow], zone: &str, now: DateTime<Utc>) -> String {
    let mut cal = Calendar::new();
    cal.name(name).timezone(zone);
    for r in items {
        let Some(start) = r
            .starts_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
        else {
            continue;
        };
        let minutes = r
            .duration_seconds
            .map(|s| (s as i64 + 59) / 60)
            .filter(|m| *m > 0)
            .unwrap_or(DEFAULT_MINUTES);
        let title = r.title.as_deref().unwrap_or("Recording");
        let mut location = r.dvr_name.clone();
        if let Some(ch) = &r.channel_number {
            location = format!("ch {ch} · {location}");
        }
        let mut ev = Event::new();
        ev.uid(&format!("{}-{}@channelwatch", r.dvr_id, r.job_id))
            .summary(title)
            .location(&location)
            .timestamp(now)
            .starts(start)
            .ends(start + chrono::Duration::minutes(minutes));
        if let Some(s) = r.summary.as_deref().filter(|s| !s.trim().is_empty()) {
            ev.description(s);
        }
        cal.push(ev.done());
    }
    cal.done().to_string()
}

/// `POST /api/v1/feeds/tokens {name}`: a token for the calendar feeds, in this answer
/// only (stored hashed, revoked with the API keys).
pub async fn create_token(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FeedTokenCreated>), ApiError> {
    let b: NewApiKey = parse_body(body)?;
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::invalid("name: 1–64 characters"));
    }
    let token = api_keys::create_scoped(&state.services.db, name, Scope::Feed).await?;
    let url = format!("{FEED_PATH}?token={token}");
    Ok((
        StatusCode::CREATED,
        Json(FeedTokenCreated {
            name: name.to_string(),
            token,
            url,
            message: "copy this link into your calendar app now: it is not shown again".into(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_become_events_with_stable_ids_and_escaped_text() {
        let r = UpcomingRow {
            dvr_id: "abcd".into(),
            dvr_name: "Den, DVR".into(),
            job_id: "job-1".into(),
            title: Some("News; late".into()),
            channel_number: Some("5.1".into()),
            starts_at: Some("2026-12-06T20:00:00Z".into()),
            duration_seconds: Some(1800),
            summary: Some("Local\nnews.".into()),
            image_url: None,
        };
        let no_start = UpcomingRow {
            starts_at: None,
            ..r.clone()
        };
        let now = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ics = calendar("Den: upcoming", &[r, no_start], "America/New_York", now);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1);
        for line in [
            "UID:abcd-job-1@channelwatch",
            "DTSTART:20261206T200000Z",
            "DTEND:20261206T203000Z",
            "SUMMARY:News\\; late",
            "LOCATION:ch 5.1 · Den\\, DVR",
            "DESCRIPTION:Local\\nnews.",
            "DTSTAMP:20261205T120000Z",
            "X-WR-TIMEZONE:America/New_York",
        ] {
            assert!(ics.contains(line), "{line} in {ics}");
        }
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
    }
}
