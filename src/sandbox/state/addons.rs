//! Installed EKS add-ons.

#[derive(Clone, Debug)]
pub struct Addon {
    pub name: String,
    pub version: String,
    /// ACTIVE, UPDATING or DEGRADED.
    pub status: &'static str,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// (update id, target version, simulated completion time)
    pub pending: Option<(String, String, u64)>,
}

/// Where an add-on's workload lives in the cluster and its image repository.
pub fn workload(addon: &str) -> Option<(&'static str, &'static str, &'static str)> {
    // (kind, name, image repository under the regional EKS ECR)
    match addon {
        "vpc-cni" => Some(("daemonsets", "aws-node", "amazon-k8s-cni")),
        "kube-proxy" => Some(("daemonsets", "kube-proxy", "eks/kube-proxy")),
        "coredns" => Some(("deployments", "coredns", "eks/coredns")),
        "aws-ebs-csi-driver" => Some((
            "daemonsets",
            "ebs-csi-node",
            "ebs-csi-driver/aws-ebs-csi-driver",
        )),
        _ => None,
    }
}

pub fn image(region: &str, repo: &str, version: &str) -> String {
    format!("602401143452.dkr.ecr.{region}.amazonaws.com/{repo}:{version}")
}

/// The configuration schema DescribeAddonConfiguration returns: the top-level
/// keys each add-on accepts in `configurationValues`, abridged from what EKS
/// publishes (the same for every version in the sandbox).
pub fn configuration_schema(addon: &str) -> serde_json::Value {
    use serde_json::json;
    let resources = json!({"type": "object", "properties": {
        "limits": {"type": "object"}, "requests": {"type": "object"}}});
    let tolerations = json!({"type": "array", "items": {"type": "object"}});
    let properties = match addon {
        "vpc-cni" => json!({
            "env": {"type": "object", "properties": {
                "WARM_ENI_TARGET": {"type": "string"},
                "WARM_IP_TARGET": {"type": "string"},
                "ENABLE_PREFIX_DELEGATION": {"type": "string"},
                "AWS_VPC_K8S_CNI_EXTERNALSNAT": {"type": "string"}}},
            "enableNetworkPolicy": {"type": "string", "enum": ["true", "false"]},
            "resources": resources,
            "tolerations": tolerations,
        }),
        "kube-proxy" => json!({
            "mode": {"type": "string", "enum": ["iptables", "ipvs"]},
            "ipvs": {"type": "object", "properties": {"scheduler": {"type": "string"}}},
            "resources": resources,
        }),
        "coredns" => json!({
            "replicaCount": {"type": "integer", "minimum": 1},
            "corefile": {"type": "string"},
            "podDisruptionBudget": {"type": "object", "properties": {
                "enabled": {"type": "boolean"},
                "maxUnavailable": {"type": ["integer", "string"]},
                "minAvailable": {"type": ["integer", "string"]}}},
            "resources": resources,
            "tolerations": tolerations,
        }),
        "aws-ebs-csi-driver" => json!({
            "controller": {"type": "object", "properties": {
                "replicaCount": {"type": "integer"}, "resources": resources}},
            "node": {"type": "object", "properties": {
                "tolerateAllTaints": {"type": "boolean"}, "resources": resources}},
        }),
        _ => json!({}),
    };
    json!({
        "$ref": "#/definitions/Config",
        "$schema": "http://json-schema.org/draft-06/schema#",
        "definitions": {"Config": {
            "additionalProperties": false,
            "properties": properties,
            "title": "Config",
            "type": "object",
        }},
    })
}

/// The service account an add-on's controller uses and the AWS managed
/// policy EKS recommends for it under EKS Pod Identity.
pub fn pod_identity(addon: &str) -> Option<(&'static str, &'static str)> {
    match addon {
        "vpc-cni" => Some(("aws-node", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy")),
        "aws-ebs-csi-driver" => Some((
            "ebs-csi-controller-sa",
            "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
        )),
        _ => None,
    }
}
