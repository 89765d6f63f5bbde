//! The EKS API through aws-sdk-eks, as the engine calls it.

use std::time::Duration;

use aws_sdk_eks::types::{ErrorCode, UpdateStatus};

use super::common::{control_plane_and_kube_proxy_to_1_29, eks, frozen, nodegroup_update};

#[tokio::test]
async fn describe_cluster_nodegroups_and_addons() {
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    let c = eks.describe_cluster().name("demo").send().await.unwrap();
    let cluster = c.cluster.unwrap();
    assert_eq!(cluster.version.as_deref(), Some("1.28"));
    assert_eq!(cluster.status.unwrap().as_str(), "ACTIVE");
    let ngs = eks
        .list_nodegroups()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    assert_eq!(ngs.nodegroups(), ["general", "data", "system"]);
    let ng = eks
        .describe_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(ng.scaling_config.unwrap().desired_size, Some(3));
    assert_eq!(ng.version.as_deref(), Some("1.28"));
    let addons = eks.list_addons().cluster_name("demo").send().await.unwrap();
    assert_eq!(addons.addons().len(), 4);
    let a = eks
        .describe_addon()
        .cluster_name("demo")
        .addon_name("kube-proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        a.addon.unwrap().addon_version.as_deref(),
        Some("v1.28.15-eksbuild.31")
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn missing_cluster_is_resource_not_found() {
    let sb = frozen("small.yaml").await;
    let err = eks(&sb)
        .describe_cluster()
        .name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn control_plane_update_takes_25_simulated_minutes_and_is_idempotent() {
    // demo.yaml: small.yaml without the ERROR insights that block an upgrade.
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let skip = eks
        .update_cluster_version()
        .name("demo")
        .version("1.30")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(skip.is_invalid_parameter_exception(), "{skip:?}");
    let first = eks
        .update_cluster_version()
        .name("demo")
        .version("1.29")
        .client_request_token("tok-1")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    let again = eks
        .update_cluster_version()
        .name("demo")
        .version("1.29")
        .client_request_token("tok-1")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(first.id, again.id);
    let busy = eks
        .update_cluster_version()
        .name("demo")
        .version("1.29")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(busy.is_resource_in_use_exception(), "{busy:?}");
    sb.advance(Duration::from_secs(24 * 60));
    let id = first.id.unwrap();
    let u = eks
        .describe_update()
        .name("demo")
        .update_id(&id)
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(u.status, Some(UpdateStatus::InProgress));
    sb.advance(Duration::from_secs(2 * 60));
    let u = eks
        .describe_update()
        .name("demo")
        .update_id(&id)
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(u.status, Some(UpdateStatus::Successful));
    assert_eq!(sb.cluster_version(), "1.29");
    let ids = eks.list_updates().name("demo").send().await.unwrap();
    assert_eq!(ids.update_ids(), [id]);
    sb.shutdown().await;
}

#[tokio::test]
async fn addon_versions_filter_and_incompatible_update_is_rejected() {
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    let out = eks
        .describe_addon_versions()
        .addon_name("coredns")
        .kubernetes_version("1.29")
        .send()
        .await
        .unwrap();
    let addon = &out.addons()[0];
    assert_eq!(addon.addon_name.as_deref(), Some("coredns"));
    let defaults: Vec<_> = addon
        .addon_versions()
        .iter()
        .filter(|v| v.compatibilities().iter().any(|c| c.default_version))
        .map(|v| v.addon_version.clone().unwrap())
        .collect();
    assert_eq!(defaults, ["v1.11.4-eksbuild.2"]);
    let err = eks
        .update_addon()
        .cluster_name("demo")
        .addon_name("coredns")
        .addon_version("v1.12.1-eksbuild.2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn nodegroup_update_fails_with_pod_eviction_failure_when_a_pdb_blocks() {
    let sb = frozen("pdb-blocked.yaml").await;
    let eks = eks(&sb);
    // Control plane first: nodegroups may not pass it.
    let early = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .version("1.29")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(early.is_invalid_parameter_exception(), "{early:?}");
    // Forced past the deprecated-API ERROR insight: this test is about the
    // nodegroup update.
    eks.update_cluster_version()
        .name("demo")
        .version("1.29")
        .force(true)
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(26 * 60));
    eks.update_addon()
        .cluster_name("demo")
        .addon_name("kube-proxy")
        .addon_version("v1.29.15-eksbuild.16")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(3 * 60));
    let u = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    let id = u.id.unwrap();
    for _ in 0..30 {
        sb.advance(Duration::from_secs(60));
    }
    let u = nodegroup_update(&eks, "general", &id).await;
    assert_eq!(u.status, Some(UpdateStatus::Failed));
    assert_eq!(
        u.errors()[0].error_code,
        Some(ErrorCode::PodEvictionFailure)
    );
    sb.shutdown().await;
}

/// Seed 001: the VPC CNI left behind keeps new nodes NotReady (aws-node
/// crash-loops waiting for IPAMD) and the rotation fails; once vpc-cni is
/// updated the same rotation succeeds. kube-proxy (in skew) plays no part.
#[tokio::test]
async fn new_nodes_stay_not_ready_when_vpc_cni_was_left_behind() {
    let sb = frozen("addon-skew.yaml").await;
    let eks = eks(&sb);
    let rotate = || async {
        eks.update_nodegroup_version()
            .cluster_name("skew")
            .nodegroup_name("current")
            .send()
            .await
            .unwrap()
            .update
            .unwrap()
            .id
            .unwrap()
    };
    let describe = |id: String| {
        let eks = eks.clone();
        async move {
            eks.describe_update()
                .name("skew")
                .update_id(id)
                .nodegroup_name("current")
                .send()
                .await
                .unwrap()
                .update
                .unwrap()
        }
    };
    let id = rotate().await;
    sb.advance(Duration::from_secs(6 * 60));
    let new_nodes: Vec<_> = sb
        .nodes()
        .into_iter()
        .filter(|n| n.version == "1.29")
        .collect();
    assert!(!new_nodes.is_empty());
    assert!(new_nodes.iter().all(|n| !n.ready), "{new_nodes:?}");
    let on_new = |prefix: &str| {
        sb.pods()
            .into_iter()
            .filter(|p| {
                p.name.starts_with(prefix)
                    && new_nodes.iter().any(|n| Some(&n.name) == p.node.as_ref())
            })
            .collect::<Vec<_>>()
    };
    let aws_node = on_new("aws-node-");
    assert_eq!(aws_node.len(), new_nodes.len());
    assert!(
        aws_node
            .iter()
            .all(|p| p.waiting_reason.as_deref() == Some("CrashLoopBackOff")),
        "{aws_node:?}"
    );
    assert!(
        on_new("kube-proxy-")
            .iter()
            .all(|p| p.waiting_reason.as_deref() != Some("CrashLoopBackOff")),
        "kube-proxy is within the skew policy"
    );
    sb.advance(Duration::from_secs(20 * 60));
    let u = describe(id).await;
    assert_eq!(u.status, Some(UpdateStatus::Failed));
    assert_eq!(
        u.errors()[0].error_code,
        Some(ErrorCode::NodeCreationFailure)
    );
    eks.update_addon()
        .cluster_name("skew")
        .addon_name("vpc-cni")
        .addon_version("v1.19.2-eksbuild.1")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(3 * 60));
    let id = rotate().await;
    sb.advance(Duration::from_secs(40 * 60));
    assert_eq!(describe(id).await.status, Some(UpdateStatus::Successful));
    let current: Vec<_> = sb
        .nodes()
        .into_iter()
        .filter(|n| n.nodegroup == "current")
        .collect();
    assert!(
        current.iter().all(|n| n.version == "1.29" && n.ready),
        "{current:?}"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn nodegroup_rotation_replaces_every_node_with_the_new_version() {
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    control_plane_and_kube_proxy_to_1_29(&sb, &eks).await;
    let before: Vec<_> = sb
        .nodes()
        .into_iter()
        .filter(|n| n.nodegroup == "general")
        .map(|n| n.name)
        .collect();
    let id = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap()
        .update
        .unwrap()
        .id
        .unwrap();
    let ng = eks
        .describe_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap();
    assert_eq!(ng.nodegroup.unwrap().status.unwrap().as_str(), "UPDATING");
    sb.advance(Duration::from_secs(40 * 60));
    let u = nodegroup_update(&eks, "general", &id).await;
    assert_eq!(u.status, Some(UpdateStatus::Successful), "{u:?}");
    let after: Vec<_> = sb
        .nodes()
        .into_iter()
        .filter(|n| n.nodegroup == "general")
        .collect();
    assert_eq!(after.len(), 3);
    assert!(
        after
            .iter()
            .all(|n| n.version == "1.29" && n.ready && !n.unschedulable)
    );
    assert!(after.iter().all(|n| !before.contains(&n.name)));
    let ngs = sb.nodegroups();
    assert_eq!(
        ngs.iter().find(|n| n.name == "general").unwrap().version,
        "1.29"
    );
    // Workloads came back: every web replica is Running and Ready again.
    let web: Vec<_> = sb
        .pods()
        .into_iter()
        .filter(|p| p.namespace == "shop" && p.name.starts_with("web-"))
        .collect();
    assert_eq!(web.len(), 3);
    assert!(web.iter().all(|p| p.ready), "{web:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn create_scale_and_delete_a_nodegroup() {
    use aws_sdk_eks::types::{NodegroupScalingConfig, NodegroupStatus};
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    let scaling = |min, desired, max| {
        NodegroupScalingConfig::builder()
            .min_size(min)
            .desired_size(desired)
            .max_size(max)
            .build()
    };
    let ng = eks
        .create_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("batch")
        .scaling_config(scaling(1, 2, 4))
        .instance_types("m5.xlarge")
        .subnets("subnet-0a1b2c3d4e5f60001")
        .node_role("arn:aws:iam::123456789012:role/eks-node-role")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(ng.status, Some(NodegroupStatus::Creating));
    sb.advance(Duration::from_secs(4 * 60));
    let describe = || async {
        eks.describe_nodegroup()
            .cluster_name("demo")
            .nodegroup_name("batch")
            .send()
            .await
            .map(|o| o.nodegroup.unwrap())
    };
    assert_eq!(
        describe().await.unwrap().status,
        Some(NodegroupStatus::Active)
    );
    let batch = |sb: &runbook::sandbox::Sandbox| {
        sb.nodes()
            .into_iter()
            .filter(|n| n.nodegroup == "batch")
            .collect::<Vec<_>>()
    };
    assert_eq!(batch(&sb).len(), 2);
    assert!(batch(&sb).iter().all(|n| n.ready));
    let u = eks
        .update_nodegroup_config()
        .cluster_name("demo")
        .nodegroup_name("batch")
        .scaling_config(scaling(1, 3, 4))
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(u.r#type.unwrap().as_str(), "ConfigUpdate");
    assert_eq!(u.status, Some(UpdateStatus::InProgress));
    assert_eq!(batch(&sb).len(), 3);
    assert_eq!(
        describe().await.unwrap().status,
        Some(NodegroupStatus::Updating)
    );
    let busy = eks
        .update_nodegroup_config()
        .cluster_name("demo")
        .nodegroup_name("batch")
        .scaling_config(scaling(1, 2, 4))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(busy.is_resource_in_use_exception(), "{busy:?}");
    let bad = eks
        .update_nodegroup_config()
        .cluster_name("demo")
        .nodegroup_name("batch")
        .scaling_config(scaling(1, 9, 4))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_invalid_parameter_exception(), "{bad:?}");
    sb.advance(Duration::from_secs(2 * 60));
    let done = nodegroup_update(&eks, "batch", u.id.as_deref().unwrap()).await;
    assert_eq!(done.status, Some(UpdateStatus::Successful), "{done:?}");
    assert_eq!(
        describe().await.unwrap().status,
        Some(NodegroupStatus::Active)
    );
    eks.delete_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("batch")
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe().await.unwrap().status,
        Some(NodegroupStatus::Deleting)
    );
    sb.advance(Duration::from_secs(3 * 60));
    let gone = describe().await.unwrap_err().into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");
    assert!(batch(&sb).is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn forced_nodegroup_update_ignores_the_blocking_pdb() {
    let sb = frozen("pdb-blocked.yaml").await;
    let eks = eks(&sb);
    control_plane_and_kube_proxy_to_1_29(&sb, &eks).await;
    let id = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .force(true)
        .send()
        .await
        .unwrap()
        .update
        .unwrap()
        .id
        .unwrap();
    sb.advance(Duration::from_secs(40 * 60));
    let u = nodegroup_update(&eks, "general", &id).await;
    assert_eq!(u.status, Some(UpdateStatus::Successful), "{u:?}");
    assert!(
        sb.nodes()
            .iter()
            .filter(|n| n.nodegroup == "general")
            .all(|n| n.version == "1.29")
    );
    sb.shutdown().await;
}

// ------------------------------------------------- EKS's rules, one refusal each

/// Whether the cluster's update history has an update of this type.
async fn update_types(eks: &aws_sdk_eks::Client, cluster: &str) -> Vec<String> {
    let ids = eks.list_updates().name(cluster).send().await.unwrap();
    let mut types = Vec::new();
    for id in ids.update_ids() {
        let u = eks
            .describe_update()
            .name(cluster)
            .update_id(id)
            .send()
            .await
            .unwrap()
            .update
            .unwrap();
        types.push(u.r#type.unwrap().as_str().to_string());
    }
    types
}

/// Upgrade the demo cluster's control plane to 1.29 and wait it out.
async fn demo_to_1_29(sb: &runbook::sandbox::Sandbox, eks: &aws_sdk_eks::Client) {
    eks.update_cluster_version()
        .name("demo")
        .version("1.29")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(26 * 60));
    assert_eq!(sb.cluster_version(), "1.29");
}

#[tokio::test]
async fn control_plane_upgrade_is_refused_while_a_nodegroup_runs_another_version() {
    let sb = frozen("addon-skew.yaml").await;
    let eks = eks(&sb);
    for force in [false, true] {
        let err = eks
            .update_cluster_version()
            .name("skew")
            .version("1.30")
            .force(force)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        let aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionError::InvalidRequestException(e) = &err else {
            panic!("force={force}: {err:?}");
        };
        assert_eq!(
            e.message(),
            Some(
                "Nodegroups legacy, current must be updated to match cluster version 1.29 before updating cluster version"
            )
        );
        assert_eq!(e.cluster_name(), Some("skew"));
    }
    // Nothing started: the cluster is where it was and has no update.
    assert_eq!(sb.cluster_version(), "1.29");
    let c = eks.describe_cluster().name("skew").send().await.unwrap();
    assert_eq!(c.cluster.unwrap().status.unwrap().as_str(), "ACTIVE");
    assert!(update_types(&eks, "skew").await.is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn upgrade_readiness_errors_refuse_the_upgrade_unless_forced() {
    use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionError;
    // small.yaml still calls an API that 1.29 removes.
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    let err = eks
        .update_cluster_version()
        .name("demo")
        .version("1.29")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateClusterVersionError::InvalidStateException(e) = &err else {
        panic!("{err:?}");
    };
    let msg = e.message().unwrap();
    assert!(
        msg.starts_with("Amazon EKS detected upgrade readiness issues")
            && msg.contains("Deprecated APIs removed in Kubernetes v1.29")
            && msg.contains("force"),
        "{msg}"
    );
    assert_eq!(e.cluster_name(), Some("demo"));
    assert!(update_types(&eks, "demo").await.is_empty());
    let forced = eks
        .update_cluster_version()
        .name("demo")
        .version("1.29")
        .force(true)
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(forced.r#type.unwrap().as_str(), "VersionUpdate");
    sb.advance(Duration::from_secs(26 * 60));
    assert_eq!(sb.cluster_version(), "1.29");
    sb.shutdown().await;
}

#[tokio::test]
async fn version_rollback_restores_the_previous_minor_once() {
    use aws_sdk_eks::types::{Category, InsightsFilter, RollbackConfig, UpdateParamType};
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    // No rollback insights before an in-place upgrade.
    let rollback_filter = InsightsFilter::builder()
        .categories(Category::RollbackReadiness)
        .build();
    let none = eks
        .list_insights()
        .cluster_name("demo")
        .filter(rollback_filter.clone())
        .send()
        .await
        .unwrap();
    assert!(none.insights().is_empty(), "{none:?}");
    demo_to_1_29(&sb, &eks).await;
    let insights = eks
        .list_insights()
        .cluster_name("demo")
        .filter(rollback_filter)
        .send()
        .await
        .unwrap();
    assert!(!insights.insights().is_empty());
    for i in insights.insights() {
        assert_eq!(i.kubernetes_version.as_deref(), Some("1.28"), "{i:?}");
        assert_eq!(
            i.insight_status
                .as_ref()
                .unwrap()
                .status
                .as_ref()
                .unwrap()
                .as_str(),
            "PASSING",
            "{i:?}"
        );
    }
    let u = eks
        .update_cluster_version()
        .name("demo")
        .version("1.28")
        .rollback_config(RollbackConfig::builder().timeout_minutes(720).build())
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(
        u.r#type,
        Some(aws_sdk_eks::types::UpdateType::VersionRollback)
    );
    let version = u
        .params()
        .iter()
        .find(|p| p.r#type == Some(UpdateParamType::Version))
        .and_then(|p| p.value.clone());
    assert_eq!(version.as_deref(), Some("1.28"));
    sb.advance(Duration::from_secs(16 * 60));
    let done = eks
        .describe_update()
        .name("demo")
        .update_id(u.id.unwrap())
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(done.status, Some(UpdateStatus::Successful));
    assert_eq!(sb.cluster_version(), "1.28");
    assert_eq!(
        update_types(&eks, "demo").await,
        ["VersionUpdate", "VersionRollback"]
    );
    // The cluster was created at 1.28: nothing further to roll back to.
    let again = eks
        .update_cluster_version()
        .name("demo")
        .version("1.27")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(again.is_invalid_request_exception(), "{again:?}");
    assert!(again.to_string().contains("created at 1.28"), "{again}");
    sb.shutdown().await;
}

#[tokio::test]
async fn rollback_is_refused_for_a_cluster_created_at_its_version_and_two_minors_back() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let created = eks
        .update_cluster_version()
        .name("demo")
        .version("1.27")
        .force(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(created.is_invalid_request_exception(), "{created:?}");
    demo_to_1_29(&sb, &eks).await;
    let two = eks
        .update_cluster_version()
        .name("demo")
        .version("1.27")
        .force(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(two.is_invalid_parameter_exception(), "{two:?}");
    assert_eq!(sb.cluster_version(), "1.29");
    assert_eq!(update_types(&eks, "demo").await, ["VersionUpdate"]);
    sb.shutdown().await;
}

#[tokio::test]
async fn rollback_is_refused_after_seven_days_even_when_forced() {
    use aws_sdk_eks::types::{Category, InsightsFilter};
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    demo_to_1_29(&sb, &eks).await;
    sb.advance(Duration::from_secs(7 * 24 * 3600 + 60));
    let err = eks
        .update_cluster_version()
        .name("demo")
        .version("1.28")
        .force(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");
    assert!(err.to_string().contains("more than 7 days ago"), "{err}");
    // The rollback insights are gone with the window.
    let insights = eks
        .list_insights()
        .cluster_name("demo")
        .filter(
            InsightsFilter::builder()
                .categories(Category::RollbackReadiness)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(insights.insights().is_empty(), "{insights:?}");
    assert_eq!(sb.cluster_version(), "1.29");
    sb.shutdown().await;
}

#[tokio::test]
async fn rollback_is_refused_while_another_update_runs() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    demo_to_1_29(&sb, &eks).await;
    eks.update_cluster_version()
        .name("demo")
        .version("1.28")
        .send()
        .await
        .unwrap();
    let busy = eks
        .update_cluster_version()
        .name("demo")
        .version("1.28")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(busy.is_resource_in_use_exception(), "{busy:?}");
    sb.advance(Duration::from_secs(16 * 60));
    assert_eq!(sb.cluster_version(), "1.28");
    assert_eq!(
        update_types(&eks, "demo").await,
        ["VersionUpdate", "VersionRollback"]
    );
    sb.shutdown().await;
}

/// Nodes and kube-proxy already on 1.29 block the rollback (ERROR insights)
/// unless forced; nodegroups roll back with UpdateNodegroupVersion to N-1,
/// and kube-proxy's 1.28 build is only accepted once the cluster is 1.28.
#[tokio::test]
async fn rollback_readiness_errors_refuse_the_rollback_unless_forced() {
    use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionError;
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    demo_to_1_29(&sb, &eks).await;
    eks.update_addon()
        .cluster_name("demo")
        .addon_name("kube-proxy")
        .addon_version("v1.29.15-eksbuild.16")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(3 * 60));
    eks.update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("system")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(40 * 60));
    assert!(
        sb.nodes()
            .iter()
            .filter(|n| n.nodegroup == "system")
            .all(|n| n.version == "1.29")
    );
    let err = eks
        .update_cluster_version()
        .name("demo")
        .version("1.28")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateClusterVersionError::InvalidStateException(e) = &err else {
        panic!("{err:?}");
    };
    let msg = e.message().unwrap();
    assert!(msg.contains("rollback readiness"), "{msg}");
    assert!(
        msg.contains("Kubelet version skew") && msg.contains("Kube-proxy version skew"),
        "{msg}"
    );
    // kube-proxy's 1.28 build is not offered for a 1.29 cluster.
    let kp = eks
        .update_addon()
        .cluster_name("demo")
        .addon_name("kube-proxy")
        .addon_version("v1.28.15-eksbuild.31")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(kp.is_invalid_parameter_exception(), "{kp:?}");
    // Nodegroup version rollback: one minor back, not two.
    let two = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("system")
        .version("1.27")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(two.is_invalid_parameter_exception(), "{two:?}");
    let back = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("system")
        .version("1.28")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    sb.advance(Duration::from_secs(40 * 60));
    let back = super::common::nodegroup_update(&eks, "system", back.id.as_deref().unwrap()).await;
    assert_eq!(back.status, Some(UpdateStatus::Successful), "{back:?}");
    assert!(sb.nodes().iter().all(|n| n.version == "1.28" && n.ready));
    // Only kube-proxy still blocks; forcing rolls the control plane back and
    // leaves kube-proxy newer than the API server until it is downgraded.
    let err = eks
        .update_cluster_version()
        .name("demo")
        .version("1.28")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.to_string().contains("Kube-proxy version skew"), "{err}");
    assert!(!err.to_string().contains("Kubelet version skew"), "{err}");
    eks.update_cluster_version()
        .name("demo")
        .version("1.28")
        .force(true)
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(16 * 60));
    assert_eq!(sb.cluster_version(), "1.28");
    let proxies_ready = |sb: &runbook::sandbox::Sandbox| {
        sb.pods()
            .iter()
            .filter(|p| p.namespace == "kube-system" && p.name.starts_with("kube-proxy-"))
            .map(|p| p.ready)
            .collect::<Vec<_>>()
    };
    assert!(
        proxies_ready(&sb).iter().all(|r| !r),
        "{:?}",
        proxies_ready(&sb)
    );
    assert!(sb.nodes().iter().all(|n| n.ready), "nodes stay Ready");
    eks.update_addon()
        .cluster_name("demo")
        .addon_name("kube-proxy")
        .addon_version("v1.28.15-eksbuild.31")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(5 * 60));
    assert!(
        proxies_ready(&sb).iter().all(|r| *r),
        "{:?}",
        proxies_ready(&sb)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_release_version_not_published_for_the_minor_is_refused() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    for bogus in ["1.28.15-20991231", "1.29.15-20250920", "latest"] {
        let err = eks
            .update_nodegroup_version()
            .cluster_name("demo")
            .nodegroup_name("general")
            .release_version(bogus)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_exception(), "{bogus}: {err:?}");
        assert!(
            err.to_string().contains(&format!(
                "Requested release version {bogus} is not valid for kubernetes version 1.28"
            )),
            "{err}"
        );
    }
    // Nothing moved: no update, the nodegroup ACTIVE on its release.
    let ids = eks
        .list_updates()
        .name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap();
    assert!(ids.update_ids().is_empty());
    let ng = sb
        .nodegroups()
        .into_iter()
        .find(|n| n.name == "general")
        .unwrap();
    assert_eq!(
        (ng.status.as_str(), ng.release_version.as_str()),
        ("ACTIVE", "1.28.15-20250920")
    );
    // A published older release is accepted (an AMI rollback).
    eks.update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .release_version("1.28.15-20250820")
        .send()
        .await
        .unwrap();
    sb.shutdown().await;
}

#[tokio::test]
async fn kube_proxy_builds_are_offered_for_their_own_minor_only() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let out = eks
        .describe_addon_versions()
        .addon_name("kube-proxy")
        .kubernetes_version("1.29")
        .send()
        .await
        .unwrap();
    let versions: Vec<&str> = out.addons()[0]
        .addon_versions()
        .iter()
        .map(|v| v.addon_version.as_deref().unwrap())
        .collect();
    assert!(!versions.is_empty());
    assert!(
        versions.iter().all(|v| v.starts_with("v1.29.")),
        "{versions:?}"
    );
    let err = eks
        .update_addon()
        .cluster_name("demo")
        .addon_name("kube-proxy")
        .addon_version("v1.29.15-eksbuild.16")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    assert_eq!(sb.addon_versions()["kube-proxy"], "v1.28.15-eksbuild.31");
    sb.shutdown().await;
}

#[tokio::test]
async fn list_calls_page_on_the_server() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let first = eks
        .list_nodegroups()
        .cluster_name("demo")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.nodegroups(), ["general", "data"]);
    let token = first.next_token.clone().expect("a next page");
    let second = eks
        .list_nodegroups()
        .cluster_name("demo")
        .max_results(2)
        .next_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.nodegroups(), ["system"]);
    assert!(second.next_token.is_none());
    // The SDK's paginator follows the tokens.
    let all: Vec<String> = eks
        .list_addons()
        .cluster_name("demo")
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let versions = eks
        .describe_addon_versions()
        .kubernetes_version("1.29")
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.addons().len(), 1);
    assert!(versions.next_token.is_some());
    for bad in [0, 101] {
        let err = eks
            .list_nodegroups()
            .cluster_name("demo")
            .max_results(bad)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_invalid_parameter_exception(), "{bad}: {err:?}");
    }
    let err = eks
        .list_nodegroups()
        .cluster_name("demo")
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn every_eks_response_carries_a_request_id() {
    use aws_sdk_eks::operation::RequestId;
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let ok = eks.describe_cluster().name("demo").send().await.unwrap();
    let a = ok.request_id().expect("x-amzn-RequestId").to_string();
    let err = eks
        .describe_cluster()
        .name("nope")
        .send()
        .await
        .unwrap_err();
    let b = err
        .request_id()
        .expect("x-amzn-RequestId on errors")
        .to_string();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36, "{a}");
    sb.shutdown().await;
}

