//! Activity samples (sessions and disk per DVR, once a minute) behind the dashboard's
//! 24-hour charts, and the retention sweep that keeps the database small.

use sqlx::Row;

use super::{Db, StorageError};

/// One DVR's figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub dvr_id: String,
    pub at: i64,
    pub sessions: u32,
    pub disk_free: Option<u64>,
    pub disk_total: Option<u64>,
    /// Streams now, by kind (the Statistics page's streams-at-once chart).
    pub live: u32,
    pub vod: u32,
    pub recording: u32,
}

/// Rows per INSERT: five values each, well under SQLite's limit of bound values.
const ROWS_PER_INSERT: usize = 500;

/// Records one sample per DVR in one transaction, many rows per statement: at 10,000
/// DVRs a statement per row was a round trip to the database thread each, 10,000 a
/// minute.
pub async fn record(db: &Db, samples: &[Sample]) -> Result<(), StorageError> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for chunk in samples.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT OR REPLACE INTO activity_samples (dvr_id, at, sessions, disk_free, disk_total) ",
        );
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.dvr_id.clone())
                .push_bind(s.at)
                .push_bind(s.sessions as i64)
                .push_bind(s.disk_free.map(|v| v as i64))
                .push_bind(s.disk_total.map(|v| v as i64));
        });
        q.build().execute(&mut *tx).await?;
    }
    // Each hour keeps its busiest minute, per DVR and for all DVRs together ('*').
    let at = samples[0].at;
    let mut all = ("*".to_string(), 0u32, 0u32, 0u32);
    let mut rows: Vec<(String, u32, u32, u32)> = Vec::with_capacity(samples.len() + 1);
    for s in samples {
        all.1 += s.live;
        all.2 += s.vod;
        all.3 += s.recording;
        if s.live + s.vod + s.recording > 0 {
            rows.push((s.dvr_id.clone(), s.live, s.vod, s.recording));
        }
    }
    rows.push(all);
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO streams_by_hour (hour, dvr_id, live, vod, recording, total, peak_at) ",
        );
        q.push_values(chunk, |mut row, (id, live, vod, rec)| {
            row.push_bind(at.div_euclid(3600))
                .push_bind(id.clone())
                .push_bind(*live as i64)
                .push_bind(*vod as i64)
                .push_bind(*rec as i64)
                .push_bind((*live + *vod + *rec) as i64)
                .push_bind(at);
        });
        q.push(
            " ON CONFLICT (hour, dvr_id) DO UPDATE SET
                live = excluded.live, vod = excluded.vod, recording = excluded.recording,
                total = excluded.total, peak_at = excluded.peak_at
              WHERE excluded.total > streams_by_hour.total",
        );
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Bucketed points since `from` (unix seconds): `(dvr_id, bucket start, most sessions,
/// disk used percent)`, ordered by DVR then time.
pub async fn buckets(
    db: &Db,
    dvr_id: Option<&str>,
    from: i64,
    bucket_seconds: i64,
) -> Result<Vec<(String, i64, u32, Option<f64>)>, StorageError> {
    let rows = sqlx::query(
        "SELECT dvr_id, (at / ?1) * ?1 AS bucket, MAX(sessions) AS sessions,
                MAX(CASE WHEN disk_total > 0
                         THEN 100.0 * (disk_total - disk_free) / disk_total END) AS used
           FROM activity_samples
          WHERE at >= ?2 AND (?3 IS NULL OR dvr_id = ?3)
          GROUP BY dvr_id, bucket ORDER BY dvr_id, bucket",
    )
    .bind(bucket_seconds)
    .bind(from)
    .bind(dvr_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let sessions: i64 = r.try_get("sessions")?;
            Ok((
                r.try_get("dvr_id")?,
                r.try_get("bucket")?,
                sessions.max(0) as u32,
                r.try_get("used")?,
            ))
        })
        .collect()
}

/// Alerts deleted per statement by the sweep: each batch is a short write, so other
/// writers (new alerts, deliveries) wait milliseconds, not the whole sweep.
pub const SWEEP_BATCH: i64 = 1000;

