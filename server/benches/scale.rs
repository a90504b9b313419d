//! Scale benchmark: the real `channelwatch serve` (release build) watching thousands of
//! simulated DVRs that live in separate processes (the in-tree simulator, at most
//! 4,000 DVRs per process so each stays under the open-file limit), so every figure
//! printed for the monitor is its own process's.
//!
//!   scripts/build.sh release
//!   cargo bench -p server --features app/ssr --bench scale -- \
//!       [--dvrs 10000] [--busy 1000] [--rate 20000] [--seconds 20] \
//!       [--soak-minutes 0] [--soak-dvrs 100] [--soak-rate 500]
//!
//! Prints: how long until every DVR's event stream is open, idle CPU (% of one core)
//! and memory per idle DVR, then CPU seconds per 1,000 events with every alert module
//! on and with all of them off (the engine alone), sending `--rate` events/s across
//! `--busy` DVRs in the upstream mix (tune, progress, library playback, ends). With
//! `--soak-minutes`, a soak at `--soak-dvrs` DVRs and `--soak-rate` events/s: resident
//! memory every minute, database growth and task restarts.

use testkit::bench::{arg, cpu_seconds, mib, rss_bytes};

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use sim::{SimConfig, Simulator};

/// DVRs one simulator process hosts: a listener and a stream each, under 20,000.
const PER_CHILD: usize = 4_000;
const API_KEY: &str = "cw_scale_bench_key_0123456789abcdef";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--scale-child") {
        let _ = engine::fd_limit::raise();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(child(&args));
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(parent(&args));
}

// ---------------------------------------------------------------------------------
// The simulator process.

/// `count` simulators; then, per `go RATE SECONDS BUSY` line on stdin, the upstream mix
/// at RATE events/s over the first BUSY of them, answered with the number sent.
async fn child(args: &[String]) {
    let count: usize = arg(args, "--count", 1);
    let mut sims = Vec::with_capacity(count);
    for i in 0..count {
        let sim = Simulator::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            SimConfig {
                name: format!("scale {i}"),
                ..SimConfig::default()
            },
        )
        .await
        .expect("simulator starts");
        sims.push(sim);
    }
    let ports: Vec<u16> = sims.iter().map(|s| s.addr().port()).collect();
    println!("{}", serde_json::to_string(&ports).unwrap());
    std::io::stdout().flush().ok();
    let handles: Vec<_> = sims.iter().map(|s| s.handle()).collect();
    let mut steps = vec![0u32; count];
    loop {
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).ok();
            line
        })
        .await
        .unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["go", rate, seconds, busy] => {
                let rate: f64 = rate.parse().unwrap_or(0.0);
                let seconds: f64 = seconds.parse().unwrap_or(0.0);
                let busy: usize = busy.parse::<usize>().unwrap_or(0).clamp(1, count);
                let total = (rate * seconds) as u64;
                let start = Instant::now();
                let mut sent = 0u64;
                let mut next = 0usize;
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                while sent < total {
                    tick.tick().await;
                    let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
                    while sent < due {
                        upstream_mix(&handles[next], next, &mut steps[next]);
                        next = (next + 1) % busy;
                        sent += 1;
                    }
                }
                println!("{sent}");
                std::io::stdout().flush().ok();
            }
            _ => break,
        }
    }
    for s in sims {
        s.shutdown().await;
    }
}

