//! # flowlogd-access
//!
//! Tells the operator what flowlogd can read: for each flow-log destination the real
//! permissions are tested ([`model::PermissionCheck`]), and the least-privilege grant that
//! fixes what is missing is generated ([`azure::grant_script`]).

pub mod azure;
pub mod model;

pub use model::{Access, Cloud, DestinationStatus, PermissionCheck};
