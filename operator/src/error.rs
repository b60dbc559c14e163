//! The operator's errors. Each variant's `metric_label` names it in
//! `wardwatch_operator_reconcile_errors_total{error}`.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("MonitoredDevice {namespace}/{device}: its ward {ward:?} does not exist")]
    WardNotFound { namespace: String, device: String, ward: String },
    #[error("object without {0}")]
    MissingField(&'static str),
    #[error("serialising {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(_)) => "api",
            Self::Kube(_) => "kube_client",
            Self::WardNotFound { .. } => "ward_not_found",
            Self::MissingField(_) => "missing_field",
            Self::Serialize(_) => "serialize",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
