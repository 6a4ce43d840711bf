//! The tokens a chat request costs beyond the text of its messages.
//!
//! A chat model never sees the JSON of a request: the server renders the messages through the
//! model's chat template, which wraps each message in marker tokens and ends the prompt with
//! the header of the reply the model is to write. Tool definitions are rendered into the
//! prompt too. None of that text is in the request, so a counter adds it as fixed overheads.
//!
//! The values follow the scheme of OpenAI's cookbook, *How to count tokens with tiktoken*
//! (`examples/How_to_count_tokens_with_tiktoken.ipynb` in `openai/openai-cookbook`): 3 tokens
//! per message plus the role's own tokens, 3 tokens priming the reply, and for function
//! definitions 7 tokens each plus 12 once. They are exact for OpenAI's chat models and only
//! approximate for Groq's: Llama 3's template spends `<|start_header_id|>`, the role,
//! `<|end_header_id|>`, a blank line and `<|eot_id|>` on each message, tool use adds a
//! system preamble, and Groq's other families have templates of their own. The
//! [`Calibration`](crate::Calibration) learned from each reply's `usage.prompt_tokens` absorbs
//! the difference, and starts from a prior above 1 so that the gap errs on the safe side.

/// Tokens that frame each message, in addition to the tokens of its role name and content
/// (`<|start|>`, the role separator and `<|end|>` in the cookbook's scheme).
pub const TOKENS_PER_MESSAGE: u64 = 3;

/// Tokens that prime the reply, once per request (`<|start|>assistant<|message|>`).
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// Tokens that frame each tool definition, in addition to the tokens of its JSON
/// (the cookbook's `func_init`).
pub const TOKENS_PER_TOOL: u64 = 7;

/// Tokens that close the block of tool definitions, once per request that has tools
/// (the cookbook's `func_end`).
pub const TOOLS_BLOCK_TOKENS: u64 = 12;

/// Tokens that frame each tool call of an assistant message, in addition to the tokens of its
/// id, function name and arguments (the call's markers and separators; the cookbook counts
/// the call's fields but leaves their framing to the per-message overhead, which is too little
/// for a message holding several calls).
pub const TOKENS_PER_TOOL_CALL: u64 = 3;

/// Tokens counted for each image part, unless the counter is configured otherwise.
///
/// Images cost a model-specific number of tokens that does not depend on the length of their
/// URL or `data:` URI (counting a base64 image as text would overcount it a thousandfold). Llama
/// 4's vision encoder spends 144 tokens on each 336-pixel tile; a 1024 x 1024 image is 9 tiles
/// plus one global view, 1,440 tokens. Set another value with
/// [`TiktokenCounter::with_image_tokens`](crate::TiktokenCounter::with_image_tokens).
pub const DEFAULT_IMAGE_TOKENS: u64 = 1_440;
