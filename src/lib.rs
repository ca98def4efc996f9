//! Meldpunt: an anonymous integrity-reporting service. This file only lists the modules,
//! top of the layers first (ARCHITECTURE.md): each may use only those below it.

// 1–2: the command line, and start-up (state, routes, background tasks).
pub mod cli;
pub mod startup;

// 3: the features.
pub mod features;

// 4: the shared web plumbing, and the domain.
pub mod domain;
pub mod http;

// 5: the foundations.
pub mod clock;
pub mod crypto;
pub mod i18n;
pub mod ids;
pub mod mail;
pub mod pow;
pub mod settings;
pub mod storage;
pub mod telemetry;
pub mod throttle;
