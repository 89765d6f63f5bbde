//! `pods/log`: simulated container logs that tell what the simulation did.
//!
//! The kubelet's rules decide what can be read: a running container's log; a
//! crash-looping container's last run (with or without `previous=true`); a
//! container still waiting gives the kubelet's 400 (`image can't be pulled`,
//! `trying and failing to pull image`, `ContainerCreating`). The lines are
//! those of the software in the incidents: the VPC CNI's `aws-node` waiting
//! for IPAMD (seed 001), kube-proxy, nginx, or a generic app.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::KubeRequest;
use super::status::KubeError;
use crate::sandbox::state::World;

/// One log line: when (simulated Unix ms) and what.
type Line = (i64, String);

pub fn pod_log(
    world: &World,
    req: &KubeRequest,
    ns: &str,
    name: &str,
) -> Result<Response, KubeError> {
    let pod = world
        .kube
        .get("pods", ns, name)
        .ok_or_else(|| KubeError::not_found("pods", name))?;
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let container = match req.query.get("container") {
        Some(c) if containers.contains(&c.as_str()) => c.as_str(),
        Some(c) => {
            return Err(KubeError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0],
        None => {
            return Err(KubeError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    // A pod on no node has no log yet (the API server answers empty).
    if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Ok(text(String::new()));
    }
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container));
    let previous = req.query.get("previous").is_some_and(|v| v == "true");
    let last = status
        .map(|s| &s["lastState"]["terminated"])
        .filter(|t| t.is_object());
    let state = status.map(|s| &s["state"]);
    let waiting = |reason: &str| {
        let why = match reason {
            "ErrImagePull" => "image can't be pulled".to_string(),
            "ImagePullBackOff" => "trying and failing to pull image".to_string(),
            other => other.to_string(),
        };
        KubeError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {why}"
        ))
    };
    let crashed = |t: &Value| Run::Crashed(unix_ms(&t["startedAt"]), unix_ms(&t["finishedAt"]));
    let running = state.filter(|s| s["running"].is_object());
    let run = if previous {
        match last {
            Some(t) => crashed(t),
            None => {
                return Err(KubeError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
        }
    } else if let Some(s) = running {
        Run::Running(unix_ms(&s["running"]["startedAt"]))
    } else if let Some(t) = last {
        crashed(t)
    } else {
        let reason = state.and_then(|s| s["waiting"]["reason"].as_str());
        return Err(waiting(reason.unwrap_or("ContainerCreating")));
    };
    let now = world.epoch_ms + world.now_ms as i64;
    let image = containers_image(&pod, container);
    let node_ip = pod["status"]["hostIP"].as_str().unwrap_or("10.0.0.1");
    let mut lines = match run {
        Run::Crashed(from, to) => story(&pod, image, node_ip, from, to, true),
        Run::Running(from) => story(&pod, image, node_ip, from, now, false),
    };
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        lines.push((now, shutdown_line(image)));
    }
    Ok(text(render(req, lines, now)?))
}

enum Run {
    /// A container that ran from .0 and exited at .1.
    Crashed(i64, i64),
    Running(i64),
}

fn unix_ms(ts: &Value) -> i64 {
    ts.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_millisecond())
}

fn containers_image<'a>(pod: &'a Value, container: &str) -> &'a str {
    pod["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["image"].as_str())
        .unwrap_or("")
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| "1970-01-01T00:00:00Z".into(), |t| format!("{t:.3}"))
}

/// klog's header: `I1128 06:01:02.000000       1 `.
fn klog(level: char, ms: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{level}{}       1 ", t.strftime("%m%d %H:%M:%S%.6f"))
}

