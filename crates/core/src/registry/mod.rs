//! The registry (人、房、设施): the pure rules about people, homes and facilities that the
//! store, the server and the command line share. Nothing here does I/O.
//!
//! - [`idcard`]: resident ID numbers (GB 11643-1999) and the gender they record;
//! - [`phone`]: mainland mobiles and landlines;
//! - [`tags`]: resident tags, derived from age or assigned, and the stored date form;
//! - [`household`]: relations to the head of a household, owning or renting;
//! - [`facility`]: the health check's facility typology and its OpenStreetMap mapping;
//! - [`hub`]: neighbourhood hubs (幸福邻里坊) and their area and function rules;
//! - [`rows`]: the import tables of residents, households, buildings and facilities.

pub mod facility;
pub mod household;
pub mod hub;
pub mod idcard;
pub mod phone;
pub mod rows;
pub mod tags;

pub use facility::{
    builtin_types, find_type, match_osm, parse_types_csv, tag_rank, types_csv, Category,
    FacilityType,
};
pub use household::{Relation, Tenure};
pub use hub::{check_functions, validate_hub, HubFunction, HubKind, HubModel, HubSpace, SpaceRole};
pub use idcard::{check_character, Gender, IdError, IdNumber};
pub use phone::{Phone, PhoneError, PhoneKind};
pub use rows::{
    columns, parse_buildings, parse_date, parse_facilities, parse_households, parse_residents,
    template, BuildingRow, Column, FacilityRow, HouseholdRow, Parsed, RecordKind, ResidentRow,
};
pub use tags::{age_on, date_from_key, date_key, derived_tags, parse_tag_list, BirthBound, Tag};