/// Deletes alerts older than `alert_days` whose deliveries are all finished (a pending
/// delivery is never dropped), in batches of [`SWEEP_BATCH`], and samples older than
/// `sample_days`. Returns the counts.
pub async fn sweep(db: &Db, alert_days: u32, sample_days: u32) -> Result<(u64, u64), StorageError> {
    let now = chrono::Utc::now();
    let alert_cutoff = now
        .checked_sub_signed(chrono::Duration::days(i64::from(alert_days)))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut alerts = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM alerts WHERE id IN (
               SELECT id FROM alerts WHERE created_at < ?1
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id
                                  AND o.status IN ('pending', 'sending'))
               LIMIT ?2)",
        )
        .bind(&alert_cutoff)
        .bind(SWEEP_BATCH)
        .execute(&db.pool)
        .await?
        .rows_affected();
        alerts += n;
        if n < SWEEP_BATCH as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let samples = sqlx::query("DELETE FROM activity_samples WHERE at < ?")
        .bind(
            now.timestamp()
                .saturating_sub(i64::from(sample_days) * 86_400),
        )
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok((alerts, samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn samples_bucket_by_max_and_old_ones_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let now = chrono::Utc::now().timestamp() / 300 * 300;
        let s = |at: i64, sessions: u32| Sample {
            dvr_id: "aaaa0001".into(),
            at,
            sessions,
            disk_free: Some(25),
            disk_total: Some(100),
            live: sessions,
            vod: 0,
            recording: 0,
        };
        record(
            &db,
            &[
                s(now, 1),
                s(now + 60, 3),
                s(now + 300, 2),
                s(now - 30 * 86_400, 9),
            ],
        )
        .await
        .unwrap();
        let b = buckets(&db, None, now - 3600, 300).await.unwrap();
        assert_eq!(
            b,
            vec![
                ("aaaa0001".to_string(), now, 3, Some(75.0)),
                ("aaaa0001".to_string(), now + 300, 2, Some(75.0)),
            ]
        );
        assert!(buckets(&db, Some("other"), 0, 300)
            .await
            .unwrap()
            .is_empty());
        let (_, removed) = sweep(&db, 30, 7).await.unwrap();
        assert_eq!(removed, 1);
    }

    #[tokio::test]
    async fn a_minute_of_many_dvrs_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let n = ROWS_PER_INSERT * 2 + 7;
        let samples: Vec<Sample> = (0..n)
            .map(|i| Sample {
                dvr_id: format!("{i:08x}"),
                at: 600,
                sessions: (i % 5) as u32,
                disk_free: (i % 2 == 0).then_some(i as u64),
                disk_total: Some(10_000),
                live: (i % 5) as u32,
                vod: 0,
                recording: 0,
            })
            .collect();
        record(&db, &samples).await.unwrap();
        let b = buckets(&db, None, 0, 60).await.unwrap();
        assert_eq!(b.len(), n);
        assert_eq!(
            b[n - 1],
            (
                format!("{:08x}", n - 1),
                600,
                ((n - 1) % 5) as u32,
                Some(100.0 * (10_000.0 - (n - 1) as f64) / 10_000.0)
            )
        );
        assert_eq!(b[1].3, None, "no disk figure stays none");
    }

    #[tokio::test]
    async fn the_sweep_deletes_in_batches_and_keeps_pending_deliveries() {
        use crate::outbox::{self, NewAlert, ProviderRef};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let old = chrono::Utc::now() - chrono::Duration::days(40);
        let a = NewAlert {
            dvr_id: "aaaa0001".into(),
            dvr_name: "Den".into(),
            alert_type: "channel.watching.start".into(),
            title: "t".into(),
            message: "m".into(),
            image_url: None,
            dedup_key: None,
            status: "sent",
            created_at: old,
            send_at: old,
            route: None,
        };
        let n = SWEEP_BATCH as usize * 2 + 5;
        for _ in 0..n {
            outbox::record(&db, &a, &[]).await.unwrap();
        }
        let to = [ProviderRef {
            provider_id: 1,
            provider_type: "webhook".into(),
            hold: None,
        }];
        outbox::record(&db, &a, &to).await.unwrap();
        let (alerts, _) = sweep(&db, 30, 7).await.unwrap();
        assert_eq!(alerts, n as u64);
        let left = outbox::history(&db, None, 10, None).await.unwrap();
        assert_eq!(left.len(), 1, "the alert with a pending delivery stays");
    }
}
