//! What a served request really cost, in every unit the limiter counts.

use groq_ratelimit::Cost;
use groq_types::Usage;

/// The cost of a served chat request from the usage the server reported: one request, its
/// billable tokens (cached prompt tokens do not count against Groq's limits, so they are given
/// back to TPM, TPD and ITPM), its uncached prompt tokens for ITPM and its completion tokens
/// for OTPM.
pub(crate) fn actual_cost(usage: &Usage) -> Cost {
    let cached = usage.cached_tokens();
    let mut cost = Cost::chat(
        usage.prompt_tokens.saturating_sub(cached),
        usage.completion_tokens,
    );
    cost.tokens = usage.billable_tokens();
    cost
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_ratelimit::Dimension;
    use groq_types::PromptTokensDetails;

    #[test]
    fn cached_prompt_tokens_are_left_out_of_every_token_unit() {
        let mut usage = Usage::new(1_000, 50);
        assert_eq!(actual_cost(&usage), Cost::chat(1_000, 50));
        let mut details = PromptTokensDetails::default();
        details.cached_tokens = 768;
        usage.prompt_tokens_details = Some(details);
        let cost = actual_cost(&usage);
        assert_eq!(cost.amount(Dimension::TokensPerMinute), 282);
        assert_eq!(cost.amount(Dimension::TokensPerDay), 282);
        assert_eq!(cost.amount(Dimension::InputTokensPerMinute), 232);
        assert_eq!(cost.amount(Dimension::OutputTokensPerMinute), 50);
        assert_eq!(cost.amount(Dimension::RequestsPerMinute), 1);
    }
}
