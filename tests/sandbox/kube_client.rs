//! The Kubernetes API through kube-rs, as the engine and checks call it.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams, PostParams};

use super::common::{frozen, kube};

#[tokio::test]
async fn lists_nodes_and_pods_with_selectors_and_paging() {
    let sb = frozen("small.yaml").await;
    let client = kube(&sb).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let all = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 8);
    assert!(all.items.iter().all(|n| {
        n.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }));
    let general = nodes
        .list(&ListParams::default().labels("eks.amazonaws.com/nodegroup in (general,data)"))
        .await
        .unwrap();
    assert_eq!(general.items.len(), 6);
    let page = nodes.list(&ListParams::default().limit(5)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    let token = page.metadata.continue_.clone().expect("a continue token");
    let rest = nodes
        .list(&ListParams::default().limit(5).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    let node_name = all.items[0].metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node_name}")))
        .await
        .unwrap();
    assert!(!on_node.items.is_empty());
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(node_name.as_str()))
    );
    let web: Api<Pod> = Api::namespaced(client, "shop");
    let running = web
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 3);
    assert!(
        running
            .items
            .iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn cordon_by_strategic_merge_patch_and_dry_run_is_not_a_mutation() {
    let sb = frozen("small.yaml").await;
    let client = kube(&sb).await;
    let nodes: Api<Node> = Api::all(client);
    let name = sb.nodes()[0].name.clone();
    let patch = serde_json::json!({"spec": {"unschedulable": true}});
    let dry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    nodes
        .patch(&name, &dry, &Patch::Strategic(&patch))
        .await
        .unwrap();
    assert!(!sb.nodes()[0].unschedulable);
    assert!(sb.mutations().is_empty(), "{:?}", sb.mutations());
    nodes
        .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    assert!(sb.nodes()[0].unschedulable);
    let muts = sb.mutations();
    assert_eq!(muts.len(), 1);
    assert_eq!(muts[0].method, "PATCH");
    sb.shutdown().await;
}

#[tokio::test]
async fn eviction_honours_a_blocking_pdb_with_the_api_servers_429() {
    let sb = frozen("small.yaml").await;
    let client = kube(&sb).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let checkout = pods
        .list(&ListParams::default().labels("app=checkout"))
        .await
        .unwrap();
    let name = checkout.items[0].metadata.name.clone().unwrap();
    assert!(sb.set_pdb_enabled("shop", "checkout", true));
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "shop");
    let pdb = pdbs.get("checkout").await.unwrap();
    assert_eq!(pdb.status.unwrap().disruptions_allowed, 0);
    let err = pods
        .evict(&name, &EvictParams::default())
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429);
            assert_eq!(
                s.message,
                "Cannot evict pod as it would violate the pod's disruption budget."
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(sb.set_pdb_enabled("shop", "checkout", false));
    pods.evict(&name, &EvictParams::default()).await.unwrap();
    // Terminating for its grace period: no preStop hook, so a few seconds.
    let evicted = pods.get(&name).await.unwrap();
    assert!(evicted.metadata.deletion_timestamp.is_some());
    assert_eq!(evicted.metadata.deletion_grace_period_seconds, Some(30));
    sb.advance(std::time::Duration::from_secs(5));
    assert!(sb.kube_object("pods", "shop", &name).is_none());
    // The Deployment replaces it.
    let again = pods
        .list(&ListParams::default().labels("app=checkout"))
        .await
        .unwrap();
    assert_eq!(again.items.len(), 1);
    assert_ne!(again.items[0].metadata.name.as_deref(), Some(name.as_str()));
    sb.shutdown().await;
}

#[tokio::test]
async fn lease_replace_with_stale_resource_version_conflicts() {
    let sb = frozen("small.yaml").await;
    let client = kube(&sb).await;
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "runbook-lock"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 30}
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut mine = created.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let updated = leases
        .replace("runbook-lock", &PostParams::default(), &mine)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    // `mine` still carries the old resourceVersion.
    let err = leases
        .replace("runbook-lock", &PostParams::default(), &mine)
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
        }
        other => panic!("unexpected {other:?}"),
    }
    let dup = leases
        .create(&PostParams::default(), &lease)
        .await
        .unwrap_err();
    assert!(matches!(dup, kube::Error::Api(s) if s.reason == "AlreadyExists"));
    sb.shutdown().await;
}

