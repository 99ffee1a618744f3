//! What can go wrong while reconciling, as one typed error the controllers' error policy
//! turns into a backoff.

/// A reconcile failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Adding, running or removing a finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// The resource asks for something the operator cannot do; the reason is shown to the
    /// user as a condition and an Event, and the operator waits for the spec to change.
    #[error("{reason}: {message}")]
    InvalidSpec {
        /// A `PascalCase` reason for the condition.
        reason: &'static str,
        /// What is wrong, for humans.
        message: String,
    },
    /// The cluster's admin API failed or refused a request.
    #[error("admin API {url}: {message}")]
    Admin {
        /// The request.
        url: String,
        /// Why.
        message: String,
        /// The HTTP status, when the API answered.
        status: Option<u16>,
    },
    /// Creating certificates failed.
    #[error("certificates: {0}")]
    Certificate(String),
    /// An object could not be (de)serialized.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}

impl Error {
    /// A short label for metrics.
    ///
    /// ```
    /// let e = rustmq_operator::Error::Certificate("no key".into());
    /// assert_eq!(e.metric_label(), "certificate");
    /// ```
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::InvalidSpec { .. } => "invalid_spec",
            Error::Admin { .. } => "admin_api",
            Error::Certificate(_) => "certificate",
            Error::Serialization(_) => "serialization",
        }
    }
}

/// Results of the reconcilers.
pub type Result<T, E = Error> = std::result::Result<T, E>;
