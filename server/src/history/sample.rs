//! Plausible watch history: evenings busier than mornings, weekends busier than
//! weekdays, news watched briefly and films to the end. The demo fills a few days
//! with it so History and Statistics have something to show from the first minute;
//! the benchmark fills a million rows the same way.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use domain::history::{EndedBy, Play, PlayKind};

/// Channels as the simulator serves them: (number, call sign, source, programs).
const CHANNELS: [(&str, &str, &str, &[&str]); 10] = [
    (
        "7",
        "ABC",
        "tuner",
        &[
            "Good Morning America",
            "World News Tonight",
            "Jeopardy!",
            "Grey's Anatomy",
            "Jimmy Kimmel Live",
        ],
    ),
    (
        "9",
        "KCAL",
        "tuner",
        &["KCAL News at 6", "Dodgers Baseball", "KCAL News at 10"],
    ),
    (
        "5.1",
        "KTLA",
        "tuner",
        &[
            "The Evening News",
            "KTLA Morning News",
            "Friends",
            "The Big Bang Theory",
        ],
    ),
    (
        "13.1",
        "KCOP",
        "tuner",
        &["The Simpsons", "Family Feud", "Bob's Burgers"],
    ),
    (
        "2.1",
        "KCBS",
        "tuner",
        &["CBS Mornings", "NCIS", "The Late Show", "60 Minutes"],
    ),
    (
        "4.1",
        "KNBC",
        "tuner",
        &[
            "Today",
            "NBC Nightly News",
            "Sunday Night Football",
            "Saturday Night Live",
        ],
    ),
    (
        "11.1",
        "KTTV",
        "tve",
        &["FOX NFL Sunday", "The Masked Singer", "Fox 11 News"],
    ),
    ("6001", "Pluto TV News", "m3u", &["Pluto TV News Live"]),
    (
        "6002",
        "Pluto TV Crime",
        "m3u",
        &["Forensic Files", "Cold Case Files"],
    ),
    ("6101", "Samsung TV Plus Movies", "m3u", &["Movie Night"]),
];

/// Library files: (file id, title, length in seconds).
const LIBRARY: [(&str, &str, i64); 8] = [
    ("12345", "Crank: High Voltage (2009)", 6131),
    ("12260", "The Evening News", 3600),
    ("13001", "The Simpsons: Treehouse of Horror", 1320),
    ("13002", "Planet Earth: Mountains", 2940),
    ("13003", "Heat (1995)", 10_200),
    ("13004", "Jeopardy!: Tournament of Champions", 1320),
    ("13005", "Bluey: Sleepytime", 420),
    ("13006", "The Bear: Fishes", 3960),
];

/// Devices: (name, address, watches the library).
const DEVICES: [(&str, &str, bool); 7] = [
    ("Living Room", "192.168.1.50", true),
    ("Kitchen", "192.168.1.51", false),
    ("Bedroom", "192.168.1.100", true),
    ("Office", "192.168.1.77", false),
    ("Kids Room", "192.168.1.60", true),
    ("iPhone", "10.0.0.23", true),
    ("iPad", "10.0.0.24", true),
];

/// How likely a play starts in each hour of the day (relative weights).
const HOUR_WEIGHT: [u32; 24] = [
    2, 1, 1, 1, 1, 2, 4, 7, 6, 4, 3, 3, 4, 4, 4, 5, 6, 9, 13, 16, 16, 14, 9, 5,
];