#[tokio::test]
async fn dry_run_create_and_delete_change_nothing_and_preconditions_are_checked() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{DeleteParams, Preconditions};
    let sb = frozen("small.yaml").await;
    let client = kube(&sb).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "tools");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": "plan-"}, "data": {"step": "1"}
    }))
    .unwrap();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let planned = cms.create(&dry, &cm).await.unwrap();
    assert!(planned.metadata.name.unwrap().starts_with("plan-"));
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(sb.mutations().is_empty());
    let real = cms.create(&PostParams::default(), &cm).await.unwrap();
    let name = real.metadata.name.clone().unwrap();
    let json_patch = serde_json::json!([{"op": "replace", "path": "/data/step", "value": "2"}]);
    let patched = cms
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(json_patch).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["step"], "2");
    cms.delete(
        &name,
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(cms.get_opt(&name).await.unwrap().is_some());
    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = cms.delete(&name, &wrong).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    cms.delete(&name, &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt(&name).await.unwrap().is_none());
    let muts: Vec<_> = sb.mutations().into_iter().map(|r| r.method).collect();
    assert_eq!(muts, ["POST", "PATCH", "DELETE", "DELETE"]);
    sb.shutdown().await;
}

#[tokio::test]
async fn kube_runtime_watcher_sees_initial_state_then_changes() {
    use futures::StreamExt;
    use kube::runtime::watcher;
    let sb = super::common::scaled("small.yaml", 1.0).await;
    let client = kube(&sb).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let mut events = watcher(nodes, watcher::Config::default().page_size(3)).boxed();
    let mut initial = 0;
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::InitApply(_) => initial += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, 8);
    let name = sb.nodes()[2].name.clone();
    let api: Api<Node> = Api::all(client);
    let patch = serde_json::json!({"spec": {"unschedulable": true}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let watcher::Event::Apply(n) = ev
            && n.metadata.name.as_deref() == Some(name.as_str())
        {
            assert_eq!(n.spec.unwrap().unschedulable, Some(true));
            break;
        }
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn scale_subresource_reads_and_sets_replicas() {
    use k8s_openapi::api::apps::v1::Deployment;
    let sb = frozen("small.yaml").await;
    let deploys: Api<Deployment> = Api::namespaced(kube(&sb).await, "shop");
    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(
        scale.status.as_ref().unwrap().selector.as_deref(),
        Some("app=web")
    );
    let patch = serde_json::json!({"spec": {"replicas": 5}});
    let scaled = deploys
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    sb.advance(std::time::Duration::from_secs(60));
    let ready = sb
        .pods()
        .into_iter()
        .filter(|p| p.name.starts_with("web-") && p.ready)
        .count();
    assert_eq!(ready, 5);
    // A Scale with a stale resourceVersion is a conflict, as for any update.
    let mut stale = scale;
    stale.spec.as_mut().unwrap().replicas = Some(1);
    let err = deploys
        .replace_scale("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
    assert_eq!(
        sb.kube_object("deployments", "shop", "web").unwrap()["spec"]["replicas"],
        5
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_conflicts_name_the_field_and_manager_until_forced() {
    use k8s_openapi::api::apps::v1::Deployment;
    let sb = frozen("small.yaml").await;
    let deployments: Api<Deployment> = Api::namespaced(kube(&sb).await, "shop");
    let config = |replicas: i32| {
        serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": replicas},
        })
    };
    let applied = deployments
        .patch(
            "web",
            &PatchParams::apply("gitops"),
            &Patch::Apply(config(3)),
        )
        .await
        .unwrap();
    let entries = applied.metadata.managed_fields.unwrap();
    let gitops = entries
        .iter()
        .find(|e| e.manager.as_deref() == Some("gitops"));
    let gitops = gitops.expect("an entry for gitops");
    assert_eq!(gitops.operation.as_deref(), Some("Apply"));
    assert_eq!(gitops.fields_type.as_deref(), Some("FieldsV1"));
    assert_eq!(
        gitops.fields_v1.as_ref().unwrap().0,
        serde_json::json!({"f:spec": {"f:replicas": {}}})
    );

    // A merge patch by another manager takes the field without conflict.
    let hotfix = PatchParams {
        field_manager: Some("hotfix".into()),
        ..Default::default()
    };
    let patch = serde_json::json!({"spec": {"replicas": 7}});
    deployments
        .patch("web", &hotfix, &Patch::Merge(&patch))
        .await
        .unwrap();

    // gitops re-applies 3: refused with the API server's Status, nothing changes.
    let err = deployments
        .patch(
            "web",
            &PatchParams::apply("gitops"),
            &Patch::Apply(config(3)),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"hotfix\" using apps/v1: .spec.replicas"
    );
    let causes = status.details.unwrap().causes;
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".spec.replicas");
    assert_eq!(causes[0].message, "conflict with \"hotfix\" using apps/v1");
    assert_eq!(
        sb.kube_object("deployments", "shop", "web").unwrap()["spec"]["replicas"],
        7
    );

    // An apply without a field manager is invalid; forcing takes ownership.
    let err = deployments
        .patch("web", &PatchParams::default(), &Patch::Apply(config(3)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err:?}"
    );
    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("gitops").force(),
            &Patch::Apply(config(3)),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(3));
    let owners: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.fields_v1.as_ref().unwrap().0["f:spec"]
                .get("f:replicas")
                .is_some()
        })
        .filter_map(|e| e.manager)
        .collect();
    assert_eq!(owners, ["gitops"]);

    // An apply of what does not exist creates it, owned by the applier.
    use k8s_openapi::api::core::v1::ConfigMap;
    let maps: Api<ConfigMap> = Api::namespaced(kube(&sb).await, "shop");
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "flags", "namespace": "shop"},
        "data": {"canary": "on"},
    });
    let created = maps
        .patch("flags", &PatchParams::apply("gitops"), &Patch::Apply(cm))
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["canary"], "on");
    let entries = created.metadata.managed_fields.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].operation.as_deref(), Some("Apply"));
    assert_eq!(
        entries[0].fields_v1.as_ref().unwrap().0,
        serde_json::json!({"f:data": {"f:canary": {}}})
    );
    sb.shutdown().await;
}

