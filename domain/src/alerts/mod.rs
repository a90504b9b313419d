//! The alert rules: kinds and categories, cooldowns and budgets, disk and health
//! rules, the settings that tune them, and the templates that word them.

pub mod decide;
pub mod dedup;
pub mod disk;
pub mod facts;
pub mod health;
pub mod kind;
pub mod pacing;
pub mod settings;
pub mod template;
