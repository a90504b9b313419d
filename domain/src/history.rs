//! Watch history: which plays the engine's session changes open and close, and how an
//! outage, a task restart or a removed DVR ends them honestly.
//!
//! Pure: [`Tracker::on_event`] turns one engine event into row operations, which the
//! server writes in batches off the engine's path. Row ids are handed out here, so a
//! start and its end can be written in the same batch without a round trip.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::engine_event::{EngineEvent, EngineEventKind};
use crate::session::{Change, LiveSession, VodSession};

/// Live TV or library playback (a recording or an imported file), as the contract
/// names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayKind {
    Live,
    Vod,
}

impl PlayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlayKind::Live => "live",
            PlayKind::Vod => "vod",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(PlayKind::Live),
            "vod" => Some(PlayKind::Vod),
            _ => None,
        }
    }
}

/// How a play ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The DVR said the session ended.
    Stopped,
    /// The DVR went away while it played; the end is the last moment it was known.
    DvrLost,
    /// The monitor stopped or crashed while it played.
    MonitorRestarted,
    /// The DVR was removed or disabled in the monitor while it played.
    DvrRemoved,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Stopped => "stopped",
            EndedBy::DvrLost => "dvr_lost",
            EndedBy::MonitorRestarted => "monitor_restarted",
            EndedBy::DvrRemoved => "dvr_removed",
        }
    }

    #[cfg(test)]
    const ALL: [EndedBy; 4] = [
        EndedBy::Stopped,
        EndedBy::DvrLost,
        EndedBy::MonitorRestarted,
        EndedBy::DvrRemoved,
    ];
}

/// A play as it starts: one history row.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub id: i64,
    pub dvr_id: String,
    pub kind: PlayKind,
    /// The client's display name as the DVR gives it.
    pub device: Option<String>,
    pub client_ip: Option<String>,
    /// Live TV: the channel number as the DVR writes it.
    pub channel: Option<String>,
    /// Live TV: the channel's call sign or name.
    pub call_sign: Option<String>,
    /// Live TV: `tuner`, `tve`, `m3u` or `other`.
    pub source: Option<String>,
    /// Library playback: the DVR's file id.
    pub file_id: Option<String>,
    /// The program (live) or the file's title (library), when known.
    pub title: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// One change to the history table.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Start(Play),
    End {
        id: i64,
        ended_at: DateTime<Utc>,
        ended_by: EndedBy,
        /// The play as known when it ended (its title and device included): what the
        /// statistics count it under, without reading the row back.
        play: Box<Play>,
    },
    /// A detail learned after the start: the program title from the guide.
    Title {
        id: i64,
        title: String,
    },
    /// What the DVR's client list says of the play's app: its name (kept only where the
    /// activity gave none), platform, app version, and whether it is remote.
    Client {
        id: i64,
        name: Option<String>,
        platform: Option<String>,
        app_version: Option<String>,
        remote: Option<bool>,
    },
}

#[derive(Debug, Clone)]
struct Open {
    id: i64,
    play: Play,
    /// What identifies the same play when a restarted task announces it again.
    what: String,
    /// Set when the DVR's stream went down: the last moment the play was known.
    lost_at: Option<DateTime<Utc>>,
}

/// Whether an engine event can open or close a play: the history stream carries only
/// these, so the recorder never sees the flood of other events.
pub fn concerns(kind: &EngineEventKind) -> bool {
    matches!(
        kind,
        EngineEventKind::Change(
            Change::LiveStarted(_)
                | Change::LiveEnded(_)
                | Change::VodStarted(_)
                | Change::VodEnded(_)
        ) | EngineEventKind::Disconnected { .. }
            | EngineEventKind::TaskRestarted { .. }
            | EngineEventKind::Resynced { .. }
            // Health history (outages) is kept by the same recorder.
            | EngineEventKind::HealthChanged { .. }
    )
}

/// The open plays of every DVR and the id counter.
#[derive(Debug)]
pub struct Tracker {
    next_id: i64,
    /// The latest start handed out: a play never starts before the one before it, so
    /// ids follow start times (the store's date ranges rely on it).
    last_start: Option<DateTime<Utc>>,
    open: HashMap<(String, String), Open>,
}

impl Tracker {
    /// `next_id` is one past the largest id already stored, `last_start` the latest
    /// start stored.
    pub fn new(next_id: i64, last_start: Option<DateTime<Utc>>) -> Self {
        Self {
            next_id: next_id.max(1),
            last_start,
            open: HashMap::new(),
        }
    }

