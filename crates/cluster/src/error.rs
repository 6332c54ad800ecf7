//! The cluster's one error type.

/// What can go wrong in the cluster adapter.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A `[cluster]` setting is wrong.
    #[error("[cluster] {field}: {problem}")]
    BadSetting {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Redis refused or failed a command, or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}
