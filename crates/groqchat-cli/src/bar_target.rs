//! Where `--progress bar` draws: the terminal, or, when stderr is not one (a log file, a
//! pipe), plain carriage-return redraws so that the bar still shows as the flag promises.

use std::io::{IsTerminal as _, Write as _};
use std::sync::{Mutex, PoisonError};

use indicatif::{ProgressDrawTarget, TermLike};

/// The draw target for the bar on stderr.
pub(crate) fn stderr_target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::term_like_with_hz(Box::new(CarriageReturn::default()), 4)
    }
}

/// A one-line "terminal" on stderr that redraws with `\r` and blanks, no cursor movement.
#[derive(Debug, Default)]
struct CarriageReturn {
    /// The length of the line on screen, to blank it before a shorter one.
    shown: Mutex<usize>,
}

impl CarriageReturn {
    fn write(&self, text: &str, newline: bool) -> std::io::Result<()> {
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stderr = std::io::stderr().lock();
        stderr.write_all(text.as_bytes())?;
        if newline {
            stderr.write_all(b"\n")?;
            *shown = 0;
        } else {
            *shown += text.chars().count();
        }
        Ok(())
    }
}

impl TermLike for CarriageReturn {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write(s, true)
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write(s, false)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        let blank = format!("\r{}\r", " ".repeat(*shown));
        *shown = 0;
        std::io::stderr().lock().write_all(blank.as_bytes())
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
