//! The normalized flow record: one Arrow schema for every provider and format.
//!
//! Every parser appends rows through [`crate::FlowBatchBuilder`], so the column list below is
//! the single source of truth for names, types and documentation (the README's schema table
//! is generated from it by `flowlogd schema`).

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Arrow type family of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    U8,
    U16,
    U64,
    /// UTC timestamp, millisecond precision.
    Ts,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Str => DataType::Utf8,
            Kind::U8 => DataType::UInt8,
            Kind::U16 => DataType::UInt16,
            Kind::U64 => DataType::UInt64,
            Kind::Ts => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }
}

/// One column of the normalized schema.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub col: Col,
    pub name: &'static str,
    pub kind: Kind,
    /// Meaning and per-provider source.
    pub doc: &'static str,
}

macro_rules! columns {
    ($( $variant:ident $name:literal $kind:ident $doc:literal ),* $(,)?) => {
        /// Column index into the normalized schema (`Col::X as usize`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(usize)]
        pub enum Col { $( $variant ),* }

        /// All columns, in schema order.
        pub const COLUMNS: &[ColumnDef] = &[
            $( ColumnDef { col: Col::$variant, name: $name, kind: Kind::$kind, doc: $doc } ),*
        ];
    };
}

columns! {
    Provider "provider" Str "Cloud: `aws` or `azure`.",
    Format "format" Str "Source format: `aws-vpc-text`, `aws-vpc-parquet`, `azure-nsg-v1`, `azure-nsg-v2`, `azure-vnet`.",
    Version "version" U8 "AWS `version` field (highest field version, not a layout id); Azure `Version` / `flowLogVersion`.",
    AccountId "account_id" Str "AWS `account-id` (else from the S3 key); Azure subscription id (from the resource id).",
    Region "region" Str "AWS `region` (else from the S3 key); Azure region when the path names it.",
    AzId "az_id" Str "AWS `az-id` (v4).",
    VpcId "vpc_id" Str "AWS `vpc-id` (v3).",
    SubnetId "subnet_id" Str "AWS `subnet-id` (v3).",
    InterfaceId "interface_id" Str "AWS `interface-id` (ENI); Azure NIC MAC address, 12 upper-case hex digits.",
    InstanceId "instance_id" Str "AWS `instance-id` (v3).",
    ResourceGroup "resource_group" Str "Azure resource group (upper case, from the resource id).",
    ResourceId "resource_id" Str "AWS `resource-id` (v9); Azure NSG resource id (NSG logs) or flow-log resource id (VNet logs).",
    TargetResourceId "target_resource_id" Str "Azure VNet flow logs `targetResourceID` (VNet, subnet or NIC).",
    AclId "acl_id" Str "Azure VNet flow logs `aclID` (NSG or AVNM rule set that decided).",
    Rule "rule" Str "Azure NSG rule / VNet flow-group rule name.",
    SrcAddr "src_addr" Str "Source address (IPv4 or IPv6 text): AWS `srcaddr`, Azure tuple source IP.",
    DstAddr "dst_addr" Str "Destination address: AWS `dstaddr`, Azure tuple destination IP.",
    SrcPort "src_port" U16 "Source port: AWS `srcport`, Azure tuple.",
    DstPort "dst_port" U16 "Destination port: AWS `dstport`, Azure tuple.",
    Protocol "protocol" U8 "IANA protocol number: AWS `protocol`; Azure NSG `T`=6/`U`=17; VNet number.",
    Packets "packets" U64 "Packets src->dst: AWS `packets`; Azure v2/VNet delta `pktsSrcToDst`.",
    Bytes "bytes" U64 "Bytes src->dst: AWS `bytes`; Azure v2/VNet delta `bytesSrcToDst`.",
    PacketsRev "packets_rev" U64 "Packets dst->src: Azure v2/VNet delta `pktsDstToSrc`; null for AWS.",
    BytesRev "bytes_rev" U64 "Bytes dst->src: Azure v2/VNet delta `bytesDstToSrc`; null for AWS.",
    Start "start" Ts "First packet of the interval: AWS `start` (s); Azure tuple time (NSG s, VNet ms).",
    End "end" Ts "Last packet of the interval: AWS `end`; Azure: equal to `start`.",
    Action "action" Str "`ACCEPT` or `REJECT`: AWS `action`; Azure decision `A`/`D` or VNet state `D`; null for Transit Gateway.",
    LogStatus "log_status" Str "AWS `log-status`: `OK`, `NODATA`, `SKIPDATA`; `OK` for Azure.",
    Direction "direction" Str "`ingress` or `egress`: AWS `flow-direction`; Azure tuple `I`/`O`.",
    FlowDirection "flow_direction" Str "The direction as the provider wrote it (`ingress`/`egress`, `I`/`O`).",
    FlowState "flow_state" Str "Azure v2/VNet flow state `B` begin, `C` continuing, `E` end, `D` denied.",
    Encryption "encryption" Str "Azure VNet encryption state (`X`, `NX`, `NX_*`).",
    TcpFlags "tcp_flags" U16 "AWS `tcp-flags` (OR of the interval's flags; v3).",
    TrafficPath "traffic_path" U8 "AWS `traffic-path` (v5, egress only).",
    PktSrcAddr "pkt_src_addr" Str "AWS `pkt-srcaddr` (original packet source, v3).",
    PktDstAddr "pkt_dst_addr" Str "AWS `pkt-dstaddr` (original packet destination, v3).",
    IpType "ip_type" Str "AWS `type`: `IPv4`, `IPv6` or `EFA` (v3).",
    SublocationType "sublocation_type" Str "AWS `sublocation-type` (v4).",
    SublocationId "sublocation_id" Str "AWS `sublocation-id` (v4).",
    PktSrcAwsService "pkt_src_aws_service" Str "AWS `pkt-src-aws-service` (v5).",
    PktDstAwsService "pkt_dst_aws_service" Str "AWS `pkt-dst-aws-service` (v5).",
    ResourceType "resource_type" Str "AWS Transit Gateway `resource-type` (v6).",
    TgwId "tgw_id" Str "AWS `tgw-id` (v6).",
    TgwAttachmentId "tgw_attachment_id" Str "AWS `tgw-attachment-id` (v6).",
    TgwSrcVpcAccountId "tgw_src_vpc_account_id" Str "AWS `tgw-src-vpc-account-id` (v6).",
    TgwDstVpcAccountId "tgw_dst_vpc_account_id" Str "AWS `tgw-dst-vpc-account-id` (v6).",
    TgwSrcVpcId "tgw_src_vpc_id" Str "AWS `tgw-src-vpc-id` (v6).",
    TgwDstVpcId "tgw_dst_vpc_id" Str "AWS `tgw-dst-vpc-id` (v6).",
    TgwSrcSubnetId "tgw_src_subnet_id" Str "AWS `tgw-src-subnet-id` (v6).",
    TgwDstSubnetId "tgw_dst_subnet_id" Str "AWS `tgw-dst-subnet-id` (v6).",
    TgwSrcEni "tgw_src_eni" Str "AWS `tgw-src-eni` (v6).",
    TgwDstEni "tgw_dst_eni" Str "AWS `tgw-dst-eni` (v6).",
    TgwSrcAzId "tgw_src_az_id" Str "AWS `tgw-src-az-id` (v6).",
    TgwDstAzId "tgw_dst_az_id" Str "AWS `tgw-dst-az-id` (v6).",
    TgwPairAttachmentId "tgw_pair_attachment_id" Str "AWS `tgw-pair-attachment-id` (v6).",
    PacketsLostNoRoute "packets_lost_no_route" U64 "AWS `packets-lost-no-route` (v6).",
    PacketsLostBlackhole "packets_lost_blackhole" U64 "AWS `packets-lost-blackhole` (v6).",
    PacketsLostMtuExceeded "packets_lost_mtu_exceeded" U64 "AWS `packets-lost-mtu-exceeded` (v6).",
    PacketsLostTtlExpired "packets_lost_ttl_expired" U64 "AWS `packets-lost-ttl-expired` (v6).",
    EcsClusterArn "ecs_cluster_arn" Str "AWS `ecs-cluster-arn` (v7).",
    EcsClusterName "ecs_cluster_name" Str "AWS `ecs-cluster-name` (v7).",
    EcsContainerInstanceArn "ecs_container_instance_arn" Str "AWS `ecs-container-instance-arn` (v7).",
    EcsContainerInstanceId "ecs_container_instance_id" Str "AWS `ecs-container-instance-id` (v7).",
    EcsContainerId "ecs_container_id" Str "AWS `ecs-container-id` (v7).",
    EcsSecondContainerId "ecs_second_container_id" Str "AWS `ecs-second-container-id` (v7).",
    EcsServiceName "ecs_service_name" Str "AWS `ecs-service-name` (v7).",
    EcsTaskDefinitionArn "ecs_task_definition_arn" Str "AWS `ecs-task-definition-arn` (v7).",
    EcsTaskArn "ecs_task_arn" Str "AWS `ecs-task-arn` (v7).",
    EcsTaskId "ecs_task_id" Str "AWS `ecs-task-id` (v7).",
    RejectReason "reject_reason" Str "AWS `reject-reason` (v8), e.g. `BPA`.",
    EncryptionStatus "encryption_status" U8 "AWS `encryption-status` (v10, provisional).",
    InstanceTag "instance_tag" Str "AWS `instance-tag` (v11, provisional).",
    InterfaceTag "interface_tag" Str "AWS `interface-tag` (v11, provisional).",
    AsgTag "asg_tag" Str "AWS `asg-tag` (v11, provisional).",
    InterfaceType "interface_type" Str "AWS `interface-type` (v11, provisional), e.g. `nat_gateway`.",
    NextHopInterfaceId "next_hop_interface_id" Str "AWS `next-hop-interface-id` (v11, provisional).",
    NextHopSubnetId "next_hop_subnet_id" Str "AWS `next-hop-subnet-id` (v11, provisional).",
    NextHopAzId "next_hop_az_id" Str "AWS `next-hop-az-id` (v11, provisional).",
    NextHopVpcId "next_hop_vpc_id" Str "AWS `next-hop-vpc-id` (v11, provisional).",
    NextHopInterfaceType "next_hop_interface_type" Str "AWS `next-hop-interface-type` (v11, provisional).",
    ObjectKey "object_key" Str "The object (S3 key, blob name or local path) the record came from.",
}

