//! The `traffic_class` column: where a flow went, from the two addresses alone (plus the
//! inventory's VPC/VNet ids and the cloud service ranges when configured).

/// What the lookups found about one address.
#[derive(Debug, Clone, Default)]
pub struct Side<'a> {
    pub private: bool,
    pub vpc_id: Option<&'a str>,
    pub service: bool,
}

pub const INTRA_VPC: &str = "intra_vpc";
pub const PRIVATE: &str = "private";
pub const TO_CLOUD_SERVICE: &str = "to_cloud_service";
pub const FROM_CLOUD_SERVICE: &str = "from_cloud_service";
pub const OUTBOUND_INTERNET: &str = "outbound_internet";
pub const INBOUND_INTERNET: &str = "inbound_internet";
pub const PUBLIC: &str = "public";

/// First match wins: both private (same known VPC/VNet → `intra_vpc`, else `private`);
/// a side in the cloud service ranges; private → public is outbound, public → private
/// inbound; both public (e.g. seen behind a NAT) is `public`.
pub fn classify(src: &Side, dst: &Side) -> &'static str {
    if src.private && dst.private {
        return match (src.vpc_id, dst.vpc_id) {
            (Some(a), Some(b)) if a == b => INTRA_VPC,
            _ => PRIVATE,
        };
    }
    if dst.service && !src.service {
        return TO_CLOUD_SERVICE;
    }
    if src.service && !dst.service {
        return FROM_CLOUD_SERVICE;
    }
    match (src.private, dst.private) {
        (true, false) => OUTBOUND_INTERNET,
        (false, true) => INBOUND_INTERNET,
        _ => PUBLIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(vpc: Option<&str>) -> Side<'_> {
        Side {
            private: true,
            vpc_id: vpc,
            service: false,
        }
    }
    fn public(service: bool) -> Side<'static> {
        Side {
            private: false,
            vpc_id: None,
            service,
        }
    }

    #[test]
    fn classes() {
        assert_eq!(
            classify(&private(Some("vpc-1")), &private(Some("vpc-1"))),
            INTRA_VPC
        );
        assert_eq!(
            classify(&private(Some("vpc-1")), &private(Some("vpc-2"))),
            PRIVATE
        );
        assert_eq!(classify(&private(None), &private(Some("vpc-1"))), PRIVATE);
        assert_eq!(classify(&private(None), &public(false)), OUTBOUND_INTERNET);
        assert_eq!(classify(&public(false), &private(None)), INBOUND_INTERNET);
        assert_eq!(classify(&private(None), &public(true)), TO_CLOUD_SERVICE);
        assert_eq!(classify(&public(true), &private(None)), FROM_CLOUD_SERVICE);
        assert_eq!(classify(&public(false), &public(false)), PUBLIC);
        assert_eq!(classify(&public(true), &public(true)), PUBLIC);
    }
}