/// The lines a container wrote between `from` and `to`.
fn story(pod: &Value, image: &str, node_ip: &str, from: i64, to: i64, crashed: bool) -> Vec<Line> {
    let app = pod["metadata"]["labels"]["k8s-app"].as_str().unwrap_or("");
    let mut lines: Vec<Line> = Vec::new();
    let mut at = |ms: i64, s: String| {
        if ms <= to.max(from) {
            lines.push((ms, s));
        }
    };
    match app {
        "aws-node" => {
            let json = |ms: i64, level: &str, msg: &str| {
                format!(
                    "{{\"level\":\"{level}\",\"ts\":\"{}\",\"caller\":\"entrypoint.sh\",\"msg\":\"{msg}\"}}",
                    rfc3339(ms)
                )
            };
            at(from, json(from, "info", "Validating env variables ..."));
            at(from + 1, json(from + 1, "info", "Install CNI binaries.."));
            at(
                from + 47,
                json(
                    from + 47,
                    "info",
                    "Starting IPAM daemon in the background ... ",
                ),
            );
            at(
                from + 51,
                json(from + 51, "info", "Checking for IPAM connectivity ... "),
            );
            if crashed {
                // IPAMD never answers: the entrypoint retries every 2 s, then gives up.
                let mut t = from + 2_061;
                while t < to - 2_000 {
                    at(t, json(t, "info", "Retrying waiting for IPAM-D"));
                    t += 2_000 + (t % 17);
                }
                at(
                    to,
                    json(to, "error", "Timed out waiting for IPAM daemon to start:"),
                );
            } else {
                at(
                    from + 2_061,
                    json(from + 2_061, "info", "Copying config file ... "),
                );
                at(
                    from + 2_068,
                    json(
                        from + 2_068,
                        "info",
                        "Successfully copied CNI plugin binary and config file.",
                    ),
                );
                at(
                    from + 2_069,
                    json(from + 2_069, "info", "Foregrounding IPAM daemon ..."),
                );
            }
        }
        "kube-proxy" => {
            at(
                from,
                format!(
                    "{}server_linux.go:66] \"Using iptables proxy\"",
                    klog('I', from)
                ),
            );
            at(
                from + 12,
                format!(
                    "{}server.go:677] \"Successfully retrieved node IP(s)\" IPs=[\"{node_ip}\"]",
                    klog('I', from + 12)
                ),
            );
            if crashed {
                at(
                    to,
                    format!(
                        "{}server.go:556] \"Error running ProxyServer\" err=\"failed to sync iptables rules: the kube-proxy build does not support this kubelet version\"",
                        klog('E', to)
                    ),
                );
                at(
                    to,
                    format!(
                        "{}run.go:72] \"command failed\" err=\"failed to sync iptables rules\"",
                        klog('E', to)
                    ),
                );
            } else {
                at(
                    from + 30,
                    format!(
                        "{}config.go:199] \"Starting service config controller\"",
                        klog('I', from + 30)
                    ),
                );
                at(
                    from + 31,
                    format!(
                        "{}config.go:105] \"Starting endpoint slice config controller\"",
                        klog('I', from + 31)
                    ),
                );
                at(
                    from + 131,
                    format!(
                        "{}shared_informer.go:320] Caches are synced for service config",
                        klog('I', from + 131)
                    ),
                );
            }
        }
        _ if image.contains("nginx") => {
            for (i, l) in [
                "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
                "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
            ]
            .into_iter()
            .enumerate()
            {
                at(from + i as i64, l.to_string());
            }
            let t = rfc3339(from + 10);
            at(
                from + 10,
                format!(
                    "{} [notice] 1#1: start worker processes",
                    &t[..19].replace('T', " ").replace('-', "/")
                ),
            );
        }
        _ => {
            at(from, format!("{} starting {image}", rfc3339(from)));
            at(
                from + 850,
                format!("{} listening on :8080", rfc3339(from + 850)),
            );
            if crashed {
                at(to, format!("{} fatal: exiting with status 1", rfc3339(to)));
            }
        }
    }
    lines
}

fn shutdown_line(image: &str) -> String {
    if image.contains("nginx") {
        "signal 3 (SIGQUIT) received, shutting down".to_string()
    } else {
        "received SIGTERM, shutting down".to_string()
    }
}

/// Apply `sinceSeconds`, `tailLines`, `timestamps` and `limitBytes`.
fn render(req: &KubeRequest, mut lines: Vec<Line>, now: i64) -> Result<String, KubeError> {
    let num = |k: &str| -> Result<Option<i64>, KubeError> {
        req.query
            .get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| KubeError::bad_request(format!("invalid {k}: {v}")))
            })
            .transpose()
    };
    if let Some(s) = num("sinceSeconds")? {
        lines.retain(|(t, _)| *t >= now - s * 1000);
    }
    if let Some(n) = num("tailLines")? {
        let n = n.max(0) as usize;
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let stamps = req.query.get("timestamps").is_some_and(|v| v == "true");
    let mut out = String::new();
    for (t, l) in lines {
        if stamps {
            let ts = jiff::Timestamp::from_millisecond(t)
                .map_or_else(|_| String::new(), |t| format!("{t:.9}"));
            out.push_str(&ts);
            out.push(' ');
        }
        out.push_str(&l);
        out.push('\n');
    }
    if let Some(limit) = num("limitBytes")? {
        let mut cut = (limit.max(0) as usize).min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    Ok(out)
}
