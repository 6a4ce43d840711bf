//! The emulator's prompt cache: which leading messages of a prompt were sent before.
//!
//! Groq serves repeated prompt prefixes from a cache and reports them as
//! `usage.prompt_tokens_details.cached_tokens`; those tokens do not count against its rate
//! limits. The emulator keeps, per API key and model, the hashes of every prefix of whole
//! messages it has served; a request's cached tokens are the tokens of its longest prefix
//! seen before (framing of each message included, the reply priming not).

use std::hash::{DefaultHasher, Hash, Hasher};

use groq_types::ChatParams;
#[cfg(test)]
use groq_types::ChatRequest;

use crate::tokens::message_tokens;

/// The prefixes of one prompt: the hash of its first `i + 1` messages at `hashes[i]`, and
/// the tokens of message `i` at `tokens[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefixes {
    pub(crate) hashes: Vec<u64>,
    pub(crate) tokens: Vec<u64>,
}

/// The prefixes of `request`'s messages (tools, if any, are part of every prefix).
pub(crate) fn prefixes(request: &ChatParams) -> Prefixes {
    let mut hasher = DefaultHasher::new();
    if let Some(tools) = &request.tools {
        serde_json::to_vec(tools)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    let mut hashes = Vec::with_capacity(request.messages.len());
    let mut tokens = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        serde_json::to_vec(message)
            .unwrap_or_default()
            .hash(&mut hasher);
        hashes.push(hasher.finish());
        tokens.push(message_tokens(message));
    }
    Prefixes { hashes, tokens }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_leading_messages_share_hashes() {
        let system = "You are a careful assistant who answers in one line.";
        let a = prefixes(&ChatRequest::new("m").system(system).user("first").params());
        let b = prefixes(&ChatRequest::new("m").system(system).user("second").params());
        assert_eq!(a.hashes[0], b.hashes[0]);
        assert_ne!(a.hashes[1], b.hashes[1]);
        assert_eq!(a.tokens[0], b.tokens[0]);
        let other = prefixes(
            &ChatRequest::new("m")
                .system("another")
                .user("first")
                .params(),
        );
        assert_ne!(a.hashes[0], other.hashes[0]);
        assert_ne!(a.hashes[1], other.hashes[1]);
    }
}
