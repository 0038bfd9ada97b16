#!/usr/bin/env python3
"""A whole-district health check: `linli healthcheck` side by side with the same work in pandana.

linli builds its demo district (`linli demo --scale S`, SQLite) over the central-Hangzhou roads
and runs `linli healthcheck --region 330102` as a child process, timed from outside: reading
the buildings with their residents, the facilities and the roads layer from the database,
building the walking network, walking from every building to every type, scoring and saving.

pandana is given the same rows, read from the same database file with Python's sqlite3, and
the same graph (`linli access graph` of the roads file the demo imported). It places the
buildings and facilities on their nearest node (within the same 500 m), runs
`set_pois`/`nearest_pois` per type with the same cap (the largest radius), and adds up per
community the residents within each type's radius: the coverage the index is made of. The
indicators and ranking that follow are a few thousand multiplications in either tool.

Both tools' coverage per community and type must agree within a few percentage points (linli
places a building on the nearest point of a road, pandana on the nearest node: the distances
differ by the stretch of road between), or the benchmark fails.
"""

import argparse
import datetime
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandana

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "access"))
import compare as access  # noqa: E402  (the access bench's graph reader and helpers)

REPO = Path(__file__).resolve().parents[2]
DISTRICT = "330102"
MAX_SNAP_M = 500.0
# Coverage of one community and type may differ by the snapping; the district's by little.
COMMUNITY_TOLERANCE_PP = 25.0
DISTRICT_TOLERANCE_PP = 5.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--linli", required=True, help="the linli binary (a release build)")
    p.add_argument("--linli-commit", default="unknown", help="the commit it was built from")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/data/geo",
                   help="the data root (hangzhou/roads_central.wgs84.geojson)")
    p.add_argument("--scale", type=float, default=1.0, help="the demo's scale (1 = full size)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each tool")
    p.add_argument("--work", type=Path, help="keep the database and the graph here")
    p.add_argument("--write", action="store_true", help="write bench/RESULTS-healthcheck.md")
    return p.parse_args()


# ---------------------------------------------------------------------------------------------
# linli