/// `count` finished plays spread over `[from, to)` across `dvrs`, ids from `first_id`,
/// oldest first. The same seed gives the same history.
pub fn plausible(
    dvrs: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    count: usize,
    first_id: i64,
    seed: u64,
) -> Vec<(Play, DateTime<Utc>, EndedBy)> {
    if dvrs.is_empty() || to <= from {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let span = (to - from).num_seconds().max(1);
    let heaviest = HOUR_WEIGHT.iter().max().copied().unwrap_or(1) * 5;
    let channel_pick = WeightedIndex::new((1..=CHANNELS.len()).rev()).expect("weights");
    let mut starts: Vec<DateTime<Utc>> = Vec::with_capacity(count);
    while starts.len() < count {
        let t = from + Duration::seconds(rng.random_range(0..span));
        // Keep the draw as often as its hour weighs, a little more at weekends.
        let weekend = matches!(t.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        let w = HOUR_WEIGHT[t.hour() as usize] * if weekend { 5 } else { 4 };
        if rng.random_range(0..heaviest) < w {
            starts.push(t);
        }
    }
    starts.sort();
    starts
        .into_iter()
        .enumerate()
        .map(|(i, start)| {
            let dvr = &dvrs[rng.random_range(0..dvrs.len())];
            let id = first_id + i as i64;
            let (device, ip, library) = DEVICES[rng.random_range(0..DEVICES.len())];
            let (play, length) = if library && rng.random_range(0..4) == 0 {
                let (file, title, length) = LIBRARY[rng.random_range(0..LIBRARY.len())];
                // Most finish what they started; some give up early.
                let watched = if rng.random_range(0..3) > 0 {
                    length
                } else {
                    rng.random_range(60..length.max(61))
                };
                (
                    Play {
                        id,
                        dvr_id: dvr.clone(),
                        kind: PlayKind::Vod,
                        device: Some(device.into()),
                        client_ip: Some(ip.into()),
                        channel: None,
                        call_sign: None,
                        source: None,
                        file_id: Some(file.into()),
                        title: Some(title.into()),
                        started_at: start,
                    },
                    watched,
                )
            } else {
                // The first channels are watched most.
                let (number, call, source, programs) = CHANNELS[channel_pick.sample(&mut rng)];
                let title = programs[rng.random_range(0..programs.len())];
                // Channel surfing is short, a programme half an hour to three hours.
                let watched = match rng.random_range(0..10) {
                    0..=2 => rng.random_range(20..300),
                    3..=7 => rng.random_range(600..3600),
                    _ => rng.random_range(3600..10_800),
                };
                (
                    Play {
                        id,
                        dvr_id: dvr.clone(),
                        kind: PlayKind::Live,
                        device: Some(device.into()),
                        client_ip: Some(ip.into()),
                        channel: Some(number.into()),
                        call_sign: Some(call.into()),
                        source: Some(source.into()),
                        file_id: None,
                        title: Some(title.into()),
                        started_at: start,
                    },
                    watched,
                )
            };
            let ended_by = match rng.random_range(0..200) {
                0 => EndedBy::DvrLost,
                1 => EndedBy::MonitorRestarted,
                _ => EndedBy::Stopped,
            };
            let end = (start + Duration::seconds(length)).min(to);
            (play, end, ended_by)
        })
        .collect()
}

/// Each hour's streams at once for a filled history, per DVR and for all ('*'): the
/// plays under way at the hour's half, split by kind (the statistics' busiest minute,
/// approximated).
pub fn stream_hours(
    rows: &[(Play, DateTime<Utc>, EndedBy)],
) -> Vec<(String, storage::stats::Streams)> {
    use std::collections::BTreeMap;
    let mut hours: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
    for (p, end, _) in rows {
        let (start, end) = (p.started_at.timestamp(), end.timestamp());
        let mut hour = start.div_euclid(3600);
        while hour * 3600 + 1800 < end {
            if hour * 3600 + 1800 >= start {
                for dvr in [p.dvr_id.clone(), "*".to_string()] {
                    let e = hours.entry((hour, dvr)).or_default();
                    match p.kind {
                        PlayKind::Live => e.0 += 1,
                        PlayKind::Vod => e.1 += 1,
                    }
                }
            }
            hour += 1;
        }
    }
    hours
        .into_iter()
        .map(|((hour, dvr), (live, vod))| {
            (
                dvr,
                storage::stats::Streams {
                    at: hour * 3600,
                    live,
                    vod,
                    recording: 0,
                    total: live + vod,
                    peak_at: hour * 3600 + 1800,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_plausible_and_repeatable() {
        let to = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let from = to - Duration::days(7);
        let dvrs = vec!["aaaa0001".to_string(), "bbbb0002".to_string()];
        let a = plausible(&dvrs, from, to, 2000, 10, 1);
        assert_eq!(a, plausible(&dvrs, from, to, 2000, 10, 1));
        assert_eq!(a.len(), 2000);
        assert_eq!(a[0].0.id, 10);
        assert!(a.windows(2).all(|w| w[0].0.started_at <= w[1].0.started_at));
        assert!(a
            .iter()
            .all(|(p, end, _)| p.started_at >= from && *end <= to && *end >= p.started_at));
        let evening = a
            .iter()
            .filter(|(p, _, _)| (18..23).contains(&p.started_at.hour()))
            .count();
        let morning = a
            .iter()
            .filter(|(p, _, _)| (1..6).contains(&p.started_at.hour()))
            .count();
        assert!(
            evening > morning * 4,
            "evenings {evening}, small hours {morning}"
        );
        let vod = a.iter().filter(|(p, _, _)| p.kind == PlayKind::Vod).count();
        assert!(vod > 100 && vod < 600, "{vod} library plays");
        assert!(a.iter().any(|(p, _, _)| p.dvr_id == "bbbb0002"));
        let hours = stream_hours(&a);
        let all: Vec<_> = hours.iter().filter(|(d, _)| d == "*").collect();
        assert!(
            all.len() > 100,
            "most hours of a week have someone watching"
        );
        for (_, s) in &all {
            let per_dvr: i64 = hours
                .iter()
                .filter(|(d, x)| d != "*" && x.at == s.at)
                .map(|(_, x)| x.total)
                .sum();
            assert_eq!(per_dvr, s.total, "all DVRs together at {}", s.at);
        }
    }
}
