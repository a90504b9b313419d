//! The Statistics page's figures, read from the daily roll-ups and the hourly stream
//! peaks (never by scanning every play), plus recording outcomes from the alert log.

use sqlx::Row;

use super::{Db, StorageError};

/// Plays and watch time of one value of a dimension (a channel, a device, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub key: String,
    pub label: Option<String>,
    pub plays: i64,
    pub seconds: i64,
}

/// The busiest minute of a stretch of time: streams by kind.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Streams {
    /// The stretch's start (unix seconds).
    pub at: i64,
    pub live: i64,
    pub vod: i64,
    pub recording: i64,
    pub total: i64,
    /// When the total peaked (unix seconds).
    pub peak_at: i64,
}

/// Recording outcomes of one day (UTC).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordingDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub completed: i64,
    pub failed: i64,
    pub missed: i64,
    pub interrupted: i64,
}

/// What is asked: one DVR or all, days `[from_day, to_day]` (unix days, UTC).
#[derive(Debug, Clone)]
pub struct Range {
    pub dvr_id: Option<String>,
    pub from_day: i64,
    pub to_day: i64,
}

/// The dimensions the roll-ups keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Kind,
    Channel,
    Device,
    Title,
}

impl Dim {
    fn name(self) -> &'static str {
        match self {
            Dim::Kind => "kind",
            Dim::Channel => "channel",
            Dim::Device => "device",
            Dim::Title => "title",
        }
    }
}

/// The `top` values of a dimension by watch time.
pub async fn by(db: &Db, r: &Range, dim: Dim, top: i64) -> Result<Vec<Slice>, StorageError> {
    let rows = sqlx::query(
        "SELECT key, MAX(label) AS label, SUM(plays) AS plays, SUM(seconds) AS seconds
           FROM watch_by_day
          WHERE dim = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR dvr_id = ?4)
          GROUP BY key ORDER BY seconds DESC, key LIMIT ?5",
    )
    .bind(dim.name())
    .bind(r.from_day)
    .bind(r.to_day)
    .bind(&r.dvr_id)
    .bind(top)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Slice {
                key: row.try_get("key")?,
                label: row.try_get("label")?,
                plays: row.try_get("plays")?,
                seconds: row.try_get("seconds")?,
            })
        })
        .collect()
}

/// Plays by day of week (Monday first) and hour of day they started. The roll-ups
/// keep UTC hours; `place` puts the start of each (unix seconds) in its cell, so the
/// caller decides the zone: `(weekday, hour)`.
pub async fn heatmap(
    db: &Db,
    r: &Range,
    place: impl Fn(i64) -> (usize, usize),
) -> Result<[[i64; 24]; 7], StorageError> {
    let rows = sqlx::query(
        "SELECT day, CAST(key AS INTEGER) AS hour, SUM(plays) AS plays
           FROM watch_by_day
          WHERE dim = 'hour' AND day BETWEEN ?1 AND ?2 AND (?3 IS NULL OR dvr_id = ?3)
          GROUP BY day, hour",
    )
    .bind(r.from_day)
    .bind(r.to_day)
    .bind(&r.dvr_id)
    .fetch_all(&db.pool)
    .await?;
    let mut grid = [[0i64; 24]; 7];
    for row in rows {
        let (day, hour, plays): (i64, i64, i64) = (
            row.try_get("day")?,
            row.try_get("hour")?,
            row.try_get("plays")?,
        );
        let (dow, h) = place(day * 86_400 + hour.clamp(0, 23) * 3600);
        if let Some(cell) = grid.get_mut(dow).and_then(|d| d.get_mut(h)) {
            *cell += plays;
        }
    }
    Ok(grid)
}

