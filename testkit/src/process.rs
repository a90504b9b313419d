//! The built binary as a child process, and loopback ports.

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A child process (the real binary) killed if a test fails before stopping it.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary's environment without the developer's ChannelWatch settings, and with no
/// background mDNS scans: tests send nothing beyond loopback.
pub fn clean_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("CHANNELWATCH_") || k == "CHANNELS_DVR_SERVERS" {
            cmd.env_remove(k);
        }
    }
    cmd.env("CHANNELWATCH_DISCOVERY_INTERVAL_SECONDS", "0")
}
