//! The first look at a request: its raw query text and JSON, read once each, before any
//! parser runs (a parser recurses; this does not).

use super::{LimitError, MAX_NAME_LEN, MAX_NESTING, MAX_TOKENS};

/// Reads a query's text once: brackets may nest at most [`MAX_NESTING`] deep outside strings
/// and comments. Returns the number of tokens, counted roughly (a run of name or number
/// characters is one).
///
/// Where the text stops being valid GraphQL (an unknown escape, a line break inside a string)
/// the parser stops too; the scan carries on as if outside the string, which can only count
/// more brackets than the parser would ever see, never fewer.
pub fn scan_query(text: &str) -> Result<usize, LimitError> {
    let b = text.as_bytes();
    let (mut i, mut depth, mut tokens) = (0, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => i = skip_block_string(b, i + 3),
            b'"' => i = skip_string(b, i + 1),
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(LimitError::Brackets);
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            c if is_word(c) => {
                let start = i;
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                if i - start > MAX_NAME_LEN {
                    return Err(LimitError::NameLength);
                }
            }
            _ => i += 1,
        }
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(LimitError::Tokens);
        }
    }
    Ok(tokens)
}

/// Names, numbers and the `...` of spreads: each run is one token.
///
/// Longer names than any schema could hold are refused before validation: an unknown name
/// is compared with every known one to suggest a fix, and at 64 KiB that alone takes most
/// of a second.
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'+')
}

/// From just after an opening `"`, the index after the closing one.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            b'\\' => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u') => i += 2,
                _ => return i + 1,
            },
            _ => i += 1,
        }
    }
    i
}

/// From just after an opening `"""`, the index after the closing one (`\"""` does not close).
fn skip_block_string(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        if b[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if b[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    i
}

/// Reads a JSON text once: arrays and objects may nest at most [`MAX_NESTING`] deep (serde_json
/// would stop at 128 with a message about syntax; this one says what is wrong).
pub fn scan_json(text: &[u8]) -> Result<(), LimitError> {
    let (mut i, mut depth) = (0, 0usize);
    while i < text.len() {
        match text[i] {
            b'"' => {
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(LimitError::Json);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}
