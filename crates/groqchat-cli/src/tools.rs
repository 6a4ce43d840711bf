//! `groqchat completions SHELL` and the hidden `groqchat man`: shell completions and manual
//! pages generated from the command definition.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::Cli;
use crate::error::{CliError, EXIT_OK, print_out};

/// Arguments of `groqchat completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish or powershell. Install, e.g.:
    /// `groqchat completions bash > ~/.local/share/bash-completion/completions/groqchat`.
    #[arg(value_name = "SHELL", value_parser = ["bash", "zsh", "fish", "powershell"])]
    pub(crate) shell: String,
}

/// Arguments of `groqchat man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write groqchat.1 and one page per command (groqchat-batch.1, ...) into this directory
    /// (created if missing). Without it, groqchat.1 goes to stdout.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// The completion script for `shell`.
fn completion_script(shell: &str) -> Result<Vec<u8>, CliError> {
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "powershell" => Shell::PowerShell,
        other => {
            return Err(CliError::Usage(format!(
                "no completions for the shell `{other}`; choose bash, zsh, fish or powershell"
            )));
        }
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "groqchat", &mut script);
    Ok(script)
}

/// Runs `groqchat completions`.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<ExitCode, CliError> {
    let script = completion_script(&args.shell)?;
    print_out(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Runs `groqchat man`.
pub(crate) fn man(args: &ManArgs) -> Result<ExitCode, CliError> {
    let command = Cli::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::file("create", dir, e))?;
            clap_mangen::generate_to(command, dir).map_err(|e| CliError::file("write", dir, e))?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| CliError::file("write", std::path::Path::new("stdout"), e))?;
            print_out(&String::from_utf8_lossy(&page))?;
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in ["bash", "zsh", "fish", "powershell"] {
            let script = String::from_utf8(completion_script(shell).unwrap()).unwrap();
            assert!(script.contains("groqchat"), "{shell}");
            assert!(script.contains("batch"), "{shell}");
            assert!(script.contains("completions"), "{shell}");
        }
        assert!(completion_script("tcsh").is_err());
    }

    #[test]
    fn the_man_pages_cover_every_command() {
        let dir = tempfile::tempdir().unwrap();
        man(&ManArgs {
            dir: Some(dir.path().join("man")),
        })
        .unwrap();
        for page in [
            "groqchat.1",
            "groqchat-batch.1",
            "groqchat-chat.1",
            "groqchat-limits.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join("man").join(page)).unwrap();
            assert!(text.contains(".TH"), "{page}");
        }
        assert!(!dir.path().join("man").join("groqchat-man.1").exists());
    }
}
