//! Fleet benchmark: N simulated DVRs over loopback, each streaming a realistic mix of
//! live-TV, VOD and end events, into one engine.
//!
//!   cargo bench -p server --bench fleet -- [--sizes 1,10,100,1000] [--seconds 10] [--rate 20000] [--history] [--refresh 2]
//!
//! `--refresh K`: progress lines per play (default 2: a play every 3.5 events, a
//! stress mix; real plays refresh a hundred times or more).
//!
//! With `--history` the engine's history stream is also recorded the way the server
//! does (the play tracker, a batch written to a SQLite file each second), so the two
//! runs' CPU per million events show what keeping every play costs.
//!
//! The simulators run in a child process (this binary re-executed with --fleet-child) so
//! the figures for this process are the engine's alone. Each event carries the
//! simulator's wall-clock send time (in the device name or title); latency is measured
//! from that write to the engine's change feed reporting the applied state.
//! Prints, per N: events/s processed, p50/p99 latency, resident memory idle and under
//! load, memory per idle DVR, and CPU seconds per million events. When a release
//! binary exists it also measures the real `channelwatch serve` with 0 and 10 idle DVRs.

use testkit::bench::{arg, cpu_seconds, mib, rss_bytes};

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use domain::session::Change;
use engine::{DvrSpec, Engine, EngineEventKind, EngineSettings};
use sim::{SimConfig, Simulator};

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if args.iter().any(|a| a == "--fleet-child") {
        rt.block_on(child(&args));
    } else {
        rt.block_on(parent(&args));
    }
}

/// The simulator fleet: N simulators, then a paced emitter once told "go".
async fn child(args: &[String]) {
    let count: usize = arg(args, "--count", 1);
    let rate: f64 = arg(args, "--rate", 20_000.0);
    let seconds: f64 = arg(args, "--seconds", 10.0);
    let refresh: u32 = arg(args, "--refresh", 2);
    let mut sims = Vec::with_capacity(count);
    for i in 0..count {
        let sim = Simulator::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            SimConfig {
                name: format!("bench {i}"),
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

    let stdin = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).ok();
        line
    });
    let go = stdin.await.unwrap_or_default();
    if go.trim() != "go" {
        return;
    }
    let handles: Vec<_> = sims.iter().map(|s| s.handle()).collect();
    let mut steps = vec![0u32; count];
    let start = Instant::now();
    let total = (rate * seconds) as u64;
    let mut sent: u64 = 0;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while sent < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
        while sent < due {
            let i = next;
            next = (next + 1) % count;
            emit_step(&handles[i], i, &mut steps[i], refresh);
            sent += 1;
        }
    }
    println!(
        "{}",
        serde_json::json!({ "sent": sent, "seconds": start.elapsed().as_secs_f64() })
    );
    std::io::stdout().flush().ok();
    // Stay up until the parent is done reading (it closes our stdin).
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await;
    for s in sims {
        s.shutdown().await;
    }
}

/// One DVR's cycle: tune, `refresh` progress refreshes, VOD start and `refresh - 1`
/// progress lines, then both end (the default, 2, is seven events with two plays; real
/// plays refresh for minutes, a hundred times or more). Timestamps ride in the device
/// name / title.
fn emit_step(h: &sim::SimHandle, i: usize, step: &mut u32, refresh: u32) {
    let ts = now_nanos();
    let live = format!("{}-stream-10811DF5-10.0.{}.{}", 7, (i / 250) % 250, i % 250);
    let vod = format!("6-file-12345-10.1.{}.{}", (i / 250) % 250, i % 250);
    let k = refresh.max(1);
    match *step % (2 * k + 3) {
        0 => h.emit(
            "activities.set",
            &live,
            &format!("Watching ch7 ABC from D{ts} (10.0.0.1)"),
        ),
        s if s <= k => h.emit(
            "activities.set",
            &live,
            &format!("Watching ch7 ABC 1080i from D{ts} (10.0.0.1): buf=0% drop=0%"),
        ),
        s if s <= 2 * k => h.emit(
            "activities.set",
            &vod,
            &format!(
                "Watching M{ts} from Bedroom (10.0.0.2) at 1h2m{}s",
                *step % 60
            ),
        ),
        s if s == 2 * k + 1 => h.emit("activities.set", &live, ""),
        _ => h.emit("activities.set", &vod, ""),
    }
    *step = step.wrapping_add(1);
}

/// The send time carried by a change, if it is one that carries it.
fn sent_at(change: &Change) -> Option<u128> {
    let text = match change {
        Change::LiveStarted(s) | Change::LiveUpdated(s) => {
            s.device_name.as_deref()?.strip_prefix('D')?
        }
        Change::VodStarted(s) | Change::VodProgress(s) => s.title.as_deref()?.strip_prefix('M')?,
        _ => return None,
    };
    text.parse().ok()
}

