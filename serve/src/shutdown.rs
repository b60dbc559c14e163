//! Stopping on a signal: SIGTERM (how Kubernetes stops a pod) or SIGINT (Ctrl-C).

use std::fmt;

use tokio::signal::unix::{SignalKind, signal};

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Interrupt,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        })
    }
}

/// Both handlers, installed: from here on the signals no longer end the process by themselves.
pub struct Termination {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Termination {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    /// The next SIGTERM or SIGINT.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.terminate.recv() => Signal::Terminate,
            _ = self.interrupt.recv() => Signal::Interrupt,
        }
    }
}

/// Completes on the first SIGTERM or SIGINT after the first poll. Where the handlers cannot be
/// installed it never completes, and the signals keep their default action: they end the
/// process.
pub async fn terminated() -> Signal {
    match Termination::listen() {
        Ok(mut termination) => termination.next().await,
        Err(error) => {
            tracing::warn!(%error, "cannot handle SIGTERM and SIGINT; they end the process at once");
            std::future::pending().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raise(signal: libc::c_int) {
        // SAFETY: kill(2) on this process with a signal whose handler is installed.
        assert_eq!(unsafe { libc::kill(libc::getpid(), signal) }, 0);
    }

    #[tokio::test]
    async fn each_signal_is_told_apart() {
        let mut termination = Termination::listen().unwrap();
        raise(libc::SIGTERM);
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), termination.next()).await.unwrap();
        assert_eq!((first, first.to_string().as_str()), (Signal::Terminate, "SIGTERM"));
        raise(libc::SIGINT);
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), termination.next()).await.unwrap();
        assert_eq!((second, second.to_string().as_str()), (Signal::Interrupt, "SIGINT"));
    }
}
