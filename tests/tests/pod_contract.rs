//! The contract between the operator's pod specs and the binaries they run. The operator
//! configures a container through `WARDWATCH_*` variables (and its arguments); each binary reads
//! them through its clap flags' `env`. This renders the sample ward's Deployments (every device
//! type, an attack scenario, the gateway) with the operator's own builders and holds every
//! container against the command line of the binary its image holds:
//!
//! - every variable the operator sets is read by a flag of that binary (and subcommand);
//! - the container's arguments and variables together parse, with the values the operator wrote;
//! - every flag of the binary has a `WARDWATCH_*` variable, and is either set by the operator or
//!   named in [`LEFT_AT_DEFAULT`]: a flag added to a binary, or a variable added to a pod spec,
//!   fails here until the other side is decided.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command, CommandFactory};
use serde_json::Value;

/// The flags (by variable) the operator deliberately does not set, per binary and subcommand:
/// their defaults are what a ward wants.
const LEFT_AT_DEFAULT: &[(&str, &[&str])] = &[
    (
        "wardwatch-exporter",
        &[
            // Offline modes and one-shot runs, not a sidecar's.
            "WARDWATCH_READ",
            "WARDWATCH_SUMMARY",
            "WARDWATCH_DURATION",
            // Capture tuning: the defaults suit one device's traffic.
            "WARDWATCH_FILTER",
            "WARDWATCH_SNAPLEN",
            "WARDWATCH_BUFFER_SIZE",
            "WARDWATCH_PROMISCUOUS",
            "WARDWATCH_IMMEDIATE",
            // Alerts reach people through Prometheus and Alertmanager, not the exporter's POSTs;
            // its alert lines stay on stderr, in the container's log.
            "WARDWATCH_ALERT_URL",
            "WARDWATCH_ALERT_LINES",
            // Rule parameters the Ward API does not expose.
            "WARDWATCH_IDS_SYN_FLOOD_HALF_OPEN_RATIO",
            "WARDWATCH_IDS_EXFILTRATION_MIN_BYTES",
            "WARDWATCH_IDS_BEACONING_MAX_JITTER",
            "WARDWATCH_IDS_BEACONING_IGNORED_PORTS",
            "WARDWATCH_IDS_MAX_TRACKED",
            // Memory bounds.
            "WARDWATCH_MAX_FLOWS",
            "WARDWATCH_FLOW_IDLE_TIMEOUT",
            "WARDWATCH_FLOW_ACTIVE_TIMEOUT",
            "WARDWATCH_MAX_REASSEMBLY_BYTES",
            "WARDWATCH_MAX_HELD_STREAM_BYTES",
            "WARDWATCH_MAX_HL7_MESSAGE_BYTES",
            "WARDWATCH_MAX_FRAGMENTED_DATAGRAMS",
            "WARDWATCH_FRAGMENT_TIMEOUT",
        ],
    ),
    (
        "wardwatch-simulator device",
        &[
            "WARDWATCH_LOG",
            // The API has one onset per twin; the episode's shape stays the simulator's.
            "WARDWATCH_SCENARIO_RAMP",
            "WARDWATCH_SCENARIO_PLATEAU",
            "WARDWATCH_SCENARIO_RECOVERY",
            "WARDWATCH_GATEWAY_APPLICATION",
            // Real time, forever, with the ECG strip: what a twin in a cluster does.
            "WARDWATCH_SPEED",
            "WARDWATCH_READINGS",
            "WARDWATCH_ECG",
            "WARDWATCH_SENT_LOG",
            // Connection handling.
            "WARDWATCH_CONNECT_TIMEOUT",
            "WARDWATCH_ACK_TIMEOUT",
            "WARDWATCH_BACKOFF_INITIAL",
            "WARDWATCH_BACKOFF_MAX",
            "WARDWATCH_MAX_MESSAGE_BYTES",
            // Attack bounds: each scenario's own defaults.
            "WARDWATCH_ATTACK_PORTS",
            "WARDWATCH_ATTACK_RATE",
            "WARDWATCH_ATTACK_DURATION",
            "WARDWATCH_ATTACK_MAX",
            // Background traffic needs servers a ward does not name yet.
            "WARDWATCH_NTP_SERVER",
            "WARDWATCH_DNS_SERVER",
            "WARDWATCH_HTTPS_TARGET",
            "WARDWATCH_DICOM_TARGET",
            "WARDWATCH_BACKGROUND_MAX",
        ],
    ),
    (
        "wardwatch-simulator gateway",
        &[
            "WARDWATCH_LOG",
            "WARDWATCH_GATEWAY_APPLICATION",
            "WARDWATCH_MAX_DEVICES",
            "WARDWATCH_MAX_MESSAGE_BYTES",
            "WARDWATCH_IDLE_TIMEOUT",
        ],
    ),
];

