//! Small types several resources share.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A key of a Secret in the same namespace as the resource that refers to it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a Secret reference needs the Secret's name"))]
    pub name: String,
    /// The key inside the Secret.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a Secret reference needs the key inside the Secret"))]
    pub key: String,
}

/// Alert severities, from least to most urgent.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// This severity and every more urgent one.
    pub fn and_above(self) -> impl Iterator<Item = Severity> {
        [Self::Info, Self::Warning, Self::Critical].into_iter().filter(move |s| *s >= self)
    }
}

/// Container image and resources of one of the containers wardwatch runs.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSettings {
    /// The image; empty means the operator's default for this container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Requests and limits; empty means the operator's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
}