struct RunResult {
    n: usize,
    connect_secs: f64,
    rss_idle: u64,
    rss_base: u64,
    rss_load: u64,
    events: u64,
    seconds: f64,
    sent: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    samples: usize,
    lagged: u64,
    cpu_per_million: f64,
}

/// The server's history recorder without its lookups: plays tracked and written to a
/// real database in batches each second. Answers the plays written.
async fn record_history(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Arc<engine::EngineEvent>>,
    db: storage::Db,
) -> u64 {
    let mut tracker = domain::history::Tracker::new(1, None);
    let mut pending = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut written = 0;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => pending.extend(tracker.on_event(&ev)),
                None => break,
            },
            _ = tick.tick() => {
                written += pending.iter().filter(|o| matches!(o, domain::history::Op::Start(_))).count() as u64;
                storage::history::write(&db, &std::mem::take(&mut pending)).await.expect("history write");
            }
        }
    }
    written += pending
        .iter()
        .filter(|o| matches!(o, domain::history::Op::Start(_)))
        .count() as u64;
    storage::history::write(&db, &pending)
        .await
        .expect("history write");
    written
}

async fn run_size(n: usize, rate: f64, seconds: f64, history: bool, refresh: u32) -> RunResult {
    let me = std::env::current_exe().expect("own path");
    let mut child = Command::new(me)
        .args([
            "--fleet-child",
            "--count",
            &n.to_string(),
            "--rate",
            &rate.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--refresh",
            &refresh.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fleet child starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).expect("ports line");
    let ports: Vec<u16> = serde_json::from_str(line.trim()).expect("ports JSON");

    let engine = Engine::new(
        EngineSettings {
            feed_capacity: 1 << 16,
            ..EngineSettings::default()
        },
        engine::dvr::client::DvrClient::build_http().expect("DVR HTTP client"),
    );
    let history_dir = tempfile::tempdir().expect("temp dir");
    let recorder = if history {
        let db = storage::Db::open(history_dir.path())
            .await
            .expect("database");
        Some(tokio::spawn(record_history(engine.history_stream(), db)))
    } else {
        None
    };
    // After the engine (and its shared HTTP client with the TLS roots) exists, so the
    // per-DVR figure counts only what each DVR adds.
    let rss_base = rss_bytes("self");
    let specs: Vec<DvrSpec> = ports
        .iter()
        .map(|&port| DvrSpec {
            dvr_id: domain::dvr::id::dvr_id("127.0.0.1", port),
            name: format!("bench {port}"),
            host: "127.0.0.1".into(),
            port,
            staleness_threshold_seconds: 300,
            api_key: Default::default(),
        })
        .collect();
    let t0 = Instant::now();
    engine.reconcile(&specs);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let up = engine
            .slots()
            .iter()
            .filter(|s| s.is_connected() && s.disk().is_some())
            .count();
        if up == n {
            break;
        }
        assert!(Instant::now() < deadline, "only {up}/{n} DVRs connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    // Let connect-time polls and allocations settle before reading idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_bytes("self");

    let mut feed = engine.subscribe();
    let lagged = Arc::new(AtomicU64::new(0));
    let lag = lagged.clone();
    let collector = tokio::spawn(async move {
        let mut lat_us: Vec<u32> = Vec::with_capacity(1 << 20);
        loop {
            match feed.recv().await {
                Ok(ev) => {
                    if let EngineEventKind::Change(c) = &ev.kind {
                        if let Some(sent) = sent_at(c) {
                            let d = now_nanos().saturating_sub(sent) / 1000;
                            lat_us.push(u32::try_from(d).unwrap_or(u32::MAX));
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                    lag.fetch_add(k, Ordering::Relaxed);
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return lat_us,
            }
        }
    });

    let count_events = |e: &Engine| -> u64 {
        e.slots()
            .iter()
            .map(|s| s.counters.events.load(Ordering::Relaxed))
            .sum()
    };
    let events0 = count_events(&engine);
    let cpu0 = cpu_seconds("self");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "go").expect("tell the fleet to go");
    stdin.flush().ok();
    let run_start = Instant::now();
    let mut rss_load = 0;
    // Read the fleet's summary on a blocking thread while sampling memory here.
    let summary = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        out.read_line(&mut line).ok();
        line
    });
    let summary = {
        tokio::pin!(summary);
        loop {
            tokio::select! {
                s = &mut summary => break s.unwrap_or_default(),
                _ = tokio::time::sleep(Duration::from_millis(250)) => rss_load = rss_load.max(rss_bytes("self")),
            }
        }
    };
    // Drain: wait until the engine has counted what was sent (bounded).
    let summary: serde_json::Value = serde_json::from_str(summary.trim()).unwrap_or_default();
    let sent = summary["sent"].as_u64().unwrap_or(0);
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while count_events(&engine) - events0 < sent && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds_run = run_start.elapsed().as_secs_f64();
    if recorder.is_some() {
        // The last batch is the recorder's work too: counted once it is written.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let cpu = cpu_seconds("self") - cpu0;
    let events = count_events(&engine) - events0;
    rss_load = rss_load.max(rss_bytes("self"));

    engine.shutdown().await;
    drop(engine);
    if let Some(task) = recorder {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(plays)) => println!("      history: {plays} plays recorded"),
            _ => println!("      history: the recorder did not finish"),
        }
    }
    drop(stdin);
    let _ = child.wait();
    let mut lat = collector.await.unwrap_or_default();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[i] as f64 / 1000.0
    };
    RunResult {
        n,
        connect_secs,
        rss_idle,
        rss_base,
        rss_load,
        events,
        seconds: seconds_run,
        sent,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        samples: lat.len(),
        lagged: lagged.load(Ordering::Relaxed),
        cpu_per_million: if events > 0 {
            cpu / events as f64 * 1e6
        } else {
            f64::NAN
        },
    }
}

