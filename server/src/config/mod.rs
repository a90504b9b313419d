//! Configuration layers: flags win over environment, environment over the YAML file,
//! the file over defaults (the file's providers, routing and settings, and applying
//! them, are in `declared`). Any bad value stops start-up with one message naming the
//! key and where it came from.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::registry::NewDvr;
use domain::disk::ThresholdRules;

pub mod declared;
pub mod net;

/// Values given on the command line (each `None` when the flag was not used).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub bind: Option<String>,
    pub port: Option<u16>,
    pub config: Option<PathBuf>,
    pub demo: bool,
}

/// A configuration problem: where (file or variable), which key, what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration in {source_name}: {}{key}: {message}", .line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub source_name: String,
    /// The line in the file, when the key could be found there.
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(
        source_name: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::at(source_name, None, key, message)
    }

    pub fn at(
        source_name: impl Into<String>,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            source_name: source_name.into(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Where a file configuration was read from, kept to point errors found later (on
/// apply) at their line. Its `Debug` does not print the text, which may hold secrets.
#[derive(Clone, Default)]
pub struct Origin {
    pub name: String,
    pub text: std::sync::Arc<str>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Origin({}, {} bytes)", self.name, self.text.len())
    }
}

/// The YAML file (`<data-dir>/channelwatch.yaml` or `--config`). Unknown keys are
/// errors so a typo never silently does nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub port: Option<u16>,
    pub log: Option<String>,
    pub dvr_soft_limit: Option<u32>,
    /// Free-space levels for `disk_status` (defaults: warning below 10 % or 50 GiB,
    /// critical below 5 % or 25 GiB).
    pub disk_thresholds: Option<domain::disk::DiskThresholds>,
    #[serde(default)]
    pub dvrs: Vec<FileDvr>,
    /// Notification providers owned by the file (matched by `name` on reload).
    #[serde(default)]
    pub providers: Vec<declared::FileProvider>,
    /// Routing cells: DVR name or dvr_id → event → provider type → on/off.
    #[serde(default)]
    pub routing: declared::FileRouting,
    /// Alert-history retention in days (Settings > Advanced).
    pub retention_days: Option<u32>,
    /// Watch-history retention in days (Settings > Advanced).
    pub history_retention_days: Option<u32>,
    /// The zone times are shown in (Settings > Advanced); empty: `TZ`.
    pub time_zone: Option<String>,
    /// Alert settings laid over the stored ones (keys of `GET /api/v1/settings` `alerts`).
    pub alerts: Option<serde_json::Value>,
    /// `providers` with their secrets resolved (filled by [`read_file`]).
    #[serde(skip)]
    pub declared_providers: Vec<declared::DeclaredProvider>,
    #[serde(skip)]
    pub origin: Origin,
}

impl FileConfig {
    /// An error about `key` of this file, pointing at its line when it can be found.
    pub fn error(&self, key: &str, message: String) -> ConfigError {
        ConfigError::at(
            self.origin.name.clone(),
            declared::line_of(&self.origin.text, key),
            key,
            message,
        )
    }

    /// DVRs the file declares, in registry form.
    pub fn file_dvrs_list(&self) -> Vec<NewDvr> {
        self.dvrs
            .iter()
            .map(|d| NewDvr {
                name: d.name.clone().unwrap_or_else(|| d.host.clone()),
                host: d.host.clone(),
                port: d.port,
                enabled: d.enabled,
                staleness_threshold_seconds: d.staleness_threshold_seconds,
                api_key: d.api_key.clone(),
            })
            .collect()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDvr {
    pub name: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub enabled: Option<bool>,
    pub staleness_threshold_seconds: Option<u32>,
    /// For DVRs that require one: `${VAR}` (or `VAR_FILE`) interpolated, or read from
    /// `api_key_file`. Resolved by [`read_file`]; its `Debug` is masked below.
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
}

impl std::fmt::Debug for FileDvr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDvr")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("enabled", &self.enabled)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .finish_non_exhaustive()
    }
}

/// Where log lines go and how they look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration the process runs with. Its `Debug` masks the secrets.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: IpAddr,
    pub port: u16,
    /// The YAML file in use, if any.
    pub config_file: Option<PathBuf>,
    /// Whether it was named by `--config`/`CHANNELWATCH_CONFIG` (then it must exist).
    pub config_explicit: bool,
    pub file: FileConfig,
    /// DVRs from `CHANNELS_DVR_SERVERS`.
    pub env_dvrs: Vec<NewDvr>,
    /// `CHANNELWATCH_API_KEY`: accepted in addition to stored keys. Never logged.
    pub api_key: Option<String>,
    pub admin_user: Option<String>,
    pub admin_password: Option<String>,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub demo: bool,
    /// `CHANNELWATCH_METRICS_TOKEN`: when set, `/metrics` wants `Authorization: Bearer`.
    pub metrics_token: Option<String>,
    /// `CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS` (tests only; default 30).
    pub watchdog_interval: std::time::Duration,
    /// `CHANNELWATCH_LIVE_RECHECK_SECONDS` (tests only; default 30): how often an open
    /// live stream checks that its session or stored API key is still valid.
    pub live_recheck: std::time::Duration,
    /// `CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS`: background mDNS scans (default 600;
    /// 0 = only when asked, which the tests use so nothing is sent to the LAN).
    pub discovery_interval: Option<std::time::Duration>,
    /// `CHANNELWATCH_INSTANCE_URL`: where this instance is reached (in webhook bodies).
    pub instance_url: String,
    /// `CHANNELWATCH_INSTANCE_URL` when it is set: alerts then carry a snooze link.
    pub public_url: Option<String>,
    /// `CHANNELWATCH_SECURE_COOKIES`: mark session cookies `Secure`. Unset means
    /// automatic: when the request arrived over TLS at a trusted proxy
    /// (`X-Forwarded-Proto: https`).
    pub secure_cookies: Option<bool>,
    /// `CHANNELWATCH_TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` /
    /// `Forwarded`, `X-Forwarded-Host` and `X-Forwarded-Proto` are believed. Empty: none.
    pub trusted_proxies: net::TrustedProxies,
    /// `CHANNELWATCH_ALLOWED_HOSTS`: the host names the web app answers to (a
    /// DNS-rebinding guard). Empty: any host.
    pub allowed_hosts: net::AllowedHosts,
    /// `CHANNELWATCH_IMAGE_CACHE_MB` (default 100, 1–10000): the disk cache of channel
    /// logos and program art under `<data-dir>/cache/images`.
    pub image_cache_bytes: u64,
    /// `TZ`: the zone times are shown in unless the `time_zone` setting names one
    /// (read against the bundled zone database; see `crate::zone`).
    pub tz: Option<String>,
    /// `CHANNELWATCH_HEARTBEAT_MIN_INTERVAL_SECONDS` (tests only; default 10): the
    /// shortest heartbeat interval accepted.
    pub heartbeat_min_interval: u32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mask = |v: &Option<String>| v.as_ref().map(|_| "****");
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("config_file", &self.config_file)
            .field("env_dvrs", &self.env_dvrs.len())
            .field("api_key", &mask(&self.api_key))
            .field("admin_user", &self.admin_user)
            .field("admin_password", &mask(&self.admin_password))
            .field("metrics_token", &mask(&self.metrics_token))
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("demo", &self.demo)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("tz", &self.tz)
            .finish_non_exhaustive()
    }
}

