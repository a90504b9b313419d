//! Routing-rule evaluation cost per alert: 200 rules over 50 destinations with every
//! kind of condition, judged against a mix of alerts; then the quiet-time check (100
//! weekly periods and 50 snoozes, with the alert's local time in a DST zone), which
//! every alert also passes. Prints mean, p50 and p99 per alert.
//! `cargo bench -p server --bench rules -- [--rules 200] [--alerts 20000]`.

use std::time::Instant;

use domain::notify::quiet::{hush, Mode, Period, Snooze, Subject};
use domain::notify::rules::{route, Conditions, Facts, Rule, TimeWindow};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n_rules: usize = testkit::bench::arg(&args, "--rules", 200);
    let n_alerts: usize = testkit::bench::arg(&args, "--alerts", 20_000);
    let providers: Vec<i64> = (1..=50).collect();
    let rules: Vec<Rule> = (0..n_rules)
        .map(|i| Rule {
            id: i as i64,
            provider_id: providers[i % providers.len()],
            name: format!("rule {i}"),
            enabled: i % 17 != 0,
            dvrs: if i % 3 == 0 {
                vec![format!("dvr{:05}", i % 40)]
            } else {
                vec![]
            },
            kinds: match i % 4 {
                0 => vec!["channel".into()],
                1 => vec!["recording.failed".into(), "recording.missed".into()],
                2 => vec![],
                _ => vec!["vod".into(), "disk".into()],
            },
            conditions: Conditions {
                devices: if i % 5 == 0 {
                    vec!["Kitchen".into(), "192.168.1.60".into()]
                } else {
                    vec![]
                },
                exclude_devices: if i % 7 == 0 {
                    vec!["Bedroom".into()]
                } else {
                    vec![]
                },
                channels: if i % 6 == 0 {
                    vec!["7".into(), "9.1".into(), "504".into()]
                } else {
                    vec![]
                },
                sources: if i % 8 == 0 {
                    vec!["tuner".into()]
                } else {
                    vec![]
                },
                client: (i % 9 == 0).then(|| "remote".into()),
                min_watched_seconds: (i % 10 == 0).then_some(120),
                time_of_day: (i % 11 == 0).then(|| TimeWindow {
                    from: "22:00".into(),
                    to: "07:00".into(),
                    days: vec!["mon".into(), "sat".into()],
                }),
            },
        })
        .collect();
    let kinds = [
        ("channel.watching.start", "channel"),
        ("vod.playback.start", "vod"),
        ("recording.failed", "recording"),
        ("disk.space.warning", "disk"),
    ];
    let alerts: Vec<Facts> = (0..n_alerts)
        .map(|i| {
            let (event, cat) = kinds[i % kinds.len()];
            Facts {
                dvr_id: format!("dvr{:05}", i % 40),
                event_type: event.into(),
                category: Some(cat.into()),
                device: Some(["Kitchen", "Bedroom", "Den"][i % 3].into()),
                client_ip: Some(format!("192.168.1.{}", 50 + i % 20).parse().unwrap()),
                channel: Some(["7", "9.1", "13"][i % 3].into()),
                source: Some(["tuner", "tve", "m3u"][i % 3].into()),
                weekday: i % 7,
                minute: (i * 37 % 1440) as u32,
            }
        })
        .collect();
    let mut times = Vec::with_capacity(n_alerts);
    let mut sent = 0usize;
    for f in &alerts {
        let t = Instant::now();
        sent += std::hint::black_box(route(&rules, &providers, f)).len();
        times.push(t.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    let mean = times.iter().sum::<u64>() as f64 / times.len() as f64 / 1000.0;
    println!(
        "rules: {n_rules} rules, {} destinations, {n_alerts} alerts; per alert mean {mean:.1} µs, p50 {:.1} µs, p99 {:.1} µs; {:.1} destinations per alert",
        providers.len(),
        pct(0.5),
        pct(0.99),
        sent as f64 / n_alerts as f64
    );

    quiet(&alerts);
}

/// Per alert: its local weekday and minute in the zone, then every period and snooze.
fn quiet(alerts: &[Facts]) {
    let zone = domain::zone::Zone::parse("America/New_York").expect("a zone");
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let periods: Vec<Period> = (0..100)
        .map(|i| Period {
            id: i,
            name: format!("period {i}"),
            enabled: i % 13 != 0,
            mode: if i % 10 == 0 {
                Mode::Maintenance
            } else {
                Mode::Quiet
            },
            dvrs: vec![format!("dvr{:05}", i % 40)],
            kinds: if i % 10 == 0 || i % 2 == 0 {
                vec![]
            } else {
                vec!["channel".into(), "recording.failed".into()]
            },
            days: vec![days[i as usize % 7].into()],
            from: format!("{:02}:00", i % 24),
            to: format!("{:02}:30", (i + 3) % 24),
            digest: i % 3 == 0,
            health_breaks_through: i % 10 != 0 && i % 4 == 0,
        })
        .collect();
    let now = chrono::Utc::now();
    let snoozes: Vec<Snooze> = (0..50)
        .map(|i| Snooze {
            id: i,
            dvr_id: (i % 2 == 0).then(|| format!("dvr{:05}", i % 40)),
            kind: (i % 3 == 0).then(|| "vod".into()),
            until: now + chrono::Duration::hours(i % 5 - 2),
            digest: false,
            source: "api".into(),
            created_at: now,
        })
        .collect();
    let mut times = Vec::with_capacity(alerts.len());
    let mut held = 0usize;
    for (i, f) in alerts.iter().enumerate() {
        let at = now + chrono::Duration::minutes(i as i64 * 7);
        let t = Instant::now();
        let subject = Subject {
            dvr_id: &f.dvr_id,
            event_type: &f.event_type,
            category: f.category.as_deref(),
        };
        let local = zone.weekday_minute(at);
        held += usize::from(
            std::hint::black_box(hush(&periods, &snoozes, &subject, local, at)).is_some(),
        );
        times.push(t.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    let mean = times.iter().sum::<u64>() as f64 / times.len() as f64 / 1000.0;
    println!(
        "quiet: {} periods, {} snoozes, {} alerts; per alert mean {mean:.1} µs, p50 {:.1} µs, p99 {:.1} µs; {:.0} % held back",
        periods.len(),
        snoozes.len(),
        alerts.len(),
        pct(0.5),
        pct(0.99),
        held as f64 * 100.0 / alerts.len() as f64
    );
}
