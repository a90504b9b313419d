//! The declarative part of the YAML file: providers (secrets from `${VAR}`, `VAR_FILE`
//! or `<field>_file`), routing, settings and DVRs, applied to the database at start and
//! again on `SIGHUP` or when the file changes. A reload validates the whole file first;
//! a bad file changes nothing and the running state stays. Only DVRs whose entry
//! changed restart (the engine's reconcile leaves the others running).

use domain::notify::rules::Rule;
use domain::settings::{merged_alerts, SettingsPatch};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::{Map, Value};
use tracing::{error, info, warn};

use crate::alerts::pipeline::AlertService;
use crate::config::{ConfigError, Env, FileConfig};
use crate::registry::{record_from, Registry, RegistryError};
use domain::alerts::kind::Category;
use domain::alerts::settings::AlertSettings;
use domain::dvr::id::dvr_id;
use domain::notify::providers::ProviderConfig;
use domain::notify::routing::Routing;
use engine::Engine;
use storage::dvrs::ManagedBy;
use storage::{providers, routing, settings, Db, StorageError};

/// A provider entry as written in the file: `name`, `type`, `enabled`, then the type's
/// fields (or `url` for an Apprise URL). Its `Debug` prints field names only.
#[derive(Clone, Deserialize)]
pub struct FileProvider {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Its routing rules (`domain::notify::rules::Rule` without `provider_id`; DVRs by
    /// name or id).
    #[serde(default)]
    pub rules: Vec<Map<String, Value>>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl std::fmt::Debug for FileProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileProvider")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A provider the file declares, its secrets resolved (masked in `Debug` via [`ProviderConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredProvider {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub config: ProviderConfig,
    /// Its rules as the file gives them (`provider_id` 0, DVRs by name or id until
    /// applied).
    pub rules: Vec<Rule>,
}

/// `routing:` in the file: DVR name or dvr_id → event → provider type → on/off.
pub(crate) type FileRouting = BTreeMap<String, BTreeMap<Category, BTreeMap<String, bool>>>;

/// Replaces `${NAME}` with the variable's value; `NAME_FILE` (Docker and Kubernetes
/// secrets) names a file holding it when `NAME` is unset. `$${` writes a literal `${`.
pub fn interpolate(text: &str, env: &dyn Env, base: &Path) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| "'${' without a closing '}'".to_string())?;
            let name = &tail[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("'${{{name}}}' is not an environment variable name"));
            }
            let value = match env.var(name) {
                Some(v) => v,
                None => match env.var(&format!("{name}_FILE")) {
                    Some(file) => {
                        read_secret_file(&file, base).map_err(|e| format!("{name}_FILE: {e}"))?
                    }
                    None => {
                        return Err(format!(
                            "environment variable {name} is not set (nor {name}_FILE)"
                        ))
                    }
                },
            };
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A secret file's content without its trailing newline; relative paths are taken
/// from the configuration file's folder.
fn read_secret_file(path: &str, base: &Path) -> Result<String, String> {
    let p = Path::new(path);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    read_small_file(&full).map(|s| s.trim_end_matches(['\n', '\r']).to_string())
}

/// The most a secret file may hold: a key or token, never a stream.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a regular file of at most [`MAX_SECRET_FILE`] bytes: a FIFO would block the
/// reload and `/dev/zero` would never end, so both are refused with a plain message.
pub(crate) fn read_small_file(full: &Path) -> Result<String, String> {
    use std::io::Read;
    let shown = full.display();
    let meta = std::fs::metadata(full).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("cannot read {shown}: not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(full)
        .and_then(|f| f.take(MAX_SECRET_FILE + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "cannot read {shown}: larger than {} KiB",
            MAX_SECRET_FILE / 1024
        ));
    }
    Ok(text)
}

/// Resolves one provider entry: interpolates every string, reads `<field>_file`, and
/// builds the destination exactly as the API would. Errors name the field.
fn resolve_provider(
    p: &FileProvider,
    env: &dyn Env,
    base: &Path,
) -> Result<DeclaredProvider, (String, String)> {
    let mut fields = Map::new();
    for (key, value) in &p.fields {
        let resolved = resolve_value(value, env, base).map_err(|m| (key.clone(), m))?;
        match key.strip_suffix("_file") {
            Some(field) => {
                let Value::String(path) = &resolved else {
                    return Err((key.clone(), "must be a file path".into()));
                };
                if p.fields.contains_key(field) {
                    return Err((
                        key.clone(),
                        format!("give either {field} or {key}, not both"),
                    ));
                }
                let secret = read_secret_file(path, base).map_err(|m| (key.clone(), m))?;
                fields.insert(field.to_string(), Value::String(secret));
            }
            None => {
                fields.insert(key.clone(), resolved);
            }
        }
    }
    // Error texts may quote a value, and any value may be a secret: mask them all.
    let mut values = Vec::new();
    for v in fields.values() {
        collect_strings(v, &mut values);
    }
    values.retain(|v| v.len() >= 4);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let masked = move |m: String| {
        values.iter().fold(m, |m, v| {
            m.replace(v.as_str(), domain::notify::secrets::MASK)
        })
    };
    let target = crate::notify::providers::config_from_body(&p.kind, fields, None)
        .map_err(masked)
        .map_err(|m| {
            // The builder's messages start with the field they concern.
            if let Some(field) = m
                .split_once("unknown field `")
                .and_then(|(_, r)| r.split_once('`'))
                .map(|(f, _)| f.to_string())
            {
                return (field, m);
            }
            match m.split_once(": ") {
                Some((field, rest)) if !field.contains(' ') => {
                    (field.to_string(), rest.to_string())
                }
                _ => ("type".to_string(), m),
            }
        })?;
    let mut rules = Vec::new();
    for (j, r) in p.rules.iter().enumerate() {
        let mut body = r.clone();
        body.insert("provider_id".into(), Value::from(0));
        let rule: Rule = serde_json::from_value(Value::Object(body))
            .map_err(|e| (format!("rules[{j}]"), e.to_string()))?;
        rule.validate().map_err(|m| (format!("rules[{j}]"), m))?;
        rules.push(rule);
    }
    Ok(DeclaredProvider {
        name: p.name.trim().to_string(),
        kind: p.kind.clone(),
        enabled: p.enabled.unwrap_or(true),
        config: target,
        rules,
    })
}

