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
