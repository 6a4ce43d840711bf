//! JSON that is valid against a JSON schema: the emulator's answer to
//! `response_format: json_schema` and its forced tool-call arguments.
//!
//! The generator covers what structured-output schemas use: `type` (one or a list),
//! `properties` and `required` (nested to any depth), `items` and `prefixItems` with
//! `minItems`/`maxItems`, `enum` and `const`, `anyOf`/`oneOf` (the first branch),
//! `allOf` (merged), `$ref` into `#/$defs` or `#/definitions`, numeric bounds
//! (`minimum`, `maximum`, their exclusive forms, `multipleOf`), string lengths and the common
//! `format`s. Strings hold the reply's words, so a reply still reads as the emulator's.

use serde_json::{Map, Number, Value};

/// How deep `$ref`s and nesting are followed before the generator stops at the smallest valid
/// value (a recursive schema would otherwise never end).
const MAX_DEPTH: usize = 24;

/// A value valid against `schema`, whose strings hold `text`. With `required_only`, objects
/// carry only their required properties; otherwise every declared property.
pub(crate) fn instance(schema: &Value, text: &str, required_only: bool) -> Value {
    Generator {
        root: schema,
        text,
        required_only,
    }
    .value(schema, 0)
}

struct Generator<'a> {
    root: &'a Value,
    text: &'a str,
    required_only: bool,
}

impl Generator<'_> {
    fn value(&self, schema: &Value, depth: usize) -> Value {
        let Value::Object(schema) = schema else {
            // `true` (anything) or `false` (nothing can satisfy it).
            return match schema {
                Value::Bool(false) => Value::Null,
                _ => Value::from(self.text),
            };
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            return match self.resolve(target) {
                Some(target) => self.value(target, depth + 1),
                None => Value::from(self.text),
            };
        }
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|values| values.first())
        {
            return first.clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branch) = schema
                .get(key)
                .and_then(Value::as_array)
                .and_then(|branches| preferred_branch(branches))
            {
                return self.value(branch, depth + 1);
            }
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let merged = self.merge(schema, parts, depth);
            return self.value(&merged, depth + 1);
        }
        match schema_type(schema) {
            "object" => self.object(schema, depth),
            "array" => self.array(schema, depth),
            "integer" => integer(schema),
            "number" => number(schema),
            "boolean" => Value::Bool(true),
            "null" => Value::Null,
            _ => Value::from(self.string(schema)),
        }
    }

    /// `#/$defs/name`, `#/definitions/name` or any other pointer into the root schema.
    fn resolve(&self, target: &str) -> Option<&Value> {
        let pointer = target.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// `schema` without `allOf`, with the properties and required names of every part
    /// (following their `$ref`s) added.
    fn merge(&self, schema: &Map<String, Value>, parts: &[Value], depth: usize) -> Value {
        let mut merged = schema.clone();
        merged.remove("allOf");
        for part in parts {
            let mut part = part;
            let mut hops = depth;
            while let Some(target) = part.get("$ref").and_then(Value::as_str) {
                match self.resolve(target) {
                    Some(next) if hops <= MAX_DEPTH => {
                        part = next;
                        hops += 1;
                    }
                    _ => break,
                }
            }
            let Value::Object(part) = part else { continue };
            for (key, value) in part {
                match (key.as_str(), merged.get_mut(key)) {
                    ("properties", Some(Value::Object(into))) => {
                        if let Value::Object(from) = value {
                            for (name, property) in from {
                                into.entry(name.clone()).or_insert_with(|| property.clone());
                            }
                        }
                    }
                    ("required", Some(Value::Array(into))) => {
                        if let Value::Array(from) = value {
                            for name in from {
                                if !into.contains(name) {
                                    into.push(name.clone());
                                }
                            }
                        }
                    }
                    (_, None) => {
                        merged.insert(key.clone(), value.clone());
                    }
                    _ => {}
                }
            }
        }
        Value::Object(merged)
    }

    fn object(&self, schema: &Map<String, Value>, depth: usize) -> Value {
        let properties = schema.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut names: Vec<&str> = Vec::new();
        if !self.required_only {
            names.extend(
                properties
                    .into_iter()
                    .flat_map(|p| p.keys().map(String::as_str)),
            );
        }
        for name in &required {
            if !names.contains(name) {
                names.push(name);
            }
        }
        let mut object = Map::new();
        for name in names {
            let value = match properties.and_then(|p| p.get(name)) {
                Some(property) => self.value(property, depth + 1),
                None => match schema.get("additionalProperties") {
                    Some(extra @ Value::Object(_)) => self.value(extra, depth + 1),
                    _ => Value::from(self.text),
                },
            };
            object.insert(name.to_owned(), value);
        }
        Value::Object(object)
    }

    fn array(&self, schema: &Map<String, Value>, depth: usize) -> Value {
        let min = count(schema, "minItems").unwrap_or(0);
        let max = count(schema, "maxItems").unwrap_or(usize::MAX);
        let mut items: Vec<Value> = schema
            .get("prefixItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(max)
            .map(|item| self.value(item, depth + 1))
            .collect();
        let rest = match schema.get("items") {
            Some(Value::Array(tuple)) => {
                // The draft-7 tuple form.
                items.extend(
                    tuple
                        .iter()
                        .take(max)
                        .map(|item| self.value(item, depth + 1)),
                );
                None
            }
            Some(Value::Bool(false)) => None,
            other => other,
        };
        // With only an item schema, one item shows its shape; never fewer than minItems.
        let wanted = if items.is_empty() && rest.is_some() {
            min.max(1)
        } else {
            min
        }
        .min(max);
        while items.len() < wanted {
            items.push(match rest {
                Some(item) => self.value(item, depth + 1),
                None => Value::from(self.text),
            });
        }
        Value::Array(items)
    }

    fn string(&self, schema: &Map<String, Value>) -> String {
        let base = match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => "2024-01-01T00:00:00Z",
            Some("date") => "2024-01-01",
            Some("time") => "00:00:00Z",
            Some("email") => "mock@example.com",
            Some("uri" | "url" | "iri") => "https://example.com/",
            Some("uuid") => "00000000-0000-4000-8000-000000000000",
            Some("ipv4") => "127.0.0.1",
            Some("ipv6") => "::1",
            Some("hostname") => "example.com",
            _ => self.text,
        };
        let mut text: String = match count(schema, "maxLength") {
            Some(max) => base.chars().take(max).collect(),
            None => base.to_owned(),
        };
        let min = count(schema, "minLength").unwrap_or(0);
        while text.chars().count() < min {
            text.push('x');
        }
        text
    }
}