/// Every string inside a JSON value (values that may be secrets).
pub(crate) fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn resolve_value(v: &Value, env: &dyn Env, base: &Path) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(interpolate(s, env, base)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| resolve_value(i, env, base))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value(v, env, base)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Checks the declarative keys of a parsed file and resolves its providers' secrets.
/// Errors carry the key and, where it can be found, the line.
pub fn resolve(
    file: &mut FileConfig,
    text: &str,
    source: &str,
    env: &dyn Env,
    base: &Path,
) -> Result<(), ConfigError> {
    let err =
        |key: String, message: String| ConfigError::at(source, line_of(text, &key), key, message);
    let mut names = BTreeSet::new();
    let mut resolved = Vec::new();
    for (i, p) in file.providers.iter().enumerate() {
        let name = p.name.trim();
        if name.is_empty() {
            return Err(err(
                format!("providers[{i}].name"),
                "must not be empty".into(),
            ));
        }
        if !names.insert(name.to_string()) {
            return Err(err(
                format!("providers[{i}].name"),
                format!("'{name}' is declared twice; names identify file providers"),
            ));
        }
        let d = resolve_provider(p, env, base)
            .map_err(|(field, m)| err(format!("providers[{i}].{field}"), m))?;
        resolved.push(d);
    }
    file.declared_providers = resolved;
    for (i, d) in file.dvrs.iter_mut().enumerate() {
        let key = match (d.api_key.take(), d.api_key_file.take()) {
            (Some(_), Some(_)) => {
                return Err(err(
                    format!("dvrs[{i}].api_key_file"),
                    "give either api_key or api_key_file, not both".into(),
                ))
            }
            (Some(text), None) => {
                interpolate(&text, env, base).map_err(|m| err(format!("dvrs[{i}].api_key"), m))?
            }
            (None, Some(path)) => {
                let path = interpolate(&path, env, base)
                    .map_err(|m| err(format!("dvrs[{i}].api_key_file"), m))?;
                read_secret_file(&path, base)
                    .map_err(|m| err(format!("dvrs[{i}].api_key_file"), m))?
            }
            (None, None) => continue,
        };
        d.api_key = Some(key);
    }
    for (dvr, events) in &file.routing {
        for types in events.values() {
            for t in types.keys() {
                if wire::providers::provider_type(t).is_none() {
                    return Err(err(
                        format!("routing.{dvr}"),
                        format!(
                            "'{t}' is not a provider type; use one of {}",
                            wire::providers::provider_type_names()
                        ),
                    ));
                }
            }
        }
    }
    let settings = SettingsPatch {
        dvr_soft_limit: file.dvr_soft_limit,
        retention_days: file.retention_days,
        history_retention_days: file.history_retention_days,
        time_zone: file.time_zone.clone(),
        disk_thresholds: None,
        alerts: file.alerts.clone(),
    };
    settings
        .check(&AlertSettings::default())
        .map_err(|e| err(e.key, e.message))?;
    Ok(())
}

/// Sets the routing cells `file` names (keys resolved to dvr_ids by `ids`).
fn lay_routing(m: &mut Routing, file: &FileConfig, ids: &BTreeMap<String, String>) {
    for (key, events) in &file.routing {
        let Some(id) = ids.get(key) else { continue };
        let cells = m.0.entry(id.clone()).or_default();
        for (cat, types) in events {
            let row = cells.entry(*cat).or_default();
            for (t, on) in types {
                row.insert(t.clone(), *on);
            }
        }
    }
}

