//! `-` for stdin and stdout: `batch - -o -`, `tokens --file -`, `tokens --chat -`.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use crate::error::{CliError, print_out};
use crate::output::{OutputError, ResumePlan, prepare_output};

/// Whether `path` is `-`.
pub(crate) fn is_dash(path: &Path) -> bool {
    path == Path::new("-")
}

/// The bytes of `path`, or of stdin when it is `-`.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, CliError> {
    if is_dash(path) {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::file("read", Path::new("stdin"), e))?;
        Ok(bytes)
    } else {
        std::fs::read(path).map_err(|e| CliError::file("read", path, e))
    }
}

/// The text of `path`, or of stdin when it is `-`.
pub(crate) fn read_text(path: &Path) -> Result<String, CliError> {
    let bytes = read_bytes(path)?;
    let where_ = if is_dash(path) {
        "stdin".to_owned()
    } else {
        path.display().to_string()
    };
    String::from_utf8(bytes).map_err(|_| {
        CliError::file(
            "read",
            Path::new(&where_),
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
        )
    })
}

/// Copies stdin into a new temporary file (removed when the returned handle drops), for an
/// input that is read more than once. Memory stays flat however long the input is.
pub(crate) fn spool_stdin() -> Result<tempfile::NamedTempFile, CliError> {
    let read_error = |e| CliError::file("read", Path::new("stdin"), e);
    let mut copy = tempfile::NamedTempFile::new()
        .map_err(|e| CliError::file("create a temporary copy of", Path::new("stdin"), e))?;
    std::io::copy(&mut std::io::stdin().lock(), copy.as_file_mut()).map_err(read_error)?;
    Ok(copy)
}

/// The batch output: the file, resumed as usual, or stdout for `-` (a fresh run: nothing to
/// resume, every request is sent).
pub(crate) fn open_output(path: &Path, retry_failed: bool) -> Result<(File, ResumePlan), CliError> {
    if !is_dash(path) {
        return Ok(prepare_output(path, retry_failed)?);
    }
    let stdout = stdout_file().map_err(|source| {
        CliError::Output(OutputError::Io {
            action: "write",
            path: "stdout".to_owned(),
            source,
        })
    })?;
    Ok((stdout, ResumePlan::default()))
}

/// A `File` writing to this process's stdout (a duplicate of its descriptor).
fn stdout_file() -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        Ok(File::from(std::io::stdout().as_fd().try_clone_to_owned()?))
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsHandle as _;
        Ok(File::from(
            std::io::stdout().as_handle().try_clone_to_owned()?,
        ))
    }
}

/// Prints a report of the batch run (plan, summary): on stdout, or on stderr when the
/// results go to stdout (`-o -`), so that stdout carries only result lines.
#[allow(clippy::print_stderr)]
pub(crate) fn report(output: &Path, text: &str) -> Result<(), CliError> {
    if is_dash(output) {
        eprint!("{text}");
        Ok(())
    } else {
        print_out(text)
    }
}
