//! The emulator's own token arithmetic and its deterministic replies.

use groq_types::{
    ChatParams, ChatRequest, Message, ResponseFormat, Tool, ToolChoice, ToolChoiceMode,
};
use serde_json::{Map, Value};

/// Tokens added for every message (role and framing).
pub const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens added once per request (priming of the reply).
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// `ceil(chars / 3.6)` in integers: `ceil(5 * chars / 18)`.
pub fn text_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    (chars * 5).div_ceil(18)
}

/// The prompt tokens the emulator counts for a request (see the crate documentation):
/// `3 + Σ (4 + ceil(chars(message) / 3.6))`, plus `ceil(chars(tools JSON) / 3.6)` when the
/// request declares tools.
///
/// A message's characters are its text (text parts joined by newlines) plus, for an
/// assistant message, the names and arguments of its tool calls. The rule is deliberately
/// not a real tokenizer, so a client's estimate is honestly imperfect, as against Groq.
///
/// ```
/// use groq_mock::count_prompt_tokens;
/// use groq_types::ChatRequest;
///
/// // 18 characters → 5 tokens, + 4 for the message, + 3 for the reply.
/// let request = ChatRequest::new("m").user("eighteen chars ok!");
/// assert_eq!(count_prompt_tokens(&request), 12);
/// ```
pub fn count_prompt_tokens(request: &ChatRequest) -> u64 {
    count_params_tokens(&request.params())
}

/// [`count_prompt_tokens`] of a request's typed view.
pub(crate) fn count_params_tokens(params: &ChatParams) -> u64 {
    let messages: u64 = params.messages.iter().map(message_tokens).sum();
    let tools = params
        .tools
        .as_ref()
        .filter(|tools| !tools.is_empty())
        .map_or(0, |tools| {
            text_tokens(&serde_json::to_string(tools).unwrap_or_default())
        });
    REPLY_PRIMING_TOKENS + messages + tools
}

/// The tokens one message adds to a prompt: its framing and its text.
pub(crate) fn message_tokens(message: &Message) -> u64 {
    TOKENS_PER_MESSAGE + text_tokens(&message_text(message))
}

fn message_text(message: &Message) -> String {
    let mut text = message.text();
    if let Message::Assistant {
        tool_calls: Some(calls),
        ..
    } = message
    {
        for call in calls {
            text.push_str(&call.function.name);
            text.push_str(&call.function.arguments);
        }
    }
    text
}

/// The marker `[req:<id>]` in the last user message, if any: returns `<id>`.
pub(crate) fn request_marker(params: &ChatParams) -> Option<String> {
    let last_user = params
        .messages
        .iter()
        .rev()
        .find(|message| matches!(message, Message::User { .. }))?;
    let text = last_user.content()?.text();
    let start = text.find("[req:")? + "[req:".len();
    let len = text[start..].find(']')?;
    Some(text[start..start + len].to_owned())
}

const WORDS: [&str; 16] = [
    "The", "mock", "model", "answers", "with", "steady", "words", "so", "every", "reply", "has",
    "a", "known", "length", "and", "shape.",
];

