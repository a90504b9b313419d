//! Alert history and the durable outbox: an alert and one outbox row per provider are
//! written in one transaction before anything is sent; every delivery attempt is
//! logged; a row acknowledged by its provider is marked sent in the same statement
//! batch as its log entry, so it is never picked up again.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Db, StorageError};

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// An alert about to be recorded.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub dvr_id: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub message: String,
    pub image_url: Option<String>,
    pub dedup_key: Option<String>,
    /// `sent` (handed to the outbox), `delayed` (handed to the outbox, due at
    /// `send_at` when the DVR's budget has room), `rate_limited` (held back for longer
    /// than alerts stay worth sending: no deliveries), `suppressed`, or `quiet` (held
    /// back by quiet hours, maintenance or a snooze: its deliveries, kept only for a
    /// digest, wait as `quiet`).
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    /// When the deliveries are first due.
    pub send_at: DateTime<Utc>,
    /// What routing rules read of it (JSON of `domain::alerts::decide::Route`).
    pub route: Option<String>,
}

/// A provider the alert goes to.
#[derive(Debug, Clone)]
pub struct ProviderRef {
    pub provider_id: i64,
    pub provider_type: String,
    /// A routing rule's minimum watching time: not sent before `until`, and then only
    /// while the play is still on (else recorded `suppressed`).
    pub hold: Option<Hold>,
}

/// See [`ProviderRef::hold`].
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub until: DateTime<Utc>,
    /// The play's activity key on the alert's DVR.
    pub while_playing: String,
}

/// Records the alert and its outbox rows atomically; answers the alert id.
pub async fn record(db: &Db, a: &NewAlert, to: &[ProviderRef]) -> Result<i64, StorageError> {
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, a, to).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`record`] within the caller's transaction.
pub(crate) async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    a: &NewAlert,
    to: &[ProviderRef],
) -> Result<i64, StorageError> {
    let created = ts(a.created_at);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alerts (dvr_id, dvr_name, alert_type, title, message, image_url, dedup_key, status, created_at, route)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&a.dvr_id)
    .bind(&a.dvr_name)
    .bind(&a.alert_type)
    .bind(&a.title)
    .bind(&a.message)
    .bind(&a.image_url)
    .bind(&a.dedup_key)
    .bind(a.status)
    .bind(&created)
    .bind(&a.route)
    .fetch_one(&mut **tx)
    .await?;
    for d in to {
        sqlx::query(
            "INSERT INTO outbox (alert_id, provider_id, provider_type, delivery_id, status, next_attempt_at, created_at, while_playing)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(d.provider_id)
        .bind(&d.provider_type)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(if a.status == "quiet" { "quiet" } else { "pending" })
        .bind(ts(a
            .send_at
            .max(a.created_at)
            .max(d.hold.as_ref().map_or(a.created_at, |h| h.until))))
        .bind(&created)
        .bind(d.hold.as_ref().map(|h| h.while_playing.as_str()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// A pending delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    /// The claim that took the row to `sending`: every later write needs it, so a row
    /// released and claimed again is never written by its first sender.
    pub claim: String,
    pub alert_id: i64,
    pub provider_id: i64,
    pub provider_type: String,
    pub delivery_id: String,
    pub attempts: u32,
    pub dvr_id: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub message: String,
    pub image_url: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Sent only while this play (activity key) is still on: a rule's minimum
    /// watching time.
    pub while_playing: Option<String>,
}

/// Claims pending rows due by `now` (oldest first) for delivery: they turn `sending`,
/// so no other pass picks them up while they are in flight.
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Pending>, StorageError> {
    let claim = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE outbox SET status = 'sending', claim = ?1, claimed_at = ?2
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?2
                      ORDER BY next_attempt_at, id LIMIT ?3)",
    )
    .bind(&claim)
    .bind(ts(now))
    .bind(limit)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "SELECT o.id, o.claim, o.alert_id, o.provider_id, o.provider_type, o.delivery_id, o.attempts,
                o.while_playing, a.dvr_id, a.dvr_name, a.alert_type, a.title, a.message, a.image_url, a.created_at
         FROM outbox o JOIN alerts a ON a.id = o.alert_id
         WHERE o.claim = ? AND o.status = 'sending'
         ORDER BY o.next_attempt_at, o.id",
    )
    .bind(&claim)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r| {
            Ok(Pending {
                id: r.try_get("id")?,
                claim: r.try_get("claim")?,
                alert_id: r.try_get("alert_id")?,
                provider_id: r.try_get("provider_id")?,
                provider_type: r.try_get("provider_type")?,
                delivery_id: r.try_get("delivery_id")?,
                attempts: r.try_get::<i64, _>("attempts")?.try_into().unwrap_or(0),
                dvr_id: r.try_get("dvr_id")?,
                dvr_name: r.try_get("dvr_name")?,
                alert_type: r.try_get("alert_type")?,
                title: r.try_get("title")?,
                message: r.try_get("message")?,
                image_url: r.try_get("image_url")?,
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?),
                while_playing: r.try_get("while_playing")?,
            })
        })
        .collect()
}