/// RSS of the real `channelwatch serve` with `n` idle simulated DVRs.
async fn server_rss(bin: &std::path::Path, n: usize) -> Option<u64> {
    let mut sims = Vec::new();
    for _ in 0..n {
        sims.push(
            Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)), SimConfig::default())
                .await
                .ok()?,
        );
    }
    let servers: Vec<String> = sims
        .iter()
        .enumerate()
        .map(|(i, s)| format!("Idle {i}@127.0.0.1:{}", s.addr().port()))
        .collect();
    let dir = tempfile::tempdir().ok()?;
    // Room for more than the default 10 DVRs.
    std::fs::write(
        dir.path().join("channelwatch.yaml"),
        "dvr_soft_limit: 1000\n",
    )
    .ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("CHANNELS_DVR_SERVERS", servers.join(","))
        .env("CHANNELWATCH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while sims
        .iter()
        .map(|s| s.handle().open_streams())
        .sum::<usize>()
        < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Serve one page so the web app's allocations are counted too.
    let _ = reqwest::get(format!("http://127.0.0.1:{port}/")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = rss_bytes(&child.id().to_string());
    let _ = child.kill();
    let _ = child.wait();
    for s in sims {
        s.shutdown().await;
    }
    Some(rss)
}

async fn parent(args: &[String]) {
    let sizes: String = arg(args, "--sizes", "1,10,100,1000".to_string());
    let history = args.iter().any(|a| a == "--history");
    let refresh: u32 = arg(args, "--refresh", 2);
    let seconds: f64 = arg(args, "--seconds", 10.0);
    let rate: f64 = arg(args, "--rate", 20_000.0);
    println!("ChannelWatch fleet benchmark: {rate} events/s offered in total for {seconds} s per size, on {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!(
        "{:>5} {:>9} {:>10} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10} {:>11}",
        "DVRs",
        "connect",
        "events/s",
        "sent",
        "processed",
        "p50 ms",
        "p99 ms",
        "max ms",
        "RSS idle",
        "RSS load",
        "KiB/DVR",
        "CPU s/Mev"
    );
    for n in sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let r = run_size(n, rate, seconds, history, refresh).await;
        let per_dvr_kib = (r.rss_idle.saturating_sub(r.rss_base)) as f64 / 1024.0 / r.n as f64;
        println!(
            "{:>5} {:>8.2}s {:>10.0} {:>9} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>8.1}M {:>8.1}M {:>10.1} {:>11.2}",
            r.n,
            r.connect_secs,
            r.events as f64 / r.seconds,
            r.sent,
            r.events,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            mib(r.rss_idle),
            mib(r.rss_load),
            per_dvr_kib,
            r.cpu_per_million
        );
        if r.lagged > 0 {
            println!("      note: the latency collector lagged and skipped {} feed entries ({} samples kept)", r.lagged, r.samples);
        }
    }
    let bin = std::env::var_os("CW_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/channelwatch")
        });
    if bin.exists() {
        println!(
            "channelwatch serve ({}), resident memory with idle DVRs:",
            bin.display()
        );
        let zero = server_rss(&bin, 0).await.unwrap_or(0);
        println!("  {:>4} DVRs: {:>6.1} MiB", 0, mib(zero));
        for n in [10, 100] {
            if let Some(rss) = server_rss(&bin, n).await {
                println!(
                    "  {:>4} DVRs: {:>6.1} MiB ({:.1} KiB per idle DVR)",
                    n,
                    mib(rss),
                    rss.saturating_sub(zero) as f64 / 1024.0 / n as f64
                );
            }
        }
    } else {
        println!("(no release binary at {}; build it with scripts/build.sh release to measure the real server's memory)", bin.display());
    }
}
