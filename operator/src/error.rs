//! The operator's reconcile errors: each names the controller, the object and the step that
//! failed, and counts in `wardwatch_operator_reconcile_errors_total{controller,step,error}`.

/// The steps of a reconcile that can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading what the object references.
    Read,
    /// Server-side apply of a desired object.
    Apply,
    /// Deleting an owned object that is no longer desired.
    Prune,
    /// Writing the object's status.
    Status,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Apply => "apply",
            Self::Prune => "prune",
            Self::Status => "status",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong inside a step.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("object without {0}")]
    MissingField(&'static str),
}

impl Cause {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(_)) => "api",
            Self::Kube(_) => "kube_client",
            Self::MissingField(_) => "missing_field",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{controller} reconcile of {object}: step {step}: {cause}")]
pub struct Error {
    pub controller: &'static str,
    /// `Kind/namespace/name`.
    pub object: String,
    pub step: Step,
    #[source]
    pub cause: Cause,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns the causes of one reconcile's steps into [`Error`]s naming the object.
#[derive(Clone, Debug)]
pub struct Failing {
    pub controller: &'static str,
    pub object: String,
}

impl Failing {
    pub fn at<C: Into<Cause>>(&self, step: Step) -> impl FnOnce(C) -> Error + '_ {
        move |cause| Error { controller: self.controller, object: self.object.clone(), step, cause: cause.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_controller_object_step_and_cause() {
        let failing = Failing { controller: "device", object: "MonitoredDevice/st-mary/bed-01".into() };
        let error = failing.at(Step::Read)(Cause::MissingField("metadata.namespace"));
        assert_eq!(
            error.to_string(),
            "device reconcile of MonitoredDevice/st-mary/bed-01: step read: object without metadata.namespace"
        );
        assert_eq!(error.cause.metric_label(), "missing_field");
    }
}
