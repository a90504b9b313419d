//! Log output: `tracing` lines to stderr (text, or JSON with
//! `CHANNELWATCH_LOG_FORMAT=json`) and the same lines to `<data-dir>/logs/`, rotated
//! daily and kept for [`KEEP_FILES`] days, so an operator (and the debug bundle) has
//! history after a container restart.
//!
//! Neither writer ever blocks the caller: each has its own thread behind a bounded
//! queue ([`QUEUED_LINES`]), and a line that finds the queue full is dropped and
//! counted ([`dropped_lines`], `channelwatch_log_lines_dropped_total`). A paused
//! terminal or a blocking container log driver then costs log lines, never the
//! runtime's workers (which once stalled for 44 s behind a slow stderr pipe).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Daily files kept in `<data-dir>/logs/`.
pub(crate) const KEEP_FILES: usize = 7;
const PREFIX: &str = "channelwatch";
const SUFFIX: &str = "log";

pub(crate) fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

fn layer<W>(format: &LogFormat, writer: W) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    match format {
        LogFormat::Json => base.json().boxed(),
        LogFormat::Text => base.boxed(),
    }
}

/// Lines each writer holds for its thread before it drops new ones.
pub(crate) const QUEUED_LINES: usize = 16_384;

/// The drop counters of the installed writers.
static DROPPED: OnceLock<Vec<ErrorCounter>> = OnceLock::new();

/// Log lines dropped so far because a writer could not keep up.
pub(crate) fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map(|c| c.iter().map(|c| c.dropped_lines() as u64).sum())
        .unwrap_or(0)
}

/// Says once in the log that lines are being dropped (the message reaches whichever
/// writer keeps up; the metric counts the rest). Runs until `cancel`.
pub(crate) async fn report_drops(cancel: tokio_util::sync::CancellationToken) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            _ = cancel.cancelled() => return,
        }
        let dropped = dropped_lines();
        if dropped > 0 && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                dropped,
                "log lines are being dropped: a log reader (stderr or the log folder) is slower than the log; channelwatch_log_lines_dropped_total counts them"
            );
        }
    }
}

/// Flushes the writers when dropped: keep it alive for the life of the process.
#[must_use]
pub struct LogGuard(#[allow(dead_code)] Vec<WorkerGuard>);

/// A writer on its own thread behind a bounded queue, dropping (and counting) what
/// does not fit.
fn non_blocking<W: std::io::Write + Send + 'static>(
    w: W,
    name: &str,
) -> (tracing_appender::non_blocking::NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name(name)
        .finish(w)
}

/// Installs the subscriber. With a data dir, lines also go to its rotated log files;
/// keep the answered guard alive, it flushes the writers on drop. A log folder that
/// cannot be created is reported on stderr and logging goes on without it.
pub fn init(filter: &str, format: &LogFormat, data_dir: Option<&Path>) -> LogGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (stderr, stderr_guard) = non_blocking(std::io::stderr(), "log-stderr");
    let mut counters = vec![stderr.error_counter()];
    let mut guards = vec![stderr_guard];
    let mut layers = vec![layer(format, stderr)];
    let file = data_dir.and_then(|d| {
        let dir = log_dir(d);
        let appender = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                storage::private_files::private_dir(&dir);
                Builder::new()
                    .rotation(Rotation::DAILY)
                    .filename_prefix(PREFIX)
                    .filename_suffix(SUFFIX)
                    .max_log_files(KEEP_FILES)
                    .build(&dir)
                    .map_err(|e| e.to_string())
            });
        match appender {
            Ok(a) => {
                storage::private_files::private_files_in(&dir);
                let (writer, g) = non_blocking(
                    PrivateLogs {
                        inner: a,
                        dir: dir.clone(),
                        checked: std::time::Instant::now(),
                    },
                    "log-files",
                );
                counters.push(writer.error_counter());
                guards.push(g);
                Some(layer(format, writer))
            }
            Err(e) => {
                eprintln!("warning: cannot write log files in {}: {e}", dir.display());
                None
            }
        }
    });
    layers.extend(file);
    // Set either way: `try_init` also reports a `log` bridge it could not install
    // while the subscriber itself is in place; writers that never get a line count 0.
    let _ = DROPPED.set(counters);
    let _ = tracing_subscriber::registry()
        .with(layers.with_filter(filter))
        .try_init();
    LogGuard(guards)
}

/// The rotating log files, kept owner-only: the appender creates each day's file with
/// the umask's mode, so the folder (0700 already) is swept to 0600 once a minute, on
/// the writer's own thread.
struct PrivateLogs {
    inner: tracing_appender::rolling::RollingFileAppender,
    dir: PathBuf,
    checked: std::time::Instant,
}

impl std::io::Write for PrivateLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.checked.elapsed() >= std::time::Duration::from_secs(60) {
            self.checked = std::time::Instant::now();
            storage::private_files::private_files_in(&self.dir);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The last `n` lines over the log files, oldest first.
pub fn recent_lines(data_dir: &Path, n: usize) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(log_dir(data_dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|f| f.to_str())
                        .is_some_and(|f| f.starts_with(PREFIX))
                })
                .collect()
        })
        .unwrap_or_default();
    // Daily names sort by date.
    files.sort();
    let mut out: Vec<String> = Vec::new();
    for f in files.iter().rev() {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.append(&mut out);
        out = lines;
        if out.len() >= n {
            break;
        }
    }
    let skip = out.len().saturating_sub(n);
    out.split_off(skip)
}
