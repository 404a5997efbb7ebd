//! A strict JSON reader (RFC 8259) for the plugin configuration, and nothing more: the configuration is read once,
//! in `on_configure`, and needs objects, arrays, strings, booleans and small integers. It replaces serde_json in the
//! `.wasm`, whose float formatting and error machinery were about a tenth of the module (BENCHMARKS.md, size).
//!
//! Stricter than serde_json where that is safer for a security configuration: an object with the same key twice is
//! an error (serde_json keeps the last one silently), and nesting is limited.

/// A parsed JSON value. Numbers keep their text (RFC 8259 section 6 grammar checked); objects keep their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the error in the input.
    pub offset: usize,
    pub message: &'static str,
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

const MAX_DEPTH: usize = 32;

impl Json {
    /// The number as a u32, when it is a non-negative integer written without fraction or exponent.
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Json::Number(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
            _ => None,
        }
    }
}

pub fn parse(input: &[u8]) -> Result<Json, JsonError> {
    let mut r = Reader { input, pos: 0 };
    r.skip_ws();
    let value = r.value(0)?;
    r.skip_ws();
    if r.pos != input.len() {
        return Err(r.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, message: &'static str) -> JsonError {
        JsonError { offset: self.pos, message }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8, message: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn literal(&mut self, word: &[u8], value: Json) -> Result<Json, JsonError> {
        if self.input.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a JSON value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.pos += 1;
        let mut entries: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(entries));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let at = self.pos;
            let key = self.string()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(JsonError { offset: at, message: "duplicate key" });
            }
            self.skip_ws();
            self.expect(b':', "expected `:`")?;
            self.skip_ws();
            let value = self.value(depth)?;
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(entries));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// RFC 8259 section 6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        // Only ASCII digits and signs were consumed.
        let text = self.input.get(start..self.pos).unwrap_or_default();
        if beyond_f64(text) {
            // RFC 8259 section 6 lets a reader limit the range; serde_json refuses what no double holds.
            return Err(JsonError { offset: start, message: "number out of range" });
        }
        Ok(Json::Number(text.iter().map(|&b| char::from(b)).collect()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.error("invalid \\u escape")),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    /// A string: UTF-8, no raw control characters, escapes per RFC 8259 section 7 (surrogate pairs joined, a lone
    /// surrogate refused).
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else { return Err(self.error("unterminated string")) };
            match b {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in string"));
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else { return Err(self.error("unterminated string")) };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.input.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.error("lone surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error("lone surrogate in \\u escape"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.error("lone surrogate in \\u escape"))?
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return Err(self.error("control character in string")),
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Whether a number (RFC 8259 grammar, checked) exceeds f64::MAX (1.7976931348623157e308) in magnitude, read from
/// its decimal digits and exponent without floating point. Numbers that small ones round to zero are in range.
fn beyond_f64(text: &[u8]) -> bool {
    let text = text.strip_prefix(b"-").unwrap_or(text);
    let (mantissa, exp) = match text.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(i) => (&text[..i], text.get(i + 1..).unwrap_or_default()),
        None => (text, &b""[..]),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], mantissa.get(i + 1..).unwrap_or_default()),
        None => (mantissa, &b""[..]),
    };
    let digits: Vec<u8> = int.iter().chain(frac).copied().skip_while(|&b| b == b'0').collect();
    if digits.is_empty() {
        return false; // zero
    }
    // The value is 0.d1d2... x 10^point, with `point` the decimal exponent of the first significant digit plus one.
    let leading_frac_zeros =
        if int.iter().all(|&b| b == b'0') { frac.iter().take_while(|&&b| b == b'0').count() } else { 0 };
    let int_sig = int.iter().skip_while(|&&b| b == b'0').count();
    let point = if int_sig > 0 { int_sig as i64 } else { -(leading_frac_zeros as i64) };
    let (negative, exp_digits) = match exp.first() {
        Some(b'-') => (true, &exp[1..]),
        Some(b'+') => (false, &exp[1..]),
        _ => (false, exp),
    };
    // Exponents beyond any realistic digit count saturate: the verdict is the same.
    let e =
        exp_digits.iter().fold(0i64, |acc, &b| acc.saturating_mul(10).saturating_add(i64::from(b - b'0')).min(1 << 40));
    let point = point + if negative { -e } else { e };
    match point.cmp(&309) {
        core::cmp::Ordering::Greater => true,
        core::cmp::Ordering::Less => false,
        // 0.d1d2... x 10^309 against the midpoint between MAX and 2^1024: below it a double rounds to MAX, from it on
        // (ties to even) to infinity. Trailing zeros only make `digits` compare greater, never change the verdict.
        core::cmp::Ordering::Equal => digits.as_slice() >= F64_OVERFLOW_MIDPOINT,
    }
}

/// 2^1024 - 2^970, all 309 digits: the midpoint between f64::MAX and 2^1024. Its first 20 digits were too few:
/// `1.79769313486231580790e308` rounds to MAX (fuzz/fuzz_targets/json_vs_serde.rs, against serde_json's correctly
/// rounding `float_roundtrip` reader).
const F64_OVERFLOW_MIDPOINT: &[u8] = b"17976931348623158079372897140530341507993413271003782693617377898044496\
82927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738\
54845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042\
880177904174497792";

#[cfg(test)]
mod tests {
    use super::{parse, Json};

    /// The same verdict as serde_json (the reference) on valid and invalid documents, and the same values.
    #[test]
    fn agrees_with_serde_json() {
        let docs: &[&str] = &[
            "{}",
            " {\"a\" : [1, -2, 3.5e-3, 0, -0, 1E+2, true, false, null, \"x\"]} ",
            r#"{"s":"\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \u5c71"}"#,
            "\"\u{5c71}\u{7530}\"",
            "[]",
            "[[[]]]",
            "",
            "{",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\nb\"",
            "\"abc",
            "{} x",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "\"\\u00G0\"",
            "\u{c}{}",
            "{}\u{c}",
            "\u{b}[]",
            "1e400",
            "-1e309",
            "1.7976931348623157e308",
            "17976931348623157e292",
            "0.0000000000000000000000000000000000000000000000001e357",
            "1e-400",
            "100000000000000000000000000000000000000000000000000e260",
            "[1e308, 1e309]",
            // Round to MAX or overflow: the boundary is the exact midpoint (F64_OVERFLOW_MIDPOINT).
            "1.7976931348623158e308",
            "1.79769313486231580790e308",
            "1.7976931348623158079372e308",
            "-0.0017976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758e311",
            MIDPOINT_MINUS_ONE,
            MIDPOINT,
            "1797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872\
             0709633028641669288791094655554785194040263065748867150582068190890200070838367627385484581771153\
             1764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042\
             880177904174497792.0e0",
        ];
        for doc in docs {
            let ours = parse(doc.as_bytes());
            let reference: Result<serde_json::Value, _> = serde_json::from_str(doc);
            assert_eq!(ours.is_ok(), reference.is_ok(), "{doc:?}: {ours:?} vs {reference:?}");
            if let (Ok(ours), Ok(reference)) = (ours, reference) {
                assert_eq!(to_serde(&ours), reference, "{doc:?}");
            }
        }
    }

    /// 2^1024 - 2^970 (rounds to infinity, ties to even) and the integer below it (rounds to f64::MAX).
    const MIDPOINT: &str = "1797693134862315807937289714053034150799341327100378269361737789804449682927647509\
        466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548\
        458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080\
        93042880177904174497792";
    const MIDPOINT_MINUS_ONE: &str = "179769313486231580793728971405303415079934132710037826936173778980444968\
        292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383\
        676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711\
        559699508093042880177904174497791";

    fn to_serde(v: &Json) -> serde_json::Value {
        match v {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::from_str(n).unwrap(),
            Json::String(s) => serde_json::Value::String(s.clone()),
            Json::Array(a) => serde_json::Value::Array(a.iter().map(to_serde).collect()),
            Json::Object(o) => serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect()),
        }
    }

    #[test]
    fn invalid_utf8_duplicates_and_depth_refused() {
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(b"{\"a\":1,\"a\":2}").is_err());
        assert!(parse("[".repeat(33).as_bytes()).is_err());
        assert!(parse(format!("{}{}", "[".repeat(32), "]".repeat(32)).as_bytes()).is_ok());
        assert_eq!(parse(b"400").unwrap().as_u32(), Some(400));
        assert_eq!(parse(b"400.0").unwrap().as_u32(), None);
        assert_eq!(parse(b"-1").unwrap().as_u32(), None);
        assert_eq!(parse(b"99999999999").unwrap().as_u32(), None);
    }
}
