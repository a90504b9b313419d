//! Where notifications go: each destination's fields and their checks, Apprise URLs,
//! and the routing matrix. Sending them is the server's.

pub mod apprise;
pub mod routing;
pub mod target;
