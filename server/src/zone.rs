//! The time zone in force for the whole monitor: alert texts, statistics by day and
//! hour, calendar feeds and the web app read it here. It is the `time_zone` setting
//! when set, else `TZ`, else the host's zone, else UTC (`domain::zone::Zone::resolve`),
//! and a change of the setting takes effect without a restart.

use std::sync::Arc;

use chrono::Utc;
use parking_lot::RwLock;
use tracing::warn;

use domain::zone::{Resolved, Zone};
use storage::{settings, Db, StorageError};
use wire::zone::ZoneRules;

/// Years of offsets the web app gets behind and ahead of now (history is kept up to
/// ten years; older times fall back to the oldest offset).
const RULES_YEARS_BACK: i64 = 10;
const RULES_YEARS_AHEAD: i64 = 2;

/// Shared by every part that shows a time; cheap to clone.
#[derive(Clone)]
pub struct TimeZone {
    inner: Arc<Inner>,
}

struct Inner {
    /// `TZ` as the process got it.
    env: Option<String>,
    /// The host's zone name (`/etc/localtime`), when it has one.
    host: Option<String>,
    state: RwLock<State>,
}

struct State {
    resolved: Resolved,
    /// The web app's rules and the unix day they were made on.
    rules: Option<(i64, Arc<ZoneRules>)>,
}

impl TimeZone {
    /// From `TZ` (given) and the host's zone (read here), before any setting is known.
    pub fn new(tz_env: Option<String>) -> Self {
        let host = iana_time_zone::get_timezone().ok();
        Self::with_host(tz_env, host)
    }

    /// As [`TimeZone::new`], with the host's zone given (tests).
    pub fn with_host(env: Option<String>, host: Option<String>) -> Self {
        let resolved = Zone::resolve(None, env.as_deref(), host.as_deref());
        TimeZone {
            inner: Arc::new(Inner {
                env,
                host,
                state: RwLock::new(State {
                    resolved,
                    rules: None,
                }),
            }),
        }
    }

    /// Reads the `time_zone` setting and puts the zone it resolves to in force; a name
    /// passed over is logged.
    pub async fn reload(&self, db: &Db) -> Result<Resolved, StorageError> {
        let setting = settings::time_zone(db).await?;
        Ok(self.apply(&setting))
    }

    /// Puts the zone `setting` resolves to in force (empty: `TZ`, then the host's).
    pub fn apply(&self, setting: &str) -> Resolved {
        let r = Zone::resolve(
            Some(setting),
            self.inner.env.as_deref(),
            self.inner.host.as_deref(),
        );
        if let Some(w) = &r.warning {
            warn!(zone = r.zone.name(), "time zone passed over: {w}");
        }
        let mut st = self.inner.state.write();
        if st.resolved.zone != r.zone {
            st.rules = None;
        }
        st.resolved = r.clone();
        r
    }

    pub fn zone(&self) -> Zone {
        self.inner.state.read().resolved.zone
    }

    /// The zone with where it came from and any warning.
    pub fn resolved(&self) -> Resolved {
        self.inner.state.read().resolved.clone()
    }

    /// The zone's offsets for the web app, made at most once a day.
    pub fn rules(&self) -> Arc<ZoneRules> {
        let now = Utc::now();
        let day = now.timestamp().div_euclid(86_400);
        if let Some((made, rules)) = &self.inner.state.read().rules {
            if *made == day {
                return rules.clone();
            }
        }
        let zone = self.zone();
        let rules = Arc::new(zone.rules(now, RULES_YEARS_BACK, RULES_YEARS_AHEAD));
        let mut st = self.inner.state.write();
        if st.resolved.zone == zone {
            st.rules = Some((day, rules.clone()));
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::zone::Source;

    #[tokio::test]
    async fn the_setting_overrides_tz_until_it_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        let tz = TimeZone::with_host(Some("America/Chicago".into()), Some("UTC".into()));
        assert_eq!(tz.reload(&db).await.unwrap().source, Source::Env);
        assert_eq!(tz.zone().name(), "America/Chicago");
        assert_eq!(tz.rules().name, "America/Chicago");
        settings::set(&db, settings::TIME_ZONE, &"Europe/Berlin")
            .await
            .unwrap();
        tz.reload(&db).await.unwrap();
        assert_eq!(tz.zone().name(), "Europe/Berlin");
        assert_eq!(
            tz.rules().name,
            "Europe/Berlin",
            "the rules follow the zone"
        );
        assert_eq!(tz.apply("").zone.name(), "America/Chicago");
        let typo = tz.apply("Europe/Berln");
        assert_eq!(typo.zone.name(), "America/Chicago");
        assert!(typo
            .warning
            .unwrap()
            .contains("'Europe/Berln' is not a time zone"));
    }
}