/// What the downward API fills in for the `fieldRef`s the operator uses.
fn downward(field_path: &str) -> &'static str {
    match field_path {
        "status.podIPs" => "10.40.0.21",
        other => panic!("no stand-in for the downward-API field {other}"),
    }
}

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// The sample ward's Deployments, as the operator renders them.
fn deployments() -> Vec<Value> {
    let mut inputs = wardwatch_operator::render::Inputs::default();
    let manifest = "manifests/ward.yaml";
    inputs.add_yaml(&std::fs::read_to_string(repo_path(manifest)).unwrap(), manifest).unwrap();
    let (objects, warnings) = wardwatch_operator::render::render(&inputs, None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let deployments: Vec<Value> = objects.into_iter().filter(|o| o["kind"] == "Deployment").collect();
    assert_eq!(deployments.len(), 6, "the gateway and five devices");
    deployments
}

/// The command line of the binary an image holds.
fn binary_of(image: &str) -> Command {
    if image.contains("/wardwatch-exporter:") {
        wardwatch_exporter::cli::Cli::command()
    } else if image.contains("/wardwatch-simulator:") {
        wardwatch_simulator::cli::Cli::command()
    } else {
        panic!("no wardwatch binary in the image {image}")
    }
}

/// The command that `args` runs (a subcommand when the first argument names one) and its name.
fn target<'c>(binary: &'c Command, args: &[String]) -> (&'c Command, String) {
    match args.first().and_then(|first| binary.find_subcommand(first)) {
        Some(sub) => (sub, format!("{} {}", binary.get_name(), sub.get_name())),
        None => (binary, binary.get_name().to_owned()),
    }
}

/// The flags of `command` (with the binary's global ones) by the variable each reads.
fn flags_by_variable<'c>(binary: &'c Command, command: &'c Command) -> BTreeMap<String, &'c Arg> {
    let globals = binary.get_arguments().filter(|a| a.is_global_set());
    command.get_arguments().chain(globals).filter_map(|arg| Some((arg.get_env()?.to_str()?.to_owned(), arg))).collect()
}

/// Every flag but help and version.
fn flags(binary: &Command, command: &Command) -> Vec<String> {
    let globals = binary.get_arguments().filter(|a| a.is_global_set());
    command
        .get_arguments()
        .chain(globals)
        .map(|a| a.get_id().to_string())
        .filter(|id| !matches!(id.as_str(), "help" | "version"))
        .collect()
}

/// The argument that gives `arg` the value `value`.
fn as_argument(arg: &Arg, value: &str) -> Option<String> {
    let long = arg.get_long()?;
    match arg.get_action() {
        ArgAction::SetTrue => (value == "true").then(|| format!("--{long}")),
        _ => Some(format!("--{long}={value}")),
    }
}

