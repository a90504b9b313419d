//! Disk levels from the DVR's `GET /dvr` figures.

use serde::{Deserialize, Serialize};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

pub use wire::settings::DiskThresholds;

/// The checks the thresholds' types cannot express.
pub trait ThresholdRules {
    /// Why these thresholds make no sense (naming the key), if they do not.
    fn validate(&self) -> Result<(), (&'static str, String)>;
}

impl ThresholdRules for DiskThresholds {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            ("warning_percent", self.warning_percent),
            ("critical_percent", self.critical_percent),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err((key, format!("{v} is not a percentage between 0 and 100")));
            }
        }
        for (key, v) in [
            ("warning_gib", self.warning_gib),
            ("critical_gib", self.critical_gib),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err((key, format!("{v} is not a size in GiB (0 or more)")));
            }
        }
        if self.critical_percent > self.warning_percent {
            return Err((
                "critical_percent",
                "must not be above warning_percent".to_string(),
            ));
        }
        if self.critical_gib > self.warning_gib {
            return Err(("critical_gib", "must not be above warning_gib".to_string()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskLevel {
    Ok,
    Warning,
    Critical,
}

impl DiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskLevel::Ok => "ok",
            DiskLevel::Warning => "warning",
            DiskLevel::Critical => "critical",
        }
    }
}

/// The disk as last polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskSample {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl DiskSample {
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }

    pub fn level(&self, t: &DiskThresholds) -> DiskLevel {
        let pct = self.free_percent();
        let gib = self.free_bytes as f64 / GIB;
        if pct < t.critical_percent || gib < t.critical_gib {
            DiskLevel::Critical
        } else if pct < t.warning_percent || gib < t.warning_gib {
            DiskLevel::Warning
        } else {
            DiskLevel::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1024 * 1024 * 1024;

    #[test]
    fn levels_follow_percent_or_gib() {
        let t = DiskThresholds::default();
        let s = |free: u64, total: u64| {
            DiskSample {
                free_bytes: free,
                total_bytes: total,
            }
            .level(&t)
        };
        assert_eq!(s(200 * G, 1000 * G), DiskLevel::Ok);
        assert_eq!(s(90 * G, 1000 * G), DiskLevel::Warning, "9 % free");
        assert_eq!(
            s(45 * G, 100 * G),
            DiskLevel::Warning,
            "45 % but under 50 GiB"
        );
        assert_eq!(s(40 * G, 1000 * G), DiskLevel::Critical, "4 %");
        assert_eq!(s(20 * G, 30 * G), DiskLevel::Critical, "under 25 GiB");
        assert_eq!(s(0, 0), DiskLevel::Critical);
        // The fixture: 215 GB free of 2 TB is about 10.8 %.
        assert_eq!(s(215_383_064_576, 2_001_111_162_880), DiskLevel::Ok);
    }

    #[test]
    fn thresholds_are_validated_naming_the_key() {
        assert!(DiskThresholds::default().validate().is_ok());
        let t = DiskThresholds {
            critical_percent: 20.0,
            ..DiskThresholds::default()
        };
        assert_eq!(t.validate().unwrap_err().0, "critical_percent");
        let t = DiskThresholds {
            warning_percent: 120.0,
            ..DiskThresholds::default()
        };
        assert_eq!(t.validate().unwrap_err().0, "warning_percent");
        let t = DiskThresholds {
            critical_gib: -1.0,
            ..DiskThresholds::default()
        };
        assert_eq!(t.validate().unwrap_err().0, "critical_gib");
    }
}
