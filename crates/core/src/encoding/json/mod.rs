//! A small strict JSON reader and string writer without serde, for the browser bundle.
//!
//! serde_json and the derived deserializers are most of a wasm module's size; the paying side
//! needs only to read a challenge, look up a few fields, and copy parts of it verbatim. So this
//! reader keeps every value's source text ([`Value::raw`]) next to its parsed form: a payment
//! echoes `accepted`, `resource` and `extensions` byte for byte, and numbers are never converted
//! to floating point (they stay text until read as an integer).
//!
//! The grammar is RFC 8259, strictly: no trailing commas, comments, leading zeros, lone
//! surrogates, control characters in strings, or content after the value; nesting is capped at
//! [`MAX_DEPTH`]. Errors are static strings with the byte offset, no formatting machinery.
//! Numbers outside `f64` range are refused as serde_json refuses them (module `number`);
//! strings are written with serde_json's escapes ([`write_str`]).

mod number;
mod write;

pub use write::{write_key, write_str};

use alloc::{borrow::Cow, string::String, vec::Vec};
use number::in_f64_range;

/// Nesting limit (serde_json uses the same).
pub const MAX_DEPTH: usize = 128;

/// A parsed JSON value and the exact text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    /// The value's source text, without surrounding whitespace.
    pub raw: &'a str,
    /// The parsed value.
    pub kind: Kind<'a>,
}

/// The kinds of JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number; its text is [`Value::raw`].
    Number,
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, members in source order (duplicates kept; see [`Value::get`]).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// Where and why a text is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub what: &'static str,
}

/// A member lookup that found the key twice: the value would be ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

impl<'a> Value<'a> {
    /// The member `key` of an object: `Ok(None)` when absent or when this is not an object,
    /// `Err(Duplicate)` when the key appears more than once.
    pub fn get(&self, key: &str) -> Result<Option<&Value<'a>>, Duplicate> {
        let Kind::Object(members) = &self.kind else {
            return Ok(None);
        };
        let mut found = None;
        for (k, v) in members {
            if k == key {
                if found.is_some() {
                    return Err(Duplicate);
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a `u64`, if it is a non-negative integer written without fraction or
    /// exponent that fits.
    pub fn as_u64(&self) -> Option<u64> {
        if !matches!(self.kind, Kind::Number) {
            return None;
        }
        crate::encoding::text::parse_u64(self.raw.as_bytes())
    }

    /// `true` for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    /// `true` for an object.
    pub fn is_object(&self) -> bool {
        matches!(self.kind, Kind::Object(_))
    }
}

/// Parses a complete JSON text (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Value<'_>, JsonError> {
    let mut p = Parser {
        s: text,
        i: 0,
        error: JsonError {
            offset: 0,
            what: "",
        },
    };
    p.ws();
    let v = p.value(0);
    p.ws();
    match v {
        Some(_) if p.i != text.len() => {
            p.fail::<()>("trailing characters after the JSON value");
            Err(p.error)
        }
        Some(v) => Ok(v),
        None => Err(p.error),
    }
}

/// The reader's steps return `Option`: the error that stopped them is left in `error`, so a
/// failing step costs a null check, not the copy of an error out of every frame.
struct Parser<'a> {
    s: &'a str,
    i: usize,
    error: JsonError,
}

impl<'a> Parser<'a> {
    /// Records the error `what` at the current offset.
    fn fail<T>(&mut self, what: &'static str) -> Option<T> {
        self.error = JsonError {
            offset: self.i,
            what,
        };
        None
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        let start = self.i;
        let kind = match self.peek() {
            None => return self.fail("unexpected end of JSON"),
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(_) => {
                let rest = &self.s[self.i..];
                let (kind, len) = if rest.starts_with("true") {
                    (Kind::Bool(true), 4)
                } else if rest.starts_with("false") {
                    (Kind::Bool(false), 5)
                } else if rest.starts_with("null") {
                    (Kind::Null, 4)
                } else {
                    return self.fail("expected a JSON value");
                };
                self.i += len;
                kind
            }
        };
        Some(Value {
            raw: &self.s[start..self.i],
            kind,
        })
    }

    fn nested(&mut self, depth: usize) -> Option<usize> {
        if depth >= MAX_DEPTH {
            return self.fail("JSON nested too deeply");
        }
        Some(depth + 1)
    }

    fn object(&mut self, depth: usize) -> Option<Kind<'a>> {
        let depth = self.nested(depth)?;
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.eat(b'}') {
            return Some(Kind::Object(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.fail("expected a string key");
            }
            let key = self.string()?;
            self.ws();
            if !self.eat(b':') {
                return self.fail("expected ':' after a key");
            }
            self.ws();
            let v = self.value(depth)?;
            members.push((key, v));
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Some(Kind::Object(members));
            }
            return self.fail("expected ',' or '}' in an object");
        }
    }