/// The 1-based line of a key path such as `providers[1].token` in block-style YAML
/// (`token_file` counts as `token`); the nearest enclosing key's line when the exact
/// one is not written out (flow style, or a missing key).
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    struct Line {
        no: usize,
        indent: usize,
        item: bool,
        key: Option<String>,
        key_indent: usize,
    }
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let t = l.trim_start();
            if t.is_empty() || t.starts_with('#') || t == "---" {
                return None;
            }
            let indent = l.len() - t.len();
            let (item, body) = match t.strip_prefix('-') {
                Some(b) if b.is_empty() || b.starts_with(' ') => (true, b.trim_start()),
                _ => (false, t),
            };
            let key_indent = if item {
                indent + (t.len() - body.len())
            } else {
                indent
            };
            let key = body
                .find(": ")
                .or_else(|| body.ends_with(':').then(|| body.len() - 1))
                .map(|end| body[..end].trim().trim_matches(['"', '\'']).to_string())
                .filter(|k| !k.is_empty() && !k.starts_with(['{', '[']));
            Some(Line {
                no: i + 1,
                indent,
                item,
                key,
                key_indent,
            })
        })
        .collect();
    // The indent a line's own entry sits at: an item's marker, except for the item
    // being entered, whose first key belongs to its children.
    let eff = |l: &Line, entered: Option<usize>| {
        if l.item && Some(l.no) != entered {
            l.indent
        } else {
            l.key_indent
        }
    };
    let (mut start, mut end, mut entered) = (0, lines.len(), None);
    let mut found = None;
    for seg in path_segments(path) {
        let range = &lines[start..end];
        let block = range.iter().map(|l| eff(l, entered)).min()?;
        let hit = match &seg {
            Segment::Key(k) => range.iter().position(|l| {
                eff(l, entered) == block
                    && (!l.item || Some(l.no) == entered)
                    && l.key
                        .as_deref()
                        .is_some_and(|lk| lk == k || lk.strip_suffix("_file") == Some(k.as_str()))
            }),
            Segment::Index(n) => range
                .iter()
                .enumerate()
                .filter(|(_, l)| l.item && Some(l.no) != entered && l.indent == block)
                .nth(*n)
                .map(|(i, _)| i),
        };
        let Some(i) = hit.map(|i| i + start) else {
            return found;
        };
        found = Some(lines[i].no);
        let own = eff(&lines[i], entered);
        let next = lines[i + 1..end]
            .iter()
            .position(|l| eff(l, None) <= own)
            .map_or(end, |p| p + i + 1);
        (start, end, entered) = match seg {
            Segment::Key(_) => (i + 1, next, None),
            Segment::Index(_) => (i, next, Some(lines[i].no)),
        };
        if start >= end {
            return found;
        }
    }
    found
}

enum Segment {
    Key(String),
    Index(usize),
}

/// `providers[1].token` → `providers`, 1, `token`.
fn path_segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut idx) = match part.find('[') {
            Some(b) => (&part[..b], &part[b..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(r) = idx.strip_prefix('[') {
            let Some(close) = r.find(']') else { break };
            if let Ok(n) = r[..close].parse() {
                out.push(Segment::Index(n));
            }
            idx = &r[close + 1..];
        }
    }
    out
}

pub use wire::settings::{Diff, ReloadStatus};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Writing failed after it began (the database could not be written, e.g. a full
    /// disk): part of the file is applied, so "nothing changed" would not be true.
    #[error("applying the file stopped part-way ({0}); part of it is in effect. Fix the cause, then reload (SIGHUP, Reload now) or restart to apply it whole")]
    Interrupted(Box<ApplyError>),
    /// A bug: applying panicked. Part of the file may be in effect, as with `Interrupted`.
    #[error("applying the file failed with an internal error ({0}); part of it may be in effect. Reload (SIGHUP, Reload now) or restart to apply it whole, and please report this")]
    Panicked(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What applying touches.
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    pub db: &'a Db,
    pub engine: &'a Engine,
    pub registry: &'a Registry,
    pub alerts: &'a AlertService,
    /// `CHANNELS_DVR_SERVERS`, whose names routing may use before they are stored.
    pub env_dvrs: &'a [crate::registry::NewDvr],
}

/// Maps routing keys (DVR names or ids) to dvr_ids, knowing the stored DVRs and the
/// file's own (which may not be stored yet).
async fn routing_ids(
    db: &Db,
    file: &FileConfig,
    env_dvrs: &[crate::registry::NewDvr],
) -> Result<BTreeMap<String, String>, ConfigError> {
    let stored = storage::dvrs::list(db)
        .await
        .map_err(|e| file.error("routing", e.to_string()))?;
    let mut known: Vec<(String, String)> = stored.into_iter().map(|r| (r.dvr_id, r.name)).collect();
    for d in env_dvrs.iter().cloned().chain(file.file_dvrs_list()) {
        let id = dvr_id(&d.host, d.port.unwrap_or(crate::registry::DEFAULT_PORT));
        known.retain(|(k, _)| *k != id);
        known.push((id, d.name.clone()));
    }
    let mut out = BTreeMap::new();
    // Routing keys, and the DVRs the providers' rules name (by name or id).
    let rule_dvrs = file
        .declared_providers
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.rules.iter().enumerate().flat_map(move |(j, r)| {
                r.dvrs
                    .iter()
                    .map(move |d| (d.clone(), format!("providers[{i}].rules[{j}].dvrs")))
            })
        });
    let keys = file
        .routing
        .keys()
        .map(|k| (k.clone(), format!("routing.{k}")))
        .chain(rule_dvrs);
    for (key, at) in keys {
        let key = &key;
        let id = if known.iter().any(|(id, _)| id == key) {
            key.clone()
        } else {
            let named: Vec<&String> = known
                .iter()
                .filter(|(_, n)| n == key)
                .map(|(id, _)| id)
                .collect();
            match named.as_slice() {
                [one] => (*one).clone(),
                [] => return Err(file.error(&at, format!("no DVR has the name or dvr_id '{key}'"))),
                _ => {
                    return Err(file.error(
                        &at,
                        format!("{} DVRs have the name '{key}'; use the dvr_id", named.len()),
                    ))
                }
            }
        };
        out.insert(key.clone(), id);
    }
    Ok(out)
}

