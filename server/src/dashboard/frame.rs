//! The dashboard frame from what the hub gathered: pure (no locks, no database, no
//! clock of its own), so which sessions show, in what order, and which upcoming
//! recordings make the list are unit-tested here. `metrics.rs` is built the same way.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use wire::{AlertRow, Dashboard, DeliveryRow, DvrCard, RecordingRow, SessionRow, UpcomingRow};

use domain::disk::DiskSample;
use domain::session::{LiveSession, Recording, VodSession};
use engine::slot::Health;
use storage::dvrs::DvrRecord;
use storage::outbox::AlertView;

/// Upcoming recordings in a frame.
const FRAME_UPCOMING: usize = 20;

/// A channel's name, logo and the program on air now.
#[derive(Debug, Default, Clone)]
pub(crate) struct ChannelNow {
    pub name: Option<String>,
    pub logo: Option<String>,
    pub program: Option<String>,
}

/// What enrichment found for one DVR: channel names, logos and programs, and the
/// upcoming recordings from its job list.
#[derive(Debug, Default, Clone)]
pub(crate) struct Extras {
    pub channels: HashMap<String, ChannelNow>,
    pub upcoming: Vec<UpcomingRow>,
}

/// A running DVR as read at one moment.
#[derive(Debug)]
pub struct Running {
    pub health: Health,
    pub disk: Option<DiskSample>,
    pub version: Option<String>,
    pub last_error: Option<String>,
    pub live: Vec<LiveSession>,
    pub vod: Vec<VodSession>,
    pub recordings: Vec<Recording>,
}

/// One configured DVR; `running` is `None` when it is disabled or has no task.
#[derive(Debug)]
pub(crate) struct GatheredDvr {
    pub record: DvrRecord,
    pub running: Option<Running>,
}

/// Everything a frame shows.
#[derive(Debug)]
pub(crate) struct Gathered {
    pub now: DateTime<Utc>,
    pub dvrs: Vec<GatheredDvr>,
    /// Enrichment by `dvr_id`.
    pub extras: HashMap<String, Extras>,
    /// The newest alerts, newest first.
    pub alerts: Vec<AlertView>,
    /// Quiet times by `dvr_id`.
    pub quiet: HashMap<String, DvrQuiet>,
}

/// A DVR's maintenance window (its label) and the snooze of all its alerts (id, end).
#[derive(Debug, Default, Clone)]
pub(crate) struct DvrQuiet {
    pub maintenance: Option<String>,
    pub snooze: Option<(i64, DateTime<Utc>)>,
}

use domain::times::rfc3339;

