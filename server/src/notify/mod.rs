//! Notification delivery: provider destinations and Apprise URLs, sending, the routing
//! matrix, and the outbox worker.

pub mod outbox;
pub mod providers;
pub mod send;

use std::net::SocketAddr;
use std::sync::Arc;

/// Resolves names like the system does, then drops link-local and cloud-metadata
/// addresses, so a destination name cannot point a notification at them.
struct SafeResolver;

impl reqwest::dns::Resolve for SafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| !domain::notify::checks::is_forbidden_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves only to link-local or cloud-metadata addresses"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client providers are called with: no redirects (a destination cannot
/// bounce a notification elsewhere) and the link-local/metadata-refusing resolver.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(SafeResolver))
        .user_agent(concat!("ChannelWatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