/// Rows a previous process claimed but never finished go back to pending (start-up,
/// and at shutdown for sends that did not finish in time).
pub async fn release_claims(db: &Db) -> Result<u64, StorageError> {
    let res = sqlx::query(
        "UPDATE outbox SET status = 'pending', claim = NULL, claimed_at = NULL WHERE status = 'sending'",
    )
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected())
}

/// Claims taken before `before` that never recorded an outcome (their sender died or
/// could not write it) go back to pending while the process runs; rows this process
/// still has in flight (`in_flight`, waiting for their provider or sending) are left
/// alone, so nothing is sent twice by one process.
pub async fn release_stale_claims(
    db: &Db,
    before: DateTime<Utc>,
    in_flight: &std::collections::HashSet<i64>,
) -> Result<u64, StorageError> {
    let stale: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, claim FROM outbox
         WHERE status = 'sending' AND (claimed_at IS NULL OR claimed_at < ?)",
    )
    .bind(ts(before))
    .fetch_all(&db.pool)
    .await?;
    let mut released = 0;
    for (id, claim) in stale.into_iter().filter(|(id, _)| !in_flight.contains(id)) {
        released += sqlx::query(
            "UPDATE outbox SET status = 'pending', claim = NULL, claimed_at = NULL
             WHERE id = ? AND status = 'sending' AND claim IS ?",
        )
        .bind(id)
        .bind(claim)
        .execute(&db.pool)
        .await?
        .rows_affected();
    }
    Ok(released)
}

/// Pending deliveries of alerts raised before `cutoff` are not worth sending any more:
/// they turn `expired`, with one log entry each, in one transaction.
pub async fn expire_before(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, StorageError> {
    const WHY: &str = "not delivered in time: older than delivery.max_age_seconds";
    let now = ts(Utc::now());
    let cutoff = ts(cutoff);
    let mut tx = db.begin_write().await?;
    // The log first, by the same condition, so it names exactly the rows expired here.
    sqlx::query(
        "INSERT INTO delivery_log (outbox_id, attempt, status, error, created_at)
         SELECT id, attempts, 'expired', ?1, ?2 FROM outbox
         WHERE status = 'pending' AND created_at < ?3",
    )
    .bind(WHY)
    .bind(&now)
    .bind(&cutoff)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query(
        "UPDATE outbox SET status = 'expired', claim = NULL, finished_at = ?1, last_error = ?2
         WHERE status = 'pending' AND created_at < ?3",
    )
    .bind(&now)
    .bind(WHY)
    .bind(&cutoff)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(done)
}

/// Puts a claimed row back until `until` without logging an attempt (a circuit that is
/// open is not the provider's answer; the row's age still runs toward expiry).
pub async fn defer(
    db: &Db,
    row_id: i64,
    claim: &str,
    until: DateTime<Utc>,
    why: &str,
) -> Result<(), StorageError> {
    sqlx::query(
        "UPDATE outbox SET status = 'pending', claim = NULL, claimed_at = NULL, next_attempt_at = ?,
           last_error = ?
         WHERE id = ? AND status = 'sending' AND claim = ?",
    )
    .bind(ts(until))
    .bind(why)
    .bind(row_id)
    .bind(claim)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The latest alert time per DVR and dedup key since `since` (durable dedup), read
/// once at start for every DVR.
pub async fn recent_keys_all(
    db: &Db,
    since: DateTime<Utc>,
) -> Result<Vec<(String, String, DateTime<Utc>)>, StorageError> {
    let rows = sqlx::query(
        "SELECT dvr_id, dedup_key, MAX(created_at) AS at FROM alerts
         WHERE dedup_key IS NOT NULL AND created_at >= ?
         GROUP BY dvr_id, dedup_key",
    )
    .bind(ts(since))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("dvr_id")?,
                r.try_get("dedup_key")?,
                parse_ts(&r.try_get::<String, _>("at")?),
            ))
        })
        .collect()
}

