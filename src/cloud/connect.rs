//! Build the two real clients. AWS: aws-config's default chain (env,
//! profiles, SSO, IMDS) with optional region/profile; the endpoint is
//! overridable the standard way (AWS_ENDPOINT_URL[_EKS], read by aws-config)
//! or explicitly for the embedded sandbox. Kubernetes: kubeconfig (path and
//! context) or in-cluster; every kubeconfig file is read here, bounded.
//! Both clients are the real ones; the sandbox only changes their
//! configuration.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_eks::config::{Credentials, Region};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::CloudError;
use crate::source::{MAX_KUBECONFIG_BYTES, ReadError, check_file, read_text};

#[derive(Clone, Default)]
pub struct ConnectOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    /// Explicit EKS endpoint (the embedded sandbox); implies dummy static
    /// credentials so no real secret is ever sent to it.
    pub eks_endpoint: Option<String>,
    /// A kubeconfig held in memory (the embedded sandbox's).
    pub kubeconfig_yaml: Option<String>,
}

// Hand-written so a kubeconfig's embedded token can never reach a log.
impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("context", &self.context)
            .field("kubeconfig", &self.kubeconfig)
            .field("eks_endpoint", &self.eks_endpoint)
            .field(
                "kubeconfig_yaml",
                &self.kubeconfig_yaml.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Clone)]
pub struct Clients {
    pub eks: aws_sdk_eks::Client,
    pub kube: kube::Client,
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients")
            .field("region", &self.eks.config().region())
            .finish_non_exhaustive()
    }
}

impl Clients {
    pub async fn connect(opts: &ConnectOptions) -> Result<Clients, CloudError> {
        Ok(Clients {
            eks: eks_client(opts).await,
            kube: kube_client(opts).await?,
        })
    }
}

/// The SDK's standard retry mode already backs off on throttling and 5xx.
/// More attempts than its default (3) ride out a flaky endpoint: a read
/// outside a gate that still fails fails its step, and a two-hop upgrade
/// makes thousands of EKS calls (at 20 % transient errors six attempts
/// all fail once in 16,000 calls; ten, once in ten million). With the
/// backoff capped at 20 s that is at most about three minutes of retrying.
fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(10)
}

/// The EKS client with its retry backoff (1 s doubling to 20 s, the SDK's
/// standard) in the engine's time: against a sandbox that runs `scale`
/// times faster than wall time, a retry waits as long in simulated time as
/// it would against EKS, like every other wait of the engine. The SDK
/// sleeps in wall time, which the simulation multiplies: at ×200 one
/// backoff was minutes of simulated time, enough for a gate polled
/// `within 10m` to see only one or two evaluations (the fault rehearsal's
/// non-converging run). Wall time (scale 1) changes nothing.
pub fn retry_on_clock(client: aws_sdk_eks::Client, clock: &super::Clock) -> aws_sdk_eks::Client {
    let scale = clock.scale();
    if scale == 1.0 {
        return client;
    }
    let standard = retry_config();
    let retry = standard
        .clone()
        .with_initial_backoff(standard.initial_backoff().div_f64(scale))
        .with_max_backoff(standard.max_backoff().div_f64(scale));
    aws_sdk_eks::Client::from_conf(client.config().to_builder().retry_config(retry).build())
}

pub async fn eks_client(opts: &ConnectOptions) -> aws_sdk_eks::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config());
    if let Some(region) = &opts.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &opts.eks_endpoint {
        loader = loader
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(
                "sandbox",
                "sandbox",
                None,
                None,
                "runbook-sandbox",
            ));
    }
    aws_sdk_eks::Client::new(&loader.load().await)
}