/// Streams at once, in stretches of `bucket_seconds` (a multiple of an hour): each
/// stretch's busiest hour. Stretches with nothing playing are absent.
pub async fn streams(
    db: &Db,
    r: &Range,
    bucket_seconds: i64,
) -> Result<Vec<Streams>, StorageError> {
    let bucket_hours = (bucket_seconds / 3600).max(1);
    let rows = sqlx::query(
        "SELECT hour, live, vod, recording, total, peak_at FROM streams_by_hour
          WHERE dvr_id = ?1 AND hour BETWEEN ?2 AND ?3 ORDER BY hour",
    )
    .bind(r.dvr_id.as_deref().unwrap_or("*"))
    .bind(r.from_day * 24)
    .bind(r.to_day * 24 + 23)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<Streams> = Vec::new();
    for row in rows {
        let hour: i64 = row.try_get("hour")?;
        let s = Streams {
            at: hour.div_euclid(bucket_hours) * bucket_hours * 3600,
            live: row.try_get("live")?,
            vod: row.try_get("vod")?,
            recording: row.try_get("recording")?,
            total: row.try_get("total")?,
            peak_at: row.try_get("peak_at")?,
        };
        match out.last_mut() {
            Some(last) if last.at == s.at => {
                if s.total > last.total {
                    *last = s;
                }
            }
            _ => out.push(s),
        }
    }
    Ok(out)
}

