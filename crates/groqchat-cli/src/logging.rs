//! `-v`/`-vv` and `RUST_LOG`: the library's tracing output on stderr.

use tracing_subscriber::EnvFilter;

/// The crates whose tracing `-v` turns on.
const CRATES: [&str; 9] = [
    "groq_client",
    "groq_config",
    "groq_mock",
    "groq_queue",
    "groq_ratelimit",
    "groq_tokens",
    "groq_transport",
    "groqchat",
    "groqchat_cli",
];

/// The filter for `verbose` (the count of `-v`), or `None` when `-v` was not given.
fn directives(verbose: u8) -> Option<String> {
    let level = match verbose {
        0 => return None,
        1 => "debug",
        _ => "trace",
    };
    let mut text = String::from("warn");
    for krate in CRATES {
        text.push_str(&format!(",{krate}={level}"));
    }
    Some(text)
}

/// Installs a stderr subscriber when `-v` was given or `RUST_LOG` is set; otherwise nothing
/// is logged. `-v` wins over `RUST_LOG`. A `RUST_LOG` that does not parse is ignored with a
/// warning line.
#[allow(clippy::print_stderr)]
pub(crate) fn init(verbose: u8) {
    let filter = match directives(verbose) {
        Some(text) => EnvFilter::new(text),
        None => match std::env::var("RUST_LOG") {
            Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
                Ok(filter) => filter,
                Err(e) => {
                    eprintln!("groqchat: RUST_LOG={text} is not a valid filter ({e}); ignored");
                    return;
                }
            },
            _ => return,
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_raises_the_level() {
        assert_eq!(directives(0), None);
        let debug = directives(1).unwrap();
        assert!(debug.starts_with("warn,"), "{debug}");
        assert!(debug.contains("groq_client=debug"), "{debug}");
        assert!(directives(2).unwrap().contains("groq_queue=trace"));
        assert!(directives(7).unwrap().contains("groq_transport=trace"));
        assert!(EnvFilter::try_new(directives(2).unwrap()).is_ok());
    }
}
