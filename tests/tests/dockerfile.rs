//! The Dockerfile's images and the images `scripts/images.sh` builds without a container engine
//! must be the same images: the same root filesystem recipe (`scripts/rootfs.sh`, with the same
//! install directory and file capabilities) and the same configuration (entrypoint, user,
//! working directory, environment). No container engine runs here, so the Dockerfile is read,
//! not built; the script's images are built and opened.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const COMPONENTS: [&str; 3] = ["operator", "exporter", "simulator"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One instruction: its keyword (upper case) and its arguments, continuation lines joined.
type Instruction = (String, String);

/// The Dockerfile's stages by name (`FROM ... AS <name>`), each with its base image and its
/// instructions after `FROM`.
fn stages(dockerfile: &str) -> BTreeMap<String, (String, Vec<Instruction>)> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => current.push_str(&format!("{} ", continued.trim())),
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages = BTreeMap::new();
    let mut name = String::new();
    for line in logical {
        let (keyword, arguments) = line.split_once(' ').unwrap_or((&line, ""));
        let (keyword, arguments) = (keyword.to_ascii_uppercase(), arguments.trim().to_owned());
        if keyword == "FROM" {
            let words: Vec<&str> = arguments.split_whitespace().collect();
            assert!(words.len() == 3 && words[1].eq_ignore_ascii_case("as"), "every stage is named: FROM {arguments}");
            name = words[2].to_owned();
            stages.insert(name.clone(), (words[0].to_owned(), Vec::new()));
        } else {
            stages.get_mut(&name).expect("an instruction after FROM").1.push((keyword, arguments));
        }
    }
    stages
}

/// `exporter_capabilities=<value>` as images.sh sets it.
fn script_capabilities() -> String {
    let script = std::fs::read_to_string(repo().join("scripts/images.sh")).unwrap();
    script
        .lines()
        .find_map(|l| l.strip_prefix("exporter_capabilities="))
        .expect("images.sh names the exporter's capabilities")
        .to_owned()
}

/// The configuration (`config` of the image config JSON) of an image archive.
fn image_config(archive: &Path) -> Value {
    let read = |member: &str| {
        let output = Command::new("tar").arg("-xOf").arg(archive).arg(member).output().unwrap();
        assert!(output.status.success(), "{member} in {}", archive.display());
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let manifest = read("./manifest.json");
    let config = read(&format!("./{}", manifest[0]["Config"].as_str().unwrap()));
    config["config"].clone()
}

#[test]
fn the_dockerfile_builds_the_images_the_script_builds() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let stages = stages(&dockerfile);
    let (_, build) = stages.get("build").expect("a build stage");
    let rootfs_calls: Vec<String> = build
        .iter()
        .filter(|(keyword, _)| keyword == "RUN")
        .flat_map(|(_, command)| command.split("&&").map(|part| part.trim().to_owned()).collect::<Vec<_>>())
        .filter(|part| part.starts_with("bash scripts/rootfs.sh"))
        .collect();

    let out = tempfile::tempdir().unwrap();
    let (_, report) = testbed::node::images::build(out.path()).expect("scripts/images.sh builds the images");
    let capabilities = script_capabilities();

    for component in COMPONENTS {
        // The build stage assembles the component's root filesystem as images.sh does.
        let expected_call = format!(
            "bash scripts/rootfs.sh target/release/wardwatch-{component} /rootfs/{component} /usr/local/bin{}",
            if component == "exporter" { format!(" {capabilities}") } else { String::new() }
        );
        assert!(rootfs_calls.contains(&expected_call), "{expected_call:?} not among {rootfs_calls:#?}");

        // The image stage is that root filesystem, with the script's image configuration.
        let (base, instructions) = stages.get(component).unwrap_or_else(|| panic!("a stage named {component}"));
        assert_eq!(base, "scratch", "{component}");
        let by_keyword = |keyword: &str| -> Vec<&str> {
            instructions.iter().filter(|(k, _)| k == keyword).map(|(_, a)| a.as_str()).collect()
        };
        assert_eq!(by_keyword("COPY"), [format!("--from=build /rootfs/{component}/ /")], "{component}");
        let keywords: Vec<&str> = instructions.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keywords, ["COPY", "ENV", "WORKDIR", "USER", "ENTRYPOINT"], "{component}: nothing else");

        assert!(report.contains(&format!("ghcr.io/wardwatch/wardwatch-{component}:")), "{report}");
        let config = image_config(&out.path().join(format!("wardwatch-{component}.tar")));
        let entrypoint: Vec<String> = serde_json::from_str(by_keyword("ENTRYPOINT")[0]).unwrap();
        assert_eq!(config["Entrypoint"], serde_json::json!(entrypoint), "{component}");
        assert_eq!(config["User"], by_keyword("USER")[0], "{component}");
        assert_eq!(config["WorkingDir"], by_keyword("WORKDIR")[0], "{component}");
        let env: Vec<&str> = by_keyword("ENV")[0].split_whitespace().collect();
        assert_eq!(config["Env"], serde_json::json!(env), "{component}");
        assert_ne!(config["User"], "0", "{component} runs as a non-root user");
    }
}

#[test]
fn stages_are_read_with_continuations_and_comments() {
    let stages = stages("# c\nFROM a AS one\nRUN x \\\n && y\n\nFROM scratch AS two\nUSER 1\n");
    assert_eq!(stages["one"], ("a".to_owned(), vec![("RUN".to_owned(), "x && y".to_owned())]));
    assert_eq!(stages["two"], ("scratch".to_owned(), vec![("USER".to_owned(), "1".to_owned())]));
}
