//! Tells the test suite whether a browser can run its browser tests: `has_browser` is set
//! when chromedriver and the pinned axe-core (tests/browser, `npm ci`) are both present, so
//! without them those tests are reported as ignored, with the reason, never as passed.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_browser)");
    // Installing a package changes /usr/bin; `npm ci` changes tests/browser.
    println!("cargo::rerun-if-changed=/usr/bin");
    println!("cargo::rerun-if-changed=tests/browser");
    println!("cargo::rerun-if-env-changed=MELDPUNT_CHROMEDRIVER");
    let driver = std::env::var("MELDPUNT_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let axe = Path::new("tests/browser/node_modules/axe-core/axe.min.js");
    if Path::new(&driver).exists() && axe.exists() {
        println!("cargo::rustc-cfg=has_browser");
    }
}
