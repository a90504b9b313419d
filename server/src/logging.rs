//! Log output: `tracing` lines to stderr (text, or JSON with
//! `CHANNELWATCH_LOG_FORMAT=json`) and the same lines to `<data-dir>/logs/`, rotated
//! daily and kept for [`KEEP_FILES`] days, so an operator (and the debug bundle) has
//! history after a container restart.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Daily files kept in `<data-dir>/logs/`.
pub const KEEP_FILES: usize = 7;
const PREFIX: &str = "channelwatch";
const SUFFIX: &str = "log";

pub fn log_dir(data_dir: &Path) -> PathBuf {
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

/// Installs the subscriber. With a data dir, lines also go to its rotated log files;
/// keep the answered guard alive, it flushes the file writer on drop. A log folder
/// that cannot be created is reported on stderr and logging goes on without it.
pub fn init(filter: &str, format: &LogFormat, data_dir: Option<&Path>) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let mut layers = vec![layer(format, std::io::stderr)];
    let mut guard = None;
    let file = data_dir.and_then(|d| {
        let dir = log_dir(d);
        let appender = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                crate::private_files::private_dir(&dir);
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
                crate::private_files::private_files_in(&dir);
                let (writer, g) = tracing_appender::non_blocking(PrivateLogs {
                    inner: a,
                    dir: dir.clone(),
                    checked: std::time::Instant::now(),
                });
                guard = Some(g);
                Some(layer(format, writer))
            }
            Err(e) => {
                eprintln!("warning: cannot write log files in {}: {e}", dir.display());
                None
            }
        }
    });
    layers.extend(file);
    let _ = tracing_subscriber::registry()
        .with(layers.with_filter(filter))
        .try_init();
    guard
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
            crate::private_files::private_files_in(&self.dir);
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
