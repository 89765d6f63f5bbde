//! `kubectl` as an upgrade sees the cluster: pods that terminate with their
//! grace period, `kubectl scale`, rolling updates with revisions, `get -w`,
//! events, logs, and auth. Each test is skipped, with a printed reason, when
//! kubectl is not installed.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, WatchEvent, WatchParams};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};

use super::common::{frozen, kube};

/// A small cluster whose `web` pods run a 20 s preStop hook with the default
/// 30 s grace period.
const GRACEFUL: &str = r#"
cluster: {name: demo, version: "1.29"}
addons:
  vpc-cni: v1.19.2-eksbuild.1
  kube-proxy: v1.29.15-eksbuild.16
  coredns: v1.11.4-eksbuild.2
nodegroups:
  - {name: general, minSize: 2, maxSize: 6, desiredSize: 3}
workloads:
  namespaces: [shop]
  deployments:
    - name: web
      namespace: shop
      replicas: 4
      image: public.ecr.aws/nginx/nginx:1.27
      servicePort: 80
      preStopSeconds: 20
    - name: worker
      namespace: shop
      replicas: 1
      image: 123456789012.dkr.ecr.us-west-2.amazonaws.com/worker:1.0
  statefulSets:
    - {name: db, namespace: shop, replicas: 1, image: public.ecr.aws/docker/library/postgres:16}
"#;

fn find(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// kubectl pointed at a sandbox by a kubeconfig in a temporary directory.
struct Kubectl {
    bin: PathBuf,
    sb: Sandbox,
    _dir: tempfile::TempDir,
    kc: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kc)
            .env_remove("HTTPS_PROXY")
            .env_remove("HTTP_PROXY")
            .args(args);
        c
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.expect("kubectl runs")
    }

    /// Run and require success; the combined output.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let t = text(&out);
        assert!(out.status.success(), "kubectl {args:?}: {t}");
        t
    }

    /// Run and require failure; the combined output.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let t = text(&out);
        assert!(!out.status.success(), "kubectl {args:?} should fail: {t}");
        t
    }

    fn pods(&self, prefix: &str) -> Vec<runbook::sandbox::PodView> {
        self.sb
            .pods()
            .into_iter()
            .filter(|p| p.name.starts_with(prefix))
            .collect()
    }
}

async fn on(fixture: Fixture) -> Option<Kubectl> {
    let Some(bin) = find("kubectl") else {
        eprintln!("skipping: kubectl not found on PATH");
        return None;
    };
    let sb = Sandbox::start(
        fixture,
        SandboxOptions {
            time_scale: 0.0,
            ..Default::default()
        },
    )
    .await
    .expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sb.write_kubeconfig(&kc).unwrap();
    Some(Kubectl {
        bin,
        sb,
        _dir: dir,
        kc,
    })
}

async fn graceful() -> Option<Kubectl> {
    on(Fixture::from_yaml("graceful.yaml", GRACEFUL).unwrap_or_else(|e| panic!("{e}"))).await
}

async fn example(name: &str) -> Option<Kubectl> {
    let Some(bin) = find("kubectl") else {
        eprintln!("skipping: kubectl not found on PATH");
        return None;
    };
    let sb = frozen(name).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sb.write_kubeconfig(&kc).unwrap();
    Some(Kubectl {
        bin,
        sb,
        _dir: dir,
        kc,
    })
}

/// The next watch event that is not a bookmark.
async fn next_change<S>(stream: &mut S) -> WatchEvent<Pod>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<Pod>>> + Unpin,
{
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("a watch event within 10 s")
            .unwrap()
            .expect("the watch is open");
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            return ev;
        }
    }
}