#[tokio::test]
async fn tags_on_the_cluster_nodegroups_and_addons() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let cluster_arn = eks
        .describe_cluster()
        .name("demo")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .arn
        .unwrap();
    let ng_arn = eks
        .describe_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("data")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap()
        .nodegroup_arn
        .unwrap();
    for arn in [&cluster_arn, &ng_arn] {
        eks.tag_resource()
            .resource_arn(arn)
            .tags("team", "payments")
            .tags("change", "CHG-42")
            .send()
            .await
            .unwrap();
        eks.untag_resource()
            .resource_arn(arn)
            .tag_keys("change")
            .send()
            .await
            .unwrap();
        let tags = eks
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        let tags = tags.tags().unwrap();
        assert_eq!(tags.len(), 1, "{tags:?}");
        assert_eq!(tags["team"], "payments");
    }
    let described = eks
        .describe_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("data")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(described.tags().unwrap()["team"], "payments");
    let missing = eks
        .list_tags_for_resource()
        .resource_arn(cluster_arn.replace("demo", "other"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");
    let bad = eks
        .tag_resource()
        .resource_arn(&cluster_arn)
        .tags("aws:reserved", "x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_bad_request_exception(), "{bad:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn describe_addon_configuration_returns_a_json_schema() {
    let sb = frozen("demo.yaml").await;
    let eks = eks(&sb);
    let out = eks
        .describe_addon_configuration()
        .addon_name("coredns")
        .addon_version("v1.10.1-eksbuild.17")
        .send()
        .await
        .unwrap();
    assert_eq!(out.addon_name(), Some("coredns"));
    let schema: serde_json::Value =
        serde_json::from_str(out.configuration_schema().unwrap()).unwrap();
    assert!(
        schema["definitions"]["Config"]["properties"]["replicaCount"].is_object(),
        "{schema}"
    );
    let cni = eks
        .describe_addon_configuration()
        .addon_name("vpc-cni")
        .addon_version("v1.19.2-eksbuild.1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cni.pod_identity_configuration()[0].service_account(),
        Some("aws-node")
    );
    let bad_version = eks
        .describe_addon_configuration()
        .addon_name("coredns")
        .addon_version("v9.9.9-eksbuild.1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        bad_version.is_invalid_parameter_exception(),
        "{bad_version:?}"
    );
    let bad_addon = eks
        .describe_addon_configuration()
        .addon_name("nope")
        .addon_version("v1.0.0-eksbuild.1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_addon.is_resource_not_found_exception(), "{bad_addon:?}");
    sb.shutdown().await;
}
