//! Serde shapes of Azure NSG and VNet flow-log records. Every field is optional so that
//! unexpected shapes become dead letters with a reason rather than parse failures.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Record {
    pub time: Option<String>,
    #[serde(rename = "macAddress", alias = "MacAddress", alias = "macaddress")]
    pub mac_address: Option<String>,
    pub category: Option<String>,
    #[serde(rename = "resourceId", alias = "resourceID", alias = "ResourceId")]
    pub resource_id: Option<String>,
    #[serde(rename = "flowLogResourceID", alias = "flowLogResourceId")]
    pub flow_log_resource_id: Option<String>,
    #[serde(rename = "targetResourceID", alias = "targetResourceId")]
    pub target_resource_id: Option<String>,
    #[serde(rename = "flowLogVersion")]
    pub flow_log_version: Option<Value>,
    pub properties: Option<NsgProperties>,
    #[serde(rename = "flowRecords")]
    pub flow_records: Option<VnetFlowRecords>,
    /// Nested records (a documentation sample wraps some records in another `records`).
    pub records: Option<Vec<Record>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NsgProperties {
    #[serde(rename = "Version", alias = "version")]
    pub version: Option<Value>,
    pub flows: Option<Vec<NsgRuleFlows>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NsgRuleFlows {
    pub rule: Option<String>,
    pub flows: Vec<NsgMacFlows>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NsgMacFlows {
    pub mac: Option<String>,
    #[serde(rename = "flowTuples")]
    pub flow_tuples: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VnetFlowRecords {
    pub flows: Vec<VnetAclFlows>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VnetAclFlows {
    #[serde(rename = "aclID", alias = "aclId")]
    pub acl_id: Option<String>,
    #[serde(rename = "flowGroups")]
    pub flow_groups: Vec<VnetFlowGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VnetFlowGroup {
    pub rule: Option<String>,
    #[serde(rename = "flowTuples")]
    pub flow_tuples: Vec<String>,
}

/// A version number written as a number or a string.
pub fn version_of(v: &Option<Value>) -> Option<u64> {
    match v {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}