pub(crate) const DEFAULT_PORT: u16 = 8501;

/// Something that reads environment variables; tests pass a map.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, key: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    }
}

impl Env for Vec<(&str, &str)> {
    fn var(&self, key: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    }
}

impl Config {
    /// Resolves flags, environment, file and defaults.
    pub fn load(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| env.var("CHANNELWATCH_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("./data"));

        let (config_file, explicit) = match flags
            .config
            .clone()
            .or_else(|| env.var("CHANNELWATCH_CONFIG").map(PathBuf::from))
        {
            Some(p) => (Some(p), true),
            None => {
                let p = data_dir.join("channelwatch.yaml");
                (p.exists().then_some(p), false)
            }
        };
        let file = match &config_file {
            Some(path) => read_file(path, explicit, env)?,
            None => FileConfig::default(),
        };
        let file_name = config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();

        let bind_source = flags
            .bind
            .clone()
            .map(|b| (b, "command line".to_string(), "--bind"))
            .or_else(|| {
                env.var("CHANNELWATCH_BIND")
                    .map(|b| (b, "environment".to_string(), "CHANNELWATCH_BIND"))
            })
            .or_else(|| file.bind.clone().map(|b| (b, file_name.clone(), "bind")));
        let bind = match bind_source {
            Some((text, source, key)) => {
                parse_bind(&text).map_err(|m| ConfigError::new(source, key, m))?
            }
            None => IpAddr::from([0, 0, 0, 0]),
        };

        let port = match (flags.port, env.var("CHANNELWATCH_PORT")) {
            (Some(p), _) => p,
            (None, Some(text)) => parse_port(&text)
                .map_err(|m| ConfigError::new("environment", "CHANNELWATCH_PORT", m))?,
            (None, None) => match file.port {
                Some(0) => {
                    return Err(ConfigError::new(
                        file_name.clone(),
                        "port",
                        "must be between 1 and 65535",
                    ))
                }
                Some(p) => p,
                None => DEFAULT_PORT,
            },
        };
        if let Some(t) = &file.disk_thresholds {
            t.validate().map_err(|(key, m)| {
                ConfigError::new(file_name.clone(), format!("disk_thresholds.{key}"), m)
            })?;
        }
        if file.dvr_soft_limit == Some(0) {
            return Err(ConfigError::new(
                file_name.clone(),
                "dvr_soft_limit",
                "must be at least 1",
            ));
        }

        let env_dvrs = match env.var("CHANNELS_DVR_SERVERS") {
            Some(text) => parse_dvr_servers(&text)
                .map_err(|m| ConfigError::new("environment", "CHANNELS_DVR_SERVERS", m))?,
            None => Vec::new(),
        };

        let log_format = match env.var("CHANNELWATCH_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "environment",
                    "CHANNELWATCH_LOG_FORMAT",
                    format!("'{other}' is not a log format; use text or json"),
                ))
            }
        };
        let watchdog_interval = match env.var("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS") {
            None => std::time::Duration::from_secs(30),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n @ 1..=3600) => std::time::Duration::from_secs(n),
                _ => {
                    return Err(ConfigError::new(
                        "environment",
                        "CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS",
                        format!("'{text}' is not a number of seconds between 1 and 3600"),
                    ))
                }
            },
        };
        let live_recheck = match env.var("CHANNELWATCH_LIVE_RECHECK_SECONDS") {
            None => std::time::Duration::from_secs(30),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n @ 1..=30) => std::time::Duration::from_secs(n),
                _ => {
                    return Err(ConfigError::new(
                        "environment",
                        "CHANNELWATCH_LIVE_RECHECK_SECONDS",
                        format!("'{text}' is not a number of seconds between 1 and 30"),
                    ))
                }
            },
        };
        let heartbeat_min_interval = match env.var("CHANNELWATCH_HEARTBEAT_MIN_INTERVAL_SECONDS") {
            None => domain::heartbeat::MIN_INTERVAL_SECONDS,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n @ 1..=86_400) => n,
                _ => {
                    return Err(ConfigError::new(
                        "environment",
                        "CHANNELWATCH_HEARTBEAT_MIN_INTERVAL_SECONDS",
                        format!("'{text}' is not a number of seconds between 1 and 86400"),
                    ))
                }
            },
        };
        let image_cache_bytes = match env.var("CHANNELWATCH_IMAGE_CACHE_MB") {
            None => 100 << 20,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n @ 1..=10_000) => n << 20,
                _ => {
                    return Err(ConfigError::new(
                        "environment",
                        "CHANNELWATCH_IMAGE_CACHE_MB",
                        format!("'{text}' is not a number of megabytes between 1 and 10000"),
                    ))
                }
            },
        };
        let discovery_interval = match env.var("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS") {
            None => Some(crate::discovery::PERIOD),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(n @ 60..=86_400) => Some(std::time::Duration::from_secs(n)),
                _ => {
                    return Err(ConfigError::new(
                        "environment",
                        "CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS",
                        format!(
                            "'{text}' is not 0 (off) or a number of seconds between 60 and 86400"
                        ),
                    ))
                }
            },
        };
        let secure_cookies = match env.var("CHANNELWATCH_SECURE_COOKIES") {
            None => None,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => None,
                "1" | "true" | "yes" => Some(true),
                "0" | "false" | "no" => Some(false),
                _ => {
                    return Err(ConfigError::new(
                        "environment",
                        "CHANNELWATCH_SECURE_COOKIES",
                        format!("'{v}' is not true, false or auto"),
                    ))
                }
            },
        };
        let trusted_proxies = match env.var("CHANNELWATCH_TRUSTED_PROXIES") {
            None => Default::default(),
            Some(text) => net::TrustedProxies::parse(&text)
                .map_err(|m| ConfigError::new("environment", "CHANNELWATCH_TRUSTED_PROXIES", m))?,
        };
        let allowed_hosts = match env.var("CHANNELWATCH_ALLOWED_HOSTS") {
            None => Default::default(),
            Some(text) if text.trim().is_empty() => Default::default(),
            Some(text) => {
                let key = "CHANNELWATCH_ALLOWED_HOSTS";
                let hosts = net::AllowedHosts::parse(&text)
                    .map_err(|m| ConfigError::new("environment", key, m))?;
                if hosts.is_empty() {
                    return Err(ConfigError::new(
                        "environment",
                        key,
                        format!("'{text}' lists no host name; unset it to answer to any host"),
                    ));
                }
                hosts
            }
        };
        let log_filter = env
            .var("CHANNELWATCH_LOG")
            .or_else(|| file.log.clone())
            .unwrap_or_else(|| "info".to_string());

        Ok(Config {
            data_dir,
            bind,
            port,
            config_file,
            config_explicit: explicit,
            file,
            env_dvrs,
            api_key: env.var("CHANNELWATCH_API_KEY"),
            admin_user: env.var("CHANNELWATCH_ADMIN_USER"),
            admin_password: env.var("CHANNELWATCH_ADMIN_PASSWORD"),
            log_filter,
            log_format,
            demo: flags.demo,
            metrics_token: env.var("CHANNELWATCH_METRICS_TOKEN"),
            watchdog_interval,
            live_recheck,
            discovery_interval,
            public_url: env
                .var("CHANNELWATCH_INSTANCE_URL")
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
            instance_url: env
                .var("CHANNELWATCH_INSTANCE_URL")
                .unwrap_or_else(|| format!("http://localhost:{port}")),
            secure_cookies,
            trusted_proxies,
            allowed_hosts,
            image_cache_bytes,
            tz: env.var("TZ"),
            heartbeat_min_interval,
        })
    }

    /// DVRs the YAML file declares, in registry form.
    pub fn file_dvrs(&self) -> Vec<NewDvr> {
        self.file.file_dvrs_list()
    }
}