fn step(sb: &Sandbox, secs: u64) {
    sb.advance(Duration::from_secs(secs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_evicted_pods_terminate_over_their_grace_period() {
    let Some(k) = graceful().await else {
        return;
    };
    let web = k.pods("web-");
    assert_eq!(web.len(), 4);
    let victim = web[0].name.clone();
    // A watcher sees the deletionTimestamp (MODIFIED) before DELETED.
    let pods: Api<Pod> = Api::namespaced(kube(&k.sb).await, "shop");
    let field = format!("metadata.name={victim}");
    let mut stream = Box::pin(
        pods.watch(&WatchParams::default().fields(&field).timeout(30), "0")
            .await
            .unwrap(),
    );
    let first = next_change(&mut stream).await;
    assert!(matches!(first, WatchEvent::Added(_)), "{first:?}");

    k.ok(&["delete", "pod", "-n", "shop", &victim, "--wait=false"])
        .await;
    let t = k.ok(&["get", "pod", "-n", "shop", &victim]).await;
    assert!(t.contains("Terminating"), "{t}");
    let pod =
        k.sb.kube_object("pods", "shop", &victim)
            .expect("still there");
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(pod["metadata"]["deletionTimestamp"].is_string());
    match next_change(&mut stream).await {
        WatchEvent::Modified(p) => assert!(p.metadata.deletion_timestamp.is_some()),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // The ReplicaSet replaces it at once; the old pod runs its 20 s preStop.
    assert_eq!(k.pods("web-").len(), 5);
    let t = k.ok(&["get", "events", "-n", "shop"]).await;
    assert!(
        t.contains("Killing") && t.contains("Stopping container web"),
        "{t}"
    );
    step(&k.sb, 15);
    assert!(
        k.sb.kube_object("pods", "shop", &victim).is_some(),
        "preStop still running"
    );
    step(&k.sb, 10);
    assert!(
        k.sb.kube_object("pods", "shop", &victim).is_none(),
        "gone after preStop + SIGTERM"
    );
    match next_change(&mut stream).await {
        WatchEvent::Deleted(p) => assert_eq!(p.metadata.name.as_deref(), Some(victim.as_str())),
        other => panic!("expected DELETED, got {other:?}"),
    }

    // --grace-period caps the preStop hook.
    let victim = k.pods("web-")[0].name.clone();
    k.ok(&[
        "delete",
        "pod",
        "-n",
        "shop",
        &victim,
        "--grace-period=5",
        "--wait=false",
    ])
    .await;
    step(&k.sb, 4);
    assert!(k.sb.kube_object("pods", "shop", &victim).is_some());
    step(&k.sb, 2);
    assert!(
        k.sb.kube_object("pods", "shop", &victim).is_none(),
        "killed at the grace period"
    );

    // --force --grace-period=0 removes it at once.
    let victim = k.pods("web-")[0].name.clone();
    k.ok(&[
        "delete",
        "pod",
        "-n",
        "shop",
        &victim,
        "--grace-period=0",
        "--force",
    ])
    .await;
    assert!(k.sb.kube_object("pods", "shop", &victim).is_none());

    // An eviction deletes with the pod's grace period, and says so.
    let victim = k.pods("worker-")[0].name.clone();
    pods.evict(&victim, &EvictParams::default()).await.unwrap();
    let pod =
        k.sb.kube_object("pods", "shop", &victim)
            .expect("terminating");
    assert!(pod["metadata"]["deletionTimestamp"].is_string());
    let conditions = pod["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "DisruptionTarget" && c["reason"] == "EvictionByEvictionAPI"),
        "{conditions:?}"
    );
    step(&k.sb, 5);
    assert!(
        k.sb.kube_object("pods", "shop", &victim).is_none(),
        "no preStop: gone in seconds"
    );

    // A StatefulSet pod comes back under its name only once the old one is gone.
    k.ok(&["delete", "pod", "-n", "shop", "db-0", "--wait=false"])
        .await;
    let db = k.sb.kube_object("pods", "shop", "db-0").unwrap();
    assert!(db["metadata"]["deletionTimestamp"].is_string());
    step(&k.sb, 5);
    let db2 = k.sb.kube_object("pods", "shop", "db-0").unwrap();
    assert_ne!(db["metadata"]["uid"], db2["metadata"]["uid"], "recreated");
    k.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_uses_the_scale_subresource() {
    let Some(k) = graceful().await else {
        return;
    };
    let raw = k
        .ok(&[
            "get",
            "--raw",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        ])
        .await;
    let scale: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 4);
    assert_eq!(scale["status"]["selector"], "app=web");

    let t = k
        .ok(&["scale", "deployment/web", "-n", "shop", "--replicas=6"])
        .await;
    assert!(t.contains("deployment.apps/web scaled"), "{t}");
    step(&k.sb, 30);
    let web = k.pods("web-");
    assert_eq!(web.len(), 6);
    assert!(web.iter().all(|p| p.ready), "{web:?}");
    let t = k.ok(&["get", "deployment", "web", "-n", "shop"]).await;
    assert!(t.contains("6/6"), "{t}");

    // A stale --current-replicas is refused (the precondition is checked).
    let t = k
        .fails(&[
            "scale",
            "deployment/web",
            "-n",
            "shop",
            "--current-replicas=3",
            "--replicas=1",
        ])
        .await;
    assert!(t.contains("replicas to be 3, was 6"), "{t}");

    k.ok(&["scale", "statefulset/db", "-n", "shop", "--replicas=2"])
        .await;
    step(&k.sb, 30);
    assert!(k.sb.kube_object("pods", "shop", "db-1").is_some());
    let events = k.ok(&["get", "events", "-n", "shop"]).await;
    assert!(events.contains("ScalingReplicaSet"), "{events}");
    assert!(events.contains("Scaled up replica set web-"), "{events}");
    k.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_keeps_pods_available_and_keeps_revisions() {
    let Some(k) = graceful().await else {
        return;
    };
    // 4 replicas with the default 25%: at most 5 pods, at least 3 Ready.
    k.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "shop",
        "web=public.ecr.aws/nginx/nginx:1.28",
    ])
    .await;
    let mut saw_mixed = false;
    for _ in 0..60 {
        step(&k.sb, 5);
        let web: Vec<_> = k.pods("web-");
        let ready = web.iter().filter(|p| p.ready).count();
        assert!(ready >= 3, "below maxUnavailable: {web:?}");
        let endpoints = k.sb.kube_object("endpoints", "shop", "web").unwrap();
        let addresses = endpoints["subsets"][0]["addresses"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(addresses >= 3, "Service lost its endpoints: {endpoints}");
        let live = web
            .iter()
            .filter(|p| {
                k.sb.kube_object("pods", "shop", &p.name)
                    .is_some_and(|o| o["metadata"]["deletionTimestamp"].is_null())
            })
            .count();
        assert!(live <= 5, "above maxSurge: {web:?}");
        let images: std::collections::BTreeSet<String> = web
            .iter()
            .filter_map(|p| k.sb.kube_object("pods", "shop", &p.name))
            .map(|o| {
                o["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        saw_mixed |= images.len() == 2;
        let d = k.sb.kube_object("deployments", "shop", "web").unwrap();
        if d["status"]["updatedReplicas"] == 4
            && d["status"]["replicas"] == 4
            && d["status"]["availableReplicas"] == 4
        {
            break;
        }
    }
    assert!(saw_mixed, "old and new pods ran side by side");
    let t = k
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "shop",
            "--timeout=5s",
        ])
        .await;
    assert!(t.contains("successfully rolled out"), "{t}");
    let t = k
        .ok(&["rollout", "history", "deployment/web", "-n", "shop"])
        .await;
    let revisions: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{t}");
    let t = k
        .ok(&[
            "rollout",
            "history",
            "deployment/web",
            "-n",
            "shop",
            "--revision=1",
        ])
        .await;
    assert!(t.contains("nginx:1.27"), "{t}");

    k.ok(&[
        "rollout",
        "undo",
        "deployment/web",
        "-n",
        "shop",
        "--to-revision=1",
    ])
    .await;
    step(&k.sb, 300);
    let t = k
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "shop",
            "--timeout=5s",
        ])
        .await;
    assert!(t.contains("successfully rolled out"), "{t}");
    let images: Vec<String> = k
        .pods("web-")
        .iter()
        .filter_map(|p| k.sb.kube_object("pods", "shop", &p.name))
        .map(|o| {
            o["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(images.len(), 4);
    assert!(
        images.iter().all(|i| i.ends_with("nginx:1.27")),
        "{images:?}"
    );
    let t = k
        .ok(&["rollout", "history", "deployment/web", "-n", "shop"])
        .await;
    let revisions: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "revision 1 came back as 3: {t}");
    // Only two ReplicaSets: the undo reused the first one.
    let t = k.ok(&["get", "rs", "-n", "shop", "-l", "app=web"]).await;
    assert_eq!(t.lines().count(), 3, "{t}");
    for col in ["DESIRED", "CURRENT", "READY"] {
        assert!(t.contains(col), "{t}");
    }
    k.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pods_watch_prints_table_rows_for_each_change() {
    let Some(k) = graceful().await else {
        return;
    };
    let mut child = k
        .command(&[
            "get",
            "pods",
            "-n",
            "shop",
            "-w",
            "--output-watch-events",
            "-l",
            "app=worker",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = k.pods("worker-")[0].name.clone();
    k.ok(&["delete", "pod", "-n", "shop", &victim, "--wait=false"])
        .await;
    step(&k.sb, 10);
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.start_kill().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let _ = child.wait().await;
    assert!(!out.contains("<invalid>"), "{out}");
    let header = out.lines().next().unwrap_or("");
    for col in ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(col), "{out}");
    }
    let rows: Vec<&str> = out.lines().filter(|l| l.contains(&victim)).collect();
    assert!(
        rows[0].starts_with("ADDED") && rows[0].contains("Running"),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("MODIFIED") && r.contains("Terminating")),
        "{out}"
    );
    assert!(rows.last().unwrap().starts_with("DELETED"), "{out}");
    // The replacement appears as it is created and starts.
    assert!(
        out.lines()
            .any(|l| l.starts_with("ADDED") && !l.contains(&victim)),
        "{out}"
    );
    k.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tell_scheduling_pulling_killing_scaling_and_cordoning() {
    let Some(k) = graceful().await else {
        return;
    };
    // Built worlds start without events (they would have expired).
    let t = k.ok(&["get", "events", "-A"]).await;
    assert!(t.contains("No resources found"), "{t}");
    k.ok(&["scale", "deployment/worker", "-n", "shop", "--replicas=2"])
        .await;
    step(&k.sb, 30);
    let node = k.sb.nodes()[0].name.clone();
    k.ok(&["cordon", &node]).await;
    k.ok(&["uncordon", &node]).await;
    let t = k
        .ok(&["get", "events", "-A", "--sort-by=.lastTimestamp"])
        .await;
    for reason in [
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "Scheduled",
        "Pulled",
        "Created",
        "Started",
        "NodeNotSchedulable",
        "NodeSchedulable",
    ] {
        assert!(t.contains(reason), "no {reason}: {t}");
    }
    assert!(t.contains("Successfully assigned shop/worker-"), "{t}");
    let t = k
        .ok(&["describe", "pod", "-n", "shop", &k.pods("worker-")[1].name])
        .await;
    assert!(
        t.contains("Events:") && t.contains("Started container worker"),
        "{t}"
    );
    k.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_running_pod_and_of_pods_that_cannot_pull() {
    let Some(k) = example("dockerhub-ratelimit.yaml").await else {
        return;
    };
    step(&k.sb, 60);
    let proxy = k.pods("proxy-")[0].name.clone();
    let t = k.ok(&["logs", "-n", "edge", &proxy]).await;
    assert!(t.contains("starting haproxy:2.9"), "{t}");
    let t = k
        .ok(&["logs", "-n", "edge", &proxy, "--timestamps", "--tail=1"])
        .await;
    assert_eq!(t.lines().count(), 1, "{t}");
    assert!(
        t.starts_with(char::is_numeric) && t.contains("listening"),
        "{t}"
    );
    let t = k.fails(&["logs", "-n", "edge", &proxy, "--previous"]).await;
    assert!(t.contains("previous terminated container \"proxy\""), "{t}");

    k.ok(&["scale", "deployment/proxy", "-n", "edge", "--replicas=16"])
        .await;
    step(&k.sb, 60);
    let failing = |reason: &str| {
        k.sb.pods()
            .into_iter()
            .find(|p| p.waiting_reason.as_deref() == Some(reason))
            .map(|p| p.name)
    };
    let pod = failing("ErrImagePull").expect("a pull was refused");
    let t = k.fails(&["logs", "-n", "edge", &pod]).await;
    assert!(
        t.contains(&format!(
            "container \"proxy\" in pod \"{pod}\" is waiting to start: image can't be pulled"
        )),
        "{t}"
    );
    let t = k.ok(&["describe", "pod", "-n", "edge", &pod]).await;
    assert!(
        t.contains("toomanyrequests: You have reached your pull rate limit"),
        "{t}"
    );
    step(&k.sb, 300);
    let pod = failing("ImagePullBackOff").expect("backing off");
    let t = k.fails(&["logs", "-n", "edge", &pod]).await;
    assert!(
        t.contains("is waiting to start: trying and failing to pull image"),
        "{t}"
    );
    k.sb.shutdown().await;
}

/// Seed 001: a vpc-cni build too old for the nodes' kubelet. aws-node
/// crash-loops and its log shows IPAMD never answering.
const OLD_CNI: &str = r#"
cluster: {name: prod, version: "1.25"}
addons:
  vpc-cni: v1.10.1-eksbuild.1
  kube-proxy: v1.25.16-eksbuild.2
catalog:
  - {addon: vpc-cni, version: v1.10.1-eksbuild.1, compatible: ["1.24"]}
  - {addon: kube-proxy, version: v1.25.16-eksbuild.2, compatible: ["1.25"]}
nodegroups:
  - {name: spot, minSize: 1, maxSize: 2, desiredSize: 1}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_node_logs_show_ipamd_retries_and_previous_runs() {
    let Some(k) =
        on(Fixture::from_yaml("old-cni.yaml", OLD_CNI).unwrap_or_else(|e| panic!("{e}"))).await
    else {
        return;
    };
    step(&k.sb, 600);
    let aws_node =
        k.sb.pods()
            .into_iter()
            .find(|p| p.name.starts_with("aws-node-"))
            .expect("aws-node runs");
    assert_eq!(
        aws_node.waiting_reason.as_deref(),
        Some("CrashLoopBackOff"),
        "{aws_node:?}"
    );
    for args in [vec![], vec!["--previous"]] {
        let mut cmd = vec!["logs", "-n", "kube-system", aws_node.name.as_str()];
        cmd.extend(args);
        let t = k.ok(&cmd).await;
        assert!(
            t.contains("\"msg\":\"Checking for IPAM connectivity ... \""),
            "{t}"
        );
        assert!(t.matches("Retrying waiting for IPAM-D").count() >= 5, "{t}");
    }
    let t = k
        .ok(&["get", "pod", "-n", "kube-system", &aws_node.name])
        .await;
    assert!(t.contains("CrashLoopBackOff"), "{t}");
    k.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_get_all_and_service_accounts() {
    let Some(k) = example("small.yaml").await else {
        return;
    };
    let t = k
        .ok(&["auth", "can-i", "delete", "pods", "-n", "shop"])
        .await;
    assert_eq!(t.trim(), "yes");
    let t = k
        .ok(&["auth", "can-i", "create", "pods/eviction", "-A"])
        .await;
    assert_eq!(t.trim(), "yes");
    let t = k.ok(&["auth", "whoami"]).await;
    assert!(
        t.contains("Username") && t.contains("kubernetes-admin"),
        "{t}"
    );
    assert!(t.contains("system:masters"), "{t}");

    let t = k.ok(&["get", "all", "-n", "shop"]).await;
    for col in [
        "TYPE",
        "CLUSTER-IP",
        "PORT(S)",
        "DESIRED",
        "CURRENT",
        "UP-TO-DATE",
    ] {
        assert!(t.contains(col), "no {col}: {t}");
    }
    assert!(
        t.contains("service/web") && t.contains("ClusterIP") && t.contains("80/TCP"),
        "{t}"
    );
    assert!(!t.contains("CREATED AT"), "{t}");

    let t = k.ok(&["get", "serviceaccounts", "-n", "shop"]).await;
    assert!(t.contains("default"), "{t}");
    k.ok(&["create", "namespace", "late"]).await;
    let t = k.ok(&["get", "sa", "default", "-n", "late"]).await;
    assert!(t.contains("default"), "{t}");
    k.sb.shutdown().await;
}

/// A partial Deployment configuration owning only `spec.replicas` and one
/// label.
fn replicas_config(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    team: shop\nspec:\n  replicas: {replicas}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_keeps_managed_fields_and_reports_conflicts() {
    let Some(k) = graceful().await else {
        return;
    };
    let file = k._dir.path().join("web.yaml");
    let write = |replicas| std::fs::write(&file, replicas_config(replicas)).unwrap();
    let f = file.to_str().unwrap();
    write(4);
    let t = k.ok(&["apply", "--server-side", "-f", f]).await;
    assert!(t.contains("deployment.apps/web serverside-applied"), "{t}");
    // managedFields are there, hidden unless asked for.
    let plain = k
        .ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"])
        .await;
    assert!(!plain.contains("managedFields"), "{plain}");
    let shown = k
        .ok(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    for want in [
        "managedFields:",
        "manager: kubectl",
        "operation: Apply",
        "f:replicas: {}",
        "f:team: {}",
        "fieldsType: FieldsV1",
    ] {
        assert!(shown.contains(want), "no {want:?} in {shown}");
    }

    // Someone scales by hand: the apply that would undo it is refused,
    // naming the field and its manager, and changes nothing. kubectl 1.32's
    // scale sends no fieldManager, so the manager is its User-Agent's
    // product, "kubectl", writing through the scale subresource.
    k.ok(&["scale", "deployment/web", "-n", "shop", "--replicas=6"])
        .await;
    let t = k.fails(&["apply", "--server-side", "-f", f]).await;
    assert!(
        t.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
        ),
        "{t}"
    );
    assert!(t.contains("--force-conflicts"), "{t}");
    let replicas = |k: &Kubectl| {
        k.sb.kube_object("deployments", "shop", "web").unwrap()["spec"]["replicas"].clone()
    };
    assert_eq!(replicas(&k), 6);

    // Another manager's apply of a value someone else owns conflicts too.
    write(5);
    let t = k
        .fails(&["apply", "--server-side", "--field-manager=ops", "-f", f])
        .await;
    assert!(t.contains("Apply failed with 1 conflict"), "{t}");
    assert_eq!(replicas(&k), 6);

    // --force-conflicts takes the field over.
    let t = k
        .ok(&[
            "apply",
            "--server-side",
            "--field-manager=ops",
            "--force-conflicts",
            "-f",
            f,
        ])
        .await;
    assert!(t.contains("serverside-applied"), "{t}");
    assert_eq!(replicas(&k), 5);
    let obj = k.sb.kube_object("deployments", "shop", "web").unwrap();
    let owners: Vec<&str> = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["fieldsV1"]["f:spec"]["f:replicas"].is_null())
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["ops"], "{obj}");
    k.sb.shutdown().await;
}
