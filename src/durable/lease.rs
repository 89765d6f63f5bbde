//! Cluster lock (placeholder while written).
pub struct ClusterLock;
pub struct LockError;
pub struct LockOptions;
