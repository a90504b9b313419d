//! `GET /api/v1/history` (filtered, paged watch history), `/api/v1/history.csv` (the
//! same filter, every row, streamed), and `/api/v1/history/facets` (the filter lists).

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use domain::history::PlayKind;
use domain::times::rfc3339_secs;
use domain::zone::Zone;
use storage::history::{self, Cursor, Entry, Filter, Order};
use wire::history::{ChannelSeen, HistoryFacets, HistoryItem, HistoryPage, CSV_COLUMNS};

/// Rows per page unless `limit` says otherwise, and the most one page may hold.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;
/// Rows read per database page while streaming a CSV.
const CSV_CHUNK: u32 = 1000;

/// The query string both listings take.
#[derive(Debug, Deserialize, Default)]
pub struct HistoryQuery {
    dvr_id: Option<String>,
    device: Option<String>,
    channel: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    /// `newest` (default), `oldest` or `longest`.
    sort: Option<String>,
}

/// A filter, its order and where it starts, checked.
struct Asked {
    filter: Filter,
    order: Order,
    after: Option<Cursor>,
    limit: u32,
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An RFC 3339 time, or a plain date (a day in `zone`): `from` is that day's start, `to`
/// the next day's (a date range includes its last day).
fn time(name: &str, v: &Option<String>, zone: Zone) -> Result<Option<i64>, ApiError> {
    let Some(s) = some(v) else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Ok(Some(t.timestamp()));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        let day = if name == "to" {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(Some(zone.day_start(day).timestamp()));
    }
    Err(ApiError::invalid(format!(
        "{name}: not an RFC 3339 time or a date (like 2026-12-05T18:00:00Z or 2026-12-05)"
    )))
}

impl HistoryQuery {
    /// The filters checked; plain dates are days in `zone`.
    fn check(&self, zone: Zone) -> Result<Asked, ApiError> {
        let kind = match some(&self.kind) {
            None => None,
            Some(k) => Some(
                PlayKind::parse(&k)
                    .ok_or_else(|| ApiError::invalid("kind: must be live or vod"))?,
            ),
        };
        let order = match some(&self.sort) {
            None => Order::Newest,
            Some(s) => Order::parse(&s)
                .ok_or_else(|| ApiError::invalid("sort: must be newest, oldest or longest"))?,
        };
        let limit = match some(&self.limit) {
            None => DEFAULT_LIMIT,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!("limit: must be between 1 and {MAX_LIMIT}"))
                })?,
        };
        let after = match some(&self.before) {
            None => None,
            Some(s) => Some(Cursor::parse(&s).ok_or_else(|| {
                ApiError::invalid("before: not a cursor from an earlier page's next_before")
            })?),
        };
        let (from, to) = (time("from", &self.from, zone)?, time("to", &self.to, zone)?);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(ApiError::invalid("from: must not be after to"));
            }
        }
        let q = some(&self.q);
        if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::invalid("q: at most 200 characters"));
        }
        Ok(Asked {
            filter: Filter {
                dvr_id: some(&self.dvr_id),
                device: some(&self.device),
                channel: some(&self.channel),
                kind,
                from,
                to,
                q,
            },
            order,
            after,
            limit,
        })
    }
}

/// A stored play as the API shows it; an open play's watch time counts to `now`.
pub(crate) fn item(e: Entry, now: i64) -> HistoryItem {
    let watched = e
        .watched_seconds
        .unwrap_or_else(|| now.saturating_sub(e.started_at));
    HistoryItem {
        dvr_id: e.dvr_id,
        dvr_name: e.dvr_name,
        kind: e.kind,
        device: e.device,
        client_ip: e.client_ip,
        channel: e.channel,
        title: e.title,
        started_at: rfc3339_secs(e.started_at),
        ended_at: e.ended_at.map(rfc3339_secs),
        watched_seconds: watched.max(0) as u64,
        ended_by: e.ended_by,
        id: e.id,
        call_sign: e.call_sign,
        source: e.source,
        file_id: e.file_id,
        platform: e.platform,
        app_version: e.app_version,
        remote: e.remote,
    }
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let Query(q) =
        query.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let a = q.check(state.services.alerts.time_zone().zone())?;
    let (rows, next) =
        history::page(&state.services.db, &a.filter, a.order, a.after, a.limit).await?;
    let now = Utc::now().timestamp();
    Ok(Json(HistoryPage {
        items: rows.into_iter().map(|e| item(e, now)).collect(),
        next_before: next.map(|c| c.to_string()),
    }))
}

/// A cell a spreadsheet would run as a formula starts with a quote instead (outside
/// text: device names and titles come from the DVR).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn csv_row(i: &HistoryItem) -> Vec<String> {
    let o = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
    vec![
        cell(&i.dvr_id),
        cell(&i.dvr_name),
        i.kind.clone(),
        o(&i.device),
        o(&i.client_ip),
        o(&i.channel),
        o(&i.title),
        i.started_at.clone(),
        i.ended_at.clone().unwrap_or_default(),
        i.watched_seconds.to_string(),
        i.ended_by.clone().unwrap_or_default(),
    ]
}

