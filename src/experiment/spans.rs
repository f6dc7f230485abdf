//! Where each value of a TOML document stands: field paths to byte spans and
//! back, and byte offsets to line and column.
//!
//! Pure. Used only to point error messages at the line a user must fix; it
//! knows nothing about what the fields mean.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// Every value of a document with its field path (`nemesis[0].schedule`) and
/// its byte span, in document order.
#[derive(Debug, Default)]
pub struct SpanIndex {
    entries: Vec<(String, Range<usize>)>,
    line_starts: Vec<usize>,
}

impl SpanIndex {
    /// Index a document that has already parsed as TOML.
    pub fn new(text: &str, table: &DeTable<'_>) -> Self {
        let mut index = SpanIndex {
            entries: Vec::new(),
            line_starts: line_starts(text),
        };
        index.walk_table("", table);
        index
    }

    /// An index that only converts offsets (for text that did not parse).
    pub fn lines_only(text: &str) -> Self {
        SpanIndex {
            entries: Vec::new(),
            line_starts: line_starts(text),
        }
    }

    fn walk_table(&mut self, prefix: &str, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.walk_value(path, value.span(), value.get_ref());
        }
    }

    fn walk_value(&mut self, path: String, span: Range<usize>, value: &DeValue<'_>) {
        self.entries.push((path.clone(), span));
        match value {
            DeValue::Table(t) => self.walk_table(&path, t),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk_value(format!("{path}[{i}]"), item.span(), item.get_ref());
                }
            }
            _ => {}
        }
    }

    /// Is this exact field path in the document (not only a parent)?
    pub fn has(&self, path: &str) -> bool {
        self.entries.iter().any(|(q, _)| q == path)
    }

    /// The span of a field path, or of its nearest parent that has one.
    pub fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let mut p = path;
        loop {
            if let Some((_, span)) = self.entries.iter().find(|(q, _)| q == p) {
                return Some(span.clone());
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// The path of the field named `key` whose value is the first to start
    /// at or after `offset` (a key's own span: what a parser points at for
    /// an unknown field, just before its value).
    pub fn key_path_after(&self, offset: usize, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .filter(|(p, s)| {
                s.start >= offset
                    && (p == key
                        || p.ends_with(&format!(".{key}"))
                        || p.ends_with(&format!("]{key}")))
            })
            .min_by_key(|(_, s)| s.start)
            .map(|(p, _)| p.as_str())
    }

    /// The innermost field whose value contains the byte range.
    pub fn path_at(&self, span: &Range<usize>) -> Option<&str> {
        self.entries
            .iter()
            .filter(|(_, s)| s.start <= span.start && span.end <= s.end.max(s.start + 1))
            .min_by_key(|(_, s)| s.end - s.start)
            .map(|(p, _)| p.as_str())
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        (line + 1, offset - self.line_starts[line] + 1)
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paths_and_lines() {
        let text = "name = \"x\"\n[[nemesis]]\nfault = \"kill\"\nschedule = { start = \"5s\" }\n";
        let table = DeTable::parse(text).unwrap();
        let index = SpanIndex::new(text, table.get_ref());
        let span = index.span_of("nemesis[0].schedule.start").unwrap();
        assert_eq!(index.line_col(span.start).0, 4);
        assert_eq!(index.path_at(&span), Some("nemesis[0].schedule.start"));
        let fault = index.span_of("nemesis[0].fault").unwrap();
        assert_eq!(index.line_col(fault.start), (3, 9));
        // A missing field falls back to its parent.
        let parent = index.span_of("nemesis[0].targets").unwrap();
        assert_eq!(index.line_col(parent.start).0, 2);
    }
}
