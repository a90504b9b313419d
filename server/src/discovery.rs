//! mDNS discovery of Channels DVR servers (`_channels_dvr._tcp.local.`): a time-boxed
//! browse on demand and every [`PERIOD`], reading host, port and the TXT
//! `name`/`friendlyName`/`version`. When multicast cannot work (no interface but
//! loopback, Docker's bridge network, a daemon that cannot open its sockets) the answer
//! says so in words instead of being a silent empty list.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use domain::dvr::id::dvr_id;

pub const SERVICE_TYPE: &str = "_channels_dvr._tcp.local.";
/// What the Channels apps on TVs announce (their API on port 57000).
pub const CLIENT_SERVICE_TYPE: &str = "_channels_app._tcp.local.";
/// How long one browse listens (the Python ChannelWatch used 5 s).
pub(crate) const WINDOW: Duration = Duration::from_secs(5);
/// Background browses while the server runs.
pub(crate) const PERIOD: Duration = Duration::from_secs(600);

pub use wire::discovery::{FoundClient, FoundDvr as Found, Multicast, Scan};

/// Why multicast may not reach the LAN, judged from the interfaces (pure, tested).
pub(crate) fn judge_interfaces(
    addrs: &[(String, IpAddr)],
    in_docker: bool,
) -> (Multicast, Option<String>) {
    let lan: Vec<&(String, IpAddr)> = addrs
        .iter()
        .filter(|(_, ip)| !ip.is_loopback())
        .filter(|(_, ip)| match ip {
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .collect();
    if lan.is_empty() {
        return (
            Multicast::Limited,
            Some("No network interface other than loopback is up, so mDNS can only find DVRs on this host. Add DVRs by address, or give ChannelWatch access to the LAN.".into()),
        );
    }
    let docker_bridge = lan.iter().all(|(_, ip)| match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 172 && (16..=31).contains(&o[1])
        }
        IpAddr::V6(_) => false,
    });
    if in_docker && docker_bridge {
        return (
            Multicast::Limited,
            Some("ChannelWatch runs in a container on Docker's bridge network, which does not pass mDNS multicast, so DVRs on the LAN cannot be discovered. Run the container with --network host (or a macvlan network), or add DVRs by address.".into()),
        );
    }
    (Multicast::Ok, None)
}

fn interfaces() -> Vec<(String, IpAddr)> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.is_oper_up() || i.is_loopback())
        .map(|i| (i.name.clone(), i.ip()))
        .collect()
}

/// The address to add a DVR by: IPv4 (LAN before loopback), then IPv6, then the name.
fn pick_host(addresses: &[IpAddr], hostname: &str) -> String {
    let mut v: Vec<&IpAddr> = addresses.iter().collect();
    v.sort_by_key(|ip| (!ip.is_ipv4(), ip.is_loopback()));
    match v.first() {
        Some(IpAddr::V4(a)) => a.to_string(),
        Some(IpAddr::V6(a)) => format!("[{a}]"),
        None => hostname.trim_end_matches('.').to_string(),
    }
}

/// One service instance that resolved.
struct Resolved {
    fullname: String,
    hostname: String,
    port: u16,
    addresses: Vec<IpAddr>,
    txt: BTreeMap<String, String>,
}

/// Browses `service` for `window` on a blocking thread; answers what resolved.
fn browse_service(service: &str, window: Duration) -> Result<Vec<Resolved>, String> {
    let daemon = ServiceDaemon::new().map_err(|e| format!("cannot start mDNS: {e}"))?;
    let rx = daemon
        .browse(service)
        .map_err(|e| format!("cannot browse mDNS: {e}"))?;
    let deadline = Instant::now() + window;
    let mut found: BTreeMap<String, Resolved> = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s)) => {
                let txt = ["name", "friendlyName", "version"]
                    .iter()
                    .filter_map(|k| Some((k.to_string(), s.get_property_val_str(k)?.to_string())))
                    .collect();
                found.insert(
                    s.fullname.clone(),
                    Resolved {
                        fullname: s.fullname.clone(),
                        hostname: s.host.clone(),
                        port: s.port,
                        addresses: s.get_addresses().iter().map(|a| a.to_ip_addr()).collect(),
                        txt,
                    },
                );
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.stop_browse(service);
    let _ = daemon.shutdown();
    Ok(found.into_values().collect())
}

/// The instance name, `Living Room` of `Living Room._channels_dvr._tcp.local.`.
fn instance(r: &Resolved, service: &str) -> String {
    r.fullname
        .strip_suffix(&format!(".{service}"))
        .unwrap_or(&r.fullname)
        .to_string()
}

/// Channels DVR servers that answered.
fn browse_blocking(window: Duration) -> Result<Vec<Found>, String> {
    Ok(browse_service(SERVICE_TYPE, window)?
        .into_iter()
        .map(|r| {
            let host = pick_host(&r.addresses, &r.hostname);
            Found {
                dvr_id: dvr_id(&host, r.port),
                name: r
                    .txt
                    .get("friendlyName")
                    .or(r.txt.get("name"))
                    .cloned()
                    .unwrap_or_else(|| instance(&r, SERVICE_TYPE)),
                host,
                port: r.port,
                version: r.txt.get("version").cloned(),
                addresses: r.addresses.iter().map(IpAddr::to_string).collect(),
                hostname: r.hostname.clone(),
                added: false,
            }
        })
        .collect())
}

