//! Watch history rows: batched writes from the recorder, the History page's filtered
//! and paged reads (keyset cursors, so page 1,000 costs what page 1 does), and the
//! retention sweep.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use std::collections::HashMap;

use domain::history::{EndedBy, Op, Play, PlayKind};

use super::{Db, StorageError};

/// One stored play, as the History page and the API show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub dvr_id: String,
    pub dvr_name: String,
    pub kind: String,
    pub device: Option<String>,
    pub client_ip: Option<String>,
    pub channel: Option<String>,
    pub call_sign: Option<String>,
    pub source: Option<String>,
    pub file_id: Option<String>,
    pub title: Option<String>,
    pub platform: Option<String>,
    pub app_version: Option<String>,
    pub remote: Option<bool>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub watched_seconds: Option<i64>,
    pub ended_by: Option<String>,
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Newest,
    Oldest,
    Longest,
}

impl Order {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "newest" => Some(Order::Newest),
            "oldest" => Some(Order::Oldest),
            "longest" => Some(Order::Longest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Newest => "newest",
            Order::Oldest => "oldest",
            Order::Longest => "longest",
        }
    }
}

/// Where the next page starts: the last row's sort key and id. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub id: i64,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        let (key, id) = s.split_once('.')?;
        Some(Cursor {
            key: key.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.key, self.id)
    }
}

/// What to list. Every field narrows; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub dvr_id: Option<String>,
    pub device: Option<String>,
    pub channel: Option<String>,
    pub kind: Option<PlayKind>,
    /// Unix seconds: plays that started at or after `from` and before `to`.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Any part of the title, device, channel or call sign, case-insensitive.
    pub q: Option<String>,
}