pub async fn kube_client(opts: &ConnectOptions) -> Result<kube::Client, CloudError> {
    let options = KubeConfigOptions {
        context: opts.context.clone(),
        ..KubeConfigOptions::default()
    };
    let err = |e: String| CloudError::Kube {
        op: "configuration".into(),
        status: None,
        message: e,
    };
    let kubeconfig = match &opts.kubeconfig_yaml {
        Some(yaml) => Some(Kubeconfig::from_yaml(yaml).map_err(|e| err(e.to_string()))?),
        None => read_kubeconfig(opts.kubeconfig.as_deref(), &options)
            .map_err(|e| err(format!("{e}; {}", e.hint())))?,
    };
    let mut config = match kubeconfig {
        Some(kc) => kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| err(e.to_string()))?,
        None if opts.context.is_some() => {
            return Err(err(
                "--context names a kubeconfig context, but there is no kubeconfig \
                 (--kubeconfig, $KUBECONFIG or ~/.kube/config)"
                    .into(),
            ));
        }
        // No kubeconfig anywhere: in a pod, as kube's `Config::infer` does.
        None => {
            let mut config = kube::Config::incluster().map_err(|e| {
                err(format!(
                    "no kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config) and not \
                     in a cluster: {e}"
                ))
            })?;
            config.apply_debug_overrides();
            config
        }
    };
    // kube retries 429 silently by default; a PDB refusing an eviction is a
    // 429 that the drain must see to name the PDB and apply its own policy.
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| CloudError::kube("client", e))
}

/// The setting that named a kubeconfig file, so a message says what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KubeconfigFrom {
    Flag,
    Env,
    Home,
}

impl fmt::Display for KubeconfigFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KubeconfigFrom::Flag => "--kubeconfig",
            KubeconfigFrom::Env => "$KUBECONFIG",
            KubeconfigFrom::Home => "~/.kube/config",
        })
    }
}

/// A kubeconfig that cannot be used, with the setting that named it.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("{from}: {error}")]
    Read {
        from: KubeconfigFrom,
        error: ReadError,
    },
    #[error("{from}: `{path}` is not a kubeconfig: {message}")]
    Parse {
        from: KubeconfigFrom,
        path: String,
        message: String,
    },
    /// A certificate, key or token file the kubeconfig names (kube reads it).
    #[error("{from}: `{path}` names a {field} that cannot be used: {error}")]
    Referenced {
        from: KubeconfigFrom,
        path: String,
        field: &'static str,
        error: ReadError,
    },
}

impl KubeconfigError {
    /// What to do instead.
    pub fn hint(&self) -> String {
        let (from, error) = match self {
            KubeconfigError::Parse { from, .. } => {
                return format!("fix the YAML, or point {from} at another kubeconfig");
            }
            KubeconfigError::Read { from, error }
            | KubeconfigError::Referenced { from, error, .. } => (from, error),
        };
        let what = match error {
            ReadError::TooLarge { limit, .. } => format!(
                "a kubeconfig and the files it names are at most {} MiB each",
                limit >> 20
            ),
            e if e.is_not_found() => "check the path".to_string(),
            e => e.hint(),
        };
        match from {
            KubeconfigFrom::Flag => format!("{what}; or name another file with --kubeconfig"),
            KubeconfigFrom::Env => format!(
                "{what}; $KUBECONFIG lists kubeconfig files separated by `:`, or name one with --kubeconfig"
            ),
            KubeconfigFrom::Home => {
                format!("{what}; or name another file with --kubeconfig or $KUBECONFIG")
            }
        }
    }
}

/// The kubeconfig files to read, in merge order, as kubectl and kube-rs
/// choose them: `--kubeconfig`, else every entry of `$KUBECONFIG`, else
/// `~/.kube/config` if there is anything at that path. None: in-cluster.
pub fn kubeconfig_paths(
    explicit: Option<&Path>,
    env: Option<OsString>,
    home: Option<PathBuf>,
) -> Vec<(PathBuf, KubeconfigFrom)> {
    if let Some(path) = explicit {
        return vec![(path.to_path_buf(), KubeconfigFrom::Flag)];
    }
    if let Some(value) = env {
        let listed: Vec<_> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| (p, KubeconfigFrom::Env))
            .collect();
        if !listed.is_empty() {
            return listed;
        }
    }
    home.map(|h| h.join(".kube").join("config"))
        // A dangling symlink or a FIFO is there and gets its error; only
        // nothing at all means "no kubeconfig".
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| (p, KubeconfigFrom::Home))
        .into_iter()
        .collect()
}