/// A deterministic reply of exactly `tokens` emulator tokens, as one piece per token: the
/// first piece has no leading space, the others do.
pub(crate) fn reply_pieces(tokens: u64) -> Vec<String> {
    (0..tokens)
        .map(|i| {
            let word = WORDS[(i % WORDS.len() as u64) as usize];
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect()
}

/// The function a request forces: a named `tool_choice`, or the first tool with
/// `tool_choice: "required"`.
pub(crate) fn forced_tool(params: &ChatParams) -> Option<&Tool> {
    let tools = params.tools.as_ref()?;
    match params.tool_choice.as_ref()? {
        ToolChoice::Named(_) => {
            let name = params.tool_choice.as_ref()?.forced_function()?;
            tools.iter().find(|tool| tool.function_name() == Some(name))
        }
        ToolChoice::Mode(ToolChoiceMode::Required) => {
            tools.iter().find(|tool| tool.function.is_some())
        }
        _ => None,
    }
}

/// Arguments for a forced tool call: every required property of the function's JSON
/// schema, filled with a placeholder of its type.
pub(crate) fn tool_arguments(tool: &Tool) -> String {
    let empty = Value::Object(Map::new());
    let schema = tool
        .function
        .as_ref()
        .and_then(|f| f.parameters.as_ref())
        .unwrap_or(&empty);
    crate::schema::instance(schema, "mock", true).to_string()
}

/// The reply text of a request in JSON mode, or `None` when it asks for free text.
///
/// `json_object` gets `{"answer": text}`; `json_schema` gets JSON valid against the schema
/// (every declared property, nested objects, arrays and enums; see [`crate::schema`]), strings
/// holding `text`, so that clients can parse the reply as they would Groq's.
pub(crate) fn json_reply(params: &ChatParams, text: &str) -> Option<String> {
    let value = match params.response_format.as_ref()? {
        ResponseFormat::JsonObject => serde_json::json!({ "answer": text }),
        ResponseFormat::JsonSchema { json_schema } => match json_schema.schema.as_ref() {
            Some(schema) => crate::schema::instance(schema, text, false),
            None => serde_json::json!({ "answer": text }),
        },
        _ => return None,
    };
    Some(value.to_string())
}

/// `text` cut into stream fragments of at most `chars` characters each.
pub(crate) fn fragments(text: &str, chars: usize) -> Vec<String> {
    let chars_of: Vec<char> = text.chars().collect();
    chars_of
        .chunks(chars.max(1))
        .map(|chunk| chunk.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_types::ToolCall;
    use serde_json::json;

    #[test]
    fn json_mode_replies_parse() {
        let object = ChatRequest::new("m").user("hi").json_mode();
        let reply: Value =
            serde_json::from_str(&json_reply(&object.params(), "a b").unwrap()).unwrap();
        assert_eq!(reply, json!({"answer": "a b"}));

        let schema = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "born": {"type": "integer"}},
            "required": ["name"]
        });
        let typed = ChatRequest::new("m")
            .user("hi")
            .json_schema(groq_types::JsonSchemaFormat::new("person", schema));
        let reply: Value =
            serde_json::from_str(&json_reply(&typed.params(), "Ada").unwrap()).unwrap();
        assert_eq!(reply, json!({"name": "Ada", "born": 0}));

        assert_eq!(
            json_reply(&ChatRequest::new("m").user("hi").params(), "x"),
            None
        );
    }

    #[test]
    fn fragments_rejoin_to_the_text() {
        let text = "{\"answer\":\"héllo wörld\"}";
        let pieces = fragments(text, 4);
        assert!(pieces.iter().all(|p| p.chars().count() <= 4));
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn counts_by_the_documented_rule() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("abc"), 1);
        assert_eq!(text_tokens(&"x".repeat(36)), 10);
        assert_eq!(text_tokens(&"x".repeat(37)), 11);
        assert_eq!(text_tokens("ééé"), 1, "counts characters, not bytes");
        let request = ChatRequest::new("m")
            .system("x".repeat(36))
            .user("y".repeat(18));
        assert_eq!(count_prompt_tokens(&request), 3 + (4 + 10) + (4 + 5));
        let with_call =
            ChatRequest::new("m").message(Message::assistant_tool_calls(vec![ToolCall::new(
                "c1",
                "abcdefghi",
                "{\"q\":\"xy\"}",
            )]));
        assert_eq!(
            count_prompt_tokens(&with_call),
            3 + 4 + text_tokens("abcdefghi{\"q\":\"xy\"}")
        );
    }

    #[test]
    fn tools_add_their_json() {
        let tool = Tool::function("f", "d", json!({"type": "object"}));
        let json = serde_json::to_string(&vec![tool.clone()]).unwrap();
        let request = ChatRequest::new("m").user("").tool(tool);
        assert_eq!(count_prompt_tokens(&request), 3 + 4 + text_tokens(&json));
    }

    #[test]
    fn finds_the_marker_in_the_last_user_message() {
        let request = ChatRequest::new("m")
            .user("[req:old]")
            .assistant("[req:assistant]")
            .user("please [req:job-42] now");
        assert_eq!(request_marker(&request.params()).as_deref(), Some("job-42"));
        assert_eq!(
            request_marker(&ChatRequest::new("m").user("[req:open").params()),
            None
        );
    }

    #[test]
    fn replies_have_the_requested_length() {
        assert!(reply_pieces(0).is_empty());
        let pieces = reply_pieces(20);
        assert_eq!(pieces.len(), 20);
        assert_eq!(pieces[0], "The");
        assert_eq!(pieces[1], " mock");
        assert_eq!(pieces[16], " The");
    }

    #[test]
    fn forced_tools_and_their_arguments() {
        let weather = Tool::function(
            "weather",
            "d",
            json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city", "days"]}),
        );
        let other = Tool::function("other", "d", json!({}));
        let named = ChatRequest::new("m")
            .tool(other.clone())
            .tool(weather.clone())
            .tool_choice(ToolChoice::function("weather"));
        assert_eq!(
            forced_tool(&named.params()).and_then(Tool::function_name),
            Some("weather")
        );
        let required = ChatRequest::new("m")
            .tool(other)
            .tool(weather.clone())
            .tool_choice(ToolChoiceMode::Required);
        assert_eq!(
            forced_tool(&required.params()).and_then(Tool::function_name),
            Some("other")
        );
        let auto = ChatRequest::new("m")
            .tool(weather.clone())
            .tool_choice(ToolChoiceMode::Auto);
        assert!(forced_tool(&auto.params()).is_none());
        let args: Value = serde_json::from_str(&tool_arguments(&weather)).unwrap();
        assert_eq!(args, json!({"city": "mock", "days": 0}));
    }
}