/// Where the recorder continues: one past the largest id stored, and the latest start
/// (ids must keep following start times).
pub async fn resume_point(db: &Db) -> Result<(i64, Option<DateTime<Utc>>), StorageError> {
    let (max, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MAX(id), MAX(started_at) FROM watch_history")
            .fetch_one(&db.pool)
            .await?;
    Ok((
        max.unwrap_or(0) + 1,
        last.and_then(|t| DateTime::from_timestamp(t, 0)),
    ))
}

/// Ends the plays a previous run left open (it stopped or crashed while they played)
/// at the last moment that run knew they played. Returns how many.
pub async fn close_interrupted(db: &Db) -> Result<u64, StorageError> {
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(
        "UPDATE watch_history
            SET ended_at = MAX(started_at, COALESCE(last_seen_at, started_at)),
                watched_seconds = MAX(0, COALESCE(last_seen_at, started_at) - started_at),
                ended_by = ?1, last_seen_at = NULL
          WHERE ended_at IS NULL
          RETURNING id, dvr_id, kind, device, client_ip, channel, call_sign, source, file_id,
                    title, started_at, ended_at",
    )
    .bind(EndedBy::MonitorRestarted.as_str())
    .fetch_all(&mut *tx)
    .await?;
    // Counted in the statistics like any other ended play.
    let mut deltas = Deltas::new();
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let started: i64 = r.try_get("started_at")?;
        let play = Play {
            id: r.try_get("id")?,
            dvr_id: r.try_get("dvr_id")?,
            kind: PlayKind::parse(&kind).unwrap_or(PlayKind::Live),
            device: r.try_get("device")?,
            client_ip: r.try_get("client_ip")?,
            channel: r.try_get("channel")?,
            call_sign: r.try_get("call_sign")?,
            source: r.try_get("source")?,
            file_id: r.try_get("file_id")?,
            title: r.try_get("title")?,
            started_at: DateTime::from_timestamp(started, 0).unwrap_or_default(),
        };
        count(&mut deltas, &play, r.try_get("ended_at")?);
    }
    write_deltas(&mut tx, deltas).await?;
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Marks every open play as still playing at `at`, so a crash ends them there.
pub async fn touch_open(db: &Db, at: DateTime<Utc>) -> Result<(), StorageError> {
    sqlx::query("UPDATE watch_history SET last_seen_at = ?1 WHERE ended_at IS NULL")
        .bind(at.timestamp())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Statistics roll-up deltas of a batch: (dimension, day, DVR, key) → (label, plays,
/// seconds). Summed in memory so a batch costs one upsert per distinct key.
type Deltas = HashMap<(&'static str, i64, String, String), (Option<String>, i64, i64)>;

/// Counts a finished play under each dimension of the daily roll-ups.
fn count(deltas: &mut Deltas, p: &Play, ended_at: i64) {
    let start = p.started_at.timestamp();
    let seconds = (ended_at - start).max(0);
    let day = start.div_euclid(86_400);
    let mut add = |dim: &'static str, key: String, label: Option<String>| {
        let e = deltas
            .entry((dim, day, p.dvr_id.clone(), key))
            .or_insert((None, 0, 0));
        if label.is_some() {
            e.0 = label;
        }
        e.1 += 1;
        e.2 += seconds;
    };
    add("kind", p.kind.as_str().to_string(), None);
    if let Some(ch) = &p.channel {
        add("channel", ch.clone(), p.call_sign.clone());
    }
    let device = p
        .device
        .clone()
        .or_else(|| p.client_ip.clone())
        .unwrap_or_else(|| "Unknown device".into());
    add("device", device, None);
    if let Some(t) = &p.title {
        add("title", t.clone(), None);
    }
    add("hour", (start.rem_euclid(86_400) / 3600).to_string(), None);
}

/// Rows per roll-up upsert (seven values each).
const DELTAS_PER_UPSERT: usize = 1000;

async fn write_deltas(
    conn: &mut sqlx::SqliteConnection,
    deltas: Deltas,
) -> Result<(), StorageError> {
    let rows: Vec<_> = deltas.into_iter().collect();
    for chunk in rows.chunks(DELTAS_PER_UPSERT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO watch_by_day (dim, day, dvr_id, key, label, plays, seconds) ",
        );
        q.push_values(
            chunk,
            |mut row, ((dim, day, dvr, key), (label, plays, secs))| {
                row.push_bind(*dim)
                    .push_bind(*day)
                    .push_bind(dvr.clone())
                    .push_bind(key.clone())
                    .push_bind(label.clone())
                    .push_bind(*plays)
                    .push_bind(*secs);
            },
        );
        q.push(
            " ON CONFLICT (dim, day, dvr_id, key) DO UPDATE SET
                plays = plays + excluded.plays,
                seconds = seconds + excluded.seconds,
                label = COALESCE(excluded.label, label)",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// A row to insert: the play, and its end when it has one.
type NewRow = (Play, Option<(i64, EndedBy)>);

/// Rows per INSERT: 15 values each, under SQLite's limit of bound values.
const ROWS_PER_INSERT: usize = 2000;

async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    rows: &[NewRow],
) -> Result<(), StorageError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO watch_history (id, dvr_id, kind, device, client_ip, channel,
                call_sign, source, file_id, title, started_at, ended_at, watched_seconds,
                ended_by, last_seen_at) ",
        );
        q.push_values(chunk, |mut row, (p, end)| {
            let start = p.started_at.timestamp();
            let end_at = end.map(|(t, _)| t.max(start));
            row.push_bind(p.id)
                .push_bind(p.dvr_id.clone())
                .push_bind(p.kind.as_str())
                .push_bind(p.device.clone())
                .push_bind(p.client_ip.clone())
                .push_bind(p.channel.clone())
                .push_bind(p.call_sign.clone())
                .push_bind(p.source.clone())
                .push_bind(p.file_id.clone())
                .push_bind(p.title.clone())
                .push_bind(start)
                .push_bind(end_at)
                .push_bind(end_at.map(|e| e - start))
                .push_bind(end.map(|(_, by)| by.as_str()))
                .push_bind(end_at.is_none().then_some(start));
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes a batch of row operations in one transaction, in a few statements: a play
/// that starts and ends within the batch is inserted finished; the rest are one
/// multi-row insert, one multi-row update of ends, and one upsert of roll-ups.
pub async fn write(db: &Db, ops: &[Op]) -> Result<(), StorageError> {
    if ops.is_empty() {
        return Ok(());
    }
    let mut new: Vec<NewRow> = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    let mut ends: Vec<(i64, i64, EndedBy)> = Vec::new();
    let mut details: Vec<&Op> = Vec::new();
    let mut deltas = Deltas::new();
    for op in ops {
        match op {
            Op::Start(p) => {
                at.insert(p.id, new.len());
                new.push((p.clone(), None));
            }
            Op::End {
                id,
                ended_at,
                ended_by,
                play,
            } => {
                let t = ended_at.timestamp();
                match at.get(id) {
                    Some(&i) => {
                        let row = &mut new[i];
                        if row.1.is_none() {
                            row.1 = Some((t, *ended_by));
                            count(&mut deltas, &row.0, t.max(row.0.started_at.timestamp()));
                        }
                    }
                    None => {
                        ends.push((*id, t, *ended_by));
                        count(&mut deltas, play, t.max(play.started_at.timestamp()));
                    }
                }
            }
            Op::Title { id, .. } | Op::Client { id, .. } => match at.get(id) {
                Some(&i) => {
                    op.apply_to(&mut new[i].0);
                    if matches!(op, Op::Client { .. }) {
                        details.push(op);
                    }
                }
                None => details.push(op),
            },
        }
    }
    let mut tx = db.begin_write().await?;
    insert_rows(&mut tx, &new).await?;
    // Ends of plays written by earlier batches, a chunk per statement.
    for chunk in ends.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE watch_history
                SET ended_at = MAX(started_at, v.column2),
                    watched_seconds = MAX(0, v.column2 - started_at),
                    ended_by = v.column3, last_seen_at = NULL
               FROM (",
        );
        q.push_values(chunk, |mut row, (id, t, by)| {
            row.push_bind(*id).push_bind(*t).push_bind(by.as_str());
        });
        q.push(") AS v WHERE watch_history.id = v.column1 AND watch_history.ended_at IS NULL");
        q.build().execute(&mut *tx).await?;
    }
    for op in details {
        match op {
            Op::Title { id, title } => {
                sqlx::query("UPDATE watch_history SET title = ?2 WHERE id = ?1")
                    .bind(id)
                    .bind(title)
                    .execute(&mut *tx)
                    .await?;
            }
            Op::Client {
                id,
                name,
                platform,
                app_version,
                remote,
            } => {
                sqlx::query(
                    "UPDATE watch_history
                        SET device = CASE WHEN device IS NULL OR device = client_ip
                                          THEN COALESCE(?2, device) ELSE device END,
                            platform = ?3, app_version = ?4, remote = ?5
                      WHERE id = ?1",
                )
                .bind(id)
                .bind(name)
                .bind(platform)
                .bind(app_version)
                .bind(remote)
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        }
    }
    write_deltas(&mut tx, deltas).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts finished plays in bulk (the demo's back-fill, benchmarks): `(play, ended_at,
/// ended_by)`, with their roll-ups.
pub async fn insert_finished(
    db: &Db,
    rows: &[(domain::history::Play, DateTime<Utc>, EndedBy)],
) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut deltas = Deltas::new();
        let new: Vec<NewRow> = chunk
            .iter()
            .map(|(p, end, by)| {
                let t = end.timestamp().max(p.started_at.timestamp());
                count(&mut deltas, p, t);
                (p.clone(), Some((t, *by)))
            })
            .collect();
        insert_rows(&mut tx, &new).await?;
        write_deltas(&mut tx, deltas).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether any play is stored.
pub async fn is_empty(db: &Db) -> Result<bool, StorageError> {
    let any: Option<i64> = sqlx::query_scalar("SELECT id FROM watch_history LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(any.is_none())
}

/// Text shorter than a trigram cannot use the text index; it is matched by `LIKE`.
const TRIGRAM: usize = 3;

/// Matches counted before a plan is chosen: below this a filter is "sparse" (its rows
/// are fetched and sorted), at or above it "dense" (an index in the wanted order is
/// walked and each row checked; a dense filter fills a page within a few thousand).
const SPARSE: i64 = 5000;

/// How the text filter is applied.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Text {
    None,
    /// Drive the query from the trigram index (few matches).
    Index,
    /// Check each row with `LIKE` (short text, or many matches).
    Like,
}

fn text_of(f: &Filter) -> Option<&str> {
    f.q.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// The text as one FTS5 phrase, quotes doubled.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// `FROM … WHERE …` for the filter, with `h` the history row.
fn push_from_where(q: &mut QueryBuilder<Sqlite>, f: &Filter, text: Text, by_length: bool) {
    let t = text_of(f).unwrap_or_default();
    if text == Text::Index {
        // The text index first, newest match first; each match is then checked against
        // the other filters by its primary key.
        q.push(
            " FROM watch_history_text CROSS JOIN watch_history h ON h.id = watch_history_text.rowid
              LEFT JOIN dvrs d ON d.dvr_id = h.dvr_id WHERE watch_history_text MATCH ",
        )
        .push_bind(phrase(t));
    } else {
        q.push(if by_length {
            " FROM watch_history h INDEXED BY watch_history_by_length"
        } else {
            " FROM watch_history h"
        })
        .push(" LEFT JOIN dvrs d ON d.dvr_id = h.dvr_id WHERE 1 = 1");
    }
    if let Some(v) = &f.dvr_id {
        q.push(" AND h.dvr_id = ").push_bind(v.clone());
    }
    if let Some(v) = &f.device {
        q.push(" AND h.device = ").push_bind(v.clone());
    }
    if let Some(v) = &f.channel {
        q.push(" AND h.channel = ").push_bind(v.clone());
    }
    if let Some(k) = f.kind {
        q.push(" AND h.kind = ").push_bind(k.as_str());
    }
    // Ids follow start times, so a time range is also an id range: every index
    // (which lists rowids in order within a value) narrows to it directly.
    if let Some(v) = f.from {
        q.push(" AND h.started_at >= ")
            .push_bind(v)
            .push(" AND h.id >= COALESCE((SELECT id FROM watch_history WHERE started_at >= ")
            .push_bind(v)
            .push(" ORDER BY started_at, id LIMIT 1), 9223372036854775807)");
    }
    if let Some(v) = f.to {
        q.push(" AND h.started_at < ")
            .push_bind(v)
            .push(" AND h.id <= COALESCE((SELECT id FROM watch_history WHERE started_at < ")
            .push_bind(v)
            .push(" ORDER BY started_at DESC, id DESC LIMIT 1), 0)");
    }
    if text == Text::Like {
        let like = format!(
            "%{}%",
            t.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q.push(" AND (");
        for (i, col) in ["h.title", "h.device", "h.channel", "h.call_sign"]
            .iter()
            .enumerate()
        {
            if i > 0 {
                q.push(" OR ");
            }
            q.push(format!("{col} LIKE "))
                .push_bind(like.clone())
                .push(" ESCAPE '\\'");
        }
        q.push(")");
    }
}

/// Rows matching, counted up to `cap`.
async fn count_upto(db: &Db, f: &Filter, text: Text, cap: i64) -> Result<i64, StorageError> {
    let mut q = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1");
    push_from_where(&mut q, f, text, false);
    q.push(" LIMIT ").push_bind(cap).push(")");
    Ok(q.build_query_scalar::<i64>().fetch_one(&db.pool).await?)
}

/// How to apply the text filter: by the trigram index when its matches are few.
async fn text_plan(db: &Db, f: &Filter) -> Result<Text, StorageError> {
    let Some(t) = text_of(f) else {
        return Ok(Text::None);
    };
    if t.chars().count() < TRIGRAM {
        return Ok(Text::Like);
    }
    let matches: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT rowid FROM watch_history_text
           WHERE watch_history_text MATCH ?1 LIMIT ?2)",
    )
    .bind(phrase(t))
    .bind(SPARSE)
    .fetch_one(&db.pool)
    .await?;
    Ok(if matches < SPARSE {
        Text::Index
    } else {
        Text::Like
    })
}

const COLUMNS: &str = "h.id, h.dvr_id, COALESCE(d.name, h.dvr_id) AS dvr_name, h.kind, h.device,
    h.client_ip, h.channel, h.call_sign, h.source, h.file_id, h.title, h.platform, h.app_version, h.remote, h.started_at,
    h.ended_at, h.watched_seconds, h.ended_by";

fn entry(r: &sqlx::sqlite::SqliteRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        id: r.try_get("id")?,
        dvr_id: r.try_get("dvr_id")?,
        dvr_name: r.try_get("dvr_name")?,
        kind: r.try_get("kind")?,
        device: r.try_get("device")?,
        client_ip: r.try_get("client_ip")?,
        channel: r.try_get("channel")?,
        call_sign: r.try_get("call_sign")?,
        source: r.try_get("source")?,
        file_id: r.try_get("file_id")?,
        title: r.try_get("title")?,
        platform: r.try_get("platform")?,
        app_version: r.try_get("app_version")?,
        remote: r.try_get("remote")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        watched_seconds: r.try_get("watched_seconds")?,
        ended_by: r.try_get("ended_by")?,
    })
}

/// The sort key a cursor carries for `order`.
fn key_of(e: &Entry, order: Order) -> i64 {
    match order {
        Order::Newest | Order::Oldest => e.started_at,
        Order::Longest => e.watched_seconds.unwrap_or(0),
    }
}

/// One page of plays matching `f` in `order`, after `after`; with the cursor of the
/// next page when there is one. "Longest" lists finished plays.
pub async fn page(
    db: &Db,
    f: &Filter,
    order: Order,
    after: Option<Cursor>,
    limit: u32,
) -> Result<(Vec<Entry>, Option<Cursor>), StorageError> {
    let limit = limit.clamp(1, 5000);
    let text = text_plan(db, f).await?;
    // Longest first: walk the length index when matches are many, else sort them.
    let by_length = order == Order::Longest
        && text != Text::Index
        && (f.dvr_id.is_none()
            && f.device.is_none()
            && f.channel.is_none()
            && f.kind.is_none()
            && f.from.is_none()
            && f.to.is_none()
            && text == Text::None
            || count_upto(db, f, text, SPARSE).await? >= SPARSE);
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS}"));
    push_from_where(&mut q, f, text, by_length);
    match (order, after) {
        (Order::Newest, Some(c)) => {
            q.push(" AND h.id < ").push_bind(c.id);
        }
        (Order::Oldest, Some(c)) => {
            q.push(" AND h.id > ").push_bind(c.id);
        }
        (Order::Longest, Some(c)) => {
            q.push(" AND (h.watched_seconds, h.id) < (")
                .push_bind(c.key)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        (_, None) => {}
    }
    q.push(match order {
        Order::Newest => " ORDER BY h.id DESC",
        Order::Oldest => " ORDER BY h.id ASC",
        Order::Longest => {
            " AND h.watched_seconds IS NOT NULL ORDER BY h.watched_seconds DESC, h.id DESC"
        }
    });
    q.push(" LIMIT ").push_bind(i64::from(limit) + 1);
    let rows = q.build().fetch_all(&db.pool).await?;
    let mut items = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|e| Cursor {
            key: key_of(e, order),
            id: e.id,
        })
    } else {
        None
    };
    Ok((items, next))
}

/// Distinct values of a column, fast on an index however many rows share each value
/// (a skip-scan: one index seek per distinct value). At most `max`.
async fn distinct(db: &Db, column: &str, max: i64) -> Result<Vec<String>, StorageError> {
    let sql = format!(
        "WITH RECURSIVE v(x) AS (
             SELECT MIN({column}) FROM watch_history
             UNION ALL
             SELECT (SELECT MIN({column}) FROM watch_history WHERE {column} > v.x) FROM v
              WHERE v.x IS NOT NULL)
         SELECT x FROM v WHERE x IS NOT NULL LIMIT ?1"
    );
    let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(max)
        .fetch_all(&db.pool)
        .await?;
    Ok(values)
}

/// The devices and channels seen, for the History page's filter lists.
pub async fn facets(db: &Db) -> Result<(Vec<String>, Vec<(String, Option<String>)>), StorageError> {
    let devices = distinct(db, "device", 500).await?;
    let channels = distinct(db, "channel", 2000).await?;
    let mut named = Vec::with_capacity(channels.len());
    for ch in channels {
        let call: Option<String> = sqlx::query_scalar(
            "SELECT call_sign FROM watch_history WHERE channel = ?1 AND call_sign IS NOT NULL
              ORDER BY id DESC LIMIT 1",
        )
        .bind(&ch)
        .fetch_optional(&db.pool)
        .await?
        .flatten();
        named.push((ch, call));
    }
    Ok((devices, named))
}

/// Deletes plays that started more than `days` ago (ended ones only), in batches, and
/// the roll-ups of the days before then.
pub async fn sweep(db: &Db, days: u32, now: DateTime<Utc>) -> Result<u64, StorageError> {
    let cutoff = now.timestamp().saturating_sub(i64::from(days) * 86_400);
    sqlx::query("DELETE FROM watch_by_day WHERE day < ?1")
        .bind(cutoff.div_euclid(86_400))
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM streams_by_hour WHERE hour < ?1")
        .bind(cutoff.div_euclid(3600))
        .execute(&db.pool)
        .await?;
    let mut total = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM watch_history WHERE id IN (
               SELECT id FROM watch_history WHERE started_at < ?1 AND ended_at IS NOT NULL
                LIMIT ?2)",
        )
        .bind(cutoff)
        .bind(super::activity::SWEEP_BATCH)
        .execute(&db.pool)
        .await?
        .rows_affected();
        total += n;
        if n < super::activity::SWEEP_BATCH as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::history::Play;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn play(
        id: i64,
        dvr: &str,
        kind: PlayKind,
        device: &str,
        channel: Option<&str>,
        title: &str,
        start: i64,
    ) -> Play {
        Play {
            id,
            dvr_id: dvr.into(),
            kind,
            device: Some(device.into()),
            client_ip: Some("192.168.1.20".into()),
            channel: channel.map(Into::into),
            call_sign: channel.map(|c| format!("K{c}")),
            source: channel.map(|_| "tuner".into()),
            file_id: channel.is_none().then(|| "1234".into()),
            title: Some(title.into()),
            started_at: at(start),
        }
    }

    #[tokio::test]
    async fn plays_are_written_in_batches_and_closed_honestly() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        assert_eq!(resume_point(&db).await.unwrap(), (1, None));
        write(
            &db,
            &[
                Op::Start(play(
                    1,
                    "aaaa0001",
                    PlayKind::Live,
                    "Den",
                    Some("9"),
                    "News",
                    0,
                )),
                Op::Start(play(
                    2,
                    "aaaa0001",
                    PlayKind::Vod,
                    "Kitchen",
                    None,
                    "Movie",
                    10,
                )),
                Op::Title {
                    id: 1,
                    title: "Evening News".into(),
                },
                // A name fills only a device the activity left unnamed.
                Op::Client {
                    id: 1,
                    name: Some("Den Apple TV".into()),
                    platform: Some("tvOS".into()),
                    app_version: Some("2026.11.20".into()),
                    remote: Some(false),
                },
                Op::End {
                    id: 1,
                    ended_at: at(600),
                    ended_by: EndedBy::Stopped,
                    play: Box::new(play(
                        1,
                        "aaaa0001",
                        PlayKind::Live,
                        "Den",
                        Some("9"),
                        "News",
                        0,
                    )),
                },
            ],
        )
        .await
        .unwrap();
        assert_eq!(resume_point(&db).await.unwrap(), (3, Some(at(10))));
        touch_open(&db, at(70)).await.unwrap();
        // A restart: what the last run left open ends where it was last known.
        assert_eq!(close_interrupted(&db).await.unwrap(), 1);
        let (items, next) = page(&db, &Filter::default(), Order::Newest, None, 10)
            .await
            .unwrap();
        assert_eq!(next, None);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].id, 2, "newest first");
        assert_eq!(items[0].ended_at, Some(at(70).timestamp()));
        assert_eq!(items[0].watched_seconds, Some(60));
        assert_eq!(items[0].ended_by.as_deref(), Some("monitor_restarted"));
        assert_eq!(items[1].title.as_deref(), Some("Evening News"));
        assert_eq!(items[1].device.as_deref(), Some("Den"));
        assert_eq!(items[1].platform.as_deref(), Some("tvOS"));
        assert_eq!(items[1].remote, Some(false));
        assert_eq!(items[1].watched_seconds, Some(600));
        assert_eq!(items[1].ended_by.as_deref(), Some("stopped"));
        assert_eq!(items[1].dvr_name, "aaaa0001", "an unknown DVR shows its id");
    }

    #[tokio::test]
    async fn every_filter_narrows_and_pages_follow_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let mut rows = Vec::new();
        for i in 0..100i64 {
            let dvr = if i % 2 == 0 { "aaaa0001" } else { "bbbb0002" };
            let (kind, ch) = if i % 5 == 0 {
                (PlayKind::Vod, None)
            } else {
                (PlayKind::Live, Some(if i % 3 == 0 { "13" } else { "9" }))
            };
            let device = if i % 4 == 0 { "Kitchen TV" } else { "Den" };
            let title = if i == 42 {
                "The Great British Bake Off"
            } else {
                "News"
            };
            rows.push((
                play(i + 1, dvr, kind, device, ch, title, i * 100),
                at(i * 100 + i),
                EndedBy::Stopped,
            ));
        }
        insert_finished(&db, &rows).await.unwrap();
        let count = |f: Filter| {
            let db = db.clone();
            async move {
                let mut n = 0;
                let mut after = None;
                loop {
                    let (items, next) = page(&db, &f, Order::Newest, after, 7).await.unwrap();
                    n += items.len();
                    match next {
                        Some(c) => after = Some(c),
                        None => return n,
                    }
                }
            }
        };
        assert_eq!(count(Filter::default()).await, 100);
        let f = |g: fn(&mut Filter)| {
            let mut f = Filter::default();
            g(&mut f);
            f
        };
        assert_eq!(count(f(|f| f.dvr_id = Some("aaaa0001".into()))).await, 50);
        assert_eq!(count(f(|f| f.kind = Some(PlayKind::Vod))).await, 20);
        assert_eq!(count(f(|f| f.device = Some("Kitchen TV".into()))).await, 25);
        assert_eq!(count(f(|f| f.channel = Some("13".into()))).await, 27);
        assert_eq!(
            count(f(|f| {
                f.from = Some(at(1000).timestamp());
                f.to = Some(at(2000).timestamp());
            }))
            .await,
            10
        );
        assert_eq!(
            count(f(|f| f.q = Some("british".into()))).await,
            1,
            "trigram, any case"
        );
        assert_eq!(
            count(f(|f| f.q = Some("ki".into()))).await,
            25,
            "short text by LIKE"
        );
        assert_eq!(
            count(f(|f| f.q = Some("k13".into()))).await,
            27,
            "call sign"
        );
        assert_eq!(
            count(f(|f| f.q = Some("\"%_".into()))).await,
            0,
            "quotes and wildcards are text"
        );
        let (longest, _) = page(&db, &Filter::default(), Order::Longest, None, 3)
            .await
            .unwrap();
        assert_eq!(
            longest.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![100, 99, 98]
        );
        let (oldest, next) = page(&db, &Filter::default(), Order::Oldest, None, 3)
            .await
            .unwrap();
        assert_eq!(
            oldest.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let (more, _) = page(&db, &Filter::default(), Order::Oldest, next, 2)
            .await
            .unwrap();
        assert_eq!(more.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 5]);
        let (devices, channels) = facets(&db).await.unwrap();
        assert_eq!(devices, vec!["Den", "Kitchen TV"]);
        assert_eq!(
            channels,
            vec![
                ("13".to_string(), Some("K13".to_string())),
                ("9".to_string(), Some("K9".to_string()))
            ]
        );
        assert_eq!(
            Cursor::parse(&Cursor { key: -1, id: 7 }.to_string()),
            Some(Cursor { key: -1, id: 7 })
        );
        assert_eq!(Cursor::parse("x.1"), None);
    }

    /// Filters matching thousands of rows take the other plan (walk an index in order,
    /// check each row); the answers are the same.
    #[tokio::test]
    async fn dense_filters_answer_like_sparse_ones() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let n = SPARSE * 2 + 500;
        let rows: Vec<_> = (0..n)
            .map(|i| {
                let title = if i % 2 == 0 { "Morning News" } else { "Movie" };
                let dvr = if i % 3 == 0 { "aaaa0001" } else { "bbbb0002" };
                let p = play(i + 1, dvr, PlayKind::Live, "Den", Some("9"), title, i * 10);
                (p, at(i * 10 + (i * 7919) % 5000), EndedBy::Stopped)
            })
            .collect();
        insert_finished(&db, &rows).await.unwrap();
        let all = |f: Filter, order: Order| {
            let db = db.clone();
            async move {
                let mut out = Vec::new();
                let mut after = None;
                loop {
                    let (items, next) = page(&db, &f, order, after, 1000).await.unwrap();
                    out.extend(items);
                    match next {
                        Some(c) => after = Some(c),
                        None => return out,
                    }
                }
            }
        };
        let news = Filter {
            q: Some("news".into()),
            ..Filter::default()
        };
        assert_eq!(text_plan(&db, &news).await.unwrap(), Text::Like);
        let got = all(news.clone(), Order::Newest).await;
        assert_eq!(got.len() as i64, (n + 1) / 2);
        assert!(got.windows(2).all(|w| w[0].id > w[1].id));
        let one = Filter {
            dvr_id: Some("aaaa0001".into()),
            ..Filter::default()
        };
        let longest = all(one, Order::Longest).await;
        assert_eq!(longest.len() as i64, (n + 2) / 3);
        assert!(longest
            .windows(2)
            .all(|w| (w[0].watched_seconds, w[0].id) > (w[1].watched_seconds, w[1].id)));
        assert!(longest.iter().all(|e| e.dvr_id == "aaaa0001"));
        let week = Filter {
            from: Some(at(1000).timestamp()),
            to: Some(at(2000).timestamp()),
            q: Some("news".into()),
            ..Filter::default()
        };
        assert_eq!(all(week, Order::Oldest).await.len(), 50);
    }

    #[tokio::test]
    async fn the_sweep_keeps_recent_and_open_plays() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let now = at(100 * 86_400);
        write(
            &db,
            &[
                Op::Start(play(
                    1,
                    "aaaa0001",
                    PlayKind::Live,
                    "Den",
                    Some("9"),
                    "Old",
                    0,
                )),
                Op::Start(play(
                    2,
                    "aaaa0001",
                    PlayKind::Live,
                    "Den",
                    Some("9"),
                    "Open",
                    1,
                )),
                Op::End {
                    id: 1,
                    ended_at: at(60),
                    ended_by: EndedBy::Stopped,
                    play: Box::new(play(
                        1,
                        "aaaa0001",
                        PlayKind::Live,
                        "Den",
                        Some("9"),
                        "Old",
                        0,
                    )),
                },
                Op::Start(play(
                    3,
                    "aaaa0001",
                    PlayKind::Live,
                    "Den",
                    Some("9"),
                    "New",
                    99 * 86_400,
                )),
            ],
        )
        .await
        .unwrap();
        assert_eq!(sweep(&db, 30, now).await.unwrap(), 1);
        let (items, _) = page(&db, &Filter::default(), Order::Newest, None, 10)
            .await
            .unwrap();
        assert_eq!(items.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 2]);
        let f = Filter {
            q: Some("old".into()),
            ..Filter::default()
        };
        assert!(
            page(&db, &f, Order::Newest, None, 10)
                .await
                .unwrap()
                .0
                .is_empty(),
            "the text index forgets it too"
        );
    }
}
