//! A minimal WKT reader for `.prj` files: ESRI WKT, OGC WKT1 and WKT2 all
//! share the grammar `KEYWORD[value, ...]` (or `(...)`), where a value is a
//! `"string"` (`""` escapes a quote), a number, a bare word (`NORTH`,
//! `Cartesian`) or a nested node. Bounded in length and depth so hostile
//! input can neither recurse deeply nor make us read megabytes.
//! Interpretation of the tree is in [`super::prj`].

/// Longest WKT accepted (real `.prj` files are well under 2 KiB).
pub(super) const MAX_LEN: usize = 64 * 1024;
/// Deepest node nesting accepted (WKT2 needs about 5).
const MAX_DEPTH: usize = 16;

/// One WKT value: `"string"`, number, bare word (`NORTH`, `ellipsoidal`) or node.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Str(String),
    Num(f64),
    Word(String),
    Node(Node),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    /// Upper-cased keyword.
    pub(super) keyword: String,
    pub(super) args: Vec<Value>,
}

impl Node {
    pub(super) fn children(&self) -> impl Iterator<Item = &Node> {
        self.args.iter().filter_map(|v| match v {
            Value::Node(n) => Some(n),
            _ => None,
        })
    }

    pub(super) fn child(&self, keywords: &[&str]) -> Option<&Node> {
        self.children()
            .find(|n| keywords.contains(&n.keyword.as_str()))
    }

    /// Depth-first search (self included).
    pub(super) fn find(&self, keywords: &[&str]) -> Option<&Node> {
        if keywords.contains(&self.keyword.as_str()) {
            return Some(self);
        }
        self.children().find_map(|c| c.find(keywords))
    }

    /// Every node with one of `keywords`, at any depth.
    pub(super) fn find_all<'a>(&'a self, keywords: &[&str], out: &mut Vec<&'a Node>) {
        if keywords.contains(&self.keyword.as_str()) {
            out.push(self);
        }
        for c in self.children() {
            c.find_all(keywords, out);
        }
    }

    pub(super) fn name(&self) -> &str {
        match self.args.first() {
            Some(Value::Str(s)) => s,
            _ => "",
        }
    }

    pub(super) fn num(&self, i: usize) -> Option<f64> {
        match self.args.get(i) {
            Some(Value::Num(v)) => Some(*v),
            _ => None,
        }
    }

    /// EPSG code from a direct `AUTHORITY["EPSG","4547"]` / `ID["EPSG",4547]`.
    pub(super) fn epsg(&self) -> Option<u32> {
        let auth = self.child(&["AUTHORITY", "ID"])?;
        match auth.args.as_slice() {
            [Value::Str(a), code, ..] if a.eq_ignore_ascii_case("EPSG") => match code {
                Value::Str(s) => s.trim().parse().ok(),
                Value::Num(v) if v.fract() == 0.0 && (0.0..1e9).contains(v) => Some(*v as u32),
                _ => None,
            },
            _ => None,
        }
    }

    /// Value of the first `PARAMETER` whose normalised name is in `names`.
    pub(super) fn param(&self, names: &[&str]) -> Option<f64> {
        self.children()
            .filter(|n| n.keyword == "PARAMETER")
            .find(|n| names.contains(&normalise(n.name()).as_str()))
            .and_then(|n| n.num(1))
    }
}

/// Minimal recursive-descent WKT reader (`KEYWORD[arg, ...]`, `(` or `[`).
struct Reader<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| f(*c)) {
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    fn node(&mut self, keyword: &str, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let close = match self.peek() {
            Some('[') => ']',
            Some('(') => ')',
            _ => return Err(format!("expected `[` after {keyword}")),
        };
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            if args.is_empty() && self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            args.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(format!("expected `,` or `{close}` in {keyword}")),
            }
        }
        Ok(Node {
            keyword: keyword.to_ascii_uppercase(),
            args,
        })
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        match self.peek() {
            Some('"') => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    let chunk = self.take_while(|c| c != '"');
                    out.push_str(chunk);
                    if self.peek().is_none() {
                        return Err("unterminated string".into());
                    }
                    self.pos += 1;
                    if self.peek() == Some('"') {
                        // `""` is an escaped quote.
                        out.push('"');
                        self.pos += 1;
                    } else {
                        return Ok(Value::Str(out));
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => {
                let t = self
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
                t.parse()
                    .map(Value::Num)
                    .map_err(|_| format!("bad number `{t}`"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                self.skip_ws();
                if matches!(self.peek(), Some('[' | '(')) {
                    self.node(word, depth + 1).map(Value::Node)
                } else {
                    Ok(Value::Word(word.to_string()))
                }
            }
            _ => Err(format!("unexpected character at byte {}", self.pos)),
        }
    }
}

/// Parses one WKT node (surrounding whitespace, a UTF-8 BOM and trailing
/// NULs allowed, nothing else after it).
pub(super) fn parse_tree(wkt: &str) -> Result<Node, String> {
    if wkt.len() > MAX_LEN {
        return Err("longer than 64 KiB".into());
    }
    let s = wkt
        .trim_start_matches('\u{feff}')
        .trim()
        .trim_end_matches('\0');
    let mut r = Reader { s, pos: 0 };
    let keyword = r.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
    if keyword.is_empty() || !keyword.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("not WKT".into());
    }
    r.skip_ws();
    let node = r.node(keyword, 0)?;
    r.skip_ws();
    if r.pos != s.len() {
        return Err("trailing text after WKT".into());
    }
    Ok(node)
}

/// Lower-case, `ü` -> `u`, runs of other characters -> `_`, trimmed.
pub(super) fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c == 'ü' || c == 'Ü' { 'u' } else { c };
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkt_reader() {
        let t = parse_tree(r#"A["q""uote",-1.5e3,(B[x]),WORD,C(1,2)]"#);
        assert!(t.is_err(), "a bare parenthesis is not a value");
        let t = parse_tree(r#"A["q""uote",-1.5e3,WORD,C(1,2),D[]]"#).expect("parses");
        assert_eq!(t.keyword, "A");
        assert_eq!(t.args[0], Value::Str("q\"uote".into()));
        assert_eq!(t.args[1], Value::Num(-1500.0));
        assert_eq!(t.args[2], Value::Word("WORD".into()));
        assert!(matches!(&t.args[3], Value::Node(n) if n.keyword == "C" && n.args.len() == 2));
        assert!(matches!(&t.args[4], Value::Node(n) if n.args.is_empty()));
        assert_eq!(
            normalise("CGCS2000 / 3-degree Gauss-Krüger CM 114E"),
            "cgcs2000_3_degree_gauss_kruger_cm_114e"
        );
    }
}