/// Read and merge the kubeconfig files kube would use, each through the one
/// bounded reader (kube-rs would read them whole, and block on a FIFO), and
/// check the certificate, key and token files the chosen context names the
/// same way. `None` when there is no kubeconfig at all.
pub fn read_kubeconfig(
    explicit: Option<&Path>,
    options: &KubeConfigOptions,
) -> Result<Option<Kubeconfig>, KubeconfigError> {
    let paths = kubeconfig_paths(
        explicit,
        std::env::var_os("KUBECONFIG"),
        std::env::home_dir(),
    );
    read_kubeconfigs(&paths, options)
}

fn read_kubeconfigs(
    paths: &[(PathBuf, KubeconfigFrom)],
    options: &KubeConfigOptions,
) -> Result<Option<Kubeconfig>, KubeconfigError> {
    let mut merged: Option<Kubeconfig> = None;
    let mut named_by: Vec<(String, KubeconfigFrom, PathBuf)> = Vec::new();
    for (path, from) in paths {
        let from = *from;
        let text = read_text(path, MAX_KUBECONFIG_BYTES)
            .map_err(|error| KubeconfigError::Read { from, error })?;
        let parse = |message: String| KubeconfigError::Parse {
            from,
            path: path.display().to_string(),
            message,
        };
        let mut kc = Kubeconfig::from_yaml(&text).map_err(|e| parse(e.to_string()))?;
        absolute_paths(&mut kc, path.parent().unwrap_or(Path::new(".")));
        named_by.extend(
            kc.clusters
                .iter()
                .map(|c| format!("cluster {}", c.name))
                .chain(kc.auth_infos.iter().map(|a| format!("user {}", a.name)))
                .map(|name| (name, from, path.clone())),
        );
        merged = Some(match merged {
            Some(m) => m.merge(kc).map_err(|e| parse(e.to_string()))?,
            None => kc,
        });
    }
    let Some(kc) = merged else {
        return Ok(None);
    };
    for (entry, field, file) in referenced_files(&kc, options) {
        let (from, path) = named_by
            .iter()
            .find(|(name, ..)| *name == entry)
            .map(|(_, from, path)| (*from, path.display().to_string()))
            .unwrap_or((KubeconfigFrom::Flag, String::new()));
        check_file(Path::new(&file), MAX_KUBECONFIG_BYTES).map_err(|error| {
            KubeconfigError::Referenced {
                from,
                path,
                field,
                error,
            }
        })?;
    }
    Ok(Some(kc))
}

/// Relative certificate, key, token and exec paths are relative to the
/// kubeconfig that names them (as kube-rs's `Kubeconfig::read_from` does).
fn absolute_paths(kc: &mut Kubeconfig, dir: &Path) {
    let fix = |p: &mut Option<String>| {
        if let Some(rel) = p.as_deref().filter(|r| Path::new(r).is_relative())
            && let Some(abs) = dir.join(rel).to_str()
        {
            *p = Some(abs.to_string());
        }
    };
    for cluster in kc.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
        fix(&mut cluster.certificate_authority);
    }
    for user in kc
        .auth_infos
        .iter_mut()
        .filter_map(|a| a.auth_info.as_mut())
    {
        fix(&mut user.client_certificate);
        fix(&mut user.client_key);
        fix(&mut user.token_file);
        // A bare command (`aws`) is looked up on PATH, as client-go does.
        if let Some(exec) = user.exec.as_mut()
            && exec
                .command
                .as_deref()
                .is_some_and(|c| c.contains(std::path::MAIN_SEPARATOR))
        {
            fix(&mut exec.command);
        }
    }
}

