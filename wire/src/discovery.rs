//! mDNS discovery as the API answers it (`GET /api/v1/discovery`, `POST …/scan`).

use serde::{Deserialize, Serialize};

/// A DVR that answered.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FoundDvr {
    pub name: String,
    /// The address to add it by (an IPv4 address when it has one).
    pub host: String,
    pub port: u16,
    pub version: Option<String>,
    pub dvr_id: String,
    /// Every address it announced.
    pub addresses: Vec<String>,
    /// The mDNS host name, e.g. `living-room.local.`.
    pub hostname: String,
    /// Already among the monitored DVRs (by id, or by address and port).
    #[serde(default)]
    pub added: bool,
}

/// Whether multicast can reach the network the server is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Multicast {
    /// A LAN interface is up; answers can arrive.
    #[default]
    Ok,
    /// Browsing works, but only on interfaces that cannot see the LAN.
    Limited,
    /// No browse could be made.
    Unavailable,
}

/// The last browse's outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scan {
    pub multicast: Multicast,
    /// A plain sentence when something limits discovery or nothing answered.
    pub message: Option<String>,
    pub scanned_at: Option<String>,
    pub window_seconds: u64,
    pub dvrs: Vec<FoundDvr>,
    /// Channels apps on TVs that announced themselves (`_channels_app._tcp`).
    #[serde(default)]
    pub clients: Vec<FoundClient>,
}

/// A Channels app that answered: a TV the `channels_app` provider can show alerts on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FoundClient {
    pub name: String,
    pub host: String,
    pub port: u16,
}
