//! The alert pipeline around the rules in `domain::alerts`: per-DVR tasks that feed
//! events through them and record what they decide (pipeline), the DVR lookups that
//! fill alert texts (enrich), and template rendering off the runtime (render).

pub mod enrich;
pub mod pipeline;
pub mod render;