/// Checks what needs the database (routing keys) without changing anything.
pub async fn check(
    db: &Db,
    file: &FileConfig,
    env_dvrs: &[crate::registry::NewDvr],
) -> Result<(), ConfigError> {
    routing_ids(db, file, env_dvrs).await.map(|_| ())
}

/// The rule for the settings the YAML file manages, shared by the file's apply, edits
/// and imports: the file's value wins. Its `dvr_soft_limit` and `retention_days` are
/// written over the stored ones (and `history_retention_days`); answers the keys that changed. (Disk thresholds and
/// alert settings are laid over in memory instead: the stored ones come back when the
/// file stops naming them. See `thresholds_in_force` and `Declared::pin_alerts`.)
pub(crate) async fn write_file_settings(
    file: &FileConfig,
    db: &Db,
) -> Result<Vec<&'static str>, StorageError> {
    let mut changed = Vec::new();
    if let Some(limit) = file.dvr_soft_limit {
        if settings::dvr_soft_limit(db).await? != limit {
            settings::set(db, settings::DVR_SOFT_LIMIT, &limit).await?;
            changed.push("dvr_soft_limit");
        }
    }
    if let Some(days) = file.retention_days {
        if settings::retention_days(db).await? != days {
            settings::set(db, settings::RETENTION_DAYS, &days).await?;
            changed.push("retention_days");
        }
    }
    if let Some(days) = file.history_retention_days {
        if settings::history_retention_days(db).await? != days {
            settings::set(db, settings::HISTORY_RETENTION_DAYS, &days).await?;
            changed.push("history_retention_days");
        }
    }
    if let Some(zone) = &file.time_zone {
        if settings::time_zone(db).await? != *zone {
            settings::set(db, settings::TIME_ZONE, zone).await?;
            changed.push("time_zone");
        }
    }
    Ok(changed)
}

/// The disk thresholds in force: the file's when it sets them, else the stored ones.
pub(crate) fn thresholds_in_force(
    file: &FileConfig,
    stored: Option<domain::disk::DiskThresholds>,
) -> Option<domain::disk::DiskThresholds> {
    file.disk_thresholds.or(stored)
}

/// The key of a settings edit that would change what the file manages (the API
/// answers 409 naming it), if any.
pub(crate) fn managed_key_in(file: &FileConfig, patch: &SettingsPatch) -> Option<&'static str> {
    let differs = |given: Option<u32>, declared: Option<u32>| matches!((given, declared), (Some(g), Some(d)) if g != d);
    if differs(patch.dvr_soft_limit, file.dvr_soft_limit) {
        Some("dvr_soft_limit")
    } else if differs(patch.retention_days, file.retention_days) {
        Some("retention_days")
    } else if differs(patch.history_retention_days, file.history_retention_days) {
        Some("history_retention_days")
    } else if matches!((&patch.time_zone, &file.time_zone), (Some(g), Some(d)) if g != d) {
        Some("time_zone")
    } else if patch.disk_thresholds.is_some() && file.disk_thresholds.is_some() {
        Some("disk_thresholds")
    } else {
        None
    }
}

/// Applies the file: validates what needs the database first, then writes DVRs,
/// providers, routing and settings. `previous` (on reload) adds the keys that need a
/// restart to the answer.
pub async fn apply(
    parts: Parts<'_>,
    file: &FileConfig,
    previous: Option<&FileConfig>,
) -> Result<Diff, ApplyError> {
    // Everything that can refuse the file is checked before anything is written.
    let ids = routing_ids(parts.db, file, parts.env_dvrs).await?;
    let current_alerts = parts.alerts.settings();
    let alerts = match &file.alerts {
        Some(patch) => {
            Some(merged_alerts(&current_alerts, patch).map_err(|e| file.error(&e.key, e.message))?)
        }
        None => None,
    };
    let file_dvrs = file.file_dvrs_list();
    let records = file_dvrs
        .iter()
        .map(|d| record_from(d, ManagedBy::File))
        .collect::<Result<Vec<_>, _>>()?;
    let stored_dvrs = storage::dvrs::list(parts.db).await?;
    // The DVRs the file would leave configured must fit under the limit.
    let limit = match file.dvr_soft_limit {
        Some(l) => l,
        None => settings::dvr_soft_limit(parts.db).await?,
    };
    let others = stored_dvrs
        .iter()
        .filter(|r| r.managed_by != ManagedBy::File)
        .count();
    let added = records
        .iter()
        .filter(|r| {
            !stored_dvrs
                .iter()
                .any(|s| s.dvr_id == r.dvr_id && s.managed_by == ManagedBy::Ui)
        })
        .count();
    if others + added > limit as usize {
        return Err(file
            .error(
                "dvrs",
                format!(
                    "declares {added} DVRs; with the {others} configured elsewhere that is {}, over dvr_soft_limit {limit}",
                    others + added
                ),
            )
            .into());
    }
    // Read before anything is written: a provider row that cannot be opened refuses
    // the file instead of leaving it half applied.
    let stored_providers = providers::list(parts.db).await?;

    write(
        parts,
        file,
        previous,
        Checked {
            ids,
            alerts,
            current_alerts,
            records,
            file_dvrs,
            stored_dvrs,
            stored_providers,
        },
    )
    .await
    .map_err(|e| ApplyError::Interrupted(Box::new(e)))
}

