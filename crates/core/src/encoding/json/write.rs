//! Writing JSON strings exactly as serde_json escapes them, so both writers produce the same
//! bytes (the paying path writes its payment without serde).

use alloc::string::String;

/// Appends `s` as a JSON string literal (quotes included), escaped exactly as serde_json
/// escapes it, so both writers produce the same bytes.
pub fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    // Runs without escapes are copied whole; they end at ASCII bytes (character boundaries).
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "\\u00",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        out.push_str(escape);
        if escape.len() == 4 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends `"key":` to an object being written.
pub fn write_key(out: &mut String, key: &str) {
    write_str(out, key);
    out.push(':');
}