/// Reads, parses and checks a configuration file; `${VAR}` secrets come from `env`.
/// A missing file is an empty configuration unless it was named explicitly.
pub fn read_file(path: &Path, explicit: bool, env: &dyn Env) -> Result<FileConfig, ConfigError> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileConfig::default())
        }
        Err(e) => {
            return Err(ConfigError::new(
                name,
                "(file)",
                format!("cannot read: {e}"),
            ))
        }
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let de = serde_norway::Deserializer::from_str(&text);
    let mut file: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let line = inner
            .location()
            .map(|l| l.line())
            .or_else(|| declared::line_of(&text, &key));
        let mut message = inner.to_string();
        // serde_norway repeats the position at the end; the line is given up front.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        if let Some(rest) = message.strip_prefix(&format!("{key}: ")) {
            message = rest.to_string();
        }
        ConfigError::at(
            name.clone(),
            line,
            if key == "." {
                "(document)".to_string()
            } else {
                key
            },
            message,
        )
    })?;
    file.origin = Origin {
        name: name.clone(),
        text: text.as_str().into(),
    };
    for (i, d) in file.dvrs.iter().enumerate() {
        let port = d.port.unwrap_or(crate::registry::DEFAULT_PORT);
        let threshold = d
            .staleness_threshold_seconds
            .unwrap_or(crate::registry::DEFAULT_STALENESS_SECONDS);
        let dname = d.name.clone().unwrap_or_else(|| d.host.clone());
        if let Err(crate::registry::RegistryError::Invalid(errs)) =
            crate::registry::validate(&dname, &d.host, port, threshold)
        {
            let first = &errs[0];
            return Err(file.error(&format!("dvrs[{i}].{}", first.field), first.message.clone()));
        }
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let origin = file.origin.clone();
    declared::resolve(&mut file, &origin.text, &origin.name, env, &base)?;
    Ok(file)
}