def run_logged(binary, db, *args):
    """A linli command against the bench's database: wall seconds, peak RSS (KiB), stderr."""
    command = [binary, "--database", f"sqlite://{db}", "--key-file", str(db.with_suffix(".keys")),
               *map(str, args)]
    with tempfile.TemporaryFile(mode="w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read()
    if child.returncode != 0:
        sys.exit(f"linli {' '.join(map(str, args))} failed:\n{text}")
    return wall, usage.ru_maxrss, text


def run_linli(binary, db):
    wall, rss, text = run_logged(binary, db, "healthcheck", "--region", DISTRICT)
    took = re.search(r"reading (\d+) ms, network (\d+) ms, walking (\d+) ms, saving (\d+) ms", text)
    if not took:
        sys.exit(f"linli healthcheck printed no timings:\n{text}")
    reading, network, walking, saving = (int(x) / 1000 for x in took.groups())
    return {"total": wall, "reading": reading, "network": network, "walking": walking,
            "saving": saving, "rss_kib": rss}


def linli_coverage(db, types):
    """The latest run's residents and residents within each type's radius, per community."""
    with sqlite3.connect(db) as c:
        run_id, inputs = c.execute(
            "SELECT id, inputs FROM healthcheck_runs WHERE state = 'done' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        rows = c.execute(
            "SELECT community_key, residents, assessed, json_extract(detail, '$.coverage') "
            "FROM healthcheck_results WHERE run_id = ?", (run_id,)).fetchall()
    covered = {}
    for community, residents, assessed, coverage in rows:
        by_type = {x["type"]: x["covered"] for x in json.loads(coverage)}
        covered[community] = (residents, bool(assessed), [by_type[t] for t, _ in types])
    return covered, json.loads(inputs)


# ---------------------------------------------------------------------------------------------
# pandana


def read_inputs(db):
    """What the run reads, with the same SQL: types, buildings with residents, facilities."""
    start, end = district_range()
    with sqlite3.connect(db) as c:
        types = c.execute("SELECT code, radius_m FROM facility_types ORDER BY position").fetchall()
        buildings = pd.read_sql(
            "SELECT id, community_key, lon, lat FROM buildings "
            "WHERE region_key >= ? AND region_key < ? ORDER BY id", c, params=(start, end))
        counts = pd.read_sql(
            "SELECT +h.building_id AS id, COUNT(*) AS residents FROM households h "
            "JOIN residents r ON r.household_id = h.id "
            "WHERE h.region_key >= ? AND h.region_key < ? GROUP BY +h.building_id",
            c, params=(start, end))
        facilities = pd.read_sql(
            "SELECT type_code, lon, lat FROM facilities WHERE region_key >= ? AND region_key < ?",
            c, params=(start, end))
    buildings = buildings.merge(counts, on="id", how="left").fillna({"residents": 0})
    return types, buildings, facilities


def district_range():
    """The district's key range: its code followed by zeros, as linli's region keys are."""
    key_digits = 18
    start = int(DISTRICT) * 10 ** (key_digits - len(DISTRICT))
    return start, start + 10 ** (key_digits - len(DISTRICT))


def run_pandana(graph, types, buildings, facilities, log):
    """Places, walks and adds up the coverage per community and type; seconds by step."""
    cap = float(max(r for _, r in types))
    mean_lat = float(np.mean(graph.lat))
    nodes_xy = access.plane(graph.lon, graph.lat, mean_lat)
    with access.stdout_to(log):
        started = time.perf_counter()
        net = pandana.Network(
            pd.Series(nodes_xy[:, 0]), pd.Series(nodes_xy[:, 1]), pd.Series(graph.src),
            pd.Series(graph.dst), pd.DataFrame({"meters": graph.meters}), twoway=True)
        net.precompute(cap)
        built = time.perf_counter()

        def placed(frame):
            xy = access.plane(frame["lon"].to_numpy(), frame["lat"].to_numpy(), mean_lat)
            ids = net.get_node_ids(pd.Series(xy[:, 0]), pd.Series(xy[:, 1]),
                                   mapping_distance=MAX_SNAP_M)
            return xy, ids.reindex(range(len(frame))).to_numpy()

        b_xy, b_node = placed(buildings)
        on_net = ~np.isnan(b_node.astype(float))
        node_row = pd.Series(np.arange(len(net.node_ids)), index=net.node_ids)
        b_row = node_row.reindex(b_node[on_net].astype(np.int64)).to_numpy()
        f_xy, f_node = placed(facilities)
        f_on = ~np.isnan(f_node.astype(float))
        walked = np.full((len(types), len(buildings)), np.inf)
        for t, (code, _) in enumerate(types):
            mine = f_on & (facilities["type_code"].to_numpy() == code)
            if not mine.any():
                continue
            net.set_pois(code, cap, 1, pd.Series(f_xy[mine, 0]), pd.Series(f_xy[mine, 1]))
            nearest = net.nearest_pois(cap, code, num_pois=1, max_distance=np.inf)[1].to_numpy()
            walked[t, on_net] = nearest[b_row]
        walked_at = time.perf_counter()

        community = buildings["community_key"].to_numpy()
        keys, at = np.unique(community, return_inverse=True)
        residents = buildings["residents"].to_numpy(dtype=float)
        total = np.bincount(at, weights=residents, minlength=len(keys))
        placed_residents = np.bincount(at, weights=residents * on_net, minlength=len(keys))
        covered = np.stack([
            np.bincount(at, weights=residents * (walked[t] <= r), minlength=len(keys))
            for t, (_, r) in enumerate(types)])
        done = time.perf_counter()
    answer = {int(k): (total[i], placed_residents[i], covered[:, i]) for i, k in enumerate(keys)}
    steps = {"build": built - started, "walk": walked_at - built, "sum": done - walked_at,
             "total": done - started}
    return steps, answer, int(on_net.sum()), int(f_on.sum())


# ---------------------------------------------------------------------------------------------
# Agreement


def agreement(types, linli_cov, pandana_cov):
    """Per assessed community and type, the coverage in percentage points on both sides; and the
    district's resident-weighted coverage per type."""
    diffs, district = [], np.zeros((2, len(types)))
    residents_total = 0.0
    for community, (residents, assessed, covered) in linli_cov.items():
        if not assessed or residents == 0:
            continue
        total, _, theirs = pandana_cov.get(community, (0, 0, np.zeros(len(types))))
        ours = np.array(covered, dtype=float)
        diffs.extend(np.abs(ours - theirs) / residents * 100)
        district += np.stack([ours, theirs])
        residents_total += residents
    diffs = np.array(diffs)
    district_pp = np.abs(district[0] - district[1]) / max(residents_total, 1) * 100
    return {
        "pairs": len(diffs),
        "median": float(np.median(diffs)) if len(diffs) else 0.0,
        "p95": float(np.percentile(diffs, 95)) if len(diffs) else 0.0,
        "max": float(diffs.max()) if len(diffs) else 0.0,
        "within_5": float((diffs <= 5).mean() * 100) if len(diffs) else 100.0,
        "district_max": float(district_pp.max()),
        "district_worst": types[int(district_pp.argmax())][0],
    }


# ---------------------------------------------------------------------------------------------
# Report


def median(runs, key):
    return float(np.median([r[key] for r in runs]))


def report(args, started, load_at_start, facts, linli_runs, pandana_runs, agree):
    fmt = access.fmt_s
    machine = [row for row in access.machine_rows(args, load_at_start, {})
               if not row[0].startswith(("PostgreSQL", "pgRouting", "psycopg", "networkx"))]
    machine.append(("load average at the end",
                    ", ".join(Path("/proc/loadavg").read_text().split()[:3])))
    lt, pt = median(linli_runs, "total"), median(pandana_runs, "total")
    read_s = median(pandana_runs, "read")
    linli_compute = median(linli_runs, "network") + median(linli_runs, "walking")
    pandana_compute = median(pandana_runs, "build") + median(pandana_runs, "walk")
    failed = agree["district_max"] > DISTRICT_TOLERANCE_PP or agree["p95"] > COMMUNITY_TOLERANCE_PP
    lines = [
        "# A whole-district health check: `linli healthcheck` side by side with pandana",
        "",
        "## Machine and software",
        "",
        f"Figures from **one run** of `bench/healthcheck/run` on"
        f" {started:%Y-%m-%d %H:%M} UTC. Absolute figures vary from machine to machine and run to"
        " run; the ratios compare tools measured side by side in that one run, on the same rows.",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine],
        "",
        "## What was run",
        "",
        f"`linli demo --scale {args.scale:g} --no-serve` built the demo district 上城区 ({DISTRICT})"
        " in a fresh SQLite file over the central-Hangzhou roads"
        f" (`{args.data / 'hangzhou/roads_central.wgs84.geojson'}`, © OpenStreetMap contributors,"
        f" ODbL) in {fmt(facts['demo_s'])} s (not compared). Then each tool ran"
        f" {args.repeat} times, interleaved; the times are medians.",
        "",
        "- **linli**: the release binary, `linli healthcheck --region 330102`, as a child process."
        " *Whole run* is its wall time from outside: opening the database, reading the buildings"
        " with the residents registered in each, the facilities of the district, the roads layer"
        " and the registry's figures; building the walking network and placing every building and"
        " facility on the nearest point of a road (within 500 m); walking from every building to"
        " the nearest facility of each of the 20 types (cap: the largest radius, types in"
        " parallel); scoring, ranking, and saving the results with each building's metres per"
        " type. Its stages are the times it prints itself. Its peak memory includes SQLite's"
        " page cache (64 MiB per connection) filled by the scan of the district's households.",
        "- **pandana**: the same rows, read from the same database file with Python's sqlite3 and"
        " the same SQL (*read*); the same graph, `linli access graph` of the roads file the demo"
        " imported, as `Network(x, y, from, to, meters, twoway=True)` on a local metric plane and"
        " `precompute(cap)` (*build*); buildings and facilities placed on their nearest node"
        f" (`get_node_ids`, within {MAX_SNAP_M:g} m), then per type `set_pois` and"
        " `nearest_pois(cap, type, num_pois=1)` (*walk*); per community the residents within each"
        " type's radius (*add up*, numpy). It computes the coverage; it stores nothing.",
        "",
        "## Data",
        "",
        "| | |",
        "|---|---|",
        f"| residents | {facts['residents']:,} |",
        f"| buildings (placed within 500 m of the roads: linli, pandana) | {facts['buildings']:,}"
        f" ({facts['linli_placed']:,}, {facts['pandana_placed']:,}) |",
        f"| facilities of the district (placed: linli, pandana) | {facts['facilities']:,}"
        f" ({facts['linli_facilities']:,}, {facts['pandana_facilities']:,}) |",
        f"| types (radius) | {facts['types']} |",
        f"| walking network (linli's run; the exported graph) | {facts['nodes']:,} nodes,"
        f" {facts['edges']:,} edges; {facts['graph_nodes']:,} nodes, {facts['graph_edges']:,}"
        " edges |",
        f"| communities (assessed by linli: half their residents placed) | {facts['communities']}"
        f" ({facts['assessed']}) |",
        "",
        "## Times (seconds)",
        "",
        "| tool | whole | reading | network / build | walking | saving / add up | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| linli | **{fmt(lt)}** | {fmt(median(linli_runs, 'reading'))} |"
        f" {fmt(median(linli_runs, 'network'))} | {fmt(median(linli_runs, 'walking'))} |"
        f" {fmt(median(linli_runs, 'saving'))} |"
        f" {max(r['rss_kib'] for r in linli_runs) / 1024:.0f} MiB |",
        f"| pandana | **{fmt(pt + read_s)}** | {fmt(read_s)} | {fmt(median(pandana_runs, 'build'))} |"
        f" {fmt(median(pandana_runs, 'walk'))} | {fmt(median(pandana_runs, 'sum'))} |"
        f" {facts['python_rss_kib'] / 1024:.0f} MiB (the Python process) |",
        "",
        "linli's runs: " + "; ".join(f"{r['total']:.2f} s" for r in linli_runs) + ".",
        "",
        "## Ratios (pandana ÷ linli)",
        "",
        "| | ratio |",
        "|---|---:|",
        f"| whole (pandana reading the rows + computing; linli's whole run) |"
        f" {access.fmt_ratio((pt + read_s) / lt)} |",
        f"| computing only (pandana build + walk; linli network + walking) |"
        f" {access.fmt_ratio(pandana_compute / linli_compute)} |",
        "",
        "## Same answers",
        "",
        f"Coverage (residents within the type's radius ÷ residents) of the {agree['pairs']:,}"
        " assessed community × type pairs, in percentage points: median difference"
        f" {agree['median']:.2f}, 95th percentile {agree['p95']:.2f}, largest {agree['max']:.1f};"
        f" {agree['within_5']:.1f} % within 5 points. The district's resident-weighted coverage"
        f" differs by at most {agree['district_max']:.2f} points ({agree['district_worst']})."
        " The differences are the placing: linli walks from the nearest point of a road, pandana"
        " from the nearest node.",
        "",
        "## Goal",
        "",
        f"- A whole-district health check in < 2 s: **{fmt(lt)} s**"
        f" ({'met' if lt < 2 else 'not met'}).",
    ]
    if failed:
        lines += ["", "**FAILED**: the two tools' coverage differs beyond the tolerance"
                  f" ({DISTRICT_TOLERANCE_PP:g} points for the district,"
                  f" {COMMUNITY_TOLERANCE_PP:g} for the 95th percentile of the pairs)."]
    return "\n".join(lines) + "\n", failed


