//! Where notifications go: one module per provider with its fields, checks, Apprise
//! scheme and requests ([`providers`]), the secrets in their settings, the URLs a
//! destination may name, and the routing matrix. Performing the requests is the
//! server's.

pub mod apprise;
pub mod checks;
pub mod delivery;
pub mod providers;
pub mod quiet;
pub mod routing;
pub mod rules;
pub mod secrets;
