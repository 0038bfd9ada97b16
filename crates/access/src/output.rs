//! The CSV files the command line writes: the graph, and the nearest distances.

use std::io::Write;

use rayon::prelude::*;

use crate::graph::Graph;
use crate::network::GRAPH_COLUMNS;

/// Every edge once, `from_lon,from_lat,to_lon,to_lat,meters`; positions with all the digits
/// they were read with (so that reading the file back joins the same ends), metres to the
/// millimetre.
pub fn write_graph_csv(graph: &Graph, out: impl Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(GRAPH_COLUMNS)?;
    for e in &graph.edges {
        let (a, b) = (graph.positions[e.a as usize], graph.positions[e.b as usize]);
        w.write_record([
            a[0].to_string(),
            a[1].to_string(),
            b[0].to_string(),
            b[1].to_string(),
            format!("{:.3}", e.meters),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// `origin_id,type,meters`: for each origin, in the order read, a row per type, in the order
/// the types first appear among the facilities; `meters` empty where none lies within the cap.
///
/// Written by hand rather than through the CSV writer: a district has millions of rows, and
/// the ids and types are quoted once, not once per row. Pieces of the origins are written
/// into memory in parallel, a batch at a time into buffers used over again (fresh memory
/// for the whole answer cost as much in page faults as the writing), and each batch goes
/// to `out` while the next is being written.
pub fn write_nearest_csv(
    origin_ids: &[impl AsRef<str> + Sync],
    types: &[String],
    meters_by_type: &[Vec<Option<f64>>],
    mut out: impl Write + Send,
) -> std::io::Result<()> {
    // About 2,000 rows, 64 KB, a piece: the buffers stay small enough to be touched once.
    let origins_a_piece = (1 << 11) / types.len().max(1) + 1;
    let pieces = origin_ids.len().div_ceil(origins_a_piece);
    let batch = 2 * rayon::current_num_threads();
    // `,type,` once per type.
    let types: Vec<Vec<u8>> = types
        .iter()
        .map(|t| format!(",{},", field(t)).into_bytes())
        .collect();
    let write_piece = |p: usize, w: &mut Vec<u8>| {
        w.clear();
        let first = p * origins_a_piece;
        let ids = &origin_ids[first..(first + origins_a_piece).min(origin_ids.len())];
        for (o, id) in (first..).zip(ids) {
            let id = field(id.as_ref());
            for (kind, meters) in types.iter().zip(meters_by_type) {
                w.extend_from_slice(id.as_bytes());
                w.extend_from_slice(kind);
                if let Some(m) = meters[o] {
                    push_millimetres(w, m);
                }
                w.push(b'\n');
            }
        }
    };
    out.write_all(b"origin_id,type,meters\n")?;
    let mut ready: Vec<Vec<u8>> = vec![Vec::new(); batch];
    let mut next: Vec<Vec<u8>> = vec![Vec::new(); batch];
    let mut filled = 0;
    let mut written: std::io::Result<()> = Ok(());
    for start in (0..pieces).step_by(batch) {
        let n = batch.min(pieces - start);
        let (done, ()) = rayon::join(
            || ready[..filled].iter().try_for_each(|w| out.write_all(w)),
            || {
                next[..n]
                    .par_iter_mut()
                    .enumerate()
                    .for_each(|(k, w)| write_piece(start + k, w))
            },
        );
        written = written.and(done);
        if written.is_err() {
            break;
        }
        std::mem::swap(&mut ready, &mut next);
        filled = n;
    }
    written?;
    ready[..filled].iter().try_for_each(|w| out.write_all(w))?;
    out.flush()
}

/// A CSV field, quoted only when it must be (a comma, quote or line break inside).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Metres with three decimals, as `{:.3}` would write them, without float formatting.
fn push_millimetres(w: &mut Vec<u8>, metres: f64) {
    let mm = (metres * 1000.0).round() as i64;
    let (whole, frac) = (mm / 1000, mm % 1000);
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    for (n, digits) in [(frac as u64, 3), (whole as u64, 0)] {
        let mut n = n;
        let mut written = 0;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            written += 1;
            if n == 0 && written >= digits {
                break;
            }
        }
        if digits == 3 {
            i -= 1;
            buf[i] = b'.';
        }
    }
    w.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_the_csv_writer_would_write_them() {
        let mut out = Vec::new();
        let ids = vec!["a".to_string(), "b,1".to_string()];
        let types = vec!["park".to_string(), "say \"hi\"".to_string()];
        let meters = vec![vec![Some(0.0), Some(1234.5678)], vec![None, Some(0.0004)]];
        write_nearest_csv(&ids, &types, &meters, &mut out).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "origin_id,type,meters\na,park,0.000\na,\"say \"\"hi\"\"\",\n\"b,1\",park,1234.568\n\"b,1\",\"say \"\"hi\"\"\",0.000\n"
        );
        for m in [0.0, 0.0005, 9.9996, 12.3456, 999.9999, 1000.0, 123456.789] {
            let mut a = Vec::new();
            push_millimetres(&mut a, m);
            assert_eq!(
                String::from_utf8(a).expect("utf-8"),
                format!("{:.3}", (m * 1000.0f64).round() / 1000.0),
                "{m}"
            );
        }
    }
}
