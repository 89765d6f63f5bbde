//! Build the two real clients. AWS: aws-config's default chain (env,
//! profiles, SSO, IMDS) with optional region/profile; the endpoint is
//! overridable the standard way (AWS_ENDPOINT_URL[_EKS], read by aws-config)
//! or explicitly for the embedded sandbox. Kubernetes: kubeconfig (path and
//! context) or in-cluster. Both clients are the real ones; the sandbox only
//! changes their configuration.

use std::fmt;
use std::path::PathBuf;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_eks::config::{Credentials, Region};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::CloudError;

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
    let mut config = if let Some(yaml) = &opts.kubeconfig_yaml {
        let kc = Kubeconfig::from_yaml(yaml).map_err(|e| err(e.to_string()))?;
        kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| err(e.to_string()))?
    } else if let Some(path) = &opts.kubeconfig {
        // kube reads the file itself (resolving relative certificate paths);
        // only a regular file within the limit is handed to it.
        crate::source::check_file(path, crate::source::MAX_KUBECONFIG_BYTES)
            .map_err(|e| err(format!("{e}; {}", e.hint())))?;
        let kc = Kubeconfig::read_from(path)
            .map_err(|e| err(format!("reading {}: {e}", path.display())))?;
        kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| err(e.to_string()))?
    } else if opts.context.is_some() {
        kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| err(e.to_string()))?
    } else {
        kube::Config::infer()
            .await
            .map_err(|e| err(e.to_string()))?
    };
    // kube retries 429 silently by default; a PDB refusing an eviction is a
    // 429 that the drain must see to name the PDB and apply its own policy.
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| CloudError::kube("client", e))
}

#[cfg(test)]
mod tests {
    use super::*;

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
