//! Notification providers, one module per destination API. Each owns its fields and
//! their checks, its Apprise scheme, the requests it sends (as data: [`Plan`]) and how
//! it reads the answers. [`PROVIDERS`] is the table that names them all: the API's
//! type names, the routing matrix's columns and the UI's forms come from it (through
//! `wire::providers`), and [`ProviderConfig`] dispatches to the modules.
//!
//! Adding a provider: its module here, a variant in [`ProviderConfig`] and the
//! dispatch list in `each!`, its entry in [`PROVIDERS`] and in `wire::providers`.

pub mod apprise_api;
pub mod body;
pub mod channels_app;
pub mod discord;
pub mod email;
pub mod gotify;
pub mod json;
pub mod matrix;
pub mod ntfy;
pub mod pushover;
pub mod slack;
pub mod telegram;
pub mod url;
pub mod webhook;

use serde::{Deserialize, Serialize};

pub use apprise_api::AppriseApi;
pub use channels_app::ChannelsApp;
pub use discord::Discord;
pub use email::{Email, EmailSecurity};
pub use gotify::Gotify;
pub use json::Json;
pub use matrix::Matrix;
pub use ntfy::Ntfy;
pub use pushover::Pushover;
pub use slack::Slack;
pub use telegram::Telegram;
pub use url::from_apprise_url;
pub use webhook::Webhook;

use super::apprise::Parts;
use super::delivery::{Outgoing, Plan};

/// What the API answers in place of a secret; sending it back keeps the stored value
/// (see `secrets`).
pub const MASK: &str = "****";

/// What a provider module declares about itself.
pub trait Provider {
    /// Its table entry.
    const INFO: &'static ProviderInfo;
    /// Checks what serde cannot: URLs parse and point somewhere allowed, required text
    /// is not blank, numbers are in range.
    fn validate(&self) -> Result<(), String>;
    /// How one notification goes out.
    fn plan(&self, out: &Outgoing) -> Plan;
}

/// Where a provider sends (and so its secrets go): what must stay the same for a stored secret to
/// be filled in on an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    /// A URL field's `scheme://host:port`; `default` when an optional one is not set.
    Url {
        field: &'static str,
        default: &'static str,
    },
    /// The SMTP server's host, security and port.
    Smtp,
}

/// One row of the provider table.
pub struct ProviderInfo {
    /// Its name, label and form fields, as the API and the UI know them.
    pub ty: &'static wire::providers::ProviderType,
    /// The stored `kind` tag (`json` for the `apprise` type).
    pub tag: &'static str,
    /// Fields that hold secrets (whole URLs that embed credentials included): answered
    /// masked, kept when an edit echoes the mask.
    pub secret_fields: &'static [&'static str],
    /// Fields that work as credentials without being called secrets: masked for a
    /// viewer too.
    pub viewer_hidden: &'static [&'static str],
    pub address: Address,
    /// Apprise URL schemes this provider reads.
    pub schemes: &'static [&'static str],
    /// The field that holds the service's own webhook URL, which an API body may also
    /// give as `url` (Discord, Slack).
    pub webhook_url_field: Option<&'static str>,
    /// Reads an Apprise URL of one of `schemes`.
    pub from_apprise: fn(&Parts) -> Result<ProviderConfig, String>,
}

/// Every provider, in the UI's order.
pub(crate) const PROVIDERS: [&ProviderInfo; 12] = [
    pushover::Pushover::INFO,
    discord::Discord::INFO,
    telegram::Telegram::INFO,
    slack::Slack::INFO,
    email::Email::INFO,
    gotify::Gotify::INFO,
    matrix::Matrix::INFO,
    ntfy::Ntfy::INFO,
    webhook::Webhook::INFO,
    json::Json::INFO,
    apprise_api::AppriseApi::INFO,
    channels_app::ChannelsApp::INFO,
];

/// The provider whose type (`apprise`) or stored tag (`json`) is `name`.
pub fn provider(name: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS
        .iter()
        .copied()
        .find(|p| p.ty.name == name || p.tag == name)
}

