//! What ChannelWatch's integration tests and benchmarks share, so each test reads as
//! its scenario: simulated DVRs and a real server on loopback, deadline-bound waits,
//! fake provider APIs, a real SMTP listener, the binary as a child process, and the
//! benchmarks' command-line and /proc readers. Dev-only: nothing here ships.

pub mod apprise;
pub mod bench;
pub mod dvr;
pub mod fakes;
pub mod mqtt;
pub mod process;
pub mod server;
pub mod smtp;
pub mod wait;

pub use apprise::*;
pub use dvr::*;
pub use fakes::*;
pub use mqtt::*;
pub use process::*;
pub use server::*;
pub use smtp::*;
pub use wait::*;
