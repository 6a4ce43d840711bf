//! A `multipart/form-data` body, parsed (RFC 7578): what the audio and file endpoints receive.

use bytes::Bytes;

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// The field's name.
    pub(crate) name: String,
    /// The file name, for a file part.
    pub(crate) filename: Option<String>,
    /// The part's bytes.
    pub(crate) data: Bytes,
}

/// The parts of a form, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Form {
    pub(crate) parts: Vec<Part>,
}

impl Form {
    /// The first part named `name`.
    pub(crate) fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// The first text field named `name`, as UTF-8 (lossy).
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.part(name)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    }

    /// Every text field named `name`.
    pub(crate) fn texts(&self, name: &str) -> Vec<String> {
        self.parts
            .iter()
            .filter(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
            .collect()
    }
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// Parses `body` with `boundary`; the error says what is wrong.
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Result<Form, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0).ok_or("the body has no part boundary")?;
    let mut form = Form::default();
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--") {
            return Ok(form);
        }
        at = skip_crlf(body, at).ok_or("a part boundary is not followed by a line break")?;
        let headers_end = find(body, b"\r\n\r\n", at).ok_or("a part's headers do not end")?;
        let headers = std::str::from_utf8(&body[at..headers_end])
            .map_err(|_| "a part's headers are not UTF-8")?;
        let data_start = headers_end + 4;
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let data_end =
            find(body, &closing, data_start).ok_or("a part is not closed by a boundary")?;
        let (name, filename) = disposition(headers)?;
        form.parts.push(Part {
            name,
            filename,
            data: body.slice(data_start..data_end),
        });
        at = data_end + 2;
    }
}

fn skip_crlf(body: &[u8], at: usize) -> Option<usize> {
    body[at..].starts_with(b"\r\n").then_some(at + 2)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(headers: &str) -> Result<(String, Option<String>), String> {
    let line = headers
        .split("\r\n")
        .find(|line| {
            line.split(':')
                .next()
                .is_some_and(|h| h.trim().eq_ignore_ascii_case("content-disposition"))
        })
        .ok_or("a part has no Content-Disposition header")?;
    let value = &line[line.find(':').map_or(0, |i| i + 1)..];
    let mut name = None;
    let mut filename = None;
    for param in value.split(';').skip(1) {
        if let Some((key, v)) = param.split_once('=') {
            let v = v.trim().trim_matches('"').to_owned();
            match key.trim() {
                "name" => name = Some(v),
                "filename" => filename = Some(v),
                _ => {}
            }
        }
    }
    let name = name.ok_or("a part's Content-Disposition has no name")?;
    Ok((name, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_files() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-large-v3\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--\x00\xff\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nsegment\r\n--XyZ--\r\n",
        );
        let form = parse(&body, "XyZ").unwrap();
        assert_eq!(form.text("model").as_deref(), Some("whisper-large-v3"));
        let file = form.part("file").unwrap();
        assert_eq!(file.filename.as_deref(), Some("a.wav"));
        assert_eq!(&file.data[..], b"RIFF\r\n--\x00\xff");
        assert_eq!(form.texts("timestamp_granularities[]"), ["word", "segment"]);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(boundary("application/json"), None);
        assert!(parse(&Bytes::from_static(b"nothing"), "XyZ").is_err());
    }
}
