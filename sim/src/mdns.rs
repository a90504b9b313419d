//! Announcing a simulated DVR over mDNS the way a real one announces itself, so that
//! discovery can be tried and tested without a DVR on the network.

use std::net::IpAddr;

use mdns_sd::{ServiceDaemon, ServiceInfo};

/// The service type Channels DVR servers announce (the monitor browses for it).
pub const SERVICE_TYPE: &str = "_channels_dvr._tcp.local.";

/// Announces `name` at `ip:port` (`channelwatch simulate --mdns`). The announcement
/// lasts while the returned daemon lives.
pub fn advertise(
    name: &str,
    ip: IpAddr,
    port: u16,
    version: &str,
) -> Result<ServiceDaemon, String> {
    let daemon = ServiceDaemon::new().map_err(|e| format!("cannot start mDNS: {e}"))?;
    let instance: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let host = format!("{}.local.", instance.to_ascii_lowercase().replace(' ', "-"));
    let props = [("name", name), ("friendlyName", name), ("version", version)];
    let info = ServiceInfo::new(SERVICE_TYPE, &instance, &host, ip, port, &props[..])
        .map_err(|e| format!("cannot describe the service: {e}"))?;
    daemon
        .register(info)
        .map_err(|e| format!("cannot announce the service: {e}"))?;
    Ok(daemon)
}
