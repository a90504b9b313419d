//! The `routing` table: the matrix's explicit entries (missing means on).

use sqlx::Row;

use super::{Db, StorageError};
use domain::notify::routing::Routing;

pub async fn load(db: &Db) -> Result<Routing, StorageError> {
    let rows = sqlx::query("SELECT dvr_id, event, provider_type, enabled FROM routing")
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push((
            r.try_get::<String, _>("dvr_id")?,
            r.try_get::<String, _>("event")?,
            r.try_get::<String, _>("provider_type")?,
            r.try_get::<bool, _>("enabled")?,
        ));
    }
    Ok(Routing::from_rows(out))
}

/// Replaces the whole matrix in one transaction.
pub async fn replace(db: &Db, m: &Routing) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM routing").execute(&mut *tx).await?;
    for (dvr_id, event, t, on) in m.rows() {
        sqlx::query(
            "INSERT INTO routing (dvr_id, event, provider_type, enabled) VALUES (?, ?, ?, ?)",
        )
        .bind(dvr_id)
        .bind(event)
        .bind(t)
        .bind(on)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dvrs::{self, DvrRecord, ManagedBy};
    use domain::alerts::kind::Category;
    use domain::dvr::id::dvr_id;

    fn rec(port: u16) -> DvrRecord {
        DvrRecord {
            dvr_id: dvr_id("127.0.0.1", port),
            name: "Den".into(),
            host: "127.0.0.1".into(),
            port,
            enabled: true,
            staleness_threshold_seconds: 300,
            managed_by: ManagedBy::Ui,
            api_key: Default::default(),
        }
    }

    #[tokio::test]
    async fn matrix_round_trips_and_follows_its_dvr() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let a = rec(9001);
        dvrs::insert(&db, &a).await.unwrap();
        let m: Routing = serde_json::from_value(serde_json::json!({
            a.dvr_id.clone(): {"channel": {"discord": false}, "disk": {"email": true}}
        }))
        .unwrap();
        replace(&db, &m).await.unwrap();
        assert_eq!(load(&db).await.unwrap(), m);

        // A new host/port carries the entries to the new id.
        let b = rec(9002);
        assert!(dvrs::replace(&db, &a.dvr_id, &b).await.unwrap());
        let moved = load(&db).await.unwrap();
        assert!(!moved.allows(&b.dvr_id, Category::Channel, "discord"));
        assert!(!moved.0.contains_key(&a.dvr_id));

        // Deleting the DVR deletes its entries.
        dvrs::delete(&db, &b.dvr_id).await.unwrap();
        assert_eq!(load(&db).await.unwrap(), Routing::default());
    }
}
