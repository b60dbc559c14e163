//! Pieces the simulator's test binaries share.

use std::process::{Command, Output};

/// Runs a command (the simulator, tshark, tcpdump) and fails the test if it cannot start or fails.
pub fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); tshark and tcpdump come from Debian's packages"));
    assert!(output.status.success(), "{program} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}
