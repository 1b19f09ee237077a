//! Server-sent events framing (the WHATWG `text/event-stream` rules), incremental and sans-IO:
//! bytes in as they arrive from the socket, complete events out. Chunks may split anywhere,
//! inside a line, a UTF-8 character or a CRLF pair.
//!
//! Written here rather than taken from a crate: it is ~100 lines, needs no async, and its
//! tests pin exactly the split cases the LLM client depends on.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `event:` field; empty means "message".
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// `id:` field, when given.
    pub id: Option<String>,
}

/// The decoder. Holds at most one incomplete line and one incomplete event.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    after_cr: bool,
    event: String,
    data: Vec<String>,
    id: Option<String>,
    /// A line longer than this is refused (a broken or hostile server).
    max_line: usize,
}

/// The stream broke the framing rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line was not UTF-8.
    #[error("event stream line is not UTF-8")]
    NotUtf8,
    /// A line exceeded the limit.
    #[error("event stream line longer than {0} bytes")]
    LineTooLong(usize),
}

impl SseDecoder {
    /// A decoder refusing lines over `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            ..Self::default()
        }
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue; // the LF of a CRLF already handled at the CR
                }
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out)?;
                }
                b'\n' => self.end_line(&mut out)?,
                _ => {
                    if self.line.len() >= self.max_line.max(1) {
                        return Err(SseError::LineTooLong(self.max_line));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if !self.data.is_empty() {
                out.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data).join("\n"),
                    id: self.id.clone(),
                });
            } else {
                self.event.clear();
            }
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(()); // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => self.data.push(value.to_string()),
            "event" => self.event = value.to_string(),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {} // retry and unknown fields are ignored, as the spec says
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "data: {\"a\":1}\n\n: keep-alive\n\ndata: first\r\ndata: second\r\n\r\nevent: done\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: String::new(),
                data: "{\"a\":1}".into(),
                id: None,
            },
            SseEvent {
                event: String::new(),
                data: "first\nsecond".into(),
                id: None,
            },
            SseEvent {
                event: "done".into(),
                data: "[DONE]".into(),
                id: None,
            },
        ]
    }

    #[test]
    fn events_are_the_same_however_the_bytes_are_split() {
        let bytes = STREAM.as_bytes();
        // Every single split point, and byte-at-a-time.
        for cut in 0..=bytes.len() {
            let mut d = SseDecoder::new(1 << 16);
            let mut got = d.feed(&bytes[..cut]).unwrap();
            got.extend(d.feed(&bytes[cut..]).unwrap());
            assert_eq!(got, expected(), "split at {cut}");
        }
        let mut d = SseDecoder::new(1 << 16);
        let got: Vec<SseEvent> = bytes
            .iter()
            .flat_map(|b| d.feed(std::slice::from_ref(b)).unwrap())
            .collect();
        assert_eq!(got, expected());
    }

    #[test]
    fn a_multibyte_character_split_across_chunks_survives() {
        let text = "data: café ☕\n\n".as_bytes();
        let at = text.iter().position(|&b| b == 0xe2).unwrap() + 1; // inside the ☕
        let mut d = SseDecoder::new(1 << 16);
        assert!(d.feed(&text[..at]).unwrap().is_empty());
        assert_eq!(d.feed(&text[at..]).unwrap()[0].data, "café ☕");
    }

    #[test]
    fn lone_cr_lines_no_space_values_and_an_unfinished_event() {
        let mut d = SseDecoder::new(1 << 16);
        let got = d.feed(b"data:x\rid: 7\r\rdata: pending").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "x");
        assert_eq!(got[0].id.as_deref(), Some("7"));
        // The last event has no blank line yet: nothing is dispatched.
        assert!(d.feed(b"").unwrap().is_empty());
    }

    #[test]
    fn bad_bytes_and_endless_lines_are_errors() {
        let mut d = SseDecoder::new(1 << 16);
        assert_eq!(d.feed(b"data: \xff\xfe\n"), Err(SseError::NotUtf8));
        let mut d = SseDecoder::new(8);
        assert_eq!(d.feed(b"data: 0123456789"), Err(SseError::LineTooLong(8)));
    }
}
