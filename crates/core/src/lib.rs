//! Domain types and rules of linli. Nothing here does I/O: the store, the server and the
//! command line all lean on these types so that a rule is written once.

pub mod care;
pub mod care_kasteren;
mod care_page_text;
pub mod care_rules;
mod care_text;
pub mod care_visits;
pub mod china_time;
pub mod events;
mod events_page_text;
mod events_text;
pub mod geo;
pub mod grid;
pub mod grid_import;
pub mod healthcheck;
mod healthcheck_text;
pub mod i18n;
mod open311_text;
pub mod problem;
pub mod region;
pub mod registry;
mod registry_app_text;
mod registry_page_text;
mod registry_text;
pub mod role;
mod sheet_text;
pub mod table;

pub use problem::Problem;
pub use region::{Level, RegionCode, RegionCodeError, Scope};
pub use role::{Permission, Role};