/// When the earliest pending row is due (to sleep until then).
pub async fn next_due(db: &Db) -> Result<Option<DateTime<Utc>>, StorageError> {
    let t: Option<String> =
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(&db.pool)
            .await?;
    Ok(t.map(|s| parse_ts(&s)))
}

pub async fn pending_count(db: &Db) -> Result<u64, StorageError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
            .fetch_one(&db.pool)
            .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// `sent`, `retry`, `failed` or `expired`.
    pub status: &'static str,
    pub http_status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub error: Option<String>,
    /// For `retry`: when to try again.
    pub next_at: Option<DateTime<Utc>>,
    /// Whether this attempt counts (a circuit-open skip does not).
    pub counts: bool,
}

/// Logs the attempt and moves the row on (sent, failed, or rescheduled), atomically.
/// The transaction writes first, so it takes SQLite's write lock at once (a read
/// first could not be upgraded under a concurrent writer).
/// Answers false (and writes nothing) when the row is no longer this claim's: it was
/// released (shutdown, a stale claim) and may be another sender's now.
pub async fn finish_attempt(
    db: &Db,
    row_id: i64,
    claim: &str,
    a: &Attempt,
) -> Result<bool, StorageError> {
    let now = ts(Utc::now());
    let mut tx = db.begin_write().await?;
    let attempt: Option<i64> = match a.status {
        "sent" | "failed" | "expired" | "suppressed" => {
            sqlx::query_scalar(
                "UPDATE outbox SET status = ?1, attempts = attempts + ?2, last_error = ?3, finished_at = ?4
                 WHERE id = ?5 AND status = 'sending' AND claim = ?6 RETURNING attempts",
            )
            .bind(a.status)
            .bind(i64::from(a.counts))
            .bind(&a.error)
            .bind(&now)
            .bind(row_id)
            .bind(claim)
            .fetch_optional(&mut *tx)
            .await?
        }
        _ => {
            sqlx::query_scalar(
                "UPDATE outbox SET status = 'pending', claim = NULL, claimed_at = NULL, attempts = attempts + ?1,
                   last_error = ?2, next_attempt_at = ?3
                 WHERE id = ?4 AND status = 'sending' AND claim = ?5 RETURNING attempts",
            )
            .bind(i64::from(a.counts))
            .bind(&a.error)
            .bind(ts(a.next_at.unwrap_or_else(Utc::now)))
            .bind(row_id)
            .bind(claim)
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let Some(attempt) = attempt else {
        return Ok(false);
    };
    sqlx::query(
        "INSERT INTO delivery_log (outbox_id, attempt, status, http_status, latency_ms, error, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row_id)
    .bind(attempt)
    .bind(a.status)
    .bind(a.http_status.map(i64::from))
    .bind(a.latency_ms.map(|l| i64::try_from(l).unwrap_or(i64::MAX)))
    .bind(&a.error)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A delivery as the alert history shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub provider_id: i64,
    pub provider_type: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<String>,
}

/// An alert history entry (`GET /api/v1/alerts`).
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub dvr_id: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub message: String,
    pub image_url: Option<String>,
    pub status: String,
    pub created_at: String,
    pub deliveries: Vec<DeliveryView>,
}

/// Alerts newest first, optionally for one DVR and before an id (the cursor), with
/// their deliveries: one query for the page.
pub async fn history(
    db: &Db,
    dvr_id: Option<&str>,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<AlertView>, StorageError> {
    let rows = sqlx::query(
        "WITH page AS (
             SELECT id, dvr_id, dvr_name, alert_type, title, message, image_url, status, created_at
             FROM alerts
             WHERE (?1 IS NULL OR dvr_id = ?1) AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3)
         SELECT page.*, o.id AS o_id, o.provider_id, o.provider_type, o.status AS o_status,
                o.attempts, o.last_error, o.finished_at
         FROM page LEFT JOIN outbox o ON o.alert_id = page.id
         ORDER BY page.id DESC, o.id",
    )
    .bind(dvr_id)
    .bind(before)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<AlertView> = Vec::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        if out.last().is_none_or(|a| a.id != id) {
            out.push(AlertView {
                id,
                dvr_id: r.try_get("dvr_id")?,
                dvr_name: r.try_get("dvr_name")?,
                alert_type: r.try_get("alert_type")?,
                title: r.try_get("title")?,
                message: r.try_get("message")?,
                image_url: r.try_get("image_url")?,
                status: r.try_get("status")?,
                created_at: r.try_get("created_at")?,
                deliveries: Vec::new(),
            });
        }
        if r.try_get::<Option<i64>, _>("o_id")?.is_some() {
            let d = DeliveryView {
                provider_id: r.try_get("provider_id")?,
                provider_type: r.try_get("provider_type")?,
                status: r.try_get("o_status")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                finished_at: r.try_get("finished_at")?,
            };
            if let Some(a) = out.last_mut() {
                a.deliveries.push(d);
            }
        }
    }
    Ok(out)
}

/// Every attempt logged for one outbox row (tests and the debug bundle).
pub async fn attempts_of(db: &Db, row_id: i64) -> Result<Vec<(String, Option<i64>)>, StorageError> {
    let rows =
        sqlx::query("SELECT status, http_status FROM delivery_log WHERE outbox_id = ? ORDER BY id")
            .bind(row_id)
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("http_status")?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> NewAlert {
        NewAlert {
            dvr_id: "aef6d698".into(),
            dvr_name: "Den".into(),
            alert_type: "channel.watching.start".into(),
            title: "t".into(),
            message: "m".into(),
            image_url: None,
            dedup_key: Some("ch7-Den".into()),
            status: "sent",
            created_at: Utc::now(),
            send_at: Utc::now(),
            route: None,
        }
    }

    #[tokio::test]
    async fn alert_and_outbox_rows_then_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let to = [
            ProviderRef {
                provider_id: 1,
                provider_type: "discord".into(),
                hold: None,
            },
            ProviderRef {
                provider_id: 2,
                provider_type: "email".into(),
                hold: None,
            },
        ];
        let id = record(&db, &alert(), &to).await.unwrap();
        let due_now = claim_due(&db, Utc::now(), 10).await.unwrap();
        assert!(
            claim_due(&db, Utc::now(), 10).await.unwrap().is_empty(),
            "claimed rows are not claimed twice"
        );
        assert_eq!(due_now.len(), 2);
        assert_eq!(pending_count(&db).await.unwrap(), 2);
        assert_ne!(due_now[0].delivery_id, due_now[1].delivery_id);

        let later = Utc::now() + chrono::Duration::seconds(60);
        finish_attempt(
            &db,
            due_now[0].id,
            &due_now[0].claim,
            &Attempt {
                status: "retry",
                http_status: Some(429),
                latency_ms: Some(3),
                error: Some("rate limited".into()),
                next_at: Some(later),
                counts: true,
            },
        )
        .await
        .unwrap();
        finish_attempt(
            &db,
            due_now[1].id,
            &due_now[1].claim,
            &Attempt {
                status: "sent",
                http_status: Some(250),
                latency_ms: Some(5),
                error: None,
                next_at: None,
                counts: true,
            },
        )
        .await
        .unwrap();
        assert!(claim_due(&db, Utc::now(), 10).await.unwrap().is_empty());
        assert_eq!(
            next_due(&db).await.unwrap().map(|t| t.timestamp()),
            Some(later.timestamp())
        );
        assert_eq!(claim_due(&db, later, 10).await.unwrap()[0].attempts, 1);
        assert_eq!(release_claims(&db).await.unwrap(), 1);

        let h = history(&db, None, 10, None).await.unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].id, id);
        let statuses: Vec<&str> = h[0].deliveries.iter().map(|d| d.status.as_str()).collect();
        assert_eq!(
            recent_keys_all(&db, Utc::now() - chrono::Duration::hours(1))
                .await
                .unwrap()
                .iter()
                .filter(|(dvr, _, _)| dvr == "aef6d698")
                .count(),
            1
        );
        assert_eq!(statuses, ["pending", "sent"]);
        assert_eq!(
            attempts_of(&db, due_now[0].id).await.unwrap(),
            vec![("retry".to_string(), Some(429))]
        );
        assert!(history(&db, Some("other"), 10, None)
            .await
            .unwrap()
            .is_empty());
        assert!(history(&db, None, 10, Some(id)).await.unwrap().is_empty());
    }

    fn two() -> [ProviderRef; 2] {
        [
            ProviderRef {
                provider_id: 1,
                provider_type: "discord".into(),
                hold: None,
            },
            ProviderRef {
                provider_id: 2,
                provider_type: "email".into(),
                hold: None,
            },
        ]
    }

    #[tokio::test]
    async fn a_stale_claim_is_released_while_the_process_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        record(&db, &alert(), &two()).await.unwrap();
        let claimed = claim_due(&db, Utc::now(), 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let minute_ago = Utc::now() - chrono::Duration::seconds(60);
        let none = std::collections::HashSet::new();
        assert_eq!(
            release_stale_claims(&db, minute_ago, &none).await.unwrap(),
            0,
            "fresh claims stay"
        );
        // One of the two is still in flight here (waiting for its provider): kept.
        let later = Utc::now() + chrono::Duration::seconds(1);
        let busy = std::collections::HashSet::from([claimed[0].id]);
        assert_eq!(release_stale_claims(&db, later, &busy).await.unwrap(), 1);
        let again = claim_due(&db, Utc::now(), 10).await.unwrap();
        assert_eq!(again.len(), 1, "the released one is pending again");
        assert_eq!(again[0].id, claimed[1].id);
        // Its first sender comes back late: its claim is gone, so it writes nothing.
        let sent = Attempt {
            status: "sent",
            http_status: Some(200),
            latency_ms: Some(1),
            error: None,
            next_at: None,
            counts: true,
        };
        assert!(
            !finish_attempt(&db, claimed[1].id, &claimed[1].claim, &sent)
                .await
                .unwrap()
        );
        assert!(attempts_of(&db, claimed[1].id).await.unwrap().is_empty());
        assert!(finish_attempt(&db, again[0].id, &again[0].claim, &sent)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn old_pending_deliveries_expire_with_one_log_entry_and_deferrals_log_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let mut old = alert();
        old.created_at = Utc::now() - chrono::Duration::hours(2);
        old.send_at = old.created_at;
        let old_id = record(&db, &old, &two()).await.unwrap();
        let new_id = record(&db, &alert(), &two()).await.unwrap();
        // A deferred (circuit open) row keeps its age and writes no log entry.
        let rows = claim_due(&db, Utc::now(), 1).await.unwrap();
        defer(
            &db,
            rows[0].id,
            &rows[0].claim,
            Utc::now() + chrono::Duration::seconds(60),
            "circuit open",
        )
        .await
        .unwrap();
        assert!(attempts_of(&db, rows[0].id).await.unwrap().is_empty());
        let cutoff = Utc::now() - chrono::Duration::hours(1);
        assert_eq!(expire_before(&db, cutoff).await.unwrap(), 2);
        assert_eq!(expire_before(&db, cutoff).await.unwrap(), 0);
        let h = history(&db, None, 10, None).await.unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].id, new_id);
        assert!(h[0].deliveries.iter().all(|d| d.status == "pending"));
        assert_eq!(h[1].id, old_id);
        assert_eq!(h[1].deliveries.len(), 2);
        assert!(h[1].deliveries.iter().all(|d| d.status == "expired"));
        assert_eq!(
            attempts_of(&db, rows[0].id).await.unwrap(),
            vec![("expired".to_string(), None)]
        );
        assert_eq!(pending_count(&db).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn history_pages_keep_alerts_without_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let a = record(&db, &alert(), &[]).await.unwrap();
        let b = record(&db, &alert(), &two()).await.unwrap();
        let c = record(&db, &alert(), &[]).await.unwrap();
        let h = history(&db, None, 2, None).await.unwrap();
        assert_eq!(h.iter().map(|x| x.id).collect::<Vec<_>>(), [c, b]);
        assert_eq!(h[1].deliveries.len(), 2);
        let h = history(&db, None, 2, Some(b)).await.unwrap();
        assert_eq!(h.iter().map(|x| x.id).collect::<Vec<_>>(), [a]);
        assert!(h[0].deliveries.is_empty());
    }
}

