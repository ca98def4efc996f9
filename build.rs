//! Tells the test suite what it can run here, so a test that cannot run is reported as
//! ignored, with the reason, never as passed:
//! - `has_browser`: chromedriver and the pinned axe-core (tests/browser, `npm ci`) are present;
//! - `has_postgres`: `MELDPUNT_TEST_POSTGRES_URL` names a server for the PostgreSQL variants.
//!
//! Only tests read these, but a build script that runs again makes Cargo rebuild the whole
//! crate (in a release build: minutes of link-time optimisation). So it watches the exact
//! files it looks at, never a folder such as /usr/bin that every package installation
//! touches; only while a file is missing in a dev build does it watch the folder where it
//! would appear (Cargo would otherwise run it on every build). A release build watches no
//! folder: installing a browser later shows in its tests after `touch build.rs`.

use std::path::Path;

const AXE: &str = "tests/browser/node_modules/axe-core/axe.min.js";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_browser)");
    println!("cargo::rustc-check-cfg=cfg(has_postgres)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=MELDPUNT_CHROMEDRIVER");
    println!("cargo::rerun-if-env-changed=MELDPUNT_TEST_POSTGRES_URL");

    if std::env::var("MELDPUNT_TEST_POSTGRES_URL").is_ok_and(|u| !u.trim().is_empty()) {
        println!("cargo::rustc-cfg=has_postgres");
    }

    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let driver = std::env::var("MELDPUNT_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let driver_there = watch(Path::new(&driver), release);
    let axe_there = watch(Path::new(AXE), release);
    if driver_there && axe_there {
        println!("cargo::rustc-cfg=has_browser");
    }
}

/// Whether `file` exists; asks Cargo to run this script again when it changes, or (dev
/// builds only) when it may appear: the nearest folder above it that exists.
fn watch(file: &Path, release: bool) -> bool {
    if file.exists() {
        println!("cargo::rerun-if-changed={}", file.display());
        return true;
    }
    if !release {
        if let Some(dir) = file
            .ancestors()
            .skip(1)
            .find(|d| !d.as_os_str().is_empty() && d.exists())
        {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    false
}
