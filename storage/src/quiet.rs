//! Quiet periods, snoozes, and the deliveries they hold back for a digest
//! (`domain::notify::quiet`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::outbox::{insert, parse_ts, ts, NewAlert, ProviderRef};
use super::{now_text, Db, StorageError};
use domain::notify::quiet::{Period, Snooze};

fn period_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Period, StorageError> {
    let id: i64 = row.try_get("id")?;
    let text: String = row.try_get("period")?;
    let mut p: Period = serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
        key: format!("quiet_periods.{id}"),
        message: e.to_string(),
    })?;
    p.id = id;
    Ok(p)
}

/// Every period, by id.
pub async fn periods(db: &Db) -> Result<Vec<Period>, StorageError> {
    let rows = sqlx::query("SELECT id, period FROM quiet_periods ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(period_from_row).collect()
}

fn text(p: &Period) -> String {
    serde_json::to_string(p).expect("a period serialises")
}

/// Stores a new period; answers it with its id.
pub async fn insert_period(db: &Db, p: &Period) -> Result<Period, StorageError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO quiet_periods (period, created_at) VALUES (?1, ?2) RETURNING id",
    )
    .bind(text(p))
    .bind(now_text())
    .fetch_one(&db.pool)
    .await?;
    Ok(Period { id, ..p.clone() })
}

/// Replaces period `p.id`; false when there is none.
pub async fn replace_period(db: &Db, p: &Period) -> Result<bool, StorageError> {
    let done = sqlx::query("UPDATE quiet_periods SET period = ?1 WHERE id = ?2")
        .bind(text(p))
        .bind(p.id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete_period(db: &Db, id: i64) -> Result<bool, StorageError> {
    let done = sqlx::query("DELETE FROM quiet_periods WHERE id = ?1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The snoozes not over by `now`, soonest end first.
pub async fn snoozes(db: &Db, now: DateTime<Utc>) -> Result<Vec<Snooze>, StorageError> {
    let rows = sqlx::query(
        "SELECT id, dvr_id, kind, until, digest, source, created_at FROM snoozes
         WHERE until > ?1 ORDER BY until, id",
    )
    .bind(ts(now))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Snooze {
                id: r.try_get("id")?,
                dvr_id: r.try_get("dvr_id")?,
                kind: r.try_get("kind")?,
                until: parse_ts(&r.try_get::<String, _>("until")?),
                digest: r.try_get::<i64, _>("digest")? != 0,
                source: r.try_get("source")?,
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?),
            })
        })
        .collect()
}

/// Stores a snooze; answers it with its id. Snoozes over for a day are dropped here.
pub async fn insert_snooze(db: &Db, s: &Snooze) -> Result<Snooze, StorageError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM snoozes WHERE until < ?1")
        .bind(ts(s.created_at - chrono::Duration::days(1)))
        .execute(&mut *tx)
        .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO snoozes (dvr_id, kind, until, digest, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )
    .bind(&s.dvr_id)
    .bind(&s.kind)
    .bind(ts(s.until))
    .bind(i64::from(s.digest))
    .bind(&s.source)
    .bind(ts(s.created_at))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Snooze { id, ..s.clone() })
}

/// Ends a snooze now; false when there is none.
pub async fn delete_snooze(db: &Db, id: i64) -> Result<bool, StorageError> {
    let done = sqlx::query("DELETE FROM snoozes WHERE id = ?1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A delivery held back for a digest.
#[derive(Debug, Clone)]
pub struct HeldRow {
    pub outbox_id: i64,
    pub provider_id: i64,
    pub provider_type: String,
    pub alert_id: i64,
    pub dvr_id: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// Every delivery waiting for a digest, oldest first.
pub async fn held(db: &Db) -> Result<Vec<HeldRow>, StorageError> {
    let rows = sqlx::query(
        "SELECT o.id, o.provider_id, o.provider_type, o.alert_id, a.dvr_id, a.dvr_name,
                a.alert_type, a.title, a.message, a.created_at
         FROM outbox o JOIN alerts a ON a.id = o.alert_id
         WHERE o.status = 'quiet' ORDER BY a.created_at, o.id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HeldRow {
                outbox_id: r.try_get("id")?,
                provider_id: r.try_get("provider_id")?,
                provider_type: r.try_get("provider_type")?,
                alert_id: r.try_get("alert_id")?,
                dvr_id: r.try_get("dvr_id")?,
                dvr_name: r.try_get("dvr_name")?,
                alert_type: r.try_get("alert_type")?,
                title: r.try_get("title")?,
                message: r.try_get("message")?,
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?),
            })
        })
        .collect()
}

/// Records a digest (an alert with its deliveries) and marks the deliveries it sums up
/// `digested`, in one transaction; answers the digest's alert id.
pub async fn record_digest(
    db: &Db,
    digest: &NewAlert,
    to: &[ProviderRef],
    summed: &[i64],
) -> Result<i64, StorageError> {
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, digest, to).await?;
    for o in summed {
        sqlx::query(
            "UPDATE outbox SET status = 'digested', finished_at = ?1, last_error = ?2
             WHERE id = ?3 AND status = 'quiet'",
        )
        .bind(now_text())
        .bind(format!("summed up in digest alert {id}"))
        .bind(o)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}
