//! Azure: probing a flow-log container with flowlogd's own credentials, and the role
//! assignments that grant exactly that.

mod grant;
mod probe;
mod source;

pub use grant::{grant_script, AzureGrant, Shell};
pub use probe::{probe_container, BLOB_READ_ACTION};
pub use source::probe_source;