/// The frame: a card per DVR, every session newest first, recordings in progress,
/// the next upcoming recordings that are not already recording, and the alerts.
pub fn build(g: Gathered) -> Dashboard {
    let mut d = Dashboard {
        generated_at: g.now.to_rfc3339_opts(SecondsFormat::Millis, true),
        ..Default::default()
    };
    for GatheredDvr { record: r, running } in g.dvrs {
        let disk = running.as_ref().and_then(|x| x.disk);
        let ex = g.extras.get(&r.dvr_id);
        let mut card = DvrCard {
            dvr_id: r.dvr_id.clone(),
            name: r.name.clone(),
            host: r.host.clone(),
            port: r.port,
            enabled: r.enabled,
            managed_by: r.managed_by.as_str().to_string(),
            has_api_key: r.api_key.is_set(),
            status: "disabled".into(),
            staleness_threshold_seconds: r.staleness_threshold_seconds,
            disk_status: "unknown".into(),
            disk_free_bytes: disk.map(|d| d.free_bytes),
            disk_total_bytes: disk.map(|d| d.total_bytes),
            ..Default::default()
        };
        if let Some(q) = g.quiet.get(&r.dvr_id) {
            card.maintenance = q.maintenance.clone();
            card.snooze_id = q.snooze.map(|(id, _)| id);
            card.snoozed_until = q.snooze.map(|(_, until)| rfc3339(until));
        }
        if let Some(x) = running {
            let h = &x.health;
            card.status = h.status().to_string();
            card.connected = h.connected;
            card.stale = h.stale;
            card.last_event_at = h.last_event_at.clone();
            card.last_event_seconds_ago = h.last_event_seconds_ago;
            card.sessions = h.session_state_size;
            if disk.is_some() {
                card.disk_status = h.disk_status.to_string();
            }
            card.version = x.version;
            card.last_error = x.last_error;
            for s in x.live {
                let ChannelNow {
                    name: ch_name,
                    logo,
                    program,
                } = ex
                    .and_then(|e| e.channels.get(&s.channel_number))
                    .cloned()
                    .unwrap_or_default();
                let channel_name = s.channel_name.or(ch_name);
                // The cached logo, else the call sign drawn by the server.
                let logo_url = logo.unwrap_or_else(|| {
                    domain::images::placeholder_path(
                        channel_name.as_deref().unwrap_or(&s.channel_number),
                    )
                });
                d.sessions.push(SessionRow {
                    dvr_id: r.dvr_id.clone(),
                    dvr_name: r.name.clone(),
                    kind: "live".into(),
                    channel_number: Some(s.channel_number.clone()),
                    channel_name,
                    logo_url: Some(logo_url),
                    program,
                    device: s
                        .device_name
                        .or_else(|| s.client_ip.map(|ip| ip.to_string())),
                    started_at: rfc3339(s.started_at),
                    position_seconds: None,
                });
            }
            for s in x.vod {
                d.sessions.push(SessionRow {
                    dvr_id: r.dvr_id.clone(),
                    dvr_name: r.name.clone(),
                    kind: "vod".into(),
                    logo_url: Some(domain::images::placeholder_path(
                        s.title.as_deref().unwrap_or("VOD"),
                    )),
                    program: s.title,
                    device: s.device_name.or(Some(s.client)),
                    started_at: rfc3339(s.started_at),
                    position_seconds: s.position_seconds,
                    ..Default::default()
                });
            }
            card.recordings = x.recordings.len();
            for rec in x.recordings {
                d.recordings.push(RecordingRow {
                    dvr_id: r.dvr_id.clone(),
                    dvr_name: r.name.clone(),
                    job_id: rec.job_id,
                    title: rec.title,
                    channel_number: rec.channel_number,
                    started_at: rec.started_at.map(rfc3339),
                });
            }
            if let Some(e) = ex {
                let recording: Vec<&str> = d.recordings.iter().map(|r| r.job_id.as_str()).collect();
                let waiting: Vec<UpcomingRow> = e
                    .upcoming
                    .iter()
                    .filter(|u| !recording.contains(&u.job_id.as_str()))
                    .cloned()
                    .collect();
                d.upcoming.extend(waiting);
            }
        }
        d.dvrs.push(card);
    }
    d.sessions.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    d.upcoming.sort_by(|a, b| a.starts_at.cmp(&b.starts_at));
    d.upcoming.truncate(FRAME_UPCOMING);
    d.alerts = g.alerts.into_iter().map(alert_row).collect();
    d
}

/// A scheduled job as the dashboard, the DVR page and the calendar feeds show it, with
/// its art registered with the image cache (a placeholder when it has none).
pub(crate) fn upcoming_row(
    images: &crate::images::Images,
    dvr_id: &str,
    dvr_name: &str,
    job_id: String,
    j: domain::alerts::facts::JobInfo,
) -> UpcomingRow {
    let label = j.name.clone().unwrap_or_else(|| "Recording".into());
    let image_url = j
        .image
        .as_deref()
        .and_then(|u| images.register(u, Some(&label)))
        .unwrap_or_else(|| domain::images::placeholder_path(&label));
    UpcomingRow {
        dvr_id: dvr_id.to_string(),
        dvr_name: dvr_name.to_string(),
        job_id,
        title: j.name,
        channel_number: j.channel,
        starts_at: j
            .start_time
            .and_then(|t| chrono::TimeZone::timestamp_opt(&Utc, t, 0).single())
            .map(rfc3339),
        duration_seconds: j.duration,
        summary: j.summary,
        image_url: Some(image_url),
    }
}

