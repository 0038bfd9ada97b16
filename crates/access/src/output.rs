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
/// into memory in parallel, then to `out` in order.
pub fn write_nearest_csv(
    origin_ids: &[impl AsRef<str> + Sync],
    types: &[String],
    meters_by_type: &[Vec<Option<f64>>],
    mut out: impl Write,
) -> std::io::Result<()> {
    const ORIGINS_A_PIECE: usize = 4096;
    out.write_all(b"origin_id,type,meters\n")?;
    let types: Vec<String> = types.iter().map(|t| field(t)).collect();
    let pieces: Vec<Vec<u8>> = origin_ids
        .par_chunks(ORIGINS_A_PIECE)
        .enumerate()
        .map(|(p, ids)| {
            let mut w = Vec::with_capacity(ids.len() * types.len() * 24);
            for (i, id) in ids.iter().enumerate() {
                let o = p * ORIGINS_A_PIECE + i;
                let id = field(id.as_ref());
                for (t, kind) in types.iter().enumerate() {
                    w.extend_from_slice(id.as_bytes());
                    w.push(b',');
                    w.extend_from_slice(kind.as_bytes());
                    w.push(b',');
                    if let Some(m) = meters_by_type[t][o] {
                        push_millimetres(&mut w, m);
                    }
                    w.push(b'\n');
                }
            }
            w
        })
        .collect();
    for piece in &pieces {
        out.write_all(piece)?;
    }
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