/// What breaks the contract in `deployments`, one line each.
fn contract_problems(deployments: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut set_by_operator: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut commands: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    for deployment in deployments {
        let deployment_name = deployment["metadata"]["name"].as_str().unwrap().to_owned();
        for container in testbed::pod::start_order(&deployment["spec"]["template"]["spec"]).unwrap() {
            let at = format!("{deployment_name}/{}", container["name"].as_str().unwrap());
            let binary = binary_of(container["image"].as_str().unwrap());
            let args: Vec<String> =
                container["args"].as_array().into_iter().flatten().map(|a| a.as_str().unwrap().to_owned()).collect();
            let (command, name) = target(&binary, &args);
            let by_variable = flags_by_variable(&binary, command);
            let variables: BTreeSet<String> = by_variable.keys().cloned().collect();
            commands.insert(name.clone(), (variables, flags(&binary, command)));

            let mut argv = vec![binary.get_name().to_owned()];
            argv.extend(args.iter().cloned());
            for variable in container["env"].as_array().into_iter().flatten() {
                let variable_name = variable["name"].as_str().unwrap().to_owned();
                let value = match variable["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some(field) => downward(field).to_owned(),
                    None => variable["value"].as_str().unwrap_or_default().to_owned(),
                };
                set_by_operator.entry(name.clone()).or_default().insert(variable_name.clone());
                match by_variable.get(&variable_name).and_then(|arg| Some((arg, as_argument(arg, &value)?))) {
                    Some((_, argument)) => argv.push(argument),
                    None if by_variable.contains_key(&variable_name) => {}
                    None => problems.push(format!("{at}: {variable_name} is read by no flag of {name}")),
                }
            }
            if let Err(err) = binary.clone().try_get_matches_from(&argv) {
                problems.push(format!("{at}: {name} refuses what the pod spec sets ({argv:?}): {err}"));
            }
        }
    }

    assert_eq!(
        commands.keys().map(String::as_str).collect::<Vec<_>>(),
        ["wardwatch-exporter", "wardwatch-simulator device", "wardwatch-simulator gateway"],
        "the commands the pods run"
    );
    let left: BTreeMap<&str, BTreeSet<String>> = LEFT_AT_DEFAULT
        .iter()
        .map(|(name, variables)| (*name, variables.iter().map(|v| (*v).to_owned()).collect()))
        .collect();
    for (name, (variables, flags)) in &commands {
        if variables.len() != flags.len() {
            problems.push(format!("{name}: {} flags, only {} with a variable", flags.len(), variables.len()));
        }
        let set = set_by_operator.get(name).cloned().unwrap_or_default();
        let left = left.get(name.as_str()).cloned().unwrap_or_default();
        for undecided in variables.difference(&set).filter(|v| !left.contains(*v)) {
            problems.push(format!("{name}: {undecided} is neither set by the operator nor in LEFT_AT_DEFAULT"));
        }
        for stale in left.difference(variables) {
            problems.push(format!("{name}: LEFT_AT_DEFAULT names {stale}, which no flag reads"));
        }
        for both in left.intersection(&set) {
            problems.push(format!("{name}: {both} is set by the operator and listed in LEFT_AT_DEFAULT"));
        }
    }
    problems
}

#[test]
fn every_variable_the_operator_sets_is_read_and_every_flag_is_decided() {
    let problems = contract_problems(&deployments());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The exporter containers' variables, to doctor.
fn exporter_env(deployments: &mut [Value]) -> impl Iterator<Item = &mut Vec<Value>> {
    deployments
        .iter_mut()
        .flat_map(|d| d["spec"]["template"]["spec"]["initContainers"].as_array_mut().unwrap().iter_mut())
        .filter(|c| c["name"] == "exporter")
        .map(|c| c["env"].as_array_mut().unwrap())
}

/// A variable added on one side only fails the check: set by the operator and read by nothing
/// (as the anomaly variables were before the exporter read them), or read by a binary and
/// neither set nor left at its default on purpose.
#[test]
fn a_variable_on_one_side_only_is_a_problem() {
    let mut unread = deployments();
    for env in exporter_env(&mut unread) {
        env.push(serde_json::json!({"name": "WARDWATCH_ANOMALY_SCORE_THRESHOLD", "value": "3"}));
    }
    let problems = contract_problems(&unread);
    assert!(
        problems
            .iter()
            .any(|p| p.ends_with("WARDWATCH_ANOMALY_SCORE_THRESHOLD is read by no flag of wardwatch-exporter")),
        "{problems:?}"
    );

    let mut unset = deployments();
    for env in exporter_env(&mut unset) {
        env.retain(|v| v["name"] != "WARDWATCH_IDS_WINDOW");
    }
    let problems = contract_problems(&unset);
    assert_eq!(
        problems,
        ["wardwatch-exporter: WARDWATCH_IDS_WINDOW is neither set by the operator nor in LEFT_AT_DEFAULT"]
    );

    let mut unparsable = deployments();
    for env in exporter_env(&mut unparsable) {
        for variable in env.iter_mut().filter(|v| v["name"] == "WARDWATCH_IDS_WINDOW") {
            variable["value"] = "10".into();
        }
    }
    let problems = contract_problems(&unparsable);
    assert!(problems.iter().all(|p| p.contains("refuses what the pod spec sets")), "{problems:?}");
    assert_eq!(problems.len(), 6, "every exporter: {problems:?}");
}
