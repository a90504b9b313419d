//! The settings a user edits, checked one way wherever they come from: the settings
//! API, the YAML file, a backup being restored. An edit that one of them accepts, the
//! others accept too.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alerts::settings::{AlertRules, AlertSettings};
use crate::disk::{DiskThresholds, ThresholdRules};

/// A setting that is not valid: its dotted key (`alerts.channel.cooldown_seconds`) and
/// why, in words for the person who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Changes to the settings, each part optional: the body of `PUT /api/v1/settings`,
/// or the settings keys of the YAML file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub dvr_soft_limit: Option<u32>,
    #[serde(default)]
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub history_retention_days: Option<u32>,
    #[serde(default)]
    pub disk_thresholds: Option<DiskThresholds>,
    /// An IANA zone name; empty means `TZ`, then the host's zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Merged into the alert settings in force (JSON merge), so a change of one option
    /// changes that option only.
    #[serde(default)]
    pub alerts: Option<Value>,
}

impl SettingsPatch {
    /// Checks every part given; with an alert part, the alert settings it makes of
    /// `alerts` (checked whole).
    pub fn check(&self, alerts: &AlertSettings) -> Result<Option<AlertSettings>, Invalid> {
        if let Some(n) = self.dvr_soft_limit {
            check_dvr_soft_limit(n)?;
        }
        if let Some(n) = self.retention_days {
            check_retention_days(n)?;
        }
        if let Some(n) = self.history_retention_days {
            check_days("history_retention_days", n)?;
        }
        if let Some(t) = &self.disk_thresholds {
            check_disk_thresholds(t)?;
        }
        if let Some(z) = &self.time_zone {
            check_time_zone(z)?;
        }
        self.alerts
            .as_ref()
            .map(|patch| merged_alerts(alerts, patch))
            .transpose()
    }
}

/// How many DVRs may be configured: 1 to 10,000.
pub(crate) fn check_dvr_soft_limit(n: u32) -> Result<(), Invalid> {
    if (1..=10_000).contains(&n) {
        Ok(())
    } else {
        Err(Invalid::new(
            "dvr_soft_limit",
            "must be between 1 and 10000",
        ))
    }
}

/// Days of alert history kept: 1 to 3,650.
pub(crate) fn check_retention_days(n: u32) -> Result<(), Invalid> {
    check_days("retention_days", n)
}

/// Days of a history kept (alerts, watch history): 1 to 3,650.
fn check_days(key: &str, n: u32) -> Result<(), Invalid> {
    if (1..=3650).contains(&n) {
        Ok(())
    } else {
        Err(Invalid::new(key, "must be between 1 and 3650"))
    }
}

/// A zone name from the bundled database, or empty (`TZ`, then the host's zone).
pub fn check_time_zone(name: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() {
        return Ok(());
    }
    crate::zone::Zone::parse(name)
        .map(|_| ())
        .map_err(|m| Invalid::new("time_zone", m))
}

pub(crate) fn check_disk_thresholds(t: &DiskThresholds) -> Result<(), Invalid> {
    t.validate()
        .map_err(|(key, m)| Invalid::new(format!("disk_thresholds.{key}"), m))
}

/// The alert settings in force, checked whole (a backup brings them complete).
pub fn check_alerts(a: &AlertSettings) -> Result<(), Invalid> {
    a.validate().map_err(|e| match e.split_once(": ") {
        Some((k, m)) => Invalid::new(format!("alerts.{k}"), m),
        None => Invalid::new("alerts", e),
    })
}

/// `current` with `patch` (part of the settings' `alerts` object) merged in, checked
/// whole; errors name the key (`alerts.channel.cooldown_seconds`).
pub fn merged_alerts(current: &AlertSettings, patch: &Value) -> Result<AlertSettings, Invalid> {
    let mut merged =
        serde_json::to_value(current).map_err(|e| Invalid::new("alerts", e.to_string()))?;
    merge(&mut merged, patch);
    let a: AlertSettings = serde_path_to_error::deserialize(merged)
        .map_err(|e| Invalid::new(format!("alerts.{}", e.path()), e.inner().to_string()))?;
    check_alerts(&a)?;
    Ok(a)
}

/// RFC 7396-style merge: objects merge key by key, anything else replaces.
fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges_name_their_key() {
        assert!(check_dvr_soft_limit(1).is_ok() && check_dvr_soft_limit(10_000).is_ok());
        assert_eq!(
            check_dvr_soft_limit(0).unwrap_err().to_string(),
            "dvr_soft_limit: must be between 1 and 10000"
        );
        assert_eq!(
            check_retention_days(3651).unwrap_err().to_string(),
            "retention_days: must be between 1 and 3650"
        );
        let t = DiskThresholds {
            critical_percent: 20.0,
            ..DiskThresholds::default()
        };
        assert_eq!(
            check_disk_thresholds(&t).unwrap_err().key,
            "disk_thresholds.critical_percent"
        );
    }

    #[test]
    fn an_alert_patch_changes_one_option_and_is_checked_whole() {
        let current = AlertSettings::default();
        let patch = SettingsPatch {
            alerts: Some(json!({"channel": {"cooldown_seconds": 90}})),
            ..Default::default()
        };
        let merged = patch.check(&current).unwrap().unwrap();
        assert_eq!(merged.channel.cooldown_seconds, 90);
        assert_eq!(merged.vod, current.vod);
        let bad = SettingsPatch {
            alerts: Some(json!({"channel": {"cooldown_seconds": "soon"}})),
            ..Default::default()
        };
        assert_eq!(
            bad.check(&current).unwrap_err().key,
            "alerts.channel.cooldown_seconds"
        );
        let unknown = SettingsPatch {
            alerts: Some(json!({"chanel": {}})),
            ..Default::default()
        };
        assert!(unknown.check(&current).is_err());
        assert_eq!(SettingsPatch::default().check(&current), Ok(None));
    }

    #[test]
    fn every_part_given_is_checked() {
        let current = AlertSettings::default();
        let p = SettingsPatch {
            dvr_soft_limit: Some(5),
            retention_days: Some(0),
            ..Default::default()
        };
        assert_eq!(p.check(&current).unwrap_err().key, "retention_days");
    }
}
