//! The prometheus-operator resources wardwatch writes (`monitoring.coreos.com/v1`), typed with
//! just the fields wardwatch sets. Their CRDs belong to prometheus-operator, so no schema is
//! generated here; the real CRDs validate them in the end-to-end suites.

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// `PrometheusRule.spec`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(group = "monitoring.coreos.com", version = "v1", kind = "PrometheusRule", namespaced, schema = "disabled")]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// An alerting rule (`alert`) or a recording rule (`record`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
