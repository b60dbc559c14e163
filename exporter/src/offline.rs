//! Reading a pcap or pcapng file through libpcap.

use std::path::Path;

use anyhow::{Context, Result};

use crate::decode::LinkType;
use crate::summary::Summary;

/// Reads every frame of the capture at `path` into a [`Summary`].
pub fn summarize_file(path: &Path) -> Result<Summary> {
    let mut capture = pcap::Capture::from_file(path).with_context(|| format!("opening {}", path.display()))?;
    let link = LinkType::from_dlt(capture.get_datalink().0);
    let mut summary = Summary::default();
    loop {
        match capture.next_packet() {
            Ok(packet) => summary.add(link, packet.data, packet.header.len),
            Err(pcap::Error::NoMorePackets) => break,
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Protocol;
    use crate::decode::tests::tcp_frame;

    /// Writes frames to a pcap file with libpcap itself.
    fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
        let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).unwrap();
        let mut out = dead.savefile(path).unwrap();
        for (i, frame) in frames.iter().enumerate() {
            let header =
                pcap::PacketHeader { ts: libc_timeval(i as i64), caplen: frame.len() as u32, len: frame.len() as u32 };
            out.write(&pcap::Packet::new(&header, frame));
        }
        out.flush().unwrap();
    }

    fn libc_timeval(seconds: i64) -> libc::timeval {
        libc::timeval { tv_sec: 1_790_000_000 + seconds, tv_usec: 0 }
    }

    #[test]
    fn summarizes_a_capture_written_by_libpcap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.pcap");
        let frames = vec![tcp_frame(b"MSH|a"), tcp_frame(b"MSH|bb")];
        write_pcap(&path, &frames);
        let summary = summarize_file(&path).unwrap();
        assert_eq!(summary.packets, 2);
        assert_eq!(summary.bytes, (frames[0].len() + frames[1].len()) as u64);
        assert_eq!(summary.protocols[&Protocol::Tcp], 2);
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = summarize_file(Path::new("/nonexistent/x.pcap")).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/x.pcap"));
    }
}