/// The branch of an `anyOf`/`oneOf` to follow: the first that is not just `null`.
fn preferred_branch(branches: &[Value]) -> Option<&Value> {
    branches
        .iter()
        .find(|branch| branch.get("type").and_then(Value::as_str) != Some("null"))
        .or_else(|| branches.first())
}

/// The schema's type: its `type` (the first non-null one of a list), else what its keywords
/// imply.
fn schema_type(schema: &Map<String, Value>) -> &str {
    match schema.get("type") {
        Some(Value::String(kind)) => kind,
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .or_else(|| kinds.iter().filter_map(Value::as_str).next())
            .unwrap_or("string"),
        _ if schema.contains_key("properties") || schema.contains_key("required") => "object",
        _ if schema.contains_key("items") || schema.contains_key("prefixItems") => "array",
        _ => "string",
    }
}

/// A non-negative integer keyword.
fn count(schema: &Map<String, Value>, key: &str) -> Option<usize> {
    schema
        .get(key)
        .and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// A numeric bound: the value, and whether it is exclusive.
type Bound = Option<(f64, bool)>;

/// The lower and upper bounds of a numeric schema (exclusive ones as given, flagged).
fn bounds(schema: &Map<String, Value>) -> (Bound, Bound) {
    let get = |key: &str| schema.get(key).and_then(Value::as_f64);
    let lower = match (get("exclusiveMinimum"), get("minimum")) {
        (Some(e), Some(m)) if e >= m => Some((e, true)),
        (_, Some(m)) => Some((m, false)),
        (Some(e), None) => Some((e, true)),
        (None, None) => None,
    };
    let upper = match (get("exclusiveMaximum"), get("maximum")) {
        (Some(e), Some(m)) if e <= m => Some((e, true)),
        (_, Some(m)) => Some((m, false)),
        (Some(e), None) => Some((e, true)),
        (None, None) => None,
    };
    (lower, upper)
}

/// An integer within the bounds and a multiple of `multipleOf` when one exists: the smallest
/// such at or above 0, or at or above the lower bound.
fn integer(schema: &Map<String, Value>) -> Value {
    let (lower, upper) = bounds(schema);
    let step = schema
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|s| *s >= 1.0 && s.fract() == 0.0)
        .unwrap_or(1.0);
    let mut low = match lower {
        Some((bound, true)) => bound.floor() + 1.0,
        Some((bound, false)) => bound.ceil(),
        None => 0.0,
    };
    if let Some((bound, exclusive)) = upper {
        let high = if exclusive {
            bound.ceil() - 1.0
        } else {
            bound.floor()
        };
        if lower.is_none() && high < low {
            low = (high / step).floor() * step;
        }
    }
    let value = (low / step).ceil() * step;
    Value::from(value as i64)
}

