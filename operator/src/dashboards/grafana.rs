//! Pure builders of Grafana dashboard JSON (the classic dashboard model, `schemaVersion` 39,
//! as Grafana 10.4 to 12 load it). Every object carries the fields Grafana's schema requires,
//! so that the dashboards decode strictly against it (`dashboard-check`, built from
//! grafana-foundation-sdk, in the tests).

use serde_json::{Value, json};

/// The schema version the dashboards are written in.
pub const SCHEMA_VERSION: u32 = 39;

/// The Prometheus data source every panel and variable uses: the dashboard's `datasource`
/// variable.
fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// A query of a panel: `expr` with a legend.
pub struct Query {
    pub expr: String,
    pub legend: String,
}

impl Query {
    pub fn new(expr: impl Into<String>, legend: &str) -> Self {
        Self { expr: expr.into(), legend: legend.to_owned() }
    }
}

/// How a panel shows its series.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Lines over time.
    TimeSeries,
    /// Stacked areas over time (parts of a whole).
    Stacked,
    /// The latest value of each series, as a number.
    Stat,
    /// The latest value of each series, as a row.
    Table,
    /// One row per series, coloured by value over time (`heatmap` with rows as they come).
    Heatmap,
}

/// One panel: title, description, queries and unit (Grafana's unit id, e.g. `percent`, `Bps`).
pub struct Panel {
    pub title: String,
    pub description: String,
    pub kind: Kind,
    pub unit: String,
    pub queries: Vec<Query>,
    /// Data links on every value (Grafana's `fieldConfig.defaults.links`).
    pub links: Vec<Value>,
}

impl Panel {
    pub fn new(kind: Kind, title: &str, unit: &str, description: &str, queries: Vec<Query>) -> Self {
        Self {
            title: title.to_owned(),
            description: description.to_owned(),
            kind,
            unit: unit.to_owned(),
            queries,
            links: Vec::new(),
        }
    }

    /// The panel with `link` on each of its values.
    pub fn linked(mut self, link: Value) -> Self {
        self.links.push(link);
        self
    }
}

fn field_config(panel: &Panel) -> Value {
    let mut defaults = json!({"unit": panel.unit});
    if !panel.links.is_empty() {
        defaults["links"] = json!(panel.links);
    }
    if matches!(panel.kind, Kind::TimeSeries | Kind::Stacked) {
        let stacking = if panel.kind == Kind::Stacked { "normal" } else { "none" };
        defaults["custom"] = json!({
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": if panel.kind == Kind::Stacked { 60 } else { 0 },
            "stacking": {"mode": stacking, "group": "A"}, "spanNulls": false, "showPoints": "never",
        });
    }
    if panel.kind == Kind::Heatmap {
        defaults["custom"] = json!({
            "hideFrom": {"legend": false, "tooltip": false, "viz": false},
            "scaleDistribution": {"type": "linear"},
        });
    }
    json!({"defaults": defaults, "overrides": []})
}

fn options(kind: Kind) -> Value {
    let legend = json!({"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []});
    let reduce = json!({"calcs": ["lastNotNull"], "fields": "", "values": false});
    match kind {
        Kind::TimeSeries | Kind::Stacked => json!({"legend": legend, "tooltip": {"mode": "multi", "sort": "none"}}),
        Kind::Stat => json!({
            "reduceOptions": reduce, "orientation": "auto", "textMode": "auto", "colorMode": "value",
            "graphMode": "none", "justifyMode": "auto", "showPercentChange": false, "wideLayout": true,
            "percentChangeColorMode": "standard",
        }),
        Kind::Table => {
            json!({"showHeader": true, "cellHeight": "sm", "frameIndex": 0, "footer": {"show": false, "reducer": ["sum"], "countRows": false, "fields": ""}})
        }
        // Rows as the query gives them (not calculated buckets); colour from 0 to NEWS2's top
        // band and beyond.
        Kind::Heatmap => json!({
            "calculate": false,
            "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "exponent": 0.5,
                      "steps": 64, "reverse": false, "min": 0},
            "rowsFrame": {"layout": "auto"},
            "showValue": "auto", "cellGap": 1,
            "yAxis": {"axisPlacement": "left", "reverse": false},
            "legend": {"show": true},
            "tooltip": {"mode": "single", "yHistogram": false, "showColorScale": false},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
        }),
    }
}

fn panel_type(kind: Kind) -> &'static str {
    match kind {
        Kind::TimeSeries | Kind::Stacked => "timeseries",
        Kind::Stat => "stat",
        Kind::Table => "table",
        Kind::Heatmap => "heatmap",
    }
}

/// The panels laid out two to a row, 12 columns by 8 rows each.
fn laid_out(panels: &[Panel]) -> Vec<Value> {
    panels
        .iter()
        .enumerate()
        .map(|(i, panel)| {
            let targets: Vec<Value> = panel
                .queries
                .iter()
                .zip('A'..)
                .map(|(query, ref_id)| {
                    let mut target = json!({"refId": ref_id.to_string(), "datasource": datasource(),
                                            "expr": query.expr, "legendFormat": query.legend});
                    if panel.kind == Kind::Table {
                        target["instant"] = json!(true);
                        target["format"] = json!("table");
                    }
                    target
                })
                .collect();
            json!({
                "id": i + 1,
                "type": panel_type(panel.kind),
                "title": panel.title,
                "description": panel.description,
                "gridPos": {"x": (i % 2) * 12, "y": (i / 2) * 8, "w": 12, "h": 8},
                "datasource": datasource(),
                "targets": targets,
                "fieldConfig": field_config(panel),
                "options": options(panel.kind),
                "transparent": false,
            })
        })
        .collect()
}

/// A variable whose values are `label` of the series `selector` selects, refreshed with the
/// time range; several values may be picked, and "All".
pub fn label_variable(name: &str, label: &str, selector: &str) -> Value {
    let query = format!("label_values({selector}, {label})");
    json!({
        "name": name, "label": name, "type": "query", "datasource": datasource(),
        "query": {"query": query, "refId": "variable"}, "definition": query,
        "refresh": 2, "multi": true, "includeAll": true, "sort": 1,
        "skipUrlSync": false, "hide": 0, "options": [],
    })
}

/// A dashboard as written to a file or a ConfigMap: indented JSON.
pub fn pretty(dashboard: &Value) -> String {
    serde_json::to_string_pretty(dashboard).expect("JSON values serialise")
}

/// A vital sign's panel title: its LOINC display name and UCUM unit.
pub fn vital_title(vital: &wardwatch_clinical::VitalSign) -> String {
    format!("{} ({})", vital.loinc_name, vital.ucum)
}

/// The whole dashboard: `uid`, title, tags, the `datasource` variable then `variables`, and the
/// panels.
pub fn dashboard(uid: &str, title: &str, tags: &[&str], variables: Vec<Value>, panels: &[Panel]) -> Value {
    let mut list = vec![json!({
        "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
        "skipUrlSync": false, "hide": 0, "multi": false, "includeAll": false, "options": [], "refresh": 1,
    })];
    list.extend(variables);
    json!({
        "uid": uid,
        "title": title,
        "tags": tags,
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": false,
        "weekStart": "",
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": list},
        "panels": laid_out(panels),
    })
}
