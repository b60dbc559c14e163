//! The simulator's captures the bench reads, each written once under the work directory and
//! reused, by the flags `wardwatch-simulator pcap` takes (`cli::pcap_config`).
//!
//! A capture is written in a child process (this bench run again with [`WRITE_CAPTURE_ENV`]):
//! the simulator holds a capture in memory while writing it, and Linux carries a process's peak
//! RSS into the `ru_maxrss` of every child it starts later (execve records the old address
//! space's peak), which would inflate the RSS columns of every later reader.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wardwatch_simulator::capture;
use wardwatch_simulator::cli::pcap_config;

use crate::proc::thousands;

/// Set to a path, the bench only writes the capture [`FLAGS_ENV`] describes there and exits.
pub const WRITE_CAPTURE_ENV: &str = "WARDWATCH_BENCH_WRITE_CAPTURE";
/// The simulator flags of the capture to write, separated by spaces.
const FLAGS_ENV: &str = "WARDWATCH_BENCH_WRITE_FLAGS";

/// The capture `wardwatch-simulator pcap FLAGS` writes, as `file_name` in the work directory,
/// written first if it is not there.
pub fn simulator_capture(file_name: &str, flags: &[&str]) -> PathBuf {
    let path = crate::work_dir().join(file_name);
    if !path.is_file() {
        let started = Instant::now();
        let status = Command::new(std::env::current_exe().expect("the bench's own path"))
            .env(WRITE_CAPTURE_ENV, &path)
            .env(FLAGS_ENV, flags.join(" "))
            .status()
            .expect("starting the bench to write a capture");
        assert!(status.success(), "writing {} with the simulator's pcap mode failed", path.display());
        println!(
            "wrote {} (wardwatch-simulator pcap {}) in {:.1} s",
            path.display(),
            flags.join(" "),
            started.elapsed().as_secs_f64()
        );
    }
    path
}

/// Writes the capture of [`FLAGS_ENV`] to `path` (in the child [`simulator_capture`] starts).
pub fn write_capture(path: &Path) {
    let flags = std::env::var(FLAGS_ENV).unwrap_or_default();
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let config = pcap_config(&flags).expect("the capture's flags");
    let labels = capture::write_files(&config, path).expect("writing the simulator's capture");
    println!("{} packets", thousands(labels.packets));
}
