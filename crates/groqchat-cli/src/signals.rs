//! [`Interrupts`]: Ctrl-C and SIGTERM as a stream, so that a second press is seen too.

/// What stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM, as services are stopped: handled as a first Ctrl-C (drain, summary, exit 1).
    Terminate,
}

/// Delivers each Ctrl-C (SIGINT) press and each SIGTERM.
#[derive(Debug)]
pub(crate) struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    /// Starts listening. From now on Ctrl-C and SIGTERM no longer end the process by
    /// themselves.
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            #[cfg(unix)]
            signal: signal(SignalKind::interrupt()).ok(),
            #[cfg(unix)]
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Waits for the next press or termination request.
    pub(crate) async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        if self.signal.is_some() || self.terminate.is_some() {
            /// The next delivery of `signal`; never, if it is not being watched or its
            /// driver is gone.
            async fn delivered(signal: Option<&mut tokio::signal::unix::Signal>) {
                if let Some(signal) = signal
                    && signal.recv().await.is_some()
                {
                    return;
                }
                std::future::pending::<()>().await;
            }
            let interrupt = async {
                delivered(self.signal.as_mut()).await;
                Stop::Interrupt
            };
            let terminate = async {
                delivered(self.terminate.as_mut()).await;
                Stop::Terminate
            };
            return tokio::select! {
                stop = interrupt => stop,
                stop = terminate => stop,
            };
        }
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        Stop::Interrupt
    }
}