/// Nodes are typed in the store (cordon, taints, conditions) and rendered at
/// the API: a taint a client patches in is what the scheduler honours, the
/// fields the sandbox does not model come back as they were sent, and a
/// modelled field of the wrong shape is refused without changing the node.
#[tokio::test]
async fn a_node_patch_keeps_unmodelled_fields_and_its_taint_reaches_the_scheduler() {
    let sb = frozen("small.yaml").await;
    sb.advance(std::time::Duration::from_secs(60));
    let client = kube(&sb).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let general: Vec<String> = nodes
        .list(&ListParams::default().labels("workload=general"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert_eq!(general.len(), 3);
    let patch = serde_json::json!({
        "metadata": {"annotations": {"example.com/owner": "team-a"}},
        "spec": {
            "podCIDR": "10.1.0.0/24",
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}],
        },
    });
    for name in &general[1..] {
        nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    let got = nodes.get(&general[1]).await.unwrap();
    let spec = got.spec.unwrap();
    assert_eq!(spec.pod_cidr.as_deref(), Some("10.1.0.0/24"));
    assert!(spec.provider_id.is_some_and(|p| p.starts_with("aws:///")));
    assert_eq!(
        got.metadata.annotations.unwrap()["example.com/owner"],
        "team-a"
    );
    let taints = spec.taints.unwrap();
    assert_eq!(taints.len(), 1);
    assert_eq!(taints[0].value.as_deref(), Some("batch"));
    let ready = got.status.unwrap().conditions.unwrap();
    assert!(
        ready
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );

    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "batch-probe"},
        "spec": {"nodeSelector": {"workload": "general"},
                 "containers": [{"name": "c", "image": "public.ecr.aws/nginx/nginx:1.27"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    sb.advance(std::time::Duration::from_secs(30));
    let placed = sb.pods().into_iter().find(|p| p.name == "batch-probe");
    assert_eq!(placed.and_then(|p| p.node), Some(general[0].clone()));

    let bad = serde_json::json!({"spec": {"taints": "none"}});
    let err = nodes
        .patch(&general[1], &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.taints")),
        "{err}"
    );
    let after = nodes.get(&general[1]).await.unwrap();
    assert_eq!(after.spec.unwrap().taints.unwrap().len(), 1);
    sb.shutdown().await;
}
