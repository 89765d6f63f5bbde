//! Sandbox integration tests: one binary, modules per area. Every test talks
//! to a real server through real clients (aws-sdk-eks, kube-rs, and the
//! `kubectl` and `aws` binaries when installed).

#[path = "sandbox/cli.rs"]
mod cli;
#[path = "sandbox/cli_tools.rs"]
mod cli_tools;
#[path = "sandbox/common.rs"]
mod common;
#[path = "sandbox/eks_sdk.rs"]
mod eks_sdk;
#[path = "sandbox/fixtures.rs"]
mod fixtures;
#[path = "sandbox/http.rs"]
mod http;
#[path = "sandbox/kube_client.rs"]
mod kube_client;
#[path = "sandbox/kubectl.rs"]
mod kubectl;
#[path = "sandbox/simulation.rs"]
mod simulation;