/// The provider that reads Apprise URLs of `scheme`.
pub(crate) fn by_scheme(scheme: &str) -> Option<&'static ProviderInfo> {
    PROVIDERS
        .iter()
        .copied()
        .find(|p| p.schemes.contains(&scheme))
}

/// A configured provider: where it sends and with which credentials. Stored and
/// answered as its fields with a `kind` tag; `Debug` is masked (see `secrets`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProviderConfig {
    Pushover(pushover::Pushover),
    Discord(discord::Discord),
    Telegram(telegram::Telegram),
    Slack(slack::Slack),
    Email(email::Email),
    Gotify(gotify::Gotify),
    Matrix(matrix::Matrix),
    Ntfy(ntfy::Ntfy),
    Webhook(webhook::Webhook),
    Json(json::Json),
    #[serde(rename = "apprise_api")]
    AppriseApi(apprise_api::AppriseApi),
    #[serde(rename = "channels_app")]
    ChannelsApp(channels_app::ChannelsApp),
}

/// Runs `$body` with `$p` bound to the variant's provider, whichever it is.
macro_rules! each {
    ($value:expr, $p:ident => $body:expr) => {
        match $value {
            ProviderConfig::Pushover($p) => $body,
            ProviderConfig::Discord($p) => $body,
            ProviderConfig::Telegram($p) => $body,
            ProviderConfig::Slack($p) => $body,
            ProviderConfig::Email($p) => $body,
            ProviderConfig::Gotify($p) => $body,
            ProviderConfig::Matrix($p) => $body,
            ProviderConfig::Ntfy($p) => $body,
            ProviderConfig::Webhook($p) => $body,
            ProviderConfig::Json($p) => $body,
            ProviderConfig::AppriseApi($p) => $body,
            ProviderConfig::ChannelsApp($p) => $body,
        }
    };
}

fn info_of<P: Provider>(_: &P) -> &'static ProviderInfo {
    P::INFO
}

impl ProviderConfig {
    /// Its row of the provider table.
    pub fn info(&self) -> &'static ProviderInfo {
        each!(self, p => info_of(p))
    }

    /// The provider type it belongs to (`json` belongs to `apprise`).
    pub fn provider_type(&self) -> &'static str {
        self.info().ty.name
    }

    /// The stored `kind` tag (`json` for Apprise's JSON target).
    pub fn kind_tag(&self) -> &'static str {
        self.info().tag
    }

    /// Field names that hold secrets.
    pub fn secret_fields(&self) -> &'static [&'static str] {
        self.info().secret_fields
    }

    /// Checks what serde cannot (see [`Provider::validate`]).
    pub fn validate(&self) -> Result<(), String> {
        each!(self, p => p.validate())
    }

    /// How one notification goes out (see [`Provider::plan`]).
    pub fn plan(&self, out: &Outgoing) -> Plan {
        each!(self, p => p.plan(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_wire_list_and_the_enum() {
        let names: Vec<_> = PROVIDERS.iter().map(|p| p.ty.name).collect();
        let wire: Vec<_> = wire::providers::PROVIDER_TYPES
            .iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, wire);
        for p in PROVIDERS {
            assert_eq!(provider(p.ty.name).map(|x| x.tag), Some(p.tag));
            assert_eq!(provider(p.tag).map(|x| x.ty.name), Some(p.ty.name));
            for s in p.schemes {
                assert_eq!(by_scheme(s).map(|x| x.tag), Some(p.tag));
            }
            // The UI's secret inputs are secrets here too.
            for f in p.ty.fields.iter().filter(|f| f.secret) {
                assert!(p.secret_fields.contains(&f.name), "{}.{}", p.tag, f.name);
            }
            // The stored tag is the enum's serde tag.
            let v = serde_json::json!({"kind": p.tag});
            let e = serde_json::from_value::<ProviderConfig>(v).unwrap_err();
            assert!(e.to_string().contains("missing field"), "{}: {e}", p.tag);
        }
    }
}
