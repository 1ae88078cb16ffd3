//! Text that leaves the program: secrets masked, control characters escaped. At the bottom of
//! the house: it depends on nothing else in the crate, and everything that shows or stores text
//! (logs, reports, the console, the NDJSON stream) goes through it.

mod controls;
mod secrets;

pub use controls::escape_controls;
pub use secrets::{redact_secrets, redact_secrets_with, remember_secret, remember_token};
