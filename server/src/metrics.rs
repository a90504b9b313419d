//! The Prometheus exposition of `GET /metrics`, built at scrape time from the DVR slots.
//!
//! Nothing is registered ahead of time: the series are read from the live slots on each
//! scrape, so a removed DVR's series disappear with it and no registry can drift from
//! the engine. Every per-DVR series carries `dvr_id` and `dvr_name`, and each metric name
//! also has an aggregate series without them (a sum; the maximum for `…_seconds_ago`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use domain::disk::DiskSample;
use engine::watchdog::Watchdog;
use engine::Engine;

/// The HTTP listener's `accept` failures in this process (it counts them here).
static ACCEPT_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Counts one `accept` failure; the count so far, this one included.
pub(crate) fn count_accept_error() -> u64 {
    ACCEPT_ERRORS.fetch_add(1, Ordering::Relaxed) + 1
}

/// `accept` failures so far (this process).
pub(crate) fn accept_errors() -> u64 {
    ACCEPT_ERRORS.load(Ordering::Relaxed)
}

/// One DVR's figures at scrape time (plain data, so rendering is testable alone).
#[derive(Debug, Clone, Default)]
pub struct DvrSample {
    pub dvr_id: String,
    pub dvr_name: String,
    /// Since the last event, or since the task started when there was none.
    pub seconds_since_event: u64,
    pub connected: bool,
    pub up: bool,
    pub stale: bool,
    pub sessions: usize,
    pub events_by_kind: BTreeMap<&'static str, u64>,
    pub reconnects: u64,
    pub task_restarts: u64,
    pub parse_errors: u64,
    /// Activities and jobs the DVR announced past the state caps (not tracked).
    pub state_overflows: u64,
    pub alerts_by_type: BTreeMap<String, u64>,
    pub notifications: BTreeMap<(String, String), u64>,
    pub disk: Option<DiskSample>,
}

/// Process-wide figures.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub version: String,
    pub queue_depth: u64,
    pub watchdog_runs: u64,
    pub watchdog_last_run: i64,
    pub restart_checks_ok: u64,
    pub restart_checks_failed: u64,
    pub watchdog_revivals: u64,
    /// Log lines dropped because a log reader was too slow.
    pub log_lines_dropped: u64,
    pub core_tasks: Vec<crate::core_tasks::CoreTaskStatus>,
    pub accept_errors: u64,
    pub open_files_limit: u64,
    pub dvr_streams_open: u64,
    pub dvr_connections_waiting: u64,
    pub dvr_poll_connections_kept: u64,
    /// Heartbeat pings taken, failed and skipped (not ready).
    pub heartbeat: [u64; 3],
}

/// Reads the engine and the watchdog into samples.
pub fn gather(
    engine: &Engine,
    watchdog: &Watchdog,
    core_tasks: &crate::core_tasks::CoreTasks,
    queue_depth: u64,
    heartbeat: [u64; 3],
) -> (Vec<DvrSample>, Globals) {
    let dvrs = engine
        .slots()
        .iter()
        .map(|slot| {
            let h = engine.health_of(slot);
            let c = &slot.counters;
            DvrSample {
                dvr_id: h.dvr_id.clone(),
                seconds_since_event: slot.seconds_since_event_or_start(),
                connected: h.connected,
                up: h.connected && !h.stale,
                stale: h.stale,
                sessions: h.session_state_size,
                events_by_kind: slot.events_by_kind(),
                reconnects: c.reconnects.load(Ordering::Relaxed),
                task_restarts: c.task_restarts.load(Ordering::Relaxed),
                parse_errors: c.parse_errors.load(Ordering::Relaxed),
                state_overflows: slot.with_state(|s| s.overflowed()),
                alerts_by_type: slot.alerts_by_type(),
                notifications: slot.notifications(),
                disk: slot.disk(),
                dvr_name: h.dvr_name,
            }
        })
        .collect();
    let s = watchdog.stats();
    let globals = Globals {
        version: crate::VERSION.to_string(),
        queue_depth,
        watchdog_runs: s.runs.load(Ordering::Relaxed),
        watchdog_last_run: s.last_run.load(Ordering::Relaxed),
        restart_checks_ok: s.restart_checks_ok.load(Ordering::Relaxed),
        restart_checks_failed: s.restart_checks_failed.load(Ordering::Relaxed),
        watchdog_revivals: s.revivals.load(Ordering::Relaxed),
        log_lines_dropped: crate::logging::dropped_lines(),
        core_tasks: core_tasks.statuses(),
        accept_errors: accept_errors(),
        open_files_limit: engine::fd_limit::soft_limit(),
        dvr_streams_open: engine::fd_limit::dvr_connections().streams_open() as u64,
        dvr_connections_waiting: engine::fd_limit::dvr_connections().waiting() as u64,
        dvr_poll_connections_kept: engine::fd_limit::dvr_connections().kept() as u64,
        heartbeat,
    };
    (dvrs, globals)
}