    /// Plays open now.
    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.open.len()
    }

    /// The DVRs with open plays.
    pub fn dvrs_with_plays(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.open.keys().map(|(d, _)| d.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The row operations one engine event implies.
    pub fn on_event(&mut self, ev: &EngineEvent) -> Vec<Op> {
        let mut ops = Vec::new();
        let dvr = &ev.dvr_id;
        match &ev.kind {
            EngineEventKind::Change(Change::LiveStarted(s)) => {
                self.start(dvr, &s.name, live_what(s), ev.at, &mut ops, |id| {
                    live_play(id, dvr, s)
                })
            }
            EngineEventKind::Change(Change::VodStarted(s)) => {
                self.start(dvr, &s.name, vod_what(s), ev.at, &mut ops, |id| {
                    vod_play(id, dvr, s)
                })
            }
            EngineEventKind::Change(Change::LiveEnded(s)) => {
                self.end(dvr, &s.name, Some(&live_what(s)), ev.at, &mut ops)
            }
            EngineEventKind::Change(Change::VodEnded(s)) => {
                self.end(dvr, &s.name, Some(&vod_what(s)), ev.at, &mut ops)
            }
            EngineEventKind::Disconnected { .. } | EngineEventKind::TaskRestarted { .. } => {
                self.mark_lost(dvr, ev.at)
            }
            EngineEventKind::Resynced { playing } => self.resynced(dvr, playing, ev.at, &mut ops),
            _ => {}
        }
        ops
    }

    /// Takes in what a lookup learned about an open play (its title, its app), so the
    /// play ends with it.
    pub fn learn(&mut self, op: &Op) {
        let id = match op {
            Op::Title { id, .. } | Op::Client { id, .. } => *id,
            _ => return,
        };
        let Some(o) = self.open.values_mut().find(|o| o.id == id) else {
            return;
        };
        op.apply_to(&mut o.play);
    }

    /// Ends every open play of a DVR the monitor no longer runs.
    pub fn dvr_removed(&mut self, dvr_id: &str, now: DateTime<Utc>) -> Vec<Op> {
        self.close_where(|d| d == dvr_id, now, EndedBy::DvrRemoved)
    }

    /// Ends every open play (the monitor is stopping).
    pub fn close_all(&mut self, now: DateTime<Utc>) -> Vec<Op> {
        self.close_where(|_| true, now, EndedBy::MonitorRestarted)
    }

    fn close_where(
        &mut self,
        which: impl Fn(&str) -> bool,
        now: DateTime<Utc>,
        by: EndedBy,
    ) -> Vec<Op> {
        let keys: Vec<_> = self
            .open
            .keys()
            .filter(|(d, _)| which(d))
            .cloned()
            .collect();
        let mut ops = Vec::new();
        for k in keys {
            if let Some(o) = self.open.remove(&k) {
                let (ended_at, ended_by) = match o.lost_at {
                    Some(t) => (t, EndedBy::DvrLost),
                    None => (now, by),
                };
                ops.push(Op::End {
                    id: o.id,
                    ended_at,
                    ended_by,
                    play: Box::new(o.play),
                });
            }
        }
        ops.sort_by_key(|op| match op {
            Op::End { id, .. } => *id,
            _ => 0,
        });
        ops
    }

    fn start(
        &mut self,
        dvr: &str,
        name: &str,
        what: String,
        at: DateTime<Utc>,
        ops: &mut Vec<Op>,
        play: impl FnOnce(i64) -> Play,
    ) {
        let key = (dvr.to_string(), name.to_string());
        if let Some(o) = self.open.get_mut(&key) {
            if o.what == what {
                // A task with fresh state (a reload restarted it) announcing what
                // already played: the same play goes on.
                o.lost_at = None;
                return;
            }
        }
        self.end(dvr, name, None, at, ops);
        let id = self.next_id;
        self.next_id += 1;
        let mut p = play(id);
        // Events from different DVRs reach the recorder in the order they were sent,
        // which may differ from their stamps by a moment (and a clock may step back).
        if let Some(last) = self.last_start {
            p.started_at = p.started_at.max(last);
        }
        self.last_start = Some(p.started_at);
        self.open.insert(
            key,
            Open {
                id,
                play: p.clone(),
                what,
                lost_at: None,
            },
        );
        ops.push(Op::Start(p));
    }

    fn end(
        &mut self,
        dvr: &str,
        name: &str,
        what: Option<&str>,
        at: DateTime<Utc>,
        ops: &mut Vec<Op>,
    ) {
        let key = (dvr.to_string(), name.to_string());
        if let (Some(o), Some(what)) = (self.open.get(&key), what) {
            if o.what != what {
                return;
            }
        }
        if let Some(o) = self.open.remove(&key) {
            let (ended_at, ended_by) = match o.lost_at {
                Some(t) => (t, EndedBy::DvrLost),
                None => (at, EndedBy::Stopped),
            };
            ops.push(Op::End {
                id: o.id,
                ended_at,
                ended_by,
                play: Box::new(o.play),
            });
        }
    }

    fn mark_lost(&mut self, dvr: &str, at: DateTime<Utc>) {
        for ((d, _), o) in self.open.iter_mut() {
            if d == dvr && o.lost_at.is_none() {
                o.lost_at = Some(at);
            }
        }
    }

    /// The DVR's state was just matched with its activity list: what it names still
    /// plays; any other open play of that DVR ended while the monitor could not see
    /// (a task restarted with fresh state never reports its end).
    fn resynced(&mut self, dvr: &str, playing: &[String], at: DateTime<Utc>, ops: &mut Vec<Op>) {
        let keys: Vec<_> = self
            .open
            .keys()
            .filter(|(d, _)| d == dvr)
            .cloned()
            .collect();
        for key in keys {
            if !playing.contains(&key.1) {
                if let Some(o) = self.open.remove(&key) {
                    ops.push(Op::End {
                        id: o.id,
                        ended_at: o.lost_at.unwrap_or(at),
                        ended_by: EndedBy::DvrLost,
                        play: Box::new(o.play),
                    });
                }
            } else if let Some(o) = self.open.get_mut(&key) {
                o.lost_at = None;
            }
        }
    }
}

impl Op {
    /// What a `Title` or `Client` operation changes in a play, as the store does it: a
    /// client's name fills only a device the activity left unnamed.
    pub fn apply_to(&self, p: &mut Play) {
        match self {
            Op::Title { title, .. } => p.title = Some(title.clone()),
            Op::Client { name: Some(n), .. } if p.device.is_none() || p.device == p.client_ip => {
                p.device = Some(n.clone());
            }
            _ => {}
        }
    }
}

fn live_what(s: &LiveSession) -> String {
    format!("live:{}", s.channel_number)
}

fn vod_what(s: &VodSession) -> String {
    format!("vod:{}", s.file_id)
}

fn live_play(id: i64, dvr: &str, s: &LiveSession) -> Play {
    Play {
        id,
        dvr_id: dvr.to_string(),
        kind: PlayKind::Live,
        device: s.device_name.clone(),
        client_ip: s.client_ip.map(|ip| ip.to_string()),
        channel: Some(s.channel_number.clone()),
        call_sign: s.channel_name.clone(),
        source: Some(source_kind(&s.source).to_string()),
        file_id: None,
        title: None,
        started_at: s.started_at,
    }
}

fn vod_play(id: i64, dvr: &str, s: &VodSession) -> Play {
    Play {
        id,
        dvr_id: dvr.to_string(),
        kind: PlayKind::Vod,
        device: s.device_name.clone().or_else(|| {
            // The activity names the client when it gives no device name.
            (s.client_ip.is_none() && !s.client.is_empty()).then(|| s.client.clone())
        }),
        client_ip: s.client_ip.map(|ip| ip.to_string()),
        channel: None,
        call_sign: None,
        source: None,
        file_id: Some(s.file_id.clone()),
        title: s.title.clone(),
        started_at: s.started_at,
    }
}

/// The source family (`tuner`, `tve`, `m3u`, `other`), without the tuner id or
/// provider name.
pub fn source_kind(s: &crate::dvr::event::StreamSource) -> &'static str {
    use crate::dvr::event::StreamSource as S;
    match s {
        S::Tuner(_) => "tuner",
        S::Tve(_) => "tve",
        S::M3u(_) => "m3u",
        S::Other(_) | S::Unknown => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::DvrState;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    /// Feeds DVR lines through a real [`DvrState`], as the engine does.
    struct Dvr {
        id: String,
        state: DvrState,
    }

    impl Dvr {
        fn new(id: &str) -> Self {
            Self {
                id: id.into(),
                state: DvrState::new(),
            }
        }

        fn line(&mut self, tr: &mut Tracker, at: i64, line: &str) -> Vec<Op> {
            let crate::dvr::event::Line::Event(e) = crate::dvr::event::parse_line(line).unwrap()
            else {
                panic!("not an event: {line}")
            };
            let changes = self.state.apply(&e, t(at));
            changes
                .into_iter()
                .flat_map(|c| tr.on_event(&self.ev(at, EngineEventKind::Change(c))))
                .collect()
        }

        fn ev(&self, at: i64, kind: EngineEventKind) -> EngineEvent {
            EngineEvent {
                dvr_id: self.id.clone(),
                at: t(at),
                kind,
            }
        }
    }

    const WATCH9: &str = r#"{"Type":"activities.set","Name":"9-stream-A-x","Value":"Watching ch9 KCAL from Den (192.168.1.20)"}"#;
    const WATCH13: &str = r#"{"Type":"activities.set","Name":"9-stream-A-x","Value":"Watching ch13 KCOP from Den (192.168.1.20)"}"#;
    const END9: &str = r#"{"Type":"activities.set","Name":"9-stream-A-x","Value":""}"#;

    fn ends(ops: &[Op]) -> Vec<(i64, DateTime<Utc>, EndedBy)> {
        ops.iter()
            .filter_map(|o| match o {
                Op::End {
                    id,
                    ended_at,
                    ended_by,
                    ..
                } => Some((*id, *ended_at, *ended_by)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_live_play_starts_and_stops_as_one_row() {
        let mut tr = Tracker::new(7, None);
        let mut d = Dvr::new("aaaa0001");
        let ops = d.line(&mut tr, 0, WATCH9);
        let [Op::Start(p)] = ops.as_slice() else {
            panic!("{ops:?}")
        };
        assert_eq!(p.id, 7);
        assert_eq!(p.kind, PlayKind::Live);
        assert_eq!(p.channel.as_deref(), Some("9"));
        assert_eq!(p.call_sign.as_deref(), Some("KCAL"));
        assert_eq!(p.device.as_deref(), Some("Den"));
        assert_eq!(p.client_ip.as_deref(), Some("192.168.1.20"));
        assert_eq!(p.started_at, t(0));
        assert!(
            d.line(&mut tr, 30, WATCH9).is_empty(),
            "an update is the same play"
        );
        assert_eq!(
            ends(&d.line(&mut tr, 600, END9)),
            vec![(7, t(600), EndedBy::Stopped)]
        );
        assert_eq!(tr.open_count(), 0);
    }

    #[test]
    fn a_channel_change_ends_one_play_and_starts_the_next() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        d.line(&mut tr, 0, WATCH9);
        let ops = d.line(&mut tr, 60, WATCH13);
        assert_eq!(ends(&ops), vec![(1, t(60), EndedBy::Stopped)]);
        assert!(matches!(&ops[1], Op::Start(p) if p.id == 2 && p.channel.as_deref() == Some("13")));
    }

    #[test]
    fn an_outage_ends_a_play_at_the_last_moment_it_was_known() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        d.line(&mut tr, 0, WATCH9);
        tr.on_event(&d.ev(
            100,
            EngineEventKind::Disconnected {
                reason: "eof".into(),
            },
        ));
        // Back after five minutes: the resync finds the session gone.
        let changes = d.state.resync(&Default::default(), t(400));
        let ops: Vec<Op> = changes
            .into_iter()
            .flat_map(|c| tr.on_event(&d.ev(400, EngineEventKind::Change(c))))
            .collect();
        assert_eq!(ends(&ops), vec![(1, t(100), EndedBy::DvrLost)]);
    }

    #[test]
    fn a_play_that_outlives_a_short_outage_goes_on() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        d.line(&mut tr, 0, WATCH9);
        tr.on_event(&d.ev(
            100,
            EngineEventKind::Disconnected {
                reason: "eof".into(),
            },
        ));
        let still: std::collections::BTreeMap<String, String> = [(
            "9-stream-A-x".to_string(),
            "Watching ch9 KCAL from Den (192.168.1.20)".to_string(),
        )]
        .into();
        let changes = d.state.resync(&still, t(110));
        for c in changes {
            assert!(tr
                .on_event(&d.ev(110, EngineEventKind::Change(c)))
                .is_empty());
        }
        let playing = d.state.playing_names();
        assert!(tr
            .on_event(&d.ev(110, EngineEventKind::Resynced { playing }))
            .is_empty());
        assert_eq!(
            ends(&d.line(&mut tr, 900, END9)),
            vec![(1, t(900), EndedBy::Stopped)],
            "it ended normally, later"
        );
    }

    #[test]
    fn a_restarted_task_continues_what_still_plays_and_ends_what_does_not() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        d.line(&mut tr, 0, WATCH9);
        d.line(
            &mut tr,
            5,
            r#"{"Type":"activities.set","Name":"6-file-1234-192.168.1.30","Value":"Watching Movie from Kitchen (192.168.1.30) at 1m2s"}"#,
        );
        tr.on_event(&d.ev(
            50,
            EngineEventKind::TaskRestarted {
                reason: "hung".into(),
            },
        ));
        // The new task's state is fresh; its resync announces only the live session.
        let mut fresh = Dvr::new("aaaa0001");
        let ops = fresh.line(&mut tr, 60, WATCH9);
        assert!(ops.is_empty(), "the same live play goes on: {ops:?}");
        let playing = fresh.state.playing_names();
        let ops = tr.on_event(&fresh.ev(60, EngineEventKind::Resynced { playing }));
        assert_eq!(ends(&ops), vec![(2, t(50), EndedBy::DvrLost)]);
        assert_eq!(tr.open_count(), 1);
    }

    #[test]
    fn a_reload_that_misses_an_end_closes_the_play_at_the_resync() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        d.line(&mut tr, 0, WATCH9);
        // A reload replaced the task without a disconnect; the new one finds nothing.
        let ops = tr.on_event(&d.ev(300, EngineEventKind::Resynced { playing: vec![] }));
        assert_eq!(ends(&ops), vec![(1, t(300), EndedBy::DvrLost)]);
    }

    #[test]
    fn removal_and_shutdown_close_what_is_open() {
        let mut tr = Tracker::new(1, None);
        let mut a = Dvr::new("aaaa0001");
        let mut b = Dvr::new("bbbb0002");
        a.line(&mut tr, 0, WATCH9);
        b.line(&mut tr, 0, WATCH9);
        assert_eq!(tr.dvrs_with_plays(), vec!["aaaa0001", "bbbb0002"]);
        assert_eq!(
            ends(&tr.dvr_removed("aaaa0001", t(10))),
            vec![(1, t(10), EndedBy::DvrRemoved)]
        );
        assert_eq!(
            ends(&tr.close_all(t(20))),
            vec![(2, t(20), EndedBy::MonitorRestarted)]
        );
    }

    #[test]
    fn library_playback_keeps_the_file_and_its_title() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        let ops = d.line(
            &mut tr,
            0,
            r#"{"Type":"activities.set","Name":"6-file-1234-192.168.1.30","Value":"Watching Movie from Kitchen (192.168.1.30) at 1m2s"}"#,
        );
        let [Op::Start(p)] = ops.as_slice() else {
            panic!("{ops:?}")
        };
        assert_eq!(p.kind, PlayKind::Vod);
        assert_eq!(p.file_id.as_deref(), Some("1234"));
        assert_eq!(p.channel, None);
    }

    #[test]
    fn a_play_never_starts_before_the_one_before_it() {
        let mut tr = Tracker::new(5, Some(t(100)));
        let mut d = Dvr::new("aaaa0001");
        let ops = d.line(&mut tr, 40, WATCH9);
        assert!(matches!(&ops[0], Op::Start(p) if p.id == 5 && p.started_at == t(100)));
        let mut e = Dvr::new("bbbb0002");
        let ops = e.line(&mut tr, 200, WATCH9);
        assert!(matches!(&ops[0], Op::Start(p) if p.id == 6 && p.started_at == t(200)));
    }

    #[test]
    fn a_play_ends_with_what_lookups_learned() {
        let mut tr = Tracker::new(1, None);
        let mut d = Dvr::new("aaaa0001");
        d.line(
            &mut tr,
            0,
            r#"{"Type":"activities.set","Name":"9-stream-A-x","Value":"Watching ch9 KCAL from 192.168.1.77"}"#,
        );
        tr.learn(&Op::Title {
            id: 1,
            title: "KCAL News".into(),
        });
        tr.learn(&Op::Client {
            id: 1,
            name: Some("Garage Fire TV".into()),
            platform: None,
            app_version: None,
            remote: None,
        });
        let ops = d.line(&mut tr, 60, END9);
        let [Op::End { play, .. }] = ops.as_slice() else {
            panic!("{ops:?}")
        };
        assert_eq!(play.title.as_deref(), Some("KCAL News"));
        assert_eq!(play.device.as_deref(), Some("Garage Fire TV"));
        assert_eq!(play.started_at, t(0));
    }

    #[test]
    fn names_round_trip() {
        for k in [PlayKind::Live, PlayKind::Vod] {
            assert_eq!(PlayKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(PlayKind::parse("tv"), None);
        assert_eq!(EndedBy::ALL.len(), 4);
    }
}
