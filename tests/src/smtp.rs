//! A real SMTP server for e-mail receivers: Debian's aiosmtpd (`python3-aiosmtpd`), run as
//! `python3 -m aiosmtpd` on 127.0.0.1 with its Mailbox handler, which stores every message it
//! accepts in a maildir. [`SmtpServer::messages`] reads them back with their arrival times.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::process::{ManagedProcess, free_port, wait_until_ready};

/// Debian's interpreter, which has python3-aiosmtpd (a `python3` earlier on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub at: SystemTime,
    pub text: String,
}

pub struct SmtpServer {
    process: ManagedProcess,
    address: String,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Starts the server on a free port of 127.0.0.1, keeping its log and maildir in `dir`.
    pub async fn start(dir: &std::path::Path) -> Result<Self> {
        let port = free_port()?;
        let address = format!("127.0.0.1:{port}");
        let maildir = dir.join("maildir");
        let args = [
            "-m".to_owned(),
            "aiosmtpd".to_owned(),
            "-n".to_owned(),
            "-l".to_owned(),
            address.clone(),
            "-c".to_owned(),
            "aiosmtpd.handlers.Mailbox".to_owned(),
            maildir.display().to_string(),
        ];
        let mut process = ManagedProcess::spawn("smtp", std::path::Path::new(PYTHON), &args, dir)
            .context("starting aiosmtpd (Debian package python3-aiosmtpd)")?;
        let probe = address.clone();
        wait_until_ready(&mut process, Duration::from_secs(20), || {
            let probe = probe.clone();
            async move { tokio::net::TcpStream::connect(probe).await.is_ok() }
        })
        .await?;
        Ok(Self { process, address, maildir })
    }

    /// `host:port`, as a receiver's smarthost.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Every message accepted so far, oldest first (by the file's modification time).
    pub fn messages(&self) -> Result<Vec<Mail>> {
        let mut mails = Vec::new();
        for folder in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(folder)) else { continue };
            for entry in entries {
                let entry = entry?;
                let at = entry.metadata()?.modified()?;
                let text = String::from_utf8_lossy(&std::fs::read(entry.path())?).into_owned();
                mails.push(Mail { at, text });
            }
        }
        mails.sort_by_key(|m| m.at);
        Ok(mails)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn a_message_sent_over_smtp_lands_in_the_maildir() {
        let dir = tempfile::tempdir().unwrap();
        let server = SmtpServer::start(dir.path()).await.unwrap();
        let stream = tokio::net::TcpStream::connect(server.address()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut expect = async |code: &str| {
            let line = lines.next_line().await.unwrap().unwrap();
            assert!(line.starts_with(code), "{line}");
        };
        expect("220").await;
        for (command, code) in [
            ("HELO test\r\n", "250"),
            ("MAIL FROM:<a@example.org>\r\n", "250"),
            ("RCPT TO:<b@example.org>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("Subject: hello\r\n\r\nbody\r\n.\r\n", "250"),
        ] {
            write.write_all(command.as_bytes()).await.unwrap();
            expect(code).await;
        }
        let mails = server.messages().unwrap();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].text.contains("Subject: hello"), "{}", mails[0].text);
    }
}