/// Channels apps (TVs) that answered, for the `channels_app` provider.
fn browse_clients_blocking(window: Duration) -> Result<Vec<FoundClient>, String> {
    Ok(browse_service(CLIENT_SERVICE_TYPE, window)?
        .into_iter()
        .map(|r| FoundClient {
            name: r
                .txt
                .get("name")
                .cloned()
                .unwrap_or_else(|| instance(&r, CLIENT_SERVICE_TYPE)),
            host: pick_host(&r.addresses, &r.hostname),
            port: r.port,
        })
        .collect())
}

/// The discovery service: the last scan, and one scan at a time.
pub struct Discovery {
    last: RwLock<Option<Scan>>,
    /// Counts finished scans, so a caller that waited on another scan can use its result.
    finished: std::sync::atomic::AtomicU64,
    scanning: tokio::sync::Mutex<()>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new()
    }
}

impl Discovery {
    pub fn new() -> Self {
        Discovery {
            last: RwLock::new(None),
            finished: std::sync::atomic::AtomicU64::new(0),
            scanning: tokio::sync::Mutex::new(()),
        }
    }

    pub fn last(&self) -> Option<Scan> {
        self.last.read().clone()
    }

    /// Browses now (waiting for a scan already under way instead of starting another).
    pub async fn scan(&self, window: Duration) -> Scan {
        use std::sync::atomic::Ordering;
        let before = self.finished.load(Ordering::Acquire);
        let _one = self.scanning.lock().await;
        if self.finished.load(Ordering::Acquire) != before {
            // A scan finished while we waited for it: that one is fresh.
            if let Some(s) = self.last() {
                return s;
            }
        }
        let (mut multicast, mut message) =
            judge_interfaces(&interfaces(), std::path::Path::new("/.dockerenv").exists());
        // DVRs and TV apps at once, each in its own window.
        let (result, clients) = tokio::join!(
            tokio::task::spawn_blocking(move || browse_blocking(window)),
            tokio::task::spawn_blocking(move || browse_clients_blocking(window)),
        );
        let result = result.unwrap_or_else(|e| Err(format!("mDNS browse failed: {e}")));
        let clients = clients.ok().and_then(Result::ok).unwrap_or_default();
        let dvrs = match result {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "mDNS discovery unavailable");
                multicast = Multicast::Unavailable;
                message = Some(format!(
                    "{e}. Multicast is not available here; add DVRs by address."
                ));
                Vec::new()
            }
        };
        if dvrs.is_empty() && message.is_none() {
            message = Some(format!(
                "No Channels DVR answered on the local network within {} s. Check that the DVR is on and on the same network segment (mDNS does not cross routers or VLANs), or add it by address.",
                window.as_secs()
            ));
        }
        info!(found = dvrs.len(), multicast = ?multicast, "mDNS discovery scan finished");
        let scan = Scan {
            multicast,
            message,
            scanned_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            window_seconds: window.as_secs(),
            dvrs,
            clients,
        };
        *self.last.write() = Some(scan.clone());
        self.finished.fetch_add(1, Ordering::Release);
        scan
    }

    /// Scans at start and every `period` until cancelled.
    pub async fn run(self: Arc<Self>, period: Duration, cancel: CancellationToken) {
        let me = self;
        {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = me.scan(WINDOW) => {}
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interfaces_decide_whether_the_lan_is_reachable() {
        let lo = ("lo".to_string(), ip("127.0.0.1"));
        let (m, msg) = judge_interfaces(std::slice::from_ref(&lo), false);
        assert_eq!(m, Multicast::Limited);
        assert!(msg.unwrap().contains("loopback"));
        let bridge = ("eth0".to_string(), ip("172.17.0.2"));
        let (m, msg) = judge_interfaces(&[lo.clone(), bridge.clone()], true);
        assert_eq!(m, Multicast::Limited);
        assert!(msg.unwrap().contains("--network host"));
        // The same address outside a container is just a LAN.
        assert_eq!(
            judge_interfaces(&[lo.clone(), bridge], false).0,
            Multicast::Ok
        );
        let lan = ("eth0".to_string(), ip("192.168.1.20"));
        assert_eq!(
            judge_interfaces(&[lo.clone(), lan], true),
            (Multicast::Ok, None)
        );
        // Link-local IPv6 alone is no LAN address.
        let ll = ("eth0".to_string(), ip("fe80::1"));
        assert_eq!(judge_interfaces(&[lo, ll], false).0, Multicast::Limited);
    }

    #[test]
    fn the_host_to_add_prefers_ipv4_on_the_lan() {
        assert_eq!(
            pick_host(
                &[ip("fe80::2"), ip("127.0.0.1"), ip("192.168.1.9")],
                "x.local."
            ),
            "192.168.1.9"
        );
        assert_eq!(pick_host(&[ip("2001:db8::5")], "x.local."), "[2001:db8::5]");
        assert_eq!(pick_host(&[], "den.local."), "den.local");
    }
}
