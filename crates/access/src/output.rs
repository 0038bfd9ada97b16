//! The CSV files the command line writes: the graph, and the nearest distances.

use std::io::Write;

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
pub fn write_nearest_csv(
    origin_ids: &[String],
    types: &[String],
    meters_by_type: &[Vec<Option<f64>>],
    out: impl Write,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["origin_id", "type", "meters"])?;
    for (o, id) in origin_ids.iter().enumerate() {
        for (t, kind) in types.iter().enumerate() {
            let meters = meters_by_type[t][o]
                .map(|m| format!("{m:.3}"))
                .unwrap_or_default();
            w.write_record([id.as_str(), kind.as_str(), meters.as_str()])?;
        }
    }
    w.flush()?;
    Ok(())
}