def main():
    args = parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    roads = args.data / "hangzhou/roads_central.wgs84.geojson"
    if not roads.exists():
        sys.exit(f"{roads}: not found (the central-Hangzhou roads of ../shared/data)")
    work = args.work or Path(tempfile.mkdtemp(prefix="linli-bench-healthcheck-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "linli.db"
    try:
        for stale in work.glob("linli.*"):
            stale.unlink()
        print(f"building the demo at scale {args.scale:g} …", file=sys.stderr)
        demo_s, _, _ = run_logged(args.linli, db, "demo", "--scale", args.scale, "--no-serve",
                                  "--roads", roads)
        graph_csv = work / "graph.csv"
        access.linli(args.linli, "access", "graph", "--network", roads, "--out", graph_csv)
        graph = access.read_graph(graph_csv)

        linli_runs, pandana_runs = [], []
        for i in range(args.repeat):
            print(f"run {i + 1} of {args.repeat} …", file=sys.stderr)
            linli_runs.append(run_linli(args.linli, db))
            read_started = time.perf_counter()
            types, buildings, facilities = read_inputs(db)
            read_s = time.perf_counter() - read_started
            steps, answer, placed, placed_f = run_pandana(graph, types, buildings, facilities,
                                                          work / "pandana.log")
            pandana_runs.append({**steps, "read": read_s})
        covered, inputs = linli_coverage(db, types)
        agree = agreement(types, covered, answer)
        facts = {
            "demo_s": demo_s,
            "residents": int(buildings["residents"].sum()),
            "buildings": len(buildings),
            "linli_placed": inputs["placed_buildings"],
            "pandana_placed": placed,
            "facilities": len(facilities),
            "linli_facilities": inputs["placed_facilities"],
            "pandana_facilities": placed_f,
            "types": ", ".join(f"{c} {r} m" for c, r in types),
            "nodes": inputs["nodes"],
            "edges": inputs["edges"],
            "graph_nodes": len(graph.lon),
            "graph_edges": len(graph.src),
            "communities": len(covered),
            "assessed": sum(1 for _, a, _ in covered.values() if a),
            "python_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    finally:
        if not args.work:
            shutil.rmtree(work)
    text, failed = report(args, started, load_at_start, facts, linli_runs, pandana_runs, agree)
    access.finish(text, failed, args.write, "RESULTS-healthcheck.md")


if __name__ == "__main__":
    main()