fn parse_bind(text: &str) -> Result<IpAddr, String> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    if t == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    t.parse()
        .map_err(|_| format!("'{text}' is not an IP address to listen on (e.g. 0.0.0.0 or ::)"))
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("'{text}' is not a port number (1-65535)")),
    }
}

/// `Name@host:port,host2:port2,[::1]:8089` (name optional, port default 8089).
pub fn parse_dvr_servers(text: &str) -> Result<Vec<NewDvr>, String> {
    let mut out = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (name, addr) = match entry.rsplit_once('@') {
            Some((n, a)) => (Some(n.trim().to_string()), a.trim()),
            None => (None, entry),
        };
        let (host, port) =
            split_host_port(addr).map_err(|m| format!("entry {} ('{entry}'): {m}", i + 1))?;
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| host.clone());
        if let Err(crate::registry::RegistryError::Invalid(errs)) = crate::registry::validate(
            &name,
            &host,
            port,
            crate::registry::DEFAULT_STALENESS_SECONDS,
        ) {
            let e = &errs[0];
            return Err(format!(
                "entry {} ('{entry}'): {} {}",
                i + 1,
                e.field,
                e.message
            ));
        }
        out.push(NewDvr {
            name,
            host,
            port: Some(port),
            enabled: Some(true),
            staleness_threshold_seconds: None,
            api_key: None,
        });
    }
    Ok(out)
}

fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let default = crate::registry::DEFAULT_PORT;
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "missing ']' after an IPv6 address".to_string())?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => default,
            None => return Err(format!("unexpected '{after}' after the address")),
        };
        return Ok((host.to_string(), port));
    }
    match addr.matches(':').count() {
        0 => Ok((addr.to_string(), default)),
        1 => {
            let (h, p) = addr.split_once(':').unwrap_or((addr, ""));
            Ok((h.to_string(), parse_port(p)?))
        }
        // A bare IPv6 address without a port.
        _ => Ok((addr.to_string(), default)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(dir: &Path) -> Flags {
        Flags {
            data_dir: Some(dir.to_path_buf()),
            ..Flags::default()
        }
    }

    #[test]
    fn defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert_eq!(c.port, 8501);
        assert_eq!(c.bind, IpAddr::from([0, 0, 0, 0]));
        assert!(c.config_file.is_none());
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("channelwatch.yaml"),
            "port: 9001\nbind: 127.0.0.1\n",
        )
        .unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert_eq!((c.port, c.bind), (9001, IpAddr::from([127, 0, 0, 1])));
        let env = [("CHANNELWATCH_PORT", "9002"), ("CHANNELWATCH_BIND", "::1")];
        let c = Config::load(&flags(dir.path()), &env).unwrap();
        assert_eq!(c.port, 9002);
        assert_eq!(c.bind, "::1".parse::<IpAddr>().unwrap());
        let mut f = flags(dir.path());
        f.port = Some(9003);
        assert_eq!(Config::load(&f, &env).unwrap().port, 9003);
    }

    #[test]
    fn bad_values_name_the_key_and_source() {
        let dir = tempfile::tempdir().unwrap();
        let e = Config::load(&flags(dir.path()), &[("CHANNELWATCH_PORT", "eighty")]).unwrap_err();
        assert_eq!(e.key, "CHANNELWATCH_PORT");
        let path = dir.path().join("channelwatch.yaml");
        std::fs::write(&path, "dvrs:\n  - host: dvr.local\n    port: 99999\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert_eq!(e.source_name, path.display().to_string());
        assert_eq!(e.key, "dvrs[0].port");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(
            e.to_string()
                .contains("line 3: dvrs[0].port: invalid value"),
            "{e}"
        );
        std::fs::write(&path, "dvrs:\n  - host: dvr.local\n    prot: 8089\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert!(e.to_string().contains("prot"), "{e}");
        std::fs::write(&path, "dvrs:\n  - host: 'http://x'\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert_eq!(e.key, "dvrs[0].host");
        std::fs::write(&path, "bind: everywhere\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert_eq!(
            (e.source_name.as_str(), e.key.as_str()),
            (path.display().to_string().as_str(), "bind")
        );
    }

    #[test]
    fn the_documented_example_file_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = flags(dir.path());
        f.config =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/channelwatch.example.yaml"));
        let dir2 = tempfile::tempdir().unwrap();
        let secret = dir2.path().join("hook");
        std::fs::write(&secret, "s\n").unwrap();
        let text = std::fs::read_to_string(f.config.as_ref().unwrap())
            .unwrap()
            .replace(
                "/run/secrets/channelwatch-webhook",
                secret.to_str().unwrap(),
            );
        let copy = dir2.path().join("example.yaml");
        std::fs::write(&copy, text).unwrap();
        f.config = Some(copy);
        let env = [
            ("PUSHOVER_USER_KEY", "u"),
            ("PUSHOVER_TOKEN", "t"),
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("SMTP_PASSWORD", "p"),
            ("NTFY_TOKEN", "n"),
            ("CABIN_DVR_API_KEY", "cabin-key"),
        ];
        let c = Config::load(&f, &env).unwrap();
        assert_eq!(c.file.dvrs[1].api_key.as_deref(), Some("cabin-key"));
        assert_eq!(c.file.declared_providers.len(), 5);
        assert_eq!(c.file.routing.len(), 2);
        assert_eq!(c.file.retention_days, Some(30));
        // The example shows every alert setting: its keys are exactly the defaults'.
        fn keys(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
            if let serde_json::Value::Object(m) = v {
                for (k, x) in m {
                    if k != "per_dvr" {
                        out.push(format!("{at}.{k}"));
                        keys(x, &format!("{at}.{k}"), out);
                    }
                }
            }
        }
        let (mut documented, mut all) = (Vec::new(), Vec::new());
        keys(c.file.alerts.as_ref().unwrap(), "alerts", &mut documented);
        keys(
            &serde_json::to_value(domain::alerts::settings::AlertSettings::default()).unwrap(),
            "alerts",
            &mut all,
        );
        documented.sort();
        all.sort();
        assert_eq!(documented, all);
        assert_eq!(c.file.dvrs.len(), 2);
        assert_eq!(c.file.dvr_soft_limit, Some(10));
        assert_eq!(
            c.file.disk_thresholds,
            Some(domain::disk::DiskThresholds::default())
        );
        let dvrs = c.file_dvrs();
        assert_eq!(
            (dvrs[1].name.as_str(), dvrs[1].host.as_str()),
            ("Cabin", "[2001:db8::10]")
        );
    }

    #[test]
    fn bad_disk_thresholds_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channelwatch.yaml");
        std::fs::write(&path, "disk_thresholds:\n  warning_percent: 4\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert_eq!(e.key, "disk_thresholds.critical_percent", "{e}");
        std::fs::write(&path, "disk_thresholds:\n  warn_pct: 4\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert!(e.key.starts_with("disk_thresholds"), "{e}");
    }

    #[test]
    fn a_time_zone_not_in_the_database_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channelwatch.yaml");
        std::fs::write(&path, "time_zone: Europe/Berln\n").unwrap();
        let e = Config::load(&flags(dir.path()), &[]).unwrap_err();
        assert_eq!(e.key, "time_zone", "{e}");
        assert!(
            e.to_string().contains("'Europe/Berln' is not a time zone"),
            "{e}"
        );
        std::fs::write(&path, "time_zone: Europe/Berlin\n").unwrap();
        let c = Config::load(&flags(dir.path()), &[("TZ", "Asia/Tokyo")]).unwrap();
        assert_eq!(c.file.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(c.tz.as_deref(), Some("Asia/Tokyo"));
    }

    #[test]
    fn watchdog_interval_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert_eq!(c.watchdog_interval, std::time::Duration::from_secs(30));
        let c = Config::load(
            &flags(dir.path()),
            &[("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "2")],
        )
        .unwrap();
        assert_eq!(c.watchdog_interval, std::time::Duration::from_secs(2));
        let e = Config::load(
            &flags(dir.path()),
            &[("CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS", "0")],
        )
        .unwrap_err();
        assert_eq!(e.key, "CHANNELWATCH_WATCHDOG_INTERVAL_SECONDS");
    }

    #[test]
    fn image_cache_size_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert_eq!(c.image_cache_bytes, 100 << 20);
        let c = Config::load(&flags(dir.path()), &[("CHANNELWATCH_IMAGE_CACHE_MB", "5")]).unwrap();
        assert_eq!(c.image_cache_bytes, 5 << 20);
        for bad in ["0", "x", "10001"] {
            let e = Config::load(&flags(dir.path()), &[("CHANNELWATCH_IMAGE_CACHE_MB", bad)])
                .unwrap_err();
            assert_eq!(e.key, "CHANNELWATCH_IMAGE_CACHE_MB", "{bad}");
        }
    }

    #[test]
    fn live_recheck_from_the_environment_at_most_30_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert_eq!(c.live_recheck, std::time::Duration::from_secs(30));
        let c = Config::load(
            &flags(dir.path()),
            &[("CHANNELWATCH_LIVE_RECHECK_SECONDS", "1")],
        )
        .unwrap();
        assert_eq!(c.live_recheck, std::time::Duration::from_secs(1));
        for bad in ["0", "31", "soon"] {
            let e = Config::load(
                &flags(dir.path()),
                &[("CHANNELWATCH_LIVE_RECHECK_SECONDS", bad)],
            )
            .unwrap_err();
            assert_eq!(e.key, "CHANNELWATCH_LIVE_RECHECK_SECONDS", "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert!(c.trusted_proxies.is_empty());
        let c = Config::load(
            &flags(dir.path()),
            &[(
                "CHANNELWATCH_TRUSTED_PROXIES",
                "10.0.0.0/8, 192.168.1.5,fd00::/8",
            )],
        )
        .unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(c.trusted_proxies.contains(ip("10.1.2.3")));
        assert!(c.trusted_proxies.contains(ip("192.168.1.5")));
        assert!(!c.trusted_proxies.contains(ip("192.168.1.6")));
        assert!(c.trusted_proxies.contains(ip("fd00::1")));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.0/8;10.1.0.0/16"] {
            let e = Config::load(&flags(dir.path()), &[("CHANNELWATCH_TRUSTED_PROXIES", bad)])
                .unwrap_err();
            assert_eq!(
                (e.source_name.as_str(), e.key.as_str()),
                ("environment", "CHANNELWATCH_TRUSTED_PROXIES")
            );
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn allowed_hosts_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&flags(dir.path()), &[]).unwrap();
        assert!(c.allowed_hosts.is_empty());
        let c = Config::load(
            &flags(dir.path()),
            &[("CHANNELWATCH_ALLOWED_HOSTS", "tv.example, 127.0.0.1,[::1]")],
        )
        .unwrap();
        assert!(c.allowed_hosts.allows("TV.Example:8501"));
        assert!(c.allowed_hosts.allows("127.0.0.1"));
        assert!(c.allowed_hosts.allows("[::1]:8501"));
        assert!(!c.allowed_hosts.allows("evil.example"));
        for bad in ["tv.example:8501", "http://tv.example", " , "] {
            let e = Config::load(&flags(dir.path()), &[("CHANNELWATCH_ALLOWED_HOSTS", bad)])
                .unwrap_err();
            assert_eq!(
                (e.source_name.as_str(), e.key.as_str()),
                ("environment", "CHANNELWATCH_ALLOWED_HOSTS")
            );
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = flags(dir.path());
        f.config = Some(dir.path().join("missing.yaml"));
        assert!(Config::load(&f, &[]).is_err());
    }

    #[test]
    fn dvr_servers_variable() {
        let v = parse_dvr_servers("Living Room@192.168.1.10:8089, dvr.local ,[::1]:9000,fe80::1")
            .unwrap();
        let got: Vec<_> = v
            .iter()
            .map(|d| (d.name.as_str(), d.host.as_str(), d.port.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("Living Room", "192.168.1.10", 8089),
                ("dvr.local", "dvr.local", 8089),
                ("::1", "::1", 9000),
                ("fe80::1", "fe80::1", 8089)
            ]
        );
        assert!(parse_dvr_servers("a@host:notaport")
            .unwrap_err()
            .contains("entry 1"));
        assert!(parse_dvr_servers("[::1").is_err());
        assert!(parse_dvr_servers("@dvr.local, x y")
            .unwrap_err()
            .contains("entry 2"));
    }
}
