//! [`wait_for_termination`]: the stop signal of the binaries that serve until killed.

/// Completes when the process is asked to stop: Ctrl-C (SIGINT) everywhere, or SIGTERM on
/// Unix.
///
/// The `groq-mock` binary and `groqchat mock` serve until this completes, then shut the
/// emulator down gracefully. When the SIGTERM handler cannot be installed, only Ctrl-C
/// ends the wait; when Ctrl-C cannot be listened for, it completes at once rather than wait
/// for a signal that cannot arrive.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), groq_mock::MockError> {
/// let server = groq_mock::MockServer::builder().start().await?;
/// println!("{}", server.base_url());
/// groq_mock::wait_for_termination().await;
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