    fn array(&mut self, depth: usize) -> Option<Kind<'a>> {
        let depth = self.nested(depth)?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b']') {
            return Some(Kind::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                return Some(Kind::Array(items));
            }
            return self.fail("expected ',' or ']' in an array");
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        self.eat(b'-');
        if self.eat(b'0') {
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.fail("leading zero in a number");
            }
        } else if self.digits() == 0 {
            return self.fail("expected digits in a number");
        }
        if self.eat(b'.') && self.digits() == 0 {
            return self.fail("expected digits after '.'");
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return self.fail("expected digits in an exponent");
            }
        }
        if !in_f64_range(&self.s.as_bytes()[start..self.i]) {
            self.i = start;
            return self.fail("number out of range");
        }
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut h = 0;
        for k in 0..4 {
            let Some(d) = self
                .s
                .as_bytes()
                .get(self.i + k)
                .and_then(|&b| crate::encoding::hex::hex_val(b))
            else {
                return self.fail("expected 4 hex digits after \\u");
            };
            h = (h << 4) | u32::from(d);
        }
        self.i += 4;
        Some(h)
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.i += 1; // the opening quote
        let bytes = self.s.as_bytes();
        // Unescaped runs are borrowed (no escapes: the whole string) or copied whole. A run
        // ends at an ASCII byte, so it is a whole number of UTF-8 characters.
        let mut out: Option<String> = None;
        let mut run = self.i;
        loop {
            let Some(&b) = bytes.get(self.i) else {
                return self.fail("unterminated string");
            };
            match b {
                b'"' => {
                    let text = &self.s[run..self.i];
                    self.i += 1;
                    return Some(match out {
                        None => Cow::Borrowed(text),
                        Some(mut o) => {
                            o.push_str(text);
                            Cow::Owned(o)
                        }
                    });
                }
                b'\\' => {
                    let o = out.get_or_insert_with(String::new);
                    o.push_str(&self.s[run..self.i]);
                    self.i += 1;
                    let Some(&e) = bytes.get(self.i) else {
                        return self.fail("unterminated string");
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return self.fail("invalid escape in a string"),
                    };
                    o.push(c);
                    run = self.i;
                }
                0..=0x1f => return self.fail("control character in a string"),
                _ => self.i += 1,
            }
        }
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&hi) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return self.fail("lone surrogate in a \\u escape");
            }
            let lo = self.hex4()?;
            if !(0xdc00..0xe000).contains(&lo) {
                return self.fail("lone surrogate in a \\u escape");
            }
            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
        } else {
            hi
        };
        match char::from_u32(code) {
            Some(c) => Some(c),
            None => self.fail("lone surrogate in a \\u escape"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_keeps_raw_text() {
        let text = " {\"a\" : [1, -2.5e3, true, null], \"b\":{\"c\":\"x\\u00e9\\ud83d\\ude00\"}} ";
        let v = parse(text).unwrap();
        assert_eq!(v.raw, text.trim());
        let a = v.get("a").unwrap().unwrap();
        assert_eq!(a.raw, "[1, -2.5e3, true, null]");
        let items = a.as_array().unwrap();
        assert_eq!(items[0].as_u64(), Some(1));
        assert_eq!(items[1].raw, "-2.5e3");
        assert_eq!(items[1].as_u64(), None);
        assert_eq!(items[2].kind, Kind::Bool(true));
        assert!(items[3].is_null());
        let c = v.get("b").unwrap().unwrap().get("c").unwrap().unwrap();
        assert_eq!(c.as_str(), Some("x\u{e9}\u{1f600}"));
        assert_eq!(v.get("zzz"), Ok(None));
        assert_eq!(parse("{\"a\":1,\"a\":2}").unwrap().get("a"), Err(Duplicate));
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "1e",
            "-",
            "+1",
            ".5",
            "\"\\x\"",
            "\"a\nb\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
            "\"abc",
            "tru",
            "nul",
            "{} {}",
            "{'a':1}",
            "{a:1}",
            "[1 2]",
            "\"\\u12\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep).unwrap_err().what, "JSON nested too deeply");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        assert_eq!(parse("18446744073709551616").unwrap().as_u64(), None);
        // Numbers are within f64 range, as serde_json requires (no float parsing involved).
        for ok in [
            "1.7976931348623157e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
            "-1e308",
            "1e-99999999",
            "0e99999999",
            "0.001e311",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for big in ["1e309", "-2e308", "1.8e308", "0.18e310", "1e0000000309", "1e99999999", "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792"] {
            assert_eq!(parse(big).unwrap_err().what, "number out of range", "{big}");
        }
        assert_eq!(
            parse("18446744073709551615").unwrap().as_u64(),
            Some(u64::MAX)
        );
        // A negative exponent does not make a long mantissa small.
        let ones = "1".repeat(310);
        assert!(parse(&(ones.clone() + "e-2")).is_ok());
        for big in [ones + "e-0", "1".repeat(311) + "e-1"] {
            assert_eq!(parse(&big).unwrap_err().what, "number out of range");
            assert!(serde_json::from_str::<serde_json::Value>(&big).is_err());
        }
    }

    #[test]
    fn written_strings_read_back() {
        let s = "quote\" back\\ nl\n tab\t bell\u{7} e\u{e9} \u{1f600} /";
        let mut out = String::new();
        write_str(&mut out, s);
        assert_eq!(parse(&out).unwrap().as_str(), Some(s));
        assert_eq!(
            serde_json::from_str::<String>(&out).unwrap(),
            s,
            "serde_json reads it too"
        );
    }
}