/// What [`apply`] checked and read before writing.
struct Checked {
    ids: BTreeMap<String, String>,
    alerts: Option<AlertSettings>,
    current_alerts: AlertSettings,
    records: Vec<storage::dvrs::DvrRecord>,
    file_dvrs: Vec<crate::registry::NewDvr>,
    stored_dvrs: Vec<storage::dvrs::DvrRecord>,
    stored_providers: Vec<providers::ProviderRecord>,
}

/// The writing half of [`apply`]: settings, DVRs, providers, routing.
async fn write(
    parts: Parts<'_>,
    file: &FileConfig,
    previous: Option<&FileConfig>,
    c: Checked,
) -> Result<Diff, ApplyError> {
    let Checked {
        ids,
        alerts,
        current_alerts,
        records,
        file_dvrs,
        stored_dvrs,
        stored_providers,
    } = c;
    let mut diff = Diff::default();
    // Settings first: the soft limit decides which declared DVRs fit.
    for key in write_file_settings(file, parts.db).await? {
        diff.settings_changed.push(key.into());
    }
    parts.alerts.time_zone().reload(parts.db).await?;
    // The file's thresholds, else (when the file stopped setting them) the stored ones.
    let thresholds = match file.disk_thresholds {
        Some(t) => Some(t),
        None if previous.is_some_and(|p| p.disk_thresholds.is_some()) => Some(
            settings::get(parts.db, settings::DISK_THRESHOLDS)
                .await?
                .unwrap_or_default(),
        ),
        None => None,
    };
    if let Some(t) = thresholds {
        if parts.engine.disk_thresholds() != t {
            parts.engine.set_disk_thresholds(t);
            diff.settings_changed.push("disk_thresholds".into());
        }
    }
    if let Some(a) = alerts {
        if a != current_alerts {
            parts
                .alerts
                .set_settings(a)
                .await
                .map_err(|m| file.error("alerts", m))?;
            diff.settings_changed.push("alerts".into());
        }
    }

    // DVRs: only entries that changed are restarted by the engine's reconcile.
    let before: Vec<_> = stored_dvrs
        .into_iter()
        .filter(|r| r.managed_by == ManagedBy::File)
        .collect();
    // Keyed, so a file of thousands of DVRs is not compared pair by pair.
    let before_by_id: std::collections::HashMap<&str, _> =
        before.iter().map(|b| (b.dvr_id.as_str(), b)).collect();
    let record_ids: std::collections::HashSet<&str> =
        records.iter().map(|r| r.dvr_id.as_str()).collect();
    for r in &records {
        match before_by_id.get(r.dvr_id.as_str()) {
            None => diff.dvrs_added.push(r.name.clone()),
            Some(b) if *b != r => diff.dvrs_changed.push(r.name.clone()),
            Some(_) => {}
        }
    }
    for b in &before {
        if !record_ids.contains(b.dvr_id.as_str()) {
            diff.dvrs_removed.push(b.name.clone());
        }
    }
    parts
        .registry
        .apply_declared(&file_dvrs, ManagedBy::File)
        .await?;
    parts.registry.sync_engine().await?;

    // Providers, matched by name among the file's own.
    let stored: Vec<_> = stored_providers
        .into_iter()
        .filter(|p| p.managed_by == ManagedBy::File)
        .collect();
    for old in &stored {
        if !file.declared_providers.iter().any(|p| p.name == old.name) {
            providers::delete(parts.db, old.id).await?;
            diff.providers_removed.push(old.name.clone());
        }
    }
    let stored_rules = storage::rules::list(parts.db).await?;
    for p in &file.declared_providers {
        let id = match stored.iter().find(|s| s.name == p.name) {
            None => {
                let id = providers::insert_managed(
                    parts.db,
                    &p.kind,
                    &p.name,
                    p.enabled,
                    &p.config,
                    ManagedBy::File,
                )
                .await?
                .id;
                diff.providers_added.push(p.name.clone());
                id
            }
            Some(s) if s.kind != p.kind || s.enabled != p.enabled || s.config != p.config => {
                let mut r = s.clone();
                r.kind = p.kind.clone();
                r.enabled = p.enabled;
                r.config = p.config.clone();
                providers::update(parts.db, &r).await?;
                diff.providers_changed.push(p.name.clone());
                s.id
            }
            Some(s) => s.id,
        };
        // Its rules are the file's: replaced when they differ.
        let want: Vec<Rule> = p
            .rules
            .iter()
            .map(|r| Rule {
                id: 0,
                provider_id: id,
                dvrs: r
                    .dvrs
                    .iter()
                    .map(|d| ids.get(d).cloned().unwrap_or_else(|| d.clone()))
                    .collect(),
                ..r.clone()
            })
            .collect();
        let have: Vec<Rule> = stored_rules
            .iter()
            .filter(|r| r.provider_id == id)
            .map(|r| Rule { id: 0, ..r.clone() })
            .collect();
        if have != want {
            storage::rules::delete_for_provider(parts.db, id).await?;
            for r in &want {
                storage::rules::insert(parts.db, r).await?;
            }
            if !diff.providers_changed.contains(&p.name) && !diff.providers_added.contains(&p.name)
            {
                diff.providers_changed.push(p.name.clone());
            }
        }
    }

    // Routing: the cells the file names win; the others keep their stored value.
    if !file.routing.is_empty() {
        let current = routing::load(parts.db).await?;
        let mut next = current.clone();
        lay_routing(&mut next, file, &ids);
        if next != current {
            routing::replace(parts.db, &next).await?;
            diff.routing_changed = true;
        }
    }

    if let Some(prev) = previous {
        if prev.bind != file.bind {
            diff.needs_restart.push("bind".into());
        }
        if prev.port != file.port {
            diff.needs_restart.push("port".into());
        }
        if prev.log != file.log {
            diff.needs_restart.push("log".into());
        }
    }
    Ok(diff)
}

