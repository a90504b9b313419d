//! Health history: the periods each DVR was stale or disconnected, opened and closed
//! as the watchdog's verdict changes, for the DVR page.

use sqlx::Row;

use super::{Db, StorageError};

/// One period a DVR was not healthy.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub dvr_id: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// `stale` or `disconnected` (the worst seen).
    pub kind: String,
    pub detail: Option<String>,
    /// `monitor_restarted` or `dvr_removed` when not ended by the DVR recovering.
    pub ended_by: Option<String>,
}

/// The DVR turned `kind` (`stale` or `disconnected`) at `at`: opens a period, or, when
/// one is open, marks it disconnected if that is worse than what it was.
pub async fn begin(
    db: &Db,
    dvr_id: &str,
    at: i64,
    kind: &str,
    detail: Option<&str>,
) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    let open: Option<String> =
        sqlx::query_scalar("SELECT kind FROM dvr_outages WHERE dvr_id = ? AND ended_at IS NULL")
            .bind(dvr_id)
            .fetch_optional(&mut *tx)
            .await?;
    match open {
        None => {
            sqlx::query(
                "INSERT INTO dvr_outages (dvr_id, started_at, kind, detail) VALUES (?, ?, ?, ?)",
            )
            .bind(dvr_id)
            .bind(at)
            .bind(kind)
            .bind(detail)
            .execute(&mut *tx)
            .await?;
        }
        Some(was) if was == "stale" && kind == "disconnected" => {
            sqlx::query(
                "UPDATE dvr_outages SET kind = 'disconnected', detail = COALESCE(?, detail)
                  WHERE dvr_id = ? AND ended_at IS NULL",
            )
            .bind(detail)
            .bind(dvr_id)
            .execute(&mut *tx)
            .await?;
        }
        Some(_) => {}
    }
    tx.commit().await?;
    Ok(())
}

/// The DVR is healthy again at `at` (or the period ends for `ended_by`): closes what
/// is open for it.
pub async fn end(
    db: &Db,
    dvr_id: &str,
    at: i64,
    ended_by: Option<&str>,
) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE dvr_outages SET ended_at = MAX(?, started_at), ended_by = ?
          WHERE dvr_id = ? AND ended_at IS NULL",
    )
    .bind(at)
    .bind(ended_by)
    .bind(dvr_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// At start: what the last run left open ends where this run begins (what happened
/// while the monitor was down is not known). Returns how many.
pub async fn close_interrupted(db: &Db, at: i64) -> Result<u64, StorageError> {
    Ok(sqlx::query(
        "UPDATE dvr_outages SET ended_at = MAX(?, started_at), ended_by = 'monitor_restarted'
          WHERE ended_at IS NULL",
    )
    .bind(at)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// A DVR's periods that overlap `[since, now]`, newest first, at most `limit`.
pub async fn list(
    db: &Db,
    dvr_id: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<Outage>, StorageError> {
    let rows = sqlx::query(
        "SELECT dvr_id, started_at, ended_at, kind, detail, ended_by FROM dvr_outages
          WHERE dvr_id = ? AND (ended_at IS NULL OR ended_at >= ?)
          ORDER BY started_at DESC LIMIT ?",
    )
    .bind(dvr_id)
    .bind(since)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Outage {
                dvr_id: r.try_get("dvr_id")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                kind: r.try_get("kind")?,
                detail: r.try_get("detail")?,
                ended_by: r.try_get("ended_by")?,
            })
        })
        .collect()
}

/// Deletes periods that ended more than `days` ago.
pub async fn sweep(db: &Db, days: u32, now: i64) -> Result<u64, StorageError> {
    Ok(sqlx::query("DELETE FROM dvr_outages WHERE ended_at < ?")
        .bind(now.saturating_sub(i64::from(days) * 86_400))
        .execute(&db.pool)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn periods_open_worsen_close_and_are_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        begin(&db, "a", 100, "stale", Some("silent for 300 s"))
            .await
            .unwrap();
        // Still out: one period, now disconnected.
        begin(&db, "a", 150, "disconnected", Some("connection refused"))
            .await
            .unwrap();
        begin(&db, "a", 160, "stale", None).await.unwrap();
        end(&db, "a", 200, None).await.unwrap();
        begin(&db, "a", 300, "disconnected", Some("timed out"))
            .await
            .unwrap();
        begin(&db, "b", 310, "stale", None).await.unwrap();

        let a = list(&db, "a", 0, 10).await.unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].started_at, a[0].ended_at), (300, None));
        assert_eq!(
            (a[1].started_at, a[1].ended_at, a[1].kind.as_str()),
            (100, Some(200), "disconnected")
        );
        assert_eq!(a[1].detail.as_deref(), Some("connection refused"));
        assert_eq!(list(&db, "a", 250, 10).await.unwrap().len(), 1, "since 250");

        // A restart ends what was open where the new run begins.
        assert_eq!(close_interrupted(&db, 400).await.unwrap(), 2);
        let a = list(&db, "a", 0, 10).await.unwrap();
        assert_eq!(a[0].ended_at, Some(400));
        assert_eq!(a[0].ended_by.as_deref(), Some("monitor_restarted"));

        assert_eq!(sweep(&db, 1, 200 + 86_400 + 1).await.unwrap(), 1);
        assert_eq!(list(&db, "a", 0, 10).await.unwrap().len(), 1);
    }
}