/// One DVR's cycle in the mix upstream sees: a client tunes a channel, the DVR
/// refreshes that activity twice, a library playback starts and reports progress
/// twice, then both end. Device names are stable per DVR, as in a real home, so alert
/// cooldowns apply as they would.
fn upstream_mix(h: &sim::SimHandle, i: usize, step: &mut u32) {
    let ip = format!("10.{}.{}.{}", (i / 62_500) % 250, (i / 250) % 250, i % 250);
    let channel = [7, 9, 11, 4][(*step as usize / 7) % 4];
    let live = format!("{channel}-stream-10811DF5-{ip}");
    let vod = format!("6-file-12345-{ip}");
    match *step % 7 {
        0 => h.emit(
            "activities.set",
            &live,
            &format!("Watching ch{channel} KCAL from Living Room ({ip})"),
        ),
        1 | 2 => h.emit(
            "activities.set",
            &live,
            &format!("Watching ch{channel} KCAL 1080i from Living Room ({ip}): buf=0% drop=0%"),
        ),
        3 => h.emit(
            "activities.set",
            &vod,
            &format!(
                "Watching The Movie from Bedroom ({ip}) at 0h1m{}s",
                *step % 60
            ),
        ),
        4 => h.emit(
            "activities.set",
            &vod,
            &format!(
                "Watching The Movie from Bedroom ({ip}) at 0h2m{}s",
                *step % 60
            ),
        ),
        5 => h.emit("activities.set", &live, ""),
        _ => h.emit("activities.set", &vod, ""),
    }
    *step = step.wrapping_add(1);
}

struct SimProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    ports: Vec<u16>,
}