/// Stores hourly stream peaks as they are (the demo's back-fill): `(dvr_id or '*',
/// streams)` where `at` is the hour's start.
pub async fn insert_stream_hours(db: &Db, rows: &[(String, Streams)]) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    for chunk in rows.chunks(1000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT OR IGNORE INTO streams_by_hour (hour, dvr_id, live, vod, recording, total, peak_at) ",
        );
        q.push_values(chunk, |mut row, (dvr, s)| {
            row.push_bind(s.at.div_euclid(3600))
                .push_bind(dvr.clone())
                .push_bind(s.live)
                .push_bind(s.vod)
                .push_bind(s.recording)
                .push_bind(s.total)
                .push_bind(s.peak_at);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Recording outcomes per day, from the alert log (kept for the alert retention).
pub async fn recordings(db: &Db, r: &Range) -> Result<Vec<RecordingDay>, StorageError> {
    let day = |d: i64| {
        chrono::DateTime::from_timestamp(d * 86_400, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string()
    };
    let rows = sqlx::query(
        "SELECT substr(created_at, 1, 10) AS day, alert_type, COUNT(*) AS n FROM alerts
          WHERE created_at >= ?1 AND created_at < ?2 AND (?3 IS NULL OR dvr_id = ?3)
            AND alert_type IN ('recording.completed', 'recording.failed', 'recording.missed',
                               'recording.interrupted')
          GROUP BY day, alert_type ORDER BY day",
    )
    .bind(day(r.from_day))
    .bind(day(r.to_day + 1))
    .bind(&r.dvr_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<RecordingDay> = Vec::new();
    for row in rows {
        let d: String = row.try_get("day")?;
        let kind: String = row.try_get("alert_type")?;
        let n: i64 = row.try_get("n")?;
        if out.last().is_none_or(|x| x.day != d) {
            out.push(RecordingDay {
                day: d,
                ..RecordingDay::default()
            });
        }
        if let Some(x) = out.last_mut() {
            match kind.as_str() {
                "recording.completed" => x.completed += n,
                "recording.failed" => x.failed += n,
                "recording.missed" => x.missed += n,
                _ => x.interrupted += n,
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::{self, Sample};
    use crate::history;
    use chrono::DateTime;
    use domain::history::{EndedBy, Op, Play, PlayKind};

    fn play(
        id: i64,
        dvr: &str,
        channel: Option<&str>,
        device: &str,
        title: &str,
        start: i64,
    ) -> Play {
        Play {
            id,
            dvr_id: dvr.into(),
            kind: if channel.is_some() {
                PlayKind::Live
            } else {
                PlayKind::Vod
            },
            device: Some(device.into()),
            client_ip: None,
            channel: channel.map(Into::into),
            call_sign: channel.map(|c| format!("K{c}")),
            source: None,
            file_id: None,
            title: Some(title.into()),
            started_at: DateTime::from_timestamp(start, 0).unwrap(),
        }
    }

    #[tokio::test]
    async fn roll_ups_answer_what_the_plays_say() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        // Day 20,000 is Friday 2024-10-04 (1970-01-01, day 0, was a Thursday).
        let day = 20_000 * 86_400;
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        history::insert_finished(
            &db,
            &[
                (
                    play(1, "aaaa0001", Some("7"), "Den", "News", day + 20 * 3600),
                    at(day + 21 * 3600),
                    EndedBy::Stopped,
                ),
                (
                    play(
                        2,
                        "aaaa0001",
                        Some("7"),
                        "Kitchen",
                        "News",
                        day + 20 * 3600 + 60,
                    ),
                    at(day + 20 * 3600 + 660),
                    EndedBy::Stopped,
                ),
                (
                    play(3, "bbbb0002", None, "Den", "Movie", day + 86_400 + 3600),
                    at(day + 86_400 + 3 * 3600),
                    EndedBy::Stopped,
                ),
            ],
        )
        .await
        .unwrap();
        // A live play recorded the usual way: it counts once it ends.
        history::write(
            &db,
            &[Op::Start(play(
                4,
                "aaaa0001",
                Some("9"),
                "Den",
                "Sports",
                day + 5 * 3600,
            ))],
        )
        .await
        .unwrap();
        let all = Range {
            dvr_id: None,
            from_day: 20_000,
            to_day: 20_001,
        };
        assert_eq!(
            by(&db, &all, Dim::Channel, 10).await.unwrap().len(),
            1,
            "an open play is not counted"
        );
        history::write(
            &db,
            &[Op::End {
                id: 4,
                ended_at: at(day + 5 * 3600 + 300),
                ended_by: EndedBy::Stopped,
                play: Box::new(play(
                    4,
                    "aaaa0001",
                    Some("9"),
                    "Den",
                    "Sports",
                    day + 5 * 3600,
                )),
            }],
        )
        .await
        .unwrap();

        let channels = by(&db, &all, Dim::Channel, 10).await.unwrap();
        assert_eq!(
            channels[0],
            Slice {
                key: "7".into(),
                label: Some("K7".into()),
                plays: 2,
                seconds: 4200
            }
        );
        assert_eq!(channels[1].key, "9");
        let kinds = by(&db, &all, Dim::Kind, 10).await.unwrap();
        assert_eq!(
            kinds
                .iter()
                .map(|s| (s.key.as_str(), s.plays))
                .collect::<Vec<_>>(),
            vec![("vod", 1), ("live", 3)]
        );
        let devices = by(&db, &all, Dim::Device, 1).await.unwrap();
        assert_eq!(devices[0].key, "Den");
        assert_eq!(devices[0].seconds, 3600 + 7200 + 300);
        let one = Range {
            dvr_id: Some("bbbb0002".into()),
            ..all.clone()
        };
        assert_eq!(by(&db, &one, Dim::Title, 10).await.unwrap()[0].key, "Movie");
        let utc = |t: i64| {
            (
                ((t.div_euclid(86_400) + 3) % 7) as usize,
                (t.rem_euclid(86_400) / 3600) as usize,
            )
        };
        let grid = heatmap(&db, &all, utc).await.unwrap();
        assert_eq!(grid[4][20], 2, "Friday 20:00");
        assert_eq!(grid[4][5], 1, "Friday 05:00");
        assert_eq!(grid[5][1], 1, "Saturday 01:00");
        // Where the caller's zone is five hours behind, Saturday 01:00 is Friday 20:00.
        let west = |t: i64| utc(t - 5 * 3600);
        let grid = heatmap(&db, &all, west).await.unwrap();
        assert_eq!(grid[4][20], 1, "Saturday 01:00 UTC");
        assert_eq!(grid[4][15], 2, "Friday 20:00 UTC");
        assert_eq!(grid[4][0], 1, "Friday 05:00 UTC");
        let later = Range {
            from_day: 20_001,
            ..all.clone()
        };
        assert_eq!(by(&db, &later, Dim::Channel, 10).await.unwrap().len(), 0);

        // Streams at once: each hour keeps its busiest minute, per DVR and for all.
        let sample = |dvr: &str, at: i64, live: u32, vod: u32| Sample {
            dvr_id: dvr.into(),
            at,
            sessions: live + vod,
            disk_free: None,
            disk_total: None,
            live,
            vod,
            recording: 0,
        };
        activity::record(
            &db,
            &[
                sample("aaaa0001", day + 60, 1, 0),
                sample("bbbb0002", day + 60, 0, 1),
            ],
        )
        .await
        .unwrap();
        activity::record(
            &db,
            &[
                sample("aaaa0001", day + 120, 2, 1),
                sample("bbbb0002", day + 120, 0, 0),
            ],
        )
        .await
        .unwrap();
        activity::record(
            &db,
            &[
                sample("aaaa0001", day + 7200, 1, 0),
                sample("bbbb0002", day + 7200, 0, 0),
            ],
        )
        .await
        .unwrap();
        let s = streams(&db, &all, 3600).await.unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].live, s[0].vod, s[0].total, s[0].peak_at),
            (2, 1, 3, day + 120)
        );
        let daily = streams(&db, &all, 86_400).await.unwrap();
        assert_eq!(daily.len(), 1);
        assert_eq!(daily[0].total, 3);
        let b = streams(&db, &one, 3600).await.unwrap();
        assert_eq!((b.len(), b[0].vod), (1, 1));

        // The sweep forgets roll-ups older than the retention.
        history::sweep(&db, 1, at(day + 5 * 86_400)).await.unwrap();
        assert!(by(&db, &all, Dim::Kind, 10).await.unwrap().is_empty());
        assert!(streams(&db, &all, 3600).await.unwrap().is_empty());
    }

    /// A play the last run left open counts once the next start ends it.
    #[tokio::test]
    async fn an_interrupted_play_is_counted_when_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let day = 20_000 * 86_400;
        history::write(
            &db,
            &[Op::Start(play(
                1,
                "aaaa0001",
                None,
                "Den",
                "Movie",
                day + 60,
            ))],
        )
        .await
        .unwrap();
        history::touch_open(&db, DateTime::from_timestamp(day + 660, 0).unwrap())
            .await
            .unwrap();
        let all = Range {
            dvr_id: None,
            from_day: 20_000,
            to_day: 20_000,
        };
        assert!(by(&db, &all, Dim::Kind, 10).await.unwrap().is_empty());
        assert_eq!(history::close_interrupted(&db).await.unwrap(), 1);
        let kinds = by(&db, &all, Dim::Kind, 10).await.unwrap();
        assert_eq!(
            kinds,
            vec![Slice {
                key: "vod".into(),
                label: None,
                plays: 1,
                seconds: 600
            }]
        );
        assert_eq!(by(&db, &all, Dim::Device, 10).await.unwrap()[0].key, "Den");
    }

    #[tokio::test]
    async fn recording_outcomes_come_from_the_alert_log() {
        use crate::outbox::{self, NewAlert};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let day = 20_000 * 86_400;
        let at = DateTime::from_timestamp(day + 3600, 0).unwrap();
        for kind in [
            "recording.completed",
            "recording.completed",
            "recording.failed",
            "channel.watching.start",
        ] {
            let a = NewAlert {
                dvr_id: "aaaa0001".into(),
                dvr_name: "Den".into(),
                alert_type: kind.into(),
                title: "t".into(),
                message: "m".into(),
                image_url: None,
                dedup_key: None,
                status: "sent",
                created_at: at,
                send_at: at,
                route: None,
            };
            outbox::record(&db, &a, &[]).await.unwrap();
        }
        let r = Range {
            dvr_id: None,
            from_day: 20_000,
            to_day: 20_000,
        };
        let days = recordings(&db, &r).await.unwrap();
        assert_eq!(
            days,
            vec![RecordingDay {
                day: "2024-10-04".into(),
                completed: 2,
                failed: 1,
                missed: 0,
                interrupted: 0
            }]
        );
        let other = Range {
            dvr_id: Some("bbbb0002".into()),
            ..r
        };
        assert!(recordings(&db, &other).await.unwrap().is_empty());
    }
}