/// A number within the bounds: the middle of a closed range, else a step inside the open
/// side, else 0.5.
fn number(schema: &Map<String, Value>) -> Value {
    let (lower, upper) = bounds(schema);
    let value = match (lower, upper) {
        (Some((low, _)), Some((high, _))) => (low + high) / 2.0,
        (Some((low, _)), None) => low + 1.0,
        (None, Some((high, _))) => high - 1.0,
        (None, None) => 0.5,
    };
    let value = match schema.get("multipleOf").and_then(Value::as_f64) {
        Some(step) if step > 0.0 => {
            let snapped = (value / step).round() * step;
            match lower {
                Some((low, exclusive)) if snapped < low || (exclusive && snapped <= low) => {
                    snapped + step
                }
                _ => snapped,
            }
        }
        _ => value,
    };
    Number::from_f64(value).map_or(Value::from(0), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gen_all(schema: Value) -> Value {
        instance(&schema, "mock words", false)
    }

    #[test]
    fn flat_objects_get_typed_values() {
        let value = gen_all(json!({
            "type": "object",
            "properties": {
                "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "count": {"type": "integer", "minimum": 3},
                "ok": {"type": "boolean"},
                "note": {"type": ["string", "null"]},
                "kind": {"const": "review"}
            },
            "required": ["sentiment", "confidence"],
            "additionalProperties": false
        }));
        assert_eq!(
            value,
            json!({
                "sentiment": "positive", "confidence": 0.5, "count": 3, "ok": true,
                "note": "mock words", "kind": "review"
            })
        );
    }

    #[test]
    fn nested_objects_arrays_and_refs() {
        let schema = json!({
            "type": "object",
            "$defs": {
                "person": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "maxLength": 4}, "age": {"type": "integer", "exclusiveMinimum": 17}},
                    "required": ["name", "age"]
                }
            },
            "properties": {
                "people": {"type": "array", "items": {"$ref": "#/$defs/person"}, "minItems": 2},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "integer"}]},
                "meta": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"v": {"type": "integer", "multipleOf": 5, "minimum": 1}}, "required": ["v"]}]},
                "both": {"allOf": [{"$ref": "#/$defs/person"}, {"properties": {"id": {"type": "string", "format": "uuid"}}, "required": ["id"]}]}
            },
            "required": ["people", "tags", "point", "meta", "both"]
        });
        let value = gen_all(schema);
        assert_eq!(
            value["people"],
            json!([{"name": "mock", "age": 18}, {"name": "mock", "age": 18}])
        );
        assert_eq!(value["tags"], json!(["a"]));
        assert_eq!(value["point"], json!([0.5, 0]));
        assert_eq!(value["meta"], json!({"v": 5}));
        assert_eq!(value["both"]["age"], json!(18));
        assert_eq!(
            value["both"]["id"],
            json!("00000000-0000-4000-8000-000000000000")
        );
    }

    #[test]
    fn required_only_and_recursion() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["b"]
        });
        assert_eq!(instance(&schema, "t", true), json!({"b": 0}));
        let recursive = json!({
            "type": "object",
            "properties": {"child": {"$ref": "#"}},
            "required": ["child"]
        });
        // Ends, with the innermost child null.
        let value = gen_all(recursive);
        assert!(value["child"]["child"].is_object());
        assert!(
            gen_all(json!({"minLength": 12, "maxLength": 14}))
                .as_str()
                .unwrap()
                .len()
                >= 12
        );
        assert_eq!(
            gen_all(json!({"type": "integer", "maximum": -3})),
            json!(-3)
        );
    }
}
