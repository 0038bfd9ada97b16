//! Rows in PostgreSQL's COPY text format, for bulk loads that stream into a table instead
//! of binding every value of a multi-row INSERT (the divisions load, resident imports).

use std::fmt::Write;

/// A buffer of COPY text rows: values separated by tabs, rows ended by newlines.
#[derive(Debug, Default)]
pub(crate) struct CopyText {
    buf: String,
    /// Whether the current row has a value yet (so the next one needs a tab first).
    in_row: bool,
}

impl CopyText {
    pub fn with_capacity(bytes: usize) -> CopyText {
        CopyText {
            buf: String::with_capacity(bytes),
            in_row: false,
        }
    }

    fn separate(&mut self) {
        if self.in_row {
            self.buf.push('\t');
        }
        self.in_row = true;
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.separate();
        escape(s, &mut self.buf);
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        self.separate();
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "{n}");
        self
    }

    /// A bytea value in hex form (`\x…`, its backslash escaped for the text format).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.separate();
        self.buf.push_str("\\\\x");
        for byte in b {
            self.buf.push(HEX[usize::from(byte >> 4)] as char);
            self.buf.push(HEX[usize::from(byte & 0xf)] as char);
        }
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.separate();
        self.buf.push_str("\\N");
        self
    }

    pub fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    pub fn opt_bytes(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            Some(b) => self.bytes(b),
            None => self.null(),
        }
    }

    pub fn end_row(&mut self) {
        self.buf.push('\n');
        self.in_row = false;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.in_row = false;
    }
}

/// Escapes a value for the text format: backslash, tab, newline and carriage return.
pub(crate) fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let mut s = String::new();
        escape("a\tb\\c\nd", &mut s);
        assert_eq!(s, "a\\tb\\\\c\\nd");
    }

    #[test]
    fn rows_have_tabs_nulls_and_hex_bytes() {
        let mut c = CopyText::default();
        c.int(-7).text("王\t伟").null().bytes(&[0x00, 0xab, 0x1f]);
        c.end_row();
        c.opt_text(None).opt_bytes(Some(&[]));
        c.end_row();
        assert_eq!(
            std::str::from_utf8(c.as_bytes()).unwrap_or_default(),
            "-7\t王\\t伟\t\\N\t\\\\x00ab1f\n\\N\t\\\\x\n"
        );
    }
}
