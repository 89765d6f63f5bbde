//! Raw HTTP: the request log endpoint, faults, discovery and tables, seen
//! byte for byte as any client would.

use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::common::{example, frozen};

/// One HTTP/1.1 request with `Connection: close`; (status, body). A status
/// of 0 means the connection broke before a full response.
async fn request(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn request_log_endpoint_records_reads_and_mutations() {
    let sb = frozen("small.yaml").await;
    let e = sb.endpoint();
    assert_eq!(
        request(&e, "GET", "/api/v1/nodes?limit=2", &[]).await.0,
        200
    );
    assert_eq!(
        request(
            &e,
            "DELETE",
            "/api/v1/namespaces/shop/pods/nope?dryRun=All",
            &[]
        )
        .await
        .0,
        404
    );
    assert_eq!(
        request(&e, "DELETE", "/api/v1/namespaces/shop/configmaps/nope", &[])
            .await
            .0,
        404
    );
    let (status, body) = request(&e, "GET", "/_sandbox/requests", &[]).await;
    assert_eq!(status, 200);
    let log: serde_json::Value = serde_json::from_str(&body).unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["api"], "Kube");
    assert_eq!(log[0]["query"], "limit=2");
    assert_eq!(log[0]["mutating"], false);
    assert_eq!(log[1]["mutating"], false, "dryRun=All is not a mutation");
    assert_eq!(log[2]["mutating"], true);
    assert_eq!(log[2]["status"], 404);
    assert_eq!(
        log.iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn faults_are_seeded_and_never_hit_the_sandbox_endpoints() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let fixture = Fixture::load(&example("small.yaml")).unwrap();
        let sb = Sandbox::start(
            fixture,
            SandboxOptions {
                time_scale: 0.0,
                seed,
                faults: "5xx=0.3,429=0.2,drop=0.1".parse().unwrap(),
                port: 0,
            },
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        for _ in 0..40 {
            out.push(
                request(&sb.endpoint(), "GET", "/api/v1/namespaces", &[])
                    .await
                    .0,
            );
        }
        for _ in 0..10 {
            assert_eq!(
                request(&sb.endpoint(), "GET", "/_sandbox/state", &[])
                    .await
                    .0,
                200
            );
        }
        sb.shutdown().await;
        out
    }
    let a = statuses(42).await;
    assert_eq!(a, statuses(42).await, "same seed, same faults");
    for code in [200, 500, 429] {
        assert!(a.contains(&code), "{a:?} lacks {code}");
    }
    assert!(a.contains(&0), "some connections were dropped: {a:?}");
}

#[tokio::test]
async fn discovery_lists_eviction_and_tables_have_kubectl_columns() {
    let sb = frozen("small.yaml").await;
    let e = sb.endpoint();
    let (_, body) = request(&e, "GET", "/api/v1", &[]).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let eviction = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .unwrap();
    assert_eq!(eviction["group"], "policy");
    assert_eq!(eviction["kind"], "Eviction");
    let (_, body) = request(&e, "GET", "/apis/coordination.k8s.io/v1", &[]).await;
    assert!(body.contains("\"leases\""));
    let accept = (
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    let (status, body) = request(&e, "GET", "/api/v1/nodes", &[accept]).await;
    assert_eq!(status, 200);
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<_> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Status", "Roles", "Age", "Version"]);
    assert_eq!(t["rows"].as_array().unwrap().len(), 8);
    assert_eq!(t["rows"][0]["cells"][1], "Ready");
    let (status, body) = request(&e, "GET", "/version", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"minor\":\"28+\""), "{body}");
    sb.shutdown().await;
}
