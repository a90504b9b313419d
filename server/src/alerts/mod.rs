//! Alert rules: the pure part that turns what happened on a DVR into alerts, with
//! per-DVR dedup and cooldowns, the global rate limit, settings and texts. No IO here.

pub mod dedup;
pub mod disk;
pub mod enrich;
pub mod health;
pub mod kind;
pub mod pipeline;
pub mod settings;
pub mod template;
