//! linli's accessibility engine: how far people walk, over real roads, to the facilities of
//! everyday life.
//!
//! - [`network`] reads a walking network (OpenStreetMap PBF, GeoJSON lines, or the graph CSV
//!   that `linli access graph` writes) into segments;
//! - [`graph::Graph`] holds it compactly (CSR arrays, lengths in metres by haversine) and
//!   reports its connected components;
//! - [`snap::Snapper`] puts points on it, at the nearest node or the nearest position on an
//!   edge (an R-tree);
//! - [`nearest::nearest_by_type`] answers the walking distance from every origin to the
//!   nearest facility of each type up to a cap, one bounded multi-source search per type,
//!   the types in parallel; [`within`] counts facilities within a radius and tells whom a
//!   candidate site would reach;
//! - [`pois`] lists the facilities an OpenStreetMap file holds, by linli's typology.
//!
//! It is pure computation: no database, no network I/O beyond reading the files given.

pub mod error;
mod fasthash;
pub mod geo;
pub mod graph;
pub mod nearest;
pub mod network;
pub mod output;
pub mod places;
pub mod points;
pub mod pois;
pub mod search;
pub mod siting;
pub mod snap;
pub mod walkable;
pub mod within;

pub use error::{AccessError, Problem, Result};
pub use graph::{Components, Edge, Graph};
pub use snap::{At, Snap, SnapMode, Snapper};
