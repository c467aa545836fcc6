//! What can go wrong around a run (a program that fails is not an error: it is an Outcome).

use crate::{Bound, Limit};

/// An engine error. [`EngineError::is_caller_mistake`] tells an API whether to answer 4xx.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Resolve(#[from] runtimes::ResolveError),
    #[error(transparent)]
    Plan(#[from] runtimes::PlanError),
    /// A limit asked for (or set by the operator) past one of its bounds. The message is the
    /// engine's wording; an API words it in its own vocabulary from the fields.
    #[error("{}", crate::limits::describe(*limit, *value, *bound))]
    Limit { limit: Limit, value: u64, bound: Bound },
    #[error("{0}")]
    BadRequest(String),
    #[error("sandbox failure")]
    Sandbox(#[source] sandbox::SandboxError),
    /// Every run slot is taken and the wait queue is full (or the wait timed out).
    #[error("the server is at capacity; retry in {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// A failure of tiderun itself outside the sandbox (a task that died).
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub(crate) fn limit(limit: Limit, value: u64, bound: Bound) -> EngineError {
        EngineError::Limit { limit, value, bound }
    }

    /// True when the caller's request was at fault (an API answers 4xx), false for tiderun's
    /// own failures and for capacity (5xx / 429, details only in the log).
    pub fn is_caller_mistake(&self) -> bool {
        !matches!(
            self,
            EngineError::Sandbox(_) | EngineError::Busy { .. } | EngineError::ShuttingDown | EngineError::Internal(_)
        )
    }
}

impl From<sandbox::SandboxError> for EngineError {
    fn from(e: sandbox::SandboxError) -> Self {
        match e {
            sandbox::SandboxError::InvalidSpec(m) => EngineError::BadRequest(m),
            sandbox::SandboxError::Busy { .. } => EngineError::Busy { retry_after_s: 1 },
            other => EngineError::Sandbox(other),
        }
    }
}
