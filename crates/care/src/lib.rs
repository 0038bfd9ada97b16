//! Care's runtime: readings from a real MQTT broker into the store ([`ingest`]), and device
//! accounts provisioned on the broker ([`dynsec`]), both configured by one URL ([`broker`]).
//! What a reading is, and why one is refused, is `linli_core::care`'s; storing it is
//! `linli_store`'s.

pub mod broker;
pub mod dynsec;
pub mod feed;
pub mod ingest;
pub mod testing;
pub mod timer;

pub use broker::{BrokerConfig, BrokerError, Provision};
pub use dynsec::{ProvisionError, Provisioner};
pub use ingest::{Ingest, IngestStats};