/// The file in effect and the last reload's outcome.
pub struct Declared {
    /// The file watched: `--config`, or `<data-dir>/channelwatch.yaml` (which may appear later).
    pub path: PathBuf,
    /// Whether the path was given explicitly (then a missing file is an error).
    pub explicit: bool,
    file: RwLock<Arc<FileConfig>>,
    status: RwLock<Option<ReloadStatus>>,
    /// Serialises reloads (signal and file change may race).
    reloading: tokio::sync::Mutex<()>,
    /// Tests: the next reload panics (a bug stand-in), to prove nothing dies of it.
    #[cfg(any(test, feature = "faults"))]
    panic_next: std::sync::atomic::AtomicBool,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Declared {
    pub fn new(path: PathBuf, explicit: bool, file: FileConfig, applied: Diff) -> Declared {
        Declared {
            path,
            explicit,
            file: RwLock::new(Arc::new(file)),
            status: RwLock::new(Some(ReloadStatus {
                at: now(),
                ok: true,
                message: format!("applied at start: {}", applied.summary()),
                diff: Some(applied),
                interrupted: false,
            })),
            reloading: tokio::sync::Mutex::new(()),
            #[cfg(any(test, feature = "faults"))]
            panic_next: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Makes the next reload panic part-way (the `faults` feature: a stand-in for a bug).
    #[cfg(any(test, feature = "faults"))]
    pub fn panic_on_next_reload(&self) {
        self.panic_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The file configuration in effect.
    pub fn file(&self) -> Arc<FileConfig> {
        self.file.read().clone()
    }

    pub fn status(&self) -> Option<ReloadStatus> {
        self.status.read().clone()
    }

    /// Taken by edits of the routing matrix and alert settings (and by imports), so
    /// that they and a reload take turns: each reads, changes and writes a whole value.
    pub(crate) async fn edit_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reloading.lock().await
    }

    /// `a` with the alert settings the file names laid over it: they win over an edit.
    pub(crate) fn pin_alerts(&self, a: AlertSettings) -> Result<AlertSettings, String> {
        match &self.file().alerts {
            Some(patch) => merged_alerts(&a, patch).map_err(|e| e.to_string()),
            None => Ok(a),
        }
    }

    /// `m` with the routing cells the file names set as the file says.
    pub(crate) async fn pin_routing(&self, parts: &Parts<'_>, m: &mut Routing) {
        let file = self.file();
        if file.routing.is_empty() {
            return;
        }
        // The file was applied, so its names resolve; when they no longer do (a DVR
        // removed since), the next reload says so and there is nothing to pin.
        if let Ok(ids) = routing_ids(parts.db, &file, parts.env_dvrs).await {
            lay_routing(m, &file, &ids);
        }
    }

    /// Reads the file again and applies it; a bad file changes nothing.
    pub async fn reload(&self, parts: Parts<'_>, env: &(dyn Env + Sync)) -> Result<Diff, String> {
        use futures::FutureExt as _;
        let _one = self.reloading.lock().await;
        // A panic while applying must not end the caller (the watcher's loop, a request):
        // it becomes an outcome like an interrupted apply, which the watcher retries.
        let result = std::panic::AssertUnwindSafe(async {
            let previous = self.file();
            // The file and the secret files it names are read off the async workers.
            let text =
                crate::off_worker(|| std::fs::read_to_string(&self.path).unwrap_or_default());
            if text.trim().is_empty() && !previous.origin.text.trim().is_empty() {
                // A truncated save or a file replaced in two steps must not remove
                // every DVR and provider it declared; `{}` does that on purpose.
                return Err(ApplyError::Config(ConfigError::at(
                    self.path.display().to_string(),
                    None,
                    "(file)",
                    "is missing or empty; write {} into it to remove everything it declared",
                )));
            }
            let file =
                crate::off_worker(|| crate::config::read_file(&self.path, self.explicit, env))?;
            #[cfg(any(test, feature = "faults"))]
            if self
                .panic_next
                .swap(false, std::sync::atomic::Ordering::SeqCst)
            {
                panic!("a panic injected by a test");
            }
            let diff = apply(parts, &file, Some(&previous)).await?;
            *self.file.write() = Arc::new(file);
            Ok::<_, ApplyError>(diff)
        })
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(ApplyError::Panicked(domain::panic_message(panic))));
        let path = self.path.display().to_string();
        match result {
            Ok(diff) => {
                info!(path = %path, changes = %diff.summary(), "configuration reloaded");
                *self.status.write() = Some(ReloadStatus {
                    at: now(),
                    ok: true,
                    message: format!("reloaded: {}", diff.summary()),
                    diff: Some(diff.clone()),
                    interrupted: false,
                });
                Ok(diff)
            }
            Err(e @ (ApplyError::Interrupted(_) | ApplyError::Panicked(_))) => {
                let message = e.to_string();
                error!(path = %path, error = %e, "configuration reload interrupted");
                *self.status.write() = Some(ReloadStatus {
                    at: now(),
                    ok: false,
                    message: message.clone(),
                    diff: None,
                    interrupted: true,
                });
                Err(message)
            }
            Err(e) => {
                let message = format!("{e}; the running configuration is kept");
                warn!(path = %path, error = %e, "configuration reload refused; the running configuration is kept");
                *self.status.write() = Some(ReloadStatus {
                    at: now(),
                    ok: false,
                    message: message.clone(),
                    diff: None,
                    interrupted: false,
                });
                Err(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::read_file;
    use domain::notify::providers::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("channelwatch.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn interpolation_reads_variables_and_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "from-file\n").unwrap();
        let env = vec![("A", "alpha"), ("B_FILE", "tok")];
        assert_eq!(interpolate("x${A}y", &env, dir.path()).unwrap(), "xalphay");
        assert_eq!(interpolate("${B}", &env, dir.path()).unwrap(), "from-file");
        assert_eq!(
            interpolate("$${A} $5", &env, dir.path()).unwrap(),
            "${A} $5"
        );
        let e = interpolate("${MISSING}", &env, dir.path()).unwrap_err();
        assert!(e.contains("MISSING is not set"), "{e}");
        assert!(interpolate("${A", &env, dir.path()).is_err());
        assert!(interpolate("${1A}", &env, dir.path()).is_err());
    }

    #[test]
    fn line_of_finds_keys_inside_list_items() {
        let text = "\
# comment
port: 8501
providers:
  - name: Phone
    type: pushover
    token: x
  -   name: Hook
      type: webhook
      secret_file: /s
routing:
  Living Room:
    channel: {pushover: true}
";
        assert_eq!(line_of(text, "port"), Some(2));
        assert_eq!(line_of(text, "providers[0].name"), Some(4));
        assert_eq!(line_of(text, "providers[0].token"), Some(6));
        assert_eq!(line_of(text, "providers[1]"), Some(7));
        assert_eq!(line_of(text, "providers[1].secret"), Some(9));
        assert_eq!(line_of(text, "providers[1].type"), Some(8));
        assert_eq!(line_of(text, "routing.Living Room"), Some(11));
        assert_eq!(
            line_of(text, "routing.Living Room.channel.pushover"),
            Some(12)
        );
        // A missing key points at its nearest written parent.
        assert_eq!(line_of(text, "providers[0].missing"), Some(4));
        assert_eq!(line_of(text, "nothing"), None);
    }

    #[test]
    fn dvr_api_keys_come_from_variables_or_files_and_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("garage-key"), "key-from-file\n").unwrap();
        let p = write(
            dir.path(),
            "dvrs:\n  - name: Den\n    host: 127.0.0.1\n    api_key: ${DEN_KEY}\n  - name: Garage\n    host: 127.0.0.2\n    api_key_file: garage-key\n  - host: 127.0.0.3\n",
        );
        let f = read_file(&p, true, &vec![("DEN_KEY", "key-from-env")]).unwrap();
        let keys: Vec<Option<String>> = f.file_dvrs_list().into_iter().map(|d| d.api_key).collect();
        assert_eq!(
            keys,
            [
                Some("key-from-env".into()),
                Some("key-from-file".into()),
                None
            ]
        );
        let dbg = format!("{f:?}");
        assert!(
            !dbg.contains("key-from-env") && !dbg.contains("key-from-file"),
            "{dbg}"
        );
        let e = read_file(&p, true, &vec![]).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(4), "dvrs[0].api_key"));
        assert!(e.message.contains("DEN_KEY"), "{e}");
        let both = write(
            dir.path(),
            "dvrs:\n  - host: 127.0.0.1\n    api_key: k\n    api_key_file: garage-key\n",
        );
        let e = read_file(&both, true, &vec![]).unwrap_err();
        assert_eq!(e.key, "dvrs[0].api_key_file");
    }

    #[test]
    fn providers_resolve_secrets_and_bad_entries_name_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook-secret"), "s3cret\n").unwrap();
        let p = write(
            dir.path(),
            "providers:\n  - name: Phone\n    type: pushover\n    user_key: ${PO_USER}\n    token: ${PO_TOKEN}\n  - name: Hook\n    type: webhook\n    url: http://127.0.0.1:9/h\n    secret_file: hook-secret\n",
        );
        let env = vec![("PO_USER", "u-123"), ("PO_TOKEN", "t-456")];
        let f = read_file(&p, true, &env).unwrap();
        assert_eq!(f.declared_providers.len(), 2);
        assert!(matches!(&f.declared_providers[0].config,
            ProviderConfig::Pushover(Pushover { user_key, token, .. }) if user_key == "u-123" && token == "t-456"));
        assert!(matches!(&f.declared_providers[1].config,
            ProviderConfig::Webhook(Webhook { secret, .. }) if secret == "s3cret"));
        // Nothing secret in Debug output.
        let dbg = format!("{f:?}");
        assert!(!dbg.contains("t-456") && !dbg.contains("s3cret"), "{dbg}");

        let e = read_file(&p, true, &vec![("PO_USER", "u")]).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(5), "providers[0].token"));
        assert!(
            e.to_string()
                .contains("line 5: providers[0].token: environment variable PO_TOKEN is not set"),
            "{e}"
        );