/// An alert as Home Assistant gets it over MQTT.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertBrief {
    pub id: i64,
    pub dvr_id: String,
    pub alert_type: String,
    pub title: String,
    pub message: String,
    pub created_at: String,
}

/// Alerts recorded after `after` (an alert id), oldest first, at most `limit`.
pub async fn alerts_after(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<AlertBrief>, StorageError> {
    let rows = sqlx::query(
        "SELECT id, dvr_id, alert_type, title, message, created_at FROM alerts
          WHERE id > ?1 ORDER BY id LIMIT ?2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AlertBrief {
                id: r.try_get("id")?,
                dvr_id: r.try_get("dvr_id")?,
                alert_type: r.try_get("alert_type")?,
                title: r.try_get("title")?,
                message: r.try_get("message")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// The newest alert id (0 with none).
pub async fn last_alert_id(db: &Db) -> Result<i64, StorageError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM alerts")
            .fetch_one(&db.pool)
            .await?,
    )
}

/// Each DVR's newest alert title.
pub async fn last_titles(db: &Db) -> Result<Vec<(String, String)>, StorageError> {
    Ok(sqlx::query_as(
        "SELECT dvr_id, title FROM alerts WHERE id IN (SELECT MAX(id) FROM alerts GROUP BY dvr_id)",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// A recent alert with what routing rules read of it, for a rule's preview.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedAlert {
    pub id: i64,
    pub dvr_id: String,
    pub dvr_name: String,
    pub alert_type: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    /// JSON of `domain::alerts::decide::Route`, when the alert had a client.
    pub route: Option<String>,
}

/// The newest `limit` alerts, newest first.
pub async fn recent_routed(db: &Db, limit: i64) -> Result<Vec<RoutedAlert>, StorageError> {
    let rows = sqlx::query(
        "SELECT id, dvr_id, dvr_name, alert_type, title, created_at, route FROM alerts
          ORDER BY id DESC LIMIT ?1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RoutedAlert {
                id: r.try_get("id")?,
                dvr_id: r.try_get("dvr_id")?,
                dvr_name: r.try_get("dvr_name")?,
                alert_type: r.try_get("alert_type")?,
                title: r.try_get("title")?,
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?),
                route: r.try_get("route")?,
            })
        })
        .collect()
}
