//! The provider types and routing events by name, with each type's form fields: the
//! one list the API checks names against, the routing matrix spans and the UI's
//! "add provider" form shows (contract §3). Adding a provider adds its entry here and
//! its module in `domain::notify::providers`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A configured provider as the API answers it (`GET /api/v1/providers`): who it is,
/// and its type's fields with every secret masked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProviderView {
    pub id: i64,
    /// One of [`PROVIDER_TYPES`].
    #[serde(rename = "type")]
    pub provider_type: String,
    pub name: String,
    pub enabled: bool,
    /// `ui`, `file` or `env`: who may edit it.
    pub managed_by: String,
    /// For the `apprise` type, the URL scheme it was given as (`json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The type's own fields (they differ per type), secrets masked.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A new provider (`POST /api/v1/providers`), or an edit of one (`PATCH
/// /api/v1/providers/{id}`, where every part is optional): its type's fields, or `url`
/// with an Apprise URL.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProviderInput {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The type's own fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A test notification's outcome (`POST /api/v1/providers/{id}/test`): the provider's
/// own status (HTTP, or the SMTP reply code; `None` when it never answered) and words.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TestOutcome {
    pub ok: bool,
    pub status: Option<u16>,
    pub message: String,
}

/// The routing matrix: `{"<dvr_id>": {"<category>": {"<provider type>": on}}}` (the
/// categories are [`crate::settings::Category`]); a missing entry means on.
pub type RoutingMatrix = std::collections::BTreeMap<
    String,
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>>,
>;

/// A TV a `channels_app` provider can show alerts on
/// (`GET /api/v1/providers/channels-clients`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChannelsClientRow {
    pub name: String,
    /// What to give as the provider's `client`.
    pub address: String,
    pub platform: Option<String>,
    /// The DVR that lists it, when found that way.
    pub dvr_name: Option<String>,
    /// `dvr` (a DVR's client list) or `mdns` (it announced itself).
    pub source: String,
}

/// One field of a provider's add form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The API's field name.
    pub name: &'static str,
    pub label: &'static str,
    /// Shown as a password input and answered masked.
    pub secret: bool,
}

/// One provider type: its API name, what people call it, and its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderType {
    pub name: &'static str,
    pub label: &'static str,
    pub fields: &'static [Field],
}

const fn field(name: &'static str, label: &'static str) -> Field {
    Field {
        name,
        label,
        secret: false,
    }
}

const fn secret(name: &'static str, label: &'static str) -> Field {
    Field {
        name,
        label,
        secret: true,
    }
}

pub const PUSHOVER: ProviderType = ProviderType {
    name: "pushover",
    label: "Pushover",
    fields: &[
        secret("user_key", "User key"),
        secret("token", "API token"),
        field("device", "Device (optional)"),
        field("priority", "Priority (optional)"),
    ],
};
pub const DISCORD: ProviderType = ProviderType {
    name: "discord",
    label: "Discord",
    fields: &[secret("webhook_url", "Webhook URL")],
};
pub const TELEGRAM: ProviderType = ProviderType {
    name: "telegram",
    label: "Telegram",
    fields: &[
        secret("bot_token", "Bot token"),
        field("chat_id", "Chat id"),
    ],
};
pub const SLACK: ProviderType = ProviderType {
    name: "slack",
    label: "Slack",
    fields: &[secret("webhook_url", "Webhook URL")],
};
pub const EMAIL: ProviderType = ProviderType {
    name: "email",
    label: "Email",
    fields: &[
        field("smtp_host", "SMTP host"),
        field("smtp_port", "SMTP port"),
        field("security", "Security (starttls, tls, plain)"),
        field("username", "Username"),
        secret("password", "Password"),
        field("from", "From"),
        field("to", "To (comma separated)"),
    ],
};
pub const GOTIFY: ProviderType = ProviderType {
    name: "gotify",
    label: "Gotify",
    fields: &[field("url", "Server URL"), secret("token", "App token")],
};
pub const MATRIX: ProviderType = ProviderType {
    name: "matrix",
    label: "Matrix",
    fields: &[
        field("homeserver", "Homeserver URL"),
        field("room", "Room id or alias"),
        secret("access_token", "Access token"),
    ],
};
pub const NTFY: ProviderType = ProviderType {
    name: "ntfy",
    label: "ntfy",
    fields: &[
        field("url", "Server URL (optional)"),
        field("topic", "Topic"),
        secret("token", "Access token (optional)"),
    ],
};
pub const WEBHOOK: ProviderType = ProviderType {
    name: "webhook",
    label: "Webhook",
    fields: &[field("url", "URL"), secret("secret", "Signing secret")],
};
pub const APPRISE: ProviderType = ProviderType {
    name: "apprise",
    label: "Apprise URL",
    fields: &[secret("url", "Apprise URL")],
};

pub const APPRISE_API: ProviderType = ProviderType {
    name: "apprise_api",
    label: "Apprise API (any Apprise service)",
    fields: &[
        field("url", "Apprise API server URL"),
        secret("urls", "Apprise URLs (or a key)"),
        secret("key", "Configuration key (or URLs)"),
        field("tag", "Tag (optional, with a key)"),
    ],
};

pub const CHANNELS_APP: ProviderType = ProviderType {
    name: "channels_app",
    label: "Channels app on a TV",
    fields: &[field("client", "TV address (port 57000 unless given)")],
};

/// Every provider type, in the order the UI lists them.
pub const PROVIDER_TYPES: [&ProviderType; 12] = [
    &PUSHOVER,
    &DISCORD,
    &TELEGRAM,
    &SLACK,
    &EMAIL,
    &GOTIFY,
    &MATRIX,
    &NTFY,
    &WEBHOOK,
    &APPRISE,
    &APPRISE_API,
    &CHANNELS_APP,
];

/// The provider type called `name`.
pub fn provider_type(name: &str) -> Option<&'static ProviderType> {
    PROVIDER_TYPES.iter().copied().find(|t| t.name == name)
}

/// The names, comma separated, for error messages.
pub fn provider_type_names() -> String {
    PROVIDER_TYPES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for t in PROVIDER_TYPES {
            assert_eq!(provider_type(t.name), Some(t));
            assert!(!t.fields.is_empty(), "{}", t.name);
        }
        let mut names: Vec<_> = PROVIDER_TYPES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PROVIDER_TYPES.len());
        assert_eq!(provider_type("pidgeon"), None);
    }
}