/// An alert as the web app shows it, with where it went.
pub(crate) fn alert_row(a: storage::outbox::AlertView) -> AlertRow {
    AlertRow {
        id: a.id,
        dvr_id: a.dvr_id,
        dvr_name: a.dvr_name,
        alert_type: a.alert_type,
        title: a.title,
        message: a.message,
        created_at: a.created_at,
        status: a.status,
        deliveries: a
            .deliveries
            .into_iter()
            .map(|x| DeliveryRow {
                provider_type: x.provider_type,
                status: x.status,
                attempts: x.attempts,
                last_error: x.last_error,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::dvr::event::StreamSource;
    use domain::dvr::ApiKey;
    use storage::dvrs::ManagedBy;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).expect("a time")
    }

    fn record(id: &str, enabled: bool) -> DvrRecord {
        DvrRecord {
            dvr_id: id.into(),
            name: format!("DVR {id}"),
            host: "127.0.0.1".into(),
            port: 8089,
            enabled,
            staleness_threshold_seconds: 300,
            managed_by: ManagedBy::Ui,
            api_key: ApiKey::default(),
        }
    }

    fn health(id: &str) -> Health {
        Health {
            dvr_id: id.into(),
            dvr_name: format!("DVR {id}"),
            connected: true,
            last_event_at: None,
            last_event_seconds_ago: Some(3),
            stale: false,
            staleness_threshold_seconds: 300,
            session_state_size: 2,
            disk_status: "ok",
            recent_alert_rate: 0.0,
            error: None,
        }
    }

    fn live(ch: &str, started: i64) -> LiveSession {
        LiveSession {
            name: format!("6-stream-{ch}"),
            channel_number: ch.into(),
            channel_name: None,
            resolution: None,
            device_name: None,
            client_ip: Some("192.168.1.20".parse().expect("an address")),
            source: StreamSource::Tuner("10811DF5".into()),
            started_at: at(started),
            updated_at: at(started),
        }
    }

    fn upcoming(id: &str, job: &str, starts: i64) -> UpcomingRow {
        UpcomingRow {
            dvr_id: id.into(),
            dvr_name: format!("DVR {id}"),
            job_id: job.into(),
            title: Some(job.into()),
            channel_number: None,
            starts_at: Some(rfc3339(at(starts))),
            ..Default::default()
        }
    }

    #[test]
    fn sessions_newest_first_with_what_enrichment_found() {
        let running = Running {
            health: health("a"),
            disk: None,
            version: Some("2025.01.01".into()),
            last_error: None,
            live: vec![live("7", 10), live("9", 20)],
            vod: vec![],
            recordings: vec![],
        };
        let mut channels = HashMap::new();
        channels.insert(
            "7".to_string(),
            ChannelNow {
                name: Some("ABC".into()),
                logo: Some("http://dvr/logo.png".into()),
                program: Some("News".into()),
            },
        );
        let extras = HashMap::from([(
            "a".to_string(),
            Extras {
                channels,
                upcoming: vec![],
            },
        )]);
        let d = build(Gathered {
            now: at(30),
            dvrs: vec![
                GatheredDvr {
                    record: record("a", true),
                    running: Some(running),
                },
                GatheredDvr {
                    record: record("b", false),
                    running: None,
                },
            ],
            extras,
            alerts: vec![],
            quiet: HashMap::new(),
        });
        let order: Vec<_> = d
            .sessions
            .iter()
            .map(|s| s.channel_number.clone())
            .collect();
        assert_eq!(order, [Some("9".to_string()), Some("7".to_string())]);
        assert_eq!(d.sessions[1].channel_name.as_deref(), Some("ABC"));
        assert_eq!(d.sessions[1].program.as_deref(), Some("News"));
        assert_eq!(
            d.sessions[1].logo_url.as_deref(),
            Some("http://dvr/logo.png"),
            "the hub registers logos before they reach the frame"
        );
        assert_eq!(
            d.sessions[0].logo_url.as_deref(),
            Some("/api/v1/images/placeholder?label=9"),
            "a channel without a logo gets its placeholder"
        );
        assert_eq!(d.sessions[0].device.as_deref(), Some("192.168.1.20"));
        assert_eq!(d.dvrs[0].status, "healthy");
        assert_eq!(d.dvrs[0].disk_status, "unknown", "no disk sample yet");
        assert_eq!(d.dvrs[1].status, "disabled");
        assert_eq!(d.generated_at, "2023-11-14T22:13:50.000Z");
    }

    #[test]
    fn upcoming_skips_what_is_recording_and_keeps_the_next_twenty() {
        let running = Running {
            health: health("a"),
            disk: Some(DiskSample {
                free_bytes: 10,
                total_bytes: 100,
            }),
            version: None,
            last_error: None,
            live: vec![],
            vod: vec![],
            recordings: vec![Recording {
                job_id: "job-0".into(),
                scheduled: true,
                started_at: Some(at(0)),
                title: None,
                channel_number: None,
            }],
        };
        let jobs: Vec<UpcomingRow> = (0..30)
            .rev()
            .map(|i| upcoming("a", &format!("job-{i}"), 100 + i))
            .collect();
        let d = build(Gathered {
            now: at(0),
            dvrs: vec![GatheredDvr {
                record: record("a", true),
                running: Some(running),
            }],
            extras: HashMap::from([(
                "a".to_string(),
                Extras {
                    channels: HashMap::new(),
                    upcoming: jobs,
                },
            )]),
            alerts: vec![],
            quiet: HashMap::new(),
        });
        assert_eq!(d.upcoming.len(), 20);
        assert_eq!(d.upcoming[0].job_id, "job-1", "job-0 is recording");
        assert_eq!(d.upcoming[19].job_id, "job-20");
        assert_eq!(d.dvrs[0].recordings, 1);
        assert_eq!(d.dvrs[0].disk_status, "ok");
    }
}
