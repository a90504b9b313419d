//! Notification delivery: provider destinations and Apprise URLs, sending, and the
//! routing matrix.

pub mod apprise;
pub mod outbox;
pub mod providers;
pub mod routing;
pub mod send;
pub mod target;

/// The HTTP client providers are called with (its own pool; no proxy surprises).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("ChannelWatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
