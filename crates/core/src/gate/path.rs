//! Request paths as the paywall sees them: one canonical spelling per resource, and route
//! patterns matched against it (`docs/protocol.md`, "Paths and routes"; the Worker README's
//! security notes).
//!
//! A paid URL must not be reachable for free through another spelling. [`normalize`] turns
//! every spelling into one path: percent-decoding repeated until stable (so `%252e` and
//! encoded slashes `%2F` count), `\` read as `/`, repeated slashes collapsed, `.` and `..`
//! segments resolved (never above the root), a trailing slash dropped. Matching is
//! case-insensitive. The Worker then fetches the content of the *normalised* path, so the
//! origin never sees a spelling the gate did not judge.

use crate::error::{Error, Reason, Result};
use alloc::{format, string::String, vec::Vec};

/// Longest request path accepted, in bytes (before decoding).
pub const MAX_PATH_LEN: usize = 4096;

/// Rounds of percent-decoding after which a path that still changes is refused.
const MAX_DECODE_ROUNDS: usize = 4;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(Reason::InvalidRequest, msg)
}

/// Decodes `%XX` escapes once. Malformed escapes are kept literally (`%zz`), as browsers do.
fn percent_decode_once(input: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// The canonical form of a request path (without query or fragment).
///
/// Errors (`invalid_request`): too long, not UTF-8 after decoding, control characters or NUL,
/// or still changing after several rounds of decoding.
pub fn normalize(raw: &str) -> Result<String> {
    if raw.len() > MAX_PATH_LEN {
        return Err(invalid(format!(
            "path of {} bytes exceeds the {MAX_PATH_LEN}-byte limit",
            raw.len()
        )));
    }
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    let mut bytes = raw.as_bytes().to_vec();
    let mut rounds = 0;
    loop {
        let next = percent_decode_once(&bytes);
        if next == bytes {
            break;
        }
        rounds += 1;
        if rounds > MAX_DECODE_ROUNDS {
            return Err(invalid("path is percent-encoded too many times"));
        }
        bytes = next;
    }
    let text = String::from_utf8(bytes).map_err(|_| invalid("path is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(invalid("path contains control characters"));
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in text.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(text.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Re-encodes a normalised path for a URL: every byte outside RFC 3986 `pchar` and `/` is
/// percent-encoded, so the origin receives exactly the path that was judged.
pub fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'/' | b'-'
                    | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A route pattern: an optional method and a path pattern, e.g. `"GET /paid/*"`, `"/api/:id"`.
///
/// In the path, `*` matches any run of characters (including `/`), `:name` and `[name]` match
/// one non-empty segment; everything else matches itself, case-insensitively. A pattern
/// without a method matches every method except `OPTIONS` (preflights are never gated).
/// `HEAD` matches a `GET` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    method: Option<String>,
    tokens: Vec<Token>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(String),
    Star,
    Segment,
}

impl Pattern {
    /// Parses a pattern (error: `invalid_config`).
    pub fn parse(pattern: &str) -> Result<Self> {
        let bad = |m: &str| Error::new(Reason::InvalidConfig, format!("pattern {pattern:?}: {m}"));
        let (method, path) = match pattern.trim().split_once(' ') {
            Some((m, p)) => (Some(m.trim()), p.trim()),
            None => (None, pattern.trim()),
        };
        if let Some(m) = method {
            const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "*"];
            if !METHODS.contains(&m) {
                return Err(bad(
                    "method must be one of GET HEAD POST PUT PATCH DELETE *",
                ));
            }
        }
        if !path.starts_with('/') {
            return Err(bad("path must start with /"));
        }
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let norm = normalize(path).map_err(|e| bad(e.message()))?;
        let mut chars = norm.chars().peekable();
        while let Some(c) = chars.next() {
            let seg_param = (c == ':' && lit.ends_with('/')) || (c == '[' && lit.ends_with('/'));
            if c == '*' {
                if !lit.is_empty() {
                    tokens.push(Token::Lit(core::mem::take(&mut lit)));
                }
                tokens.push(Token::Star);
            } else if seg_param {
                tokens.push(Token::Lit(core::mem::take(&mut lit)));
                let close = if c == '[' { Some(']') } else { None };
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '/' || Some(n) == close {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if close.is_some() && chars.next() != close {
                    return Err(bad("unclosed [param]"));
                }
                if name.is_empty() {
                    return Err(bad("empty parameter name"));
                }
                tokens.push(Token::Segment);
            } else {
                lit.extend(c.to_lowercase());
            }
        }
        if !lit.is_empty() {
            tokens.push(Token::Lit(lit));
        }
        Ok(Self {
            method: method.filter(|m| *m != "*").map(String::from),
            tokens,
            text: pattern.trim().into(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The method, if the pattern names one.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The path part without wildcards, e.g. `/paid/` for `GET /paid/*` (for listings).
    pub fn literal_prefix(&self) -> String {
        match self.tokens.first() {
            Some(Token::Lit(l)) => l.clone(),
            _ => String::from("/"),
        }
    }

    /// Whether a request matches; `path` must be [`normalize`]d.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method = method.to_ascii_uppercase();
        let method_ok = match self.method.as_deref() {
            None => method != "OPTIONS",
            Some("GET") => method == "GET" || method == "HEAD",
            Some(m) => m == method,
        };
        // A normalised path has no trailing slash: `/paid` is also tried as `/paid/`, so a
        // `/paid/*` pattern covers the directory itself.
        let lower = path.to_lowercase();
        method_ok
            && (match_tokens(&self.tokens, &lower)
                || match_tokens(&self.tokens, &format!("{lower}/")))
    }
}

fn match_tokens(tokens: &[Token], path: &str) -> bool {
    match tokens.split_first() {
        None => path.is_empty(),
        Some((Token::Lit(l), rest)) => path
            .strip_prefix(l.as_str())
            .is_some_and(|p| match_tokens(rest, p)),
        Some((Token::Segment, rest)) => {
            let end = path.find('/').unwrap_or(path.len());
            end > 0 && match_tokens(rest, &path[end..])
        }
        Some((Token::Star, rest)) => (0..=path.len())
            .filter(|&i| path.is_char_boundary(i))
            .any(|i| match_tokens(rest, &path[i..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_every_spelling() {
        let n = |s: &str| normalize(s).unwrap();
        for spelling in [
            "/paid/one.html",
            "//paid/one.html",
            "/paid//one.html",
            "/paid/./one.html",
            "/x/../paid/one.html",
            "/../paid/one.html",
            "/paid/one.html/",
            "/paid/one.html?x=1",
            "/paid/one.html#frag",
            "/%70aid/one.html",
            "/paid%2fone.html",
            "/paid%2Fone.html",
            "/paid%252fone.html",
            "/paid%5cone.html",
            "\\paid\\one.html",
            "/paid/%2e/one.html",
            "/paid/x/%2e%2e/one.html",
            "/paid/x/%252e%252e/one.html",
            "/./paid/one.html",
            "/free/..%2fpaid/one.html",
        ] {
            assert_eq!(n(spelling), "/paid/one.html", "{spelling}");
        }
        assert_eq!(n(""), "/");
        assert_eq!(n("/"), "/");
        assert_eq!(n("/.."), "/");
        assert_eq!(n("/a%20b"), "/a b");
        assert_eq!(n("/a%zz"), "/a%zz");
        assert_eq!(n("/a%"), "/a%");
        assert_eq!(n("/PAID/One.html"), "/PAID/One.html");
    }

    #[test]
    fn refuses_hostile_paths() {
        for bad in ["/a%00b", "/a%0ab", "/%ff", "/a\u{7f}"] {
            assert_eq!(
                normalize(bad).unwrap_err().reason(),
                Reason::InvalidRequest,
                "{bad}"
            );
        }
        let deep = "/a/%25252525252e%25252525252e";
        assert!(normalize(deep).is_err());
        assert!(normalize(&"/a".repeat(MAX_PATH_LEN)).is_err());
    }

    #[test]
    fn encode_round_trips() {
        for p in ["/a b/c", "/ü/%/", "/paid/one.html", "/a;b=c"] {
            assert_eq!(normalize(&encode(p)).unwrap(), normalize(p).unwrap(), "{p}");
        }
        assert_eq!(encode("/a b?#%"), "/a%20b%3F%23%25");
    }

    #[test]
    fn patterns() {
        let p = Pattern::parse("GET /paid/*").unwrap();
        let m = |p: &Pattern, method: &str, raw: &str| p.matches(method, &normalize(raw).unwrap());
        for spelling in [
            "/paid/one.html",
            "/PAID/one.html",
            "/Paid/ONE.HTML",
            "//paid//one.html",
            "/paid%2fone.html",
            "/x/../paid/one.html",
            "\\paid\\one.html",
            "/%50aid/one.html",
            "/paid/one.html/",
            "/paid/sub/deep.html",
        ] {
            assert!(m(&p, "GET", spelling), "{spelling}");
            assert!(m(&p, "head", spelling), "{spelling}");
        }
        assert!(!m(&p, "POST", "/paid/one.html"));
        assert!(!m(&p, "OPTIONS", "/paid/one.html"));
        assert!(!m(&p, "GET", "/paidx/one.html"));
        assert!(!m(&p, "GET", "/index.html"));
        assert!(m(&p, "GET", "/paid/"), "the directory itself");
        assert!(m(&p, "GET", "/paid"), "the directory itself");
        let any = Pattern::parse("/api/*").unwrap();
        assert!(m(&any, "POST", "/api/quote"));
        assert!(!m(&any, "OPTIONS", "/api/quote"));
        let exact = Pattern::parse("GET /paid/one.html").unwrap();
        assert!(m(&exact, "GET", "/paid/./One.html"));
        assert!(!m(&exact, "GET", "/paid/one.htmlx"));
        let seg = Pattern::parse("GET /api/items/:id").unwrap();
        assert!(m(&seg, "GET", "/api/items/42"));
        assert!(!m(&seg, "GET", "/api/items/42/x"));
        assert!(!m(&seg, "GET", "/api/items"));
        let br = Pattern::parse("GET /api/[id]/info").unwrap();
        assert!(m(&br, "GET", "/api/7/info"));
        assert_eq!(p.literal_prefix(), "/paid/");
        for bad in ["paid/*", "FETCH /paid", "GET /api/[id", "GET /api/:"] {
            assert_eq!(
                Pattern::parse(bad).unwrap_err().reason(),
                Reason::InvalidConfig,
                "{bad}"
            );
        }
    }
}
