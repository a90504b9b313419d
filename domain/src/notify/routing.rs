//! The routing matrix: DVR × event category × provider type → on or off. A missing
//! entry means on, so a new DVR or provider is routed everywhere until someone says
//! otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alerts::kind::Category;

/// `{"<dvr_id>": {"<event>": {"<provider type>": bool}}}`, exactly the API's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Routing(pub BTreeMap<String, BTreeMap<Category, BTreeMap<String, bool>>>);

/// A matrix entry that cannot be stored, with the path that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RoutingError {
    pub path: String,
    pub message: String,
}

impl Routing {
    /// Whether alerts of `category` on `dvr_id` go to providers of `provider_type`.
    pub fn allows(&self, dvr_id: &str, category: Category, provider_type: &str) -> bool {
        self.0
            .get(dvr_id)
            .and_then(|events| events.get(&category))
            .and_then(|types| types.get(provider_type))
            .copied()
            .unwrap_or(true)
    }

    /// Checks every provider type and DVR id (events are checked by deserialising).
    pub fn validate(&self, known_dvr: impl Fn(&str) -> bool) -> Result<(), RoutingError> {
        for (dvr_id, events) in &self.0 {
            if !known_dvr(dvr_id) {
                return Err(RoutingError {
                    path: dvr_id.clone(),
                    message: "no DVR with this id".into(),
                });
            }
            for (event, types) in events {
                for provider_type in types.keys() {
                    if wire::providers::provider_type(provider_type).is_none() {
                        return Err(RoutingError {
                            path: format!("{dvr_id}.{}.{provider_type}", event.as_str()),
                            message: format!(
                                "not a provider type; use one of {}",
                                wire::providers::provider_type_names()
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Rows for storage: (dvr_id, event, provider_type, enabled).
    pub fn rows(&self) -> Vec<(String, &'static str, String, bool)> {
        let mut out = Vec::new();
        for (dvr_id, events) in &self.0 {
            for (event, types) in events {
                for (t, on) in types {
                    out.push((dvr_id.clone(), event.as_str(), t.clone(), *on));
                }
            }
        }
        out
    }

    /// Builds the matrix back from stored rows (unknown events are skipped).
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, String, bool)>) -> Self {
        let mut m = Routing::default();
        for (dvr_id, event, t, on) in rows {
            if let Some(cat) = Category::parse(&event) {
                m.0.entry(dvr_id)
                    .or_default()
                    .entry(cat)
                    .or_default()
                    .insert(t, on);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(json: &str) -> Routing {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn missing_entries_mean_on() {
        let m = matrix(r#"{"aef6d698": {"channel": {"discord": false}}}"#);
        assert!(!m.allows("aef6d698", Category::Channel, "discord"));
        assert!(m.allows("aef6d698", Category::Channel, "pushover"));
        assert!(m.allows("aef6d698", Category::Vod, "discord"));
        assert!(m.allows("6ed91433", Category::Channel, "discord"));
    }

    #[test]
    fn shape_round_trips_through_rows_and_json() {
        let json =
            r#"{"aef6d698":{"channel":{"discord":false,"pushover":true},"disk":{"email":false}}}"#;
        let m = matrix(json);
        assert_eq!(serde_json::to_string(&m).unwrap(), json);
        let rows: Vec<_> = m
            .rows()
            .into_iter()
            .map(|(d, e, t, on)| (d, e.to_string(), t, on))
            .collect();
        assert_eq!(Routing::from_rows(rows), m);
    }

    #[test]
    fn bad_entries_are_named() {
        let m = matrix(r#"{"aef6d698": {"channel": {"pidgeon": true}}}"#);
        let e = m.validate(|_| true).unwrap_err();
        assert_eq!(e.path, "aef6d698.channel.pidgeon");
        let e = m.validate(|_| false).unwrap_err();
        assert_eq!(e.path, "aef6d698");
        assert!(serde_json::from_str::<Routing>(r#"{"a": {"weather": {}}}"#).is_err());
    }
}
