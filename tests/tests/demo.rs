//! The README's demo command works: `wardwatch-demo --until-alert` brings up the control plane,
//! the operator, the sample ward's pods, Prometheus and Alertmanager, and exits once an alert
//! reaches a receiver. The hypoxia scenario plays ten times faster here.

use std::process::Command;

#[test]
fn the_demo_shows_hypoxia_firing_at_a_receiver() {
    let output = Command::new(env!("CARGO_BIN_EXE_wardwatch-demo"))
        .args(["--until-alert", "--speed", "10", "--timeout-seconds", "240"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let delivered = stdout.lines().find(|l| l.contains("FIRING") && l.contains("HypoxiaDetected"));
    assert!(delivered.is_some_and(|l| l.contains("MRN-100234")), "the monitor's patient is named:\n{stdout}");
    assert!(stdout.contains("targets up 7/7"), "every exporter and the gateway are scraped:\n{stdout}");
}
