//! Adapters to the real cloud: aws-sdk-eks and kube-rs clients, wrapped in
//! small typed layers the interpreter calls. Every wait goes through
//! [`clock::Clock`]; every mutation has an apply and a plan mode.
//!
//! Layers, bottom up: `connect` (build clients) → `clock` (time and
//! cancellation) → `eks` / `kube` (typed reads and single mutations) →
//! `drain` (eviction-based node drain) → `rotate` (nodegroup rotation);
//! `objects` (any kind by apiVersion/kind) and `workloads` (delete a pod,
//! scale) sit beside `kube`.

pub mod clock;
pub mod connect;
pub mod drain;
pub mod eks;
pub mod error;
pub mod kube;
pub mod objects;
pub mod plan;
pub mod rotate;
pub mod timing;
pub mod token;
pub mod workloads;

pub use clock::Clock;
pub use connect::{Clients, ConnectOptions};
pub use error::CloudError;
pub use plan::{Change, Plan};
