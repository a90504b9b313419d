//! Alert rules: the pure part that turns what happened on a DVR into alerts, with
//! per-DVR dedup and cooldowns and the global rate limit. No IO here.

pub mod dedup;
pub mod disk;
pub mod health;
pub mod kind;