        let bad = write(
            dir.path(),
            "providers:\n  - name: X\n    type: gotify\n    url: http://127.0.0.1:1\n    tokn: a\n",
        );
        let e = read_file(&bad, true, &env).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.key.starts_with("providers[0]"), "{e}");

        // A secret in the wrong place is not quoted back in the error.
        let wrong = write(
            dir.path(),
            "providers:\n  - name: P\n    type: pushover\n    user_key: u-123\n    token: t\n    priority: ${PO_TOKEN}\n",
        );
        let e = read_file(&wrong, true, &env).unwrap_err();
        assert!(e.key.starts_with("providers[0]"), "{e}");
        assert!(!e.to_string().contains("t-456"), "{e}");

        let twice = write(dir.path(), "providers:\n  - {name: A, type: webhook, url: 'http://127.0.0.1:9/', secret: s}\n  - {name: A, type: webhook, url: 'http://127.0.0.1:9/', secret: s}\n");
        let e = read_file(&twice, true, &env).unwrap_err();
        assert!(e.to_string().contains("declared twice"), "{e}");
        assert_eq!(e.line, Some(3));

        let unknown = write(
            dir.path(),
            "dvrs: []\nrouting:\n  Den:\n    channel: {carrier_pigeon: true}\n",
        );
        let e = read_file(&unknown, true, &env).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(3), "routing.Den"), "{e}");

        let typo = write(
            dir.path(),
            "port: 8501\nalerts:\n  disk:\n    cooldown_secondz: 5\n",
        );
        let e = read_file(&typo, true, &env).unwrap_err();
        assert_eq!(e.key, "alerts.disk.cooldown_secondz", "{e}");
        assert_eq!(e.line, Some(4), "{e}");

        // A provider's rules are checked as the API checks them.
        let rules = write(
            dir.path(),
            "providers:\n  - name: H\n    type: webhook\n    url: http://127.0.0.1:9/h\n    secret: s\n    rules:\n      - kinds: [recording]\n      - kinds: [tv]\n",
        );
        let e = read_file(&rules, true, &env).unwrap_err();
        assert_eq!(e.key, "providers[0].rules[1]", "{e}");
        assert!(e.message.starts_with("kinds: 'tv'"), "{e}");
        let ok = write(
            dir.path(),
            "providers:\n  - name: H\n    type: webhook\n    url: http://127.0.0.1:9/h\n    secret: s\n    rules:\n      - {name: R, kinds: [recording], conditions: {client: remote}}\n",
        );
        let f = read_file(&ok, true, &env).unwrap();
        assert_eq!(f.declared_providers[0].rules[0].name, "R");
        assert_eq!(
            f.declared_providers[0].rules[0]
                .conditions
                .client
                .as_deref(),
            Some("remote")
        );

        let yaml_error = write(dir.path(), "port: 8501\nproviders: [\n");
        let e = read_file(&yaml_error, true, &env).unwrap_err();
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn secret_files_must_be_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_secret_file("/dev/zero", dir.path()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_secret_file(".", dir.path()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::write(dir.path().join("big"), vec![b'x'; 70 * 1024]).unwrap();
        let e = read_secret_file("big", dir.path()).unwrap_err();
        assert!(e.contains("larger than 64 KiB"), "{e}");
        std::fs::write(dir.path().join("tok"), "s3cret\n").unwrap();
        assert_eq!(read_secret_file("tok", dir.path()).unwrap(), "s3cret");
    }
}
