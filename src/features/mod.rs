//! Layer 3, the features: each owns its pages, its rules and its background work, and
//! builds on the web plumbing, the domain and the foundations below. A feature may use
//! another feature's public items only where that adds no cycle (ARCHITECTURE.md).

pub mod backup;
pub mod casefile;
pub mod coordinator;
pub mod evidence;
pub mod followup;
pub mod intake;
pub mod notify;
pub mod public;
pub mod retention;
pub mod routing;