fn csv_bytes(rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in rows {
        w.write_record(&r)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// Every play matching the filter (any `limit` and `before` are ignored), as CSV,
/// streamed page by page so a million rows never sit in memory at once.
pub async fn csv(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        query.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let a = q.check(state.services.alerts.time_zone().zone())?;
    let header_row = csv_bytes([CSV_COLUMNS.iter().map(|c| c.to_string()).collect()])
        .map_err(|e| ApiError::internal("cannot write the CSV header", e))?;
    let db = state.services.db.clone();
    let (filter, order) = (a.filter, a.order);
    let now = Utc::now().timestamp();
    let body = async_stream(header_row, move |after| {
        let (db, filter) = (db.clone(), filter.clone());
        async move {
            let (rows, next) = history::page(&db, &filter, order, after, CSV_CHUNK).await?;
            let bytes = csv_bytes(rows.into_iter().map(|e| csv_row(&item(e, now))))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((bytes, next))
        }
    });
    let name = format!(
        "channelwatch-history-{}.csv",
        Utc::now().format("%Y%m%d-%H%M%S")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

type Chunk = Result<(Vec<u8>, Option<Cursor>), Box<dyn std::error::Error + Send + Sync>>;

/// The header, then one chunk per page until a page has no successor.
fn async_stream<F, Fut>(
    first: Vec<u8>,
    next_page: F,
) -> impl futures::Stream<Item = Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>>
where
    F: Fn(Option<Cursor>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Chunk> + Send,
{
    enum At {
        Header,
        Page(Option<Cursor>),
        Done,
    }
    use futures::StreamExt;
    // Fused: a compressing layer polls once more after the end.
    futures::stream::unfold(
        (At::Header, first, next_page),
        |(at, first, f)| async move {
            match at {
                At::Header => Some((Ok(first), (At::Page(None), Vec::new(), f))),
                At::Page(after) => match f(after).await {
                    Ok((bytes, Some(c))) => Some((Ok(bytes), (At::Page(Some(c)), first, f))),
                    Ok((bytes, None)) => Some((Ok(bytes), (At::Done, first, f))),
                    Err(e) => {
                        tracing::warn!(error = %e, "history CSV export stopped");
                        Some((Err(e), (At::Done, first, f)))
                    }
                },
                At::Done => None,
            }
        },
    )
    .fuse()
}

pub async fn facets(State(state): State<AppState>) -> Result<Json<HistoryFacets>, ApiError> {
    let (devices, channels) = history::facets(&state.services.db).await?;
    Ok(Json(HistoryFacets {
        devices,
        channels: channels
            .into_iter()
            .map(|(number, call_sign)| ChannelSeen { number, call_sign })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_quoted_and_fields_escaped() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("News"), "News");
        let b = csv_bytes([vec!["a,b".to_string(), "say \"hi\"".to_string()]]).unwrap();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\"\r\n"
        );
    }

    #[test]
    fn bad_filters_are_named() {
        let q = |f: fn(&mut HistoryQuery)| {
            let mut q = HistoryQuery::default();
            f(&mut q);
            q.check(Zone::UTC).err().map(|e| e.message)
        };
        assert!(q(|q| q.kind = Some("tv".into())).unwrap().contains("kind"));
        assert!(q(|q| q.from = Some("yesterday".into()))
            .unwrap()
            .contains("from"));
        assert!(q(|q| q.limit = Some("0".into())).unwrap().contains("limit"));
        assert!(q(|q| q.before = Some("abc".into()))
            .unwrap()
            .contains("before"));
        assert!(q(|q| q.sort = Some("random".into()))
            .unwrap()
            .contains("sort"));
        assert!(q(|q| {
            q.from = Some("2026-12-05T00:00:00Z".into());
            q.to = Some("2026-12-04T00:00:00Z".into());
        })
        .unwrap()
        .contains("from"));
        assert!(q(|q| q.kind = Some(" live ".into())).is_none());
        let dates = HistoryQuery {
            from: Some("2026-12-05".into()),
            to: Some("2026-12-05".into()),
            ..HistoryQuery::default()
        };
        let a = dates.check(Zone::UTC).unwrap();
        assert_eq!(a.filter.from, Some(1_796_428_800));
        assert_eq!(
            a.filter.to,
            Some(1_796_428_800 + 86_400),
            "the whole last day"
        );
        // A date is a day where the user is: 5 December begins at 05:00 UTC in New York.
        let ny = Zone::parse("America/New_York").unwrap();
        let a = dates.check(ny).unwrap();
        assert_eq!(a.filter.from, Some(1_796_428_800 + 5 * 3600));
        assert_eq!(a.filter.to, Some(1_796_428_800 + 86_400 + 5 * 3600));
    }
}