fn spawn_sims(n: usize) -> Vec<SimProc> {
    let me = std::env::current_exe().expect("own path");
    let mut out = Vec::new();
    let mut left = n;
    while left > 0 {
        let count = left.min(PER_CHILD);
        left -= count;
        let mut child = Command::new(&me)
            .args(["--scale-child", "--count", &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("simulator process starts");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("ports line");
        let ports: Vec<u16> = serde_json::from_str(line.trim()).expect("ports JSON");
        out.push(SimProc {
            child,
            stdin,
            stdout,
            ports,
        });
    }
    out
}

/// Sends `rate` events/s for `seconds` over `busy` DVRs, spread over the processes by
/// their share of the busy DVRs; answers how many were sent once all are done.
fn drive(sims: &mut [SimProc], rate: f64, seconds: f64, busy: usize) -> u64 {
    let mut left = busy;
    let mut shares = Vec::new();
    for s in sims.iter() {
        let b = left.min(s.ports.len());
        left -= b;
        shares.push(b);
    }
    for (s, &b) in sims.iter_mut().zip(&shares) {
        if b > 0 {
            let r = rate * b as f64 / busy as f64;
            writeln!(s.stdin, "go {r} {seconds} {b}").expect("tell the simulators to go");
            s.stdin.flush().ok();
        }
    }
    let mut sent = 0;
    for (s, &b) in sims.iter_mut().zip(&shares) {
        if b > 0 {
            let mut line = String::new();
            s.stdout.read_line(&mut line).ok();
            sent += line.trim().parse::<u64>().unwrap_or(0);
        }
    }
    sent
}

// ---------------------------------------------------------------------------------
// The monitor process.

struct Monitor {
    child: Child,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    started: Instant,
}

impl Monitor {
    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    async fn health(&self) -> serde_json::Value {
        match self
            .http
            .get(format!("{}/api/v1/health", self.base))
            .header("X-API-Key", API_KEY)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    }

    /// The aggregate of a metric: its series without a `dvr_id` label, summed over
    /// their other labels (`type`, `alert_type`, `task`).
    async fn metric(&self, name: &str) -> f64 {
        let text = match self.http.get(format!("{}/metrics", self.base)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => return f64::NAN,
        };
        text.lines()
            .filter(|l| !l.contains("dvr_id="))
            .filter_map(|l| {
                let (series, v) = l.rsplit_once(' ')?;
                (series == name || series.starts_with(&format!("{name}{{")))
                    .then(|| v.parse::<f64>().ok())?
            })
            .sum()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release_binary() -> PathBuf {
    std::env::var_os("CW_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/channelwatch")
        })
}

/// The YAML for `ports` (all on 127.0.0.1), every alert module on or off.
fn config_yaml(ports: &[u16], alerts_on: bool) -> String {
    let mut y = format!(
        "log: warn\ndvr_soft_limit: {}\nretention_days: 1\nalerts:\n",
        ports.len().max(1)
    );
    for m in ["channel", "vod", "recording", "disk", "health"] {
        y.push_str(&format!("  {m}: {{enabled: {alerts_on}}}\n"));
    }
    if ports.is_empty() {
        y.push_str("dvrs: []\n");
    } else {
        y.push_str("dvrs:\n");
        for (i, p) in ports.iter().enumerate() {
            y.push_str(&format!(
                "  - {{name: DVR {i}, host: 127.0.0.1, port: {p}}}\n"
            ));
        }
    }
    y
}

async fn start_monitor(bin: &Path, ports: &[u16], alerts_on: bool) -> Monitor {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("channelwatch.yaml");
    std::fs::write(&config, config_yaml(ports, alerts_on)).expect("config file");
    // Below the ephemeral range the simulators' listeners and every outgoing
    // connection draw from, so none of them can take it in between.
    let port = (20_000..32_000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below the ephemeral range");
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .env("CHANNELWATCH_API_KEY", API_KEY)
        .env("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("channelwatch serve starts");
    let m = Monitor {
        child,
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        dir,
        started,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while m.health().await.is_null() {
        assert!(Instant::now() < deadline, "the monitor did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m
}

/// Seconds from process start until `n` event streams are open.
async fn until_subscribed(m: &Monitor, n: usize) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let h = m.health().await;
        let open = h["open_files"]["dvr_streams_open"].as_u64().unwrap_or(0) as usize;
        if open >= n {
            return m.started.elapsed().as_secs_f64();
        }
        assert!(
            Instant::now() < deadline,
            "only {open}/{n} streams open after 300 s: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn parent(args: &[String]) {
    let dvrs: usize = arg(args, "--dvrs", 10_000);
    let busy: usize = arg(args, "--busy", 1_000).clamp(1, dvrs.max(1));
    let rate: f64 = arg(args, "--rate", 20_000.0);
    let seconds: f64 = arg(args, "--seconds", 20.0);
    let soak_minutes: f64 = arg(args, "--soak-minutes", 0.0);
    let soak_dvrs: usize = arg(args, "--soak-dvrs", 100);
    let soak_rate: f64 = arg(args, "--soak-rate", 500.0);
    let _ = engine::fd_limit::raise();
    let bin = release_binary();
    if !bin.exists() {
        println!(
            "no release binary at {}; build it with scripts/build.sh release (or set CW_BIN)",
            bin.display()
        );
        return;
    }
    println!(
        "ChannelWatch scale benchmark: {} on {} cores, open-file limit {}",
        bin.display(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        engine::fd_limit::soft_limit()
    );

    // The monitor with no DVR: what every per-DVR figure is measured above.
    let empty = start_monitor(&bin, &[], true).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss0 = rss_bytes(&empty.pid());
    empty.stop();
    println!("  no DVRs: {:.1} MiB resident", mib(rss0));

    if dvrs > 0 {
        let mut sims = spawn_sims(dvrs);
        let ports: Vec<u16> = sims.iter().flat_map(|s| s.ports.clone()).collect();
        for alerts_on in [true, false] {
            let m = start_monitor(&bin, &ports, alerts_on).await;
            let subscribed = until_subscribed(&m, dvrs).await;
            let label = if alerts_on {
                "every alert module on"
            } else {
                "alert modules off (the engine alone)"
            };
            println!("{dvrs} DVRs, {label}:");
            println!("  all {dvrs} event streams open {subscribed:.2} s after start");
            if alerts_on {
                // Let connect-time polls and lookups settle, then watch it idle.
                tokio::time::sleep(Duration::from_secs(20)).await;
                // A whole minute: every periodic job (polls, watchdog, the minute's
                // activity samples) runs in it.
                let (c0, t0) = (cpu_seconds(&m.pid()), Instant::now());
                tokio::time::sleep(Duration::from_secs(60)).await;
                let idle_cpu = (cpu_seconds(&m.pid()) - c0) / t0.elapsed().as_secs_f64();
                let rss = rss_bytes(&m.pid());
                println!(
                    "  idle: {:.2} % of a core; {:.1} MiB resident, {:.1} KiB per idle DVR",
                    idle_cpu * 100.0,
                    mib(rss),
                    rss.saturating_sub(rss0) as f64 / 1024.0 / dvrs as f64
                );
            }
            let events0 = m.metric("channelwatch_events_total").await;
            let (c0, t0) = (cpu_seconds(&m.pid()), Instant::now());
            let sent = drive(&mut sims, rate, seconds, busy);
            // Until the monitor has applied what was sent (bounded).
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut applied;
            loop {
                applied = m.metric("channelwatch_events_total").await - events0;
                if applied >= sent as f64 || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let cpu = cpu_seconds(&m.pid()) - c0;
            let wall = t0.elapsed().as_secs_f64();
            let alerts = m.metric("channelwatch_alerts_total").await;
            println!(
                "  load: {sent} events sent at {rate:.0}/s over {busy} DVRs, {applied:.0} applied; {:.3} s CPU per 1,000 events ({:.0} % of a core over {wall:.1} s); {alerts:.0} alerts recorded; {:.1} MiB resident",
                cpu / applied.max(1.0) * 1000.0,
                cpu / wall * 100.0,
                mib(rss_bytes(&m.pid()))
            );
            m.stop();
        }
        for mut s in sims {
            writeln!(s.stdin, "quit").ok();
            let _ = s.child.wait();
        }
    }

    if soak_minutes > 0.0 {
        soak(&bin, soak_dvrs, soak_rate, soak_minutes).await;
    }
}

/// `minutes` at `n` DVRs and `rate` events/s: memory each minute, database growth,
/// task restarts.
async fn soak(bin: &Path, n: usize, rate: f64, minutes: f64) {
    let mut sims = spawn_sims(n);
    let ports: Vec<u16> = sims.iter().flat_map(|s| s.ports.clone()).collect();
    let m = start_monitor(bin, &ports, true).await;
    until_subscribed(&m, n).await;
    println!("soak: {n} DVRs, {rate:.0} events/s, every alert module on, {minutes} minutes");
    let db = m.dir.path().join("channelwatch.db");
    let size = |p: &Path| {
        ["", "-wal"]
            .iter()
            .map(|s| {
                std::fs::metadata(format!("{}{s}", p.display()))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    let mut samples = Vec::new();
    let whole = minutes.ceil() as usize;
    for minute in 1..=whole {
        let secs = 60.0_f64.min((minutes - (minute - 1) as f64) * 60.0);
        let sent = drive(&mut sims, rate, secs, n);
        let rss = rss_bytes(&m.pid());
        samples.push(rss);
        println!(
            "  minute {minute:>3}: {sent} events, {:.1} MiB resident, database {:.1} MiB, {:.0} alerts",
            mib(rss),
            mib(size(&db)),
            m.metric("channelwatch_alerts_total").await
        );
    }
    let warm = samples.len().clamp(1, 10) - 1;
    let after: Vec<u64> = samples[warm..].to_vec();
    let (lo, hi) = (
        *after.iter().min().unwrap_or(&0),
        *after.iter().max().unwrap_or(&0),
    );
    println!(
        "  after warm-up (minute {}): resident {:.1}..{:.1} MiB ({:+.1} %); DVR task restarts {}, core task restarts {}",
        warm + 1,
        mib(lo),
        mib(hi),
        (hi as f64 - lo as f64) / lo.max(1) as f64 * 100.0,
        m.metric("channelwatch_dvr_task_restarts_total").await,
        m.metric("channelwatch_core_task_restarts_total").await
    );
    m.stop();
    for mut s in sims {
        writeln!(s.stdin, "quit").ok();
        let _ = s.child.wait();
    }
}
