//! Ctrl+C and SIGTERM: the first one starts a graceful shutdown, a second one cuts it short.
//!
//! The handlers are installed before anything starts listening. Otherwise a SIGTERM that
//! arrives while the server binds (a supervisor restarting it, a test tearing it down) would
//! hit the default action and kill the process without a clean goodbye to the clients.

use std::{fmt, future::Future, io};

/// The stop signals this process listens for.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

/// Which signal arrived, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Interrupt,
    Terminate,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Interrupt => "Ctrl+C",
            Stop::Terminate => "SIGTERM",
        })
    }
}

impl Signals {
    /// Starts listening; from now on these signals no longer kill the process by default.
    #[cfg(unix)]
    pub(crate) fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Starts listening for Ctrl+C (the only stop signal outside Unix).
    #[cfg(not(unix))]
    pub(crate) fn install() -> io::Result<Self> {
        Ok(Self {})
    }

    /// Waits for the next stop signal.
    #[cfg(unix)]
    pub(crate) async fn recv(&mut self) -> Stop {
        // `None` means the signal driver is gone, which only happens as the runtime shuts
        // down; waiting forever then is right, a spurious "stop" would not be.
        tokio::select! {
            Some(()) = self.interrupt.recv() => Stop::Interrupt,
            Some(()) = self.terminate.recv() => Stop::Terminate,
            else => std::future::pending().await,
        }
    }

    /// Waits for the next stop signal.
    #[cfg(not(unix))]
    pub(crate) async fn recv(&mut self) -> Stop {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Stop::Interrupt,
            Err(_) => std::future::pending().await,
        }
    }

    /// Runs a graceful shutdown to its end, unless another stop signal arrives first: someone
    /// pressing Ctrl+C twice wants out now, whatever is still in flight.
    pub(crate) async fn graceful<F: Future>(&mut self, shutdown: F) -> anyhow::Result<F::Output> {
        tokio::select! {
            output = shutdown => Ok(output),
            again = self.recv() => Err(anyhow::anyhow!(
                "{again} received again: stopped without waiting for the graceful shutdown to finish"
            )),
        }
    }
}
