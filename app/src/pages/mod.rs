//! One module per page.

pub mod account;
mod checks;
pub mod dashboard;
pub mod dvr;
pub mod dvrs;
pub mod history;
pub mod login;
pub mod quiet;
pub mod rules;
pub mod settings;
pub mod stats;
