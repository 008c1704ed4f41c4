//! The response's media type, negotiated from `Accept` as GraphQL over HTTP asks.
//!
//! Two types are served: `application/graphql-response+json`, whose status codes mean
//! something (a request error is 400), and `application/json`, the legacy one, where every
//! answer to a well-formed request is 200 because a proxy's error page could wear the same
//! type. A client gets the one it prefers by q-value; on a tie the one it names rather than
//! matches with a wildcard, then the one it lists first, then `application/json`. No
//! `Accept` (or one that does not parse) is `application/json`, as is `*/*`. An `Accept`
//! that names neither, nor a range holding one, is answered 406, the spec's recommended
//! choice.

use actix_web::http::header::{self, HeaderMap, HeaderValue};

/// A media type `/graphql` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: request errors are 200, as before the spec.
    Json,
    /// `application/graphql-response+json`: request errors are 400, without `data`.
    GraphQLResponse,
}

impl MediaType {
    /// The `Content-Type` of an answer in this type (always UTF-8).
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Json => "application/json; charset=utf-8",
            Self::GraphQLResponse => "application/graphql-response+json; charset=utf-8",
        })
    }

    fn subtype(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::GraphQLResponse => "graphql-response+json",
        }
    }
}

/// The client's `Accept` names no media type this endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Accept names no media type /graphql answers in: application/graphql-response+json or application/json")]
pub struct NotAcceptable;

/// The media type to answer a request with these headers in.
pub fn negotiate(headers: &HeaderMap) -> Result<MediaType, NotAcceptable> {
    let mut ranges = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        // RFC 9110 lets a server disregard an Accept it cannot read.
        let Ok(text) = value.to_str() else { return Ok(MediaType::Json) };
        ranges.extend(text.split(',').filter_map(Range::parse));
    }
    if headers.get(header::ACCEPT).is_none() || ranges.is_empty() {
        return Ok(MediaType::Json);
    }
    let mut best: Option<(Preference, MediaType)> = None;
    // application/json first: it keeps a tie.
    for offer in [MediaType::Json, MediaType::GraphQLResponse] {
        if let Some(preference) = preference(&ranges, offer)
            && best.is_none_or(|(b, _)| preference.beats(&b))
        {
            best = Some((preference, offer));
        }
    }
    best.map(|(_, offer)| offer).ok_or(NotAcceptable)
}

/// One media range of `Accept`, lower-cased, with its weight in thousandths.
#[derive(Debug)]
struct Range {
    kind: String,
    subtype: String,
    quality: u16,
}

impl Range {
    /// `type/subtype;params`; `None` for an empty or unreadable entry (it is skipped).
    fn parse(entry: &str) -> Option<Range> {
        let mut parts = entry.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim().to_ascii_lowercase(), subtype.trim().to_ascii_lowercase());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut quality = 1000;
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                quality = parse_quality(value.trim())?;
            }
        }
        Some(Range { kind, subtype, quality })
    }

    /// How closely this range names `offer`: 2 exactly, 1 `application/*`, 0 `*/*`.
    fn specificity(&self, offer: MediaType) -> Option<u8> {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => Some(0),
            ("application", "*") => Some(1),
            ("application", subtype) if subtype == offer.subtype() => Some(2),
            _ => None,
        }
    }
}

/// A q-value (`0` to `1`, at most three decimals) in thousandths.
fn parse_quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// How much the client wants one offer: its weight from the most specific range that
/// matches it, how specific that range is, and where it stands in the header.
#[derive(Debug, Clone, Copy)]
struct Preference {
    quality: u16,
    specificity: u8,
    position: usize,
}

impl Preference {
    fn beats(&self, other: &Preference) -> bool {
        (self.quality, self.specificity, std::cmp::Reverse(self.position))
            > (other.quality, other.specificity, std::cmp::Reverse(other.position))
    }
}

/// `None` when no range matches the offer or the most specific one refuses it (`q=0`).
fn preference(ranges: &[Range], offer: MediaType) -> Option<Preference> {
    let (position, range, specificity) = ranges
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.specificity(offer).map(|s| (i, r, s)))
        // The most specific range decides; among equals, the first listed.
        .min_by_key(|&(i, _, s)| (std::cmp::Reverse(s), i))?;
    (range.quality > 0).then_some(Preference { quality: range.quality, specificity, position })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &[&str]) -> Result<MediaType, NotAcceptable> {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).expect("header"));
        }
        negotiate(&headers)
    }

    use MediaType::{GraphQLResponse as Gql, Json};

    #[test]
    fn absent_or_any_is_json() {
        assert_eq!(pick(&[]), Ok(Json));
        assert_eq!(pick(&["*/*"]), Ok(Json));
        assert_eq!(pick(&["application/*"]), Ok(Json));
        assert_eq!(pick(&[""]), Ok(Json));
        assert_eq!(pick(&["text/html,application/xhtml+xml,*/*;q=0.8"]), Ok(Json));
    }

    #[test]
    fn the_one_named_is_served() {
        assert_eq!(pick(&["application/json"]), Ok(Json));
        assert_eq!(pick(&["application/graphql-response+json"]), Ok(Gql));
        assert_eq!(pick(&["Application/GraphQL-Response+JSON; charset=utf-8"]), Ok(Gql));
        assert_eq!(pick(&["application/graphql-response+json, */*"]), Ok(Gql));
        assert_eq!(pick(&["application/json, */*"]), Ok(Json));
    }

    #[test]
    fn weights_then_order_decide() {
        // graphql-request 7 and Apollo Client 4 send these.
        assert_eq!(pick(&["application/graphql-response+json, application/json"]), Ok(Gql));
        assert_eq!(pick(&["application/graphql-response+json,application/json;q=0.9"]), Ok(Gql));
        assert_eq!(pick(&["application/json, application/graphql-response+json"]), Ok(Json));
        assert_eq!(pick(&["application/json;q=0.5, application/graphql-response+json;q=0.8"]), Ok(Gql));
        assert_eq!(pick(&["application/json", "application/graphql-response+json;q=0.9"]), Ok(Json));
        assert_eq!(pick(&["*/*;q=0.8, application/json;q=0"]), Ok(Gql));
    }

    #[test]
    fn nothing_served_is_not_acceptable() {
        assert_eq!(pick(&["text/html"]), Err(NotAcceptable));
        assert_eq!(pick(&["application/xml, text/*"]), Err(NotAcceptable));
        assert_eq!(pick(&["application/json;q=0"]), Err(NotAcceptable));
        assert_eq!(pick(&["application/graphql+json"]), Err(NotAcceptable));
    }

    #[test]
    fn unreadable_entries_are_skipped() {
        assert_eq!(pick(&["json, application/graphql-response+json;q=2, application/json"]), Ok(Json));
        assert_eq!(pick(&["nonsense"]), Ok(Json));
    }

    #[test]
    fn quality_values() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.9"), Some(900));
        assert_eq!(parse_quality("0.05"), Some(50));
        assert_eq!(parse_quality("0"), Some(0));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("0.1234"), None);
        assert_eq!(parse_quality("-0"), None);
        assert_eq!(parse_quality("x"), None);
    }
}
