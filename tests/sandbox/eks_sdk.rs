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
    let sb = frozen("small.yaml").await;
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
    eks.update_cluster_version()
        .name("demo")
        .version("1.29")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(26 * 60));
    // kube-proxy first, or new 1.29 nodes never become Ready.
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

#[tokio::test]
async fn new_nodes_stay_not_ready_when_kube_proxy_was_left_behind() {
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    eks.update_cluster_version()
        .name("demo")
        .version("1.29")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(26 * 60));
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
    sb.advance(Duration::from_secs(6 * 60));
    let new_nodes: Vec<_> = sb
        .nodes()
        .into_iter()
        .filter(|n| n.version == "1.29")
        .collect();
    assert!(!new_nodes.is_empty());
    assert!(new_nodes.iter().all(|n| !n.ready), "{new_nodes:?}");
    let crashing = sb
        .pods()
        .into_iter()
        .filter(|p| p.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
        .count();
    assert!(
        crashing >= new_nodes.len(),
        "kube-proxy crash-loops on new nodes"
    );
    sb.advance(Duration::from_secs(20 * 60));
    let u = nodegroup_update(&eks, "general", &id).await;
    assert_eq!(u.status, Some(UpdateStatus::Failed));
    assert_eq!(
        u.errors()[0].error_code,
        Some(ErrorCode::NodeCreationFailure)
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
