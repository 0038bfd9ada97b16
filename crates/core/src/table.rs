//! A spreadsheet read into text: what every registry import parses, whichever file format
//! (.csv or .xlsx) it came in. The reading itself lives in the `linli-sheet` crate.

/// A header row and the data rows under it, every cell as text (trimmed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<TableRow>,
    /// Cells that held a number too long for a spreadsheet to keep exactly (more than 15
    /// significant digits: an ID number typed into a cell formatted as a number), as
    /// (line, column index). The digits read back are not the ones typed, so the parser
    /// reports these instead of a misleading checksum error.
    pub lossy: Vec<(usize, usize)>,
}

/// One data row: its line number as the user sees it in the file (the header is line 1).
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    pub line: usize,
    pub cells: Vec<String>,
}

impl Table {
    /// The column whose header is one of `names` (compared without surrounding spaces and
    /// ASCII case), if any.
    pub fn column(&self, names: &[&str]) -> Option<usize> {
        self.headers.iter().position(|h| {
            let h = h.trim();
            names.iter().any(|n| h.eq_ignore_ascii_case(n))
        })
    }

    /// Whether the cell at (`line`, `column`) lost digits (see [`Table::lossy`]).
    pub fn is_lossy(&self, line: usize, column: usize) -> bool {
        self.lossy.contains(&(line, column))
    }
}

impl TableRow {
    /// The cell at `column`, or "" when the row is shorter.
    pub fn cell(&self, column: usize) -> &str {
        self.cells.get(column).map(|c| c.as_str()).unwrap_or("")
    }
}
