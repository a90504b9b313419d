//! One module per page.

pub mod account;
pub mod dashboard;
pub mod dvr;
pub mod dvrs;
mod form;
pub mod history;
pub mod login;
pub mod quiet;
pub mod rules;
pub mod settings;
pub mod stats;
