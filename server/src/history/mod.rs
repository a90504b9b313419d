//! Watch history: the recorder that keeps every play, and the reads behind the
//! History page, its CSV export and the Statistics page.

pub(crate) mod recorder;
pub mod sample;

use chrono::{Duration, Utc};
use storage::{history, Db, StorageError};

/// Days of history the demo shows from its first minute.
const DEMO_DAYS: i64 = 4;
/// Plays per DVR per day in the demo's history: a busy household.
const DEMO_PLAYS_PER_DAY: usize = 40;

/// Fills a few days of plausible history for the demo's DVRs, once (only into an empty
/// history), so History and Statistics have something to show at once.
pub async fn fill_demo(db: &Db, dvr_ids: &[String]) -> Result<(), StorageError> {
    if dvr_ids.is_empty() || !history::is_empty(db).await? {
        return Ok(());
    }
    let to = Utc::now() - Duration::minutes(5);
    let from = to - Duration::days(DEMO_DAYS);
    let count = DEMO_PLAYS_PER_DAY * dvr_ids.len() * DEMO_DAYS as usize;
    let seed = to.timestamp() as u64;
    let rows = sample::plausible(dvr_ids, from, to, count, 1, seed);
    history::insert_finished(db, &rows).await?;
    storage::stats::insert_stream_hours(db, &sample::stream_hours(&rows)).await?;
    tracing::info!(
        plays = rows.len(),
        days = DEMO_DAYS,
        "demo: watch history filled"
    );
    Ok(())
}