/// The files kube will read for the chosen context: (`cluster NAME` or
/// `user NAME`, field, path).
fn referenced_files(
    kc: &Kubeconfig,
    options: &KubeConfigOptions,
) -> Vec<(String, &'static str, String)> {
    let context = options
        .context
        .as_ref()
        .or(kc.current_context.as_ref())
        .and_then(|name| kc.contexts.iter().find(|c| &c.name == name))
        .and_then(|c| c.context.as_ref());
    let cluster = options.cluster.as_ref().or(context.map(|c| &c.cluster));
    let user = options
        .user
        .as_ref()
        .or(context.and_then(|c| c.user.as_ref()));
    let mut files = Vec::new();
    if let Some(named) = cluster.and_then(|n| kc.clusters.iter().find(|c| &c.name == n))
        && let Some(c) = &named.cluster
        && let Some(ca) = &c.certificate_authority
    {
        files.push((
            format!("cluster {}", named.name),
            "certificate-authority",
            ca.clone(),
        ));
    }
    if let Some(named) = user.and_then(|n| kc.auth_infos.iter().find(|a| &a.name == n))
        && let Some(u) = &named.auth_info
    {
        for (field, path) in [
            ("client-certificate", &u.client_certificate),
            ("client-key", &u.client_key),
            ("tokenFile", &u.token_file),
        ] {
            if let Some(p) = path {
                files.push((format!("user {}", named.name), field, p.clone()));
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_files_are_chosen_as_kubectl_does() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let flag = Path::new("/x/flag");
        let paths = |explicit, env: Option<&str>| {
            kubeconfig_paths(explicit, env.map(OsString::from), Some(home.clone()))
        };
        assert_eq!(
            paths(Some(flag), Some("/a")),
            vec![(flag.to_path_buf(), KubeconfigFrom::Flag)]
        );
        assert_eq!(
            paths(None, Some("/a::/b")),
            vec![
                (PathBuf::from("/a"), KubeconfigFrom::Env),
                (PathBuf::from("/b"), KubeconfigFrom::Env)
            ]
        );
        // Nothing at ~/.kube/config: no kubeconfig (in-cluster).
        assert_eq!(paths(None, Some("")), vec![]);
        std::fs::create_dir(home.join(".kube")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", home.join(".kube/config")).unwrap();
        assert_eq!(
            paths(None, None),
            vec![(home.join(".kube/config"), KubeconfigFrom::Home)]
        );
        let err = read_kubeconfigs(&paths(None, None), &Default::default()).unwrap_err();
        assert!(
            matches!(
                &err,
                KubeconfigError::Read {
                    from: KubeconfigFrom::Home,
                    error: ReadError::NotRegular {
                        kind: "character device",
                        ..
                    }
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn kubeconfig_list_is_merged_with_paths_relative_to_each_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("certs")).unwrap();
        std::fs::write(d.join("certs/ca.crt"), "not checked for content").unwrap();
        std::fs::write(
            d.join("a.yaml"),
            "current-context: demo\ncontexts:\n- name: demo\n  context:\n    cluster: demo\n    user: ops\nclusters:\n- name: demo\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority: certs/ca.crt\n",
        )
        .unwrap();
        std::fs::write(
            d.join("b.yaml"),
            "current-context: other\nusers:\n- name: ops\n  user:\n    tokenFile: /dev/zero\n",
        )
        .unwrap();
        let list = [
            (d.join("a.yaml"), KubeconfigFrom::Env),
            (d.join("b.yaml"), KubeconfigFrom::Env),
        ];
        // The user's token file is a device: named, with the file naming it.
        let err = read_kubeconfigs(&list, &Default::default()).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("$KUBECONFIG: "), "{shown}");
        assert!(shown.contains("b.yaml` names a tokenFile"), "{shown}");
        assert!(shown.contains("character device"), "{shown}");
        std::fs::write(
            d.join("b.yaml"),
            "current-context: other\nusers:\n- name: ops\n  user:\n    token: t\n",
        )
        .unwrap();
        let kc = read_kubeconfigs(&list, &Default::default())
            .unwrap()
            .unwrap();
        // The first file to set a value wins.
        assert_eq!(kc.current_context.as_deref(), Some("demo"));
        assert_eq!(kc.auth_infos[0].name, "ops");
        let ca = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            ca.certificate_authority.as_deref(),
            d.join("certs/ca.crt").to_str()
        );
        // A file that is not YAML is a parse error naming it.
        std::fs::write(d.join("b.yaml"), "users: [\n").unwrap();
        let err = read_kubeconfigs(&list, &Default::default()).unwrap_err();
        assert!(
            err.to_string().contains("b.yaml` is not a kubeconfig"),
            "{err}"
        );
    }

    #[test]
    fn debug_never_shows_an_embedded_kubeconfig() {
        let opts = ConnectOptions {
            region: Some("us-west-2".into()),
            kubeconfig_yaml: Some("users:\n- user:\n    token: s3cr3t-token\n".into()),
            ..ConnectOptions::default()
        };
        let shown = format!("{opts:?}");
        assert!(shown.contains("us-west-2"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
