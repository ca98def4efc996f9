//! The HTTP test suite as one binary: one module per feature, each test run on SQLite and,
//! when MELDPUNT_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database.

mod helpers;

mod architecture;
mod at_rest;
mod backup;
mod bad_input;
mod browser;
mod cli;
mod coordinator;
mod evidence;
mod faults;
mod floods;
mod hostile_input;
mod inbox;
mod journey;
mod logs;
mod notify;
mod operate;
mod organisation_lifecycle;
mod organisation_settings;
mod organisations;
mod outage;
mod recipient_keys;
mod reporter_pages;
mod retention;
mod routing;
mod row_security;
mod shared_intake;
mod staff_key;
mod storage;
mod totp;
mod triage;
mod upgrade;
