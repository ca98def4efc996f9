//! Layer 4, the domain: what a report is (its vocabulary, its meldcode, its deadlines) and
//! the life of its keys. Knows nothing of HTTP pages or of any feature.

pub mod deadlines;
pub mod keyring;
pub mod meldcode;
pub mod report;
pub mod thread;