impl Col {
    pub fn def(self) -> &'static ColumnDef {
        &COLUMNS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn by_name(name: &str) -> Option<Col> {
        COLUMNS.iter().find(|c| c.name == name).map(|c| c.col)
    }
}

/// The normalized flow schema (all columns nullable).
pub fn flow_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                COLUMNS
                    .iter()
                    .map(|c| Field::new(c.name, c.kind.data_type(), true))
                    .collect::<Vec<_>>(),
            ))
        })
        .clone()
}

/// Maps an AWS field name (header, custom format or Parquet column; hyphens or underscores)
/// to its column. `None` for names flowlogd does not know: the parser drops and counts them.
pub fn aws_field(name: &str) -> Option<Col> {
    let norm: String = name
        .trim()
        .trim_start_matches("${")
        .trim_end_matches('}')
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let col = match norm.as_str() {
        "version" => Col::Version,
        "account-id" => Col::AccountId,
        "interface-id" => Col::InterfaceId,
        "srcaddr" => Col::SrcAddr,
        "dstaddr" => Col::DstAddr,
        "srcport" => Col::SrcPort,
        "dstport" => Col::DstPort,
        "protocol" => Col::Protocol,
        "packets" => Col::Packets,
        "bytes" => Col::Bytes,
        "start" => Col::Start,
        "end" => Col::End,
        "action" => Col::Action,
        "log-status" => Col::LogStatus,
        "vpc-id" => Col::VpcId,
        "subnet-id" => Col::SubnetId,
        "instance-id" => Col::InstanceId,
        "tcp-flags" => Col::TcpFlags,
        "type" => Col::IpType,
        "pkt-srcaddr" => Col::PktSrcAddr,
        "pkt-dstaddr" => Col::PktDstAddr,
        "region" => Col::Region,
        "az-id" => Col::AzId,
        "flow-direction" => Col::FlowDirection,
        "traffic-path" => Col::TrafficPath,
        "resource-id" => Col::ResourceId,
        _ => {
            let underscored = norm.replace('-', "_");
            return COLUMNS
                .iter()
                .find(|c| {
                    c.name == underscored
                        && !matches!(
                            c.col,
                            Col::Provider | Col::Format | Col::ObjectKey | Col::Direction
                        )
                })
                .map(|c| c.col);
        }
    };
    Some(col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_order_matches_enum() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(c.col as usize, i, "column {} out of order", c.name);
        }
    }

    #[test]
    fn aws_names_map_in_both_spellings() {
        assert_eq!(aws_field("pkt-srcaddr"), Some(Col::PktSrcAddr));
        assert_eq!(aws_field("pkt_srcaddr"), Some(Col::PktSrcAddr));
        assert_eq!(aws_field("${tgw-src-eni}"), Some(Col::TgwSrcEni));
        assert_eq!(aws_field("ecs_task_id"), Some(Col::EcsTaskId));
        assert_eq!(aws_field("flow-direction"), Some(Col::FlowDirection));
        assert_eq!(aws_field("object-key"), None);
        assert_eq!(aws_field("no-such-field"), None);
    }
}