/// How a per-DVR metric folds into its aggregate series.
#[derive(Clone, Copy)]
enum Fold {
    Sum,
    Max,
}

type Labels = Vec<(&'static str, String)>;

fn pair(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn sample(kind: MetricType, labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut m = Metric::from_label(labels);
    if kind == MetricType::COUNTER {
        let mut c = Counter::default();
        c.set_value(value);
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    }
    m
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

/// A per-DVR metric: `values` gives each DVR's series (extra labels, value); the
/// aggregate series per extra-label set come first.
fn per_dvr(
    name: &str,
    help: &str,
    kind: MetricType,
    fold: Fold,
    dvrs: &[DvrSample],
    values: impl Fn(&DvrSample) -> Vec<(Labels, f64)>,
) -> MetricFamily {
    let mut agg: BTreeMap<Labels, f64> = BTreeMap::new();
    let mut series = Vec::new();
    for d in dvrs {
        for (extra, v) in values(d) {
            let slot = agg.entry(extra.clone()).or_insert(match fold {
                Fold::Sum => 0.0,
                Fold::Max => f64::MIN,
            });
            *slot = match fold {
                Fold::Sum => *slot + v,
                Fold::Max => slot.max(v),
            };
            let mut labels = Vec::with_capacity(2 + extra.len());
            labels.push(pair("dvr_id", &d.dvr_id));
            labels.push(pair("dvr_name", &d.dvr_name));
            labels.extend(extra.iter().map(|(k, v)| pair(k, v)));
            series.push(sample(kind, labels, v));
        }
    }
    let mut metrics: Vec<Metric> = agg
        .into_iter()
        .map(|(extra, v)| {
            let labels = extra.iter().map(|(k, v)| pair(k, v)).collect();
            sample(kind, labels, v)
        })
        .collect();
    metrics.extend(series);
    family(name, help, kind, metrics)
}

fn one(v: f64) -> Vec<(Labels, f64)> {
    vec![(Vec::new(), v)]
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The whole exposition, in Prometheus text format.
pub fn render(dvrs: &[DvrSample], g: &Globals) -> String {
    use MetricType::{COUNTER, GAUGE};
    let mut families = vec![
        per_dvr(
            "channelwatch_dvr_last_event_seconds_ago",
            "Seconds since the DVR's last event line or successful /status poll (since its task started before the first).",
            GAUGE,
            Fold::Max,
            dvrs,
            |d| one(d.seconds_since_event as f64),
        ),
        per_dvr(
            "channelwatch_dvr_connected",
            "1 while the DVR's task is alive and its event stream is open.",
            GAUGE,
            Fold::Sum,
            dvrs,
            |d| one(flag(d.connected)),
        ),
        per_dvr(
            "channelwatch_dvr_up",
            "1 while the DVR is healthy: connected and not stale.",
            GAUGE,
            Fold::Sum,
            dvrs,
            |d| one(flag(d.up)),
        ),
        per_dvr(
            "channelwatch_dvr_stale",
            "1 while no event arrived within the DVR's staleness threshold.",
            GAUGE,
            Fold::Sum,
            dvrs,
            |d| one(flag(d.stale)),
        ),
        per_dvr(
            "channelwatch_active_sessions",
            "Live TV and playback sessions tracked on the DVR.",
            GAUGE,
            Fold::Sum,
            dvrs,
            |d| one(d.sessions as f64),
        ),
        per_dvr(
            "channelwatch_events_total",
            "Event lines received from the DVR, by event type.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| {
                d.events_by_kind
                    .iter()
                    .map(|(k, v)| (vec![("type", (*k).to_string())], *v as f64))
                    .collect()
            },
        ),
        per_dvr(
            "channelwatch_dvr_reconnects_total",
            "Times the DVR's event stream was opened again after a failure.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| one(d.reconnects as f64),
        ),
        per_dvr(
            "channelwatch_dvr_task_restarts_total",
            "Times the supervisor restarted the DVR's task after a panic or hang.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| one(d.task_restarts as f64),
        ),
        per_dvr(
            "channelwatch_dvr_parse_errors_total",
            "Event lines from the DVR that were not valid JSON.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| one(d.parse_errors as f64),
        ),
        per_dvr(
            "channelwatch_dvr_state_overflows_total",
            "Activities and jobs the DVR announced that were not tracked: its state was full.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| one(d.state_overflows as f64),
        ),
        per_dvr(
            "channelwatch_alerts_total",
            "Alerts raised for the DVR, by alert type.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| {
                d.alerts_by_type
                    .iter()
                    .map(|(k, v)| (vec![("alert_type", k.clone())], *v as f64))
                    .collect()
            },
        ),
        per_dvr(
            "channelwatch_notifications_total",
            "Notification deliveries for the DVR's alerts, by provider and outcome.",
            COUNTER,
            Fold::Sum,
            dvrs,
            |d| {
                d.notifications
                    .iter()
                    .map(|((p, o), v)| {
                        (vec![("provider", p.clone()), ("outcome", o.clone())], *v as f64)
                    })
                    .collect()
            },
        ),
        per_dvr(
            "channelwatch_disk_free_bytes",
            "Free space on the DVR's recording disk, as last polled from GET /dvr.",
            GAUGE,
            Fold::Sum,
            dvrs,
            |d| d.disk.map(|s| one(s.free_bytes as f64)).unwrap_or_default(),
        ),
        per_dvr(
            "channelwatch_disk_total_bytes",
            "Size of the DVR's recording disk, as last polled from GET /dvr.",
            GAUGE,
            Fold::Sum,
            dvrs,
            |d| d.disk.map(|s| one(s.total_bytes as f64)).unwrap_or_default(),
        ),
    ];
    let global = |name: &str, help: &str, kind, labels: Vec<LabelPair>, v: f64| {
        family(name, help, kind, vec![sample(kind, labels, v)])
    };
    families.extend([
        global(
            "channelwatch_notification_queue_depth",
            "Notifications waiting in the outbox for delivery.",
            GAUGE,
            vec![],
            g.queue_depth as f64,
        ),
        global(
            "channelwatch_dvrs_monitored",
            "Enabled DVRs whose tasks the engine runs.",
            GAUGE,
            vec![],
            dvrs.len() as f64,
        ),
        global(
            "channelwatch_watchdog_runs_total",
            "Full watchdog checks completed.",
            COUNTER,
            vec![],
            g.watchdog_runs as f64,
        ),
        global(
            "channelwatch_watchdog_last_run_timestamp_seconds",
            "Unix time of the last full watchdog check (0 before the first).",
            GAUGE,
            vec![],
            g.watchdog_last_run as f64,
        ),
        global(
            "channelwatch_watchdog_task_revivals_total",
            "Dead DVR tasks the watchdog started again.",
            COUNTER,
            vec![],
            g.watchdog_revivals as f64,
        ),
        family(
            "channelwatch_heartbeat_pings_total",
            "Heartbeat pings the push service took (ok), did not take (failed), or that were not sent because the monitor was not ready (skipped).",
            COUNTER,
            ["ok", "failed", "skipped"]
                .iter()
                .zip(g.heartbeat)
                .map(|(outcome, n)| sample(COUNTER, vec![pair("outcome", outcome)], n as f64))
                .collect(),
        ),
        family(
            "channelwatch_watchdog_restart_checks_total",
            "Restarted DVR tasks the watchdog confirmed (ok) or found not back in time (failed).",
            COUNTER,
            vec![
                sample(
                    COUNTER,
                    vec![pair("result", "failed")],
                    g.restart_checks_failed as f64,
                ),
                sample(
                    COUNTER,
                    vec![pair("result", "ok")],
                    g.restart_checks_ok as f64,
                ),
            ],
        ),
        global(
            "channelwatch_log_lines_dropped_total",
            "Log lines dropped because a log reader (stderr, the log folder) was too slow; the runtime never waits for it.",
            COUNTER,
            vec![],
            g.log_lines_dropped as f64,
        ),
        global(
            "channelwatch_http_accept_errors_total",
            "Times the HTTP listener could not accept a connection (out of descriptors or memory) and backed off.",
            COUNTER,
            vec![],
            g.accept_errors as f64,
        ),
        global(
            "channelwatch_open_files_limit",
            "The process's soft open-file limit (raised to the hard limit at start).",
            GAUGE,
            vec![],
            g.open_files_limit as f64,
        ),
        global(
            "channelwatch_dvr_streams_open",
            "DVR event streams holding a descriptor now.",
            GAUGE,
            vec![],
            g.dvr_streams_open as f64,
        ),
        global(
            "channelwatch_dvr_connections_waiting",
            "DVR event streams waiting for a descriptor because the open-file limit is reached (more DVRs than it carries).",
            GAUGE,
            vec![],
            g.dvr_connections_waiting as f64,
        ),
        global(
            "channelwatch_dvr_poll_connections_kept",
            "DVR poll connections kept open between keep-alive polls (as the open-file limit leaves room beside every DVR's stream).",
            GAUGE,
            vec![],
            g.dvr_poll_connections_kept as f64,
        ),
        family(
            "channelwatch_core_task_up",
            "1 while the supervised background task runs, 0 while it waits to start again after a failure.",
            GAUGE,
            g.core_tasks
                .iter()
                .map(|t| sample(GAUGE, vec![pair("task", &t.name)], f64::from(u8::from(t.running))))
                .collect(),
        ),
        family(
            "channelwatch_core_task_restarts_total",
            "Times a supervised background task (live hub, watchdog, outbox, ...) panicked or ended and was started again.",
            COUNTER,
            g.core_tasks
                .iter()
                .map(|t| sample(COUNTER, vec![pair("task", &t.name)], t.restarts as f64))
                .collect(),
        ),
        global(
            "channelwatch_build_info",
            "Always 1; the version label names the running build.",
            GAUGE,
            vec![pair("version", &g.version)],
            1.0,
        ),
    ]);
    families.extend(process_families());

    let mut out = String::with_capacity(64 * 1024);
    let (filled, empty): (Vec<_>, Vec<_>) = families
        .into_iter()
        .partition(|f| !f.get_metric().is_empty());
    // The encoder refuses empty families; a family with no series yet still announces
    // its name and type, so dashboards and `absent()` rules see it exists.
    for f in &empty {
        let kind = if f.get_field_type() == COUNTER {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(out, "# HELP {} {}", f.name(), f.help());
        let _ = writeln!(out, "# TYPE {} {kind}", f.name());
    }
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&filled, &mut out) {
        // Only a malformed family can fail; say so in the output rather than 500.
        let _ = writeln!(out, "# encoding error: {e}");
    }
    out
}

/// `process_*` series (memory, CPU, open files) of this process, where supported.
fn process_families() -> Vec<MetricFamily> {
    #[cfg(target_os = "linux")]
    {
        static COLLECTOR: OnceLock<prometheus::process_collector::ProcessCollector> =
            OnceLock::new();
        COLLECTOR
            .get_or_init(prometheus::process_collector::ProcessCollector::for_self)
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dvr(id: &str, name: &str, ago: u64) -> DvrSample {
        DvrSample {
            dvr_id: id.into(),
            dvr_name: name.into(),
            seconds_since_event: ago,
            connected: true,
            up: true,
            sessions: 2,
            events_by_kind: BTreeMap::from([("live_tv", 3), ("hello", 1)]),
            reconnects: 1,
            disk: Some(DiskSample {
                free_bytes: 100,
                total_bytes: 1000,
            }),
            ..Default::default()
        }
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn per_dvr_series_and_aggregates() {
        let text = render(
            &[dvr("aaaa0001", "Den", 10), dvr("bbbb0002", "Attic", 40)],
            &Globals {
                version: "1.2.3".into(),
                ..Default::default()
            },
        );
        // Max for seconds-ago, sums elsewhere.
        assert_eq!(
            line(&text, "channelwatch_dvr_last_event_seconds_ago "),
            Some("channelwatch_dvr_last_event_seconds_ago 40")
        );
        assert_eq!(
            line(&text, "channelwatch_active_sessions "),
            Some("channelwatch_active_sessions 4")
        );
        assert_eq!(
            line(&text, "channelwatch_events_total{type=\"live_tv\"}"),
            Some("channelwatch_events_total{type=\"live_tv\"} 6")
        );
        assert!(text.contains(
            "channelwatch_dvr_last_event_seconds_ago{dvr_id=\"bbbb0002\",dvr_name=\"Attic\"} 40"
        ));
        assert!(text.contains(
            "channelwatch_events_total{dvr_id=\"aaaa0001\",dvr_name=\"Den\",type=\"hello\"} 1"
        ));
        assert!(text.contains("channelwatch_disk_free_bytes 200"));
        assert!(text.contains("channelwatch_build_info{version=\"1.2.3\"} 1"));
        assert!(text.contains("# TYPE channelwatch_dvr_reconnects_total counter"));
    }

    #[test]
    fn families_without_series_still_announce_themselves() {
        let text = render(&[], &Globals::default());
        for name in [
            "channelwatch_alerts_total",
            "channelwatch_notifications_total",
            "channelwatch_dvr_connected",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
        }
        assert!(text.contains("channelwatch_notification_queue_depth 0"));
        assert!(!text.contains("dvr_id="));
    }

    #[test]
    fn label_values_are_escaped() {
        let text = render(
            &[dvr("aaaa0001", "Tom's \"Den\"\\", 1)],
            &Globals::default(),
        );
        assert!(
            text.contains(r#"dvr_name="Tom's \"Den\"\\""#),
            "{}",
            text.lines()
                .find(|l| l.contains("aaaa0001"))
                .unwrap_or_default()
        );
    }
}
