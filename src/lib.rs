//! Meldpunt: an anonymous integrity-reporting service. This file only lists the modules.

pub mod backup;
pub mod casefile;
pub mod cli;
pub mod clock;
pub mod coordinator;
pub mod crypto;
pub mod deadlines;
pub mod evidence;
pub mod followup;
pub mod form_snapshot;
pub mod http;
pub mod i18n;
pub mod ids;
pub mod intake;
pub mod meldcode;
pub mod notify;
pub mod report;
pub mod retention;
pub mod routing;
pub mod settings;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod throttle;
