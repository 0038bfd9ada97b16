#!/usr/bin/env python3
"""`linli access nearest` side by side with pandana and pgRouting, networkx the reference.

Every tool reads the same graph (the CSV `linli access graph` exports) and the same points.
Origins and facilities sit exactly on graph nodes, so that snapping to the nearest node (what
pandana and pgRouting do) is unambiguous for every tool. For each dataset, each origin and each
facility type, the four answers must agree within 1 m (or all be empty): any disagreement fails
the run. Times are medians of --repeat runs; networkx, the reference, runs once.
"""

import argparse
import csv
import ctypes
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandana
import pandas as pd
import psycopg
import scipy
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[2]
TOLERANCE_M = 1.0
# linli's default --max-snap-meters: a real facility further than this from any node is
# left out here too, rather than pulled onto a road it does not stand by.
MAX_SNAP_M = 500.0
# Generated facilities: one per catchment disk of the type's radius, taking a dense city's
# 20 km of road per km², so that sparse types (1 km radius) are few and everyday ones many.
ROAD_M_PER_M2 = 0.02
MIN_GENERATED = 3
EARTH_RADIUS_M = 6_371_008.8
EXAMPLES_SHOWN = 10


@dataclass
class Dataset:
    name: str
    network: str  # under the data root
    facilities: str  # "osm" (linli access pois), "hangzhou" or "generated"
    origins: int
    about: str


DATASETS = [
    Dataset("helsinki", "osm/helsinki_centre.osm.pbf", "osm", 5_000,
            "central Helsinki, OSM PBF"),
    Dataset("hangzhou", "hangzhou/roads_central.wgs84.geojson", "hangzhou", 20_000,
            "central Hangzhou roads, GeoJSON lines (no tags)"),
    Dataset("malta", "osm/malta_2018-08.osm.pbf", "osm", 50_000,
            "all of Malta, OSM PBF (Geofabrik, 2018-08)"),
    Dataset("porto", "osm/porto_roads.osm.pbf", "generated", 50_000,
            "Porto, OSM PBF filtered to roads"),
]


@dataclass
class Graph:
    csv: Path
    lon: np.ndarray
    lat: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    meters: np.ndarray
    components: int = 0
    largest_share: float = 0.0

    @property
    def nodes(self):
        return len(self.lon)


@dataclass
class Points:
    """Origins and facilities, as node indexes of the graph."""
    origins: np.ndarray
    types: list  # facility type codes, in the order linli reports them
    by_type: dict  # type -> node indexes of its facilities
    ids: dict  # type -> facility ids
    provenance: dict  # type -> "real" or "generated"
    moved_m: list = field(default_factory=list)  # real facilities: metres moved onto a node
    dropped: int = 0  # real facilities further than MAX_SNAP_M from any node


@dataclass
class Agreement:
    compared: int = 0
    both_empty: int = 0
    max_diff_m: float = 0.0
    at_cap: int = 0  # one answer empty, the other within TOLERANCE_M of the cap
    mismatches: list = field(default_factory=list)


@dataclass
class Outcome:
    dataset: Dataset
    graph: Graph
    points: Points
    times: dict  # tool -> {part: seconds}
    agreement: dict  # tool -> Agreement against networkx
    equicost: Agreement  # pgRouting with equicost => true, against networkx
    linli_summary: str
    load: tuple  # 1-minute load average when the dataset's runs began and ended


# ---------------------------------------------------------------------------------------------
# Commands and the graph


def linli(binary, *args):
    """Runs a linli command that prepares data (not measured)."""
    done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"linli {' '.join(map(str, args))} failed:\n{done.stderr}")


def read_graph(path):
    """The exported graph: positions are keys (written with every digit), lengths as written."""
    index = {}
    lon, lat, src, dst, meters = [], [], [], [], []

    def node(x, y):
        key = (float(x), float(y))
        if key not in index:
            index[key] = len(lon)
            lon.append(key[0])
            lat.append(key[1])
        return index[key]

    with open(path, newline="") as f:
        rows = csv.reader(f)
        if next(rows) != ["from_lon", "from_lat", "to_lon", "to_lat", "meters"]:
            sys.exit(f"{path}: not a graph CSV")
        for x1, y1, x2, y2, m in rows:
            src.append(node(x1, y1))
            dst.append(node(x2, y2))
            meters.append(float(m))
    g = Graph(path, np.array(lon), np.array(lat), np.array(src), np.array(dst), np.array(meters))
    # networkx's Graph keeps one edge per pair: the export must hold each pair once.
    pairs = set(zip(np.minimum(g.src, g.dst).tolist(), np.maximum(g.src, g.dst).tolist()))
    if len(pairs) != len(src):
        sys.exit(f"{path}: some node pair has more than one edge")
    return g


def plane(lon, lat, mean_lat):
    """Metres on a local equirectangular plane: enough to find the nearest node."""
    k = math.pi / 180 * EARTH_RADIUS_M
    return np.column_stack([lon * k * math.cos(math.radians(mean_lat)), lat * k])


# ---------------------------------------------------------------------------------------------
# Points


def typology():
    """linli's facility types (code, radius), in its own order."""
    with open(REPO / "crates/core/data/facility_types.csv", newline="") as f:
        return [(r["code"], float(r["radius_m"])) for r in csv.DictReader(f)]


def place_real(graph, found, types):
    """Real facilities (id, type, lon, lat) moved onto their nearest node; far ones dropped."""
    mean_lat = float(np.mean(graph.lat))
    tree = cKDTree(plane(graph.lon, graph.lat, mean_lat))
    by_type = {t: [] for t in types}
    ids = {t: [] for t in types}
    moved, dropped = [], 0
    for fid, kind, lon, lat in found:
        dist, node = tree.query(plane(np.array([lon]), np.array([lat]), mean_lat)[0])
        if dist > MAX_SNAP_M:
            dropped += 1
            continue
        by_type[kind].append(int(node))
        ids[kind].append(fid)
        moved.append(float(dist))
    return by_type, ids, moved, dropped


def generate(graph, rng, types_with_radius):
    """Facilities on random nodes, as many per type as its radius calls for (see ROAD_M_PER_M2)."""
    total_m = float(graph.meters.sum())
    by_type, ids = {}, {}
    for code, radius in types_with_radius:
        count = max(MIN_GENERATED, round(total_m / (ROAD_M_PER_M2 * math.pi * radius**2)))
        by_type[code] = rng.choice(graph.nodes, size=count, replace=False).tolist()
        ids[code] = [f"gen-{code}-{i}" for i in range(count)]
    return by_type, ids


def osm_facilities(binary, network, work):
    """The facilities `linli access pois` finds in an OSM file."""
    out = work / f"{network.stem}.pois.csv"
    linli(binary, "access", "pois", "--network", network, "--out", out)
    with open(out, newline="") as f:
        return [(r["id"], r["type"], float(r["lon"]), float(r["lat"])) for r in csv.DictReader(f)]


def hangzhou_bus_stops(data):
    """The real bus stops of the Overpass extract (highway=bus_stop nodes)."""
    with open(data / "hangzhou/osm_transit_points.json") as f:
        elements = json.load(f)["elements"]
    return [(f"node/{e['id']}", "bus_stop", e["lon"], e["lat"]) for e in elements
            if e["type"] == "node" and e.get("tags", {}).get("highway") == "bus_stop"]


def make_points(ds, graph, binary, data, work, rng):
    kinds = typology()
    if ds.facilities == "osm":
        found = osm_facilities(binary, data / ds.network, work)
        present = {kind for _, kind, _, _ in found}
        real = [code for code, _ in kinds if code in present]
        by_type, ids, moved, dropped = place_real(graph, found, real)
        provenance = {t: "real" for t in real}
    elif ds.facilities == "hangzhou":
        by_type, ids, moved, dropped = place_real(graph, hangzhou_bus_stops(data), ["bus_stop"])
        made, made_ids = generate(graph, rng, [k for k in kinds if k[0] != "bus_stop"])
        by_type.update(made)
        ids.update(made_ids)
        provenance = {t: ("real" if t == "bus_stop" else "generated") for t in by_type}
    else:
        by_type, ids = generate(graph, rng, kinds)
        moved, dropped = [], 0
        provenance = {t: "generated" for t in by_type}
    types = [code for code, _ in kinds if by_type.get(code)]
    origins = rng.choice(graph.nodes, size=min(ds.origins, graph.nodes), replace=False)
    return Points(origins, types, by_type, ids, provenance, moved, dropped)


def write_points(graph, points, work, name):
    """Origins and facilities at their nodes' exact positions (repr keeps every digit)."""
    origins_csv, facilities_csv = work / f"{name}.origins.csv", work / f"{name}.facilities.csv"
    with open(origins_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "lon", "lat"])
        for i, v in enumerate(points.origins.tolist()):
            w.writerow([f"o{i}", repr(graph.lon[v].item()), repr(graph.lat[v].item())])
    with open(facilities_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "type", "lon", "lat"])
        for t in points.types:
            for fid, v in zip(points.ids[t], points.by_type[t]):
                w.writerow([fid, t, repr(graph.lon[v].item()), repr(graph.lat[v].item())])
    return origins_csv, facilities_csv


# ---------------------------------------------------------------------------------------------
# The tools. Each answers a [type][origin] array of metres, NaN where nothing is within the cap.


def run_networkx(graph, points, cap):
    started = time.perf_counter()
    g = nx.Graph()
    g.add_nodes_from(range(graph.nodes))
    g.add_weighted_edges_from(
        zip(graph.src.tolist(), graph.dst.tolist(), graph.meters.tolist()), weight="meters")
    built = time.perf_counter()
    origins = points.origins.tolist()
    answer = np.full((len(points.types), len(origins)), np.nan)
    for t, kind in enumerate(points.types):
        reach = nx.multi_source_dijkstra_path_length(
            g, set(points.by_type[kind]), cutoff=cap, weight="meters")
        answer[t] = [reach.get(o, np.nan) for o in origins]
    done = time.perf_counter()
    return {"build": built - started, "queries": done - built, "total": done - started}, answer


def run_linli(binary, graph, files, cap, points, work):
    """The whole command, timed from outside; its own compute time read from its stderr."""
    origins_csv, facilities_csv = files
    out, log = work / "linli.nearest.csv", work / "linli.stderr"
    command = [binary, "access", "nearest", "--network", graph.csv,
               "--facilities", facilities_csv, "--origins", origins_csv,
               "--max-meters", str(cap), "--snap", "node", "--out", out]
    # The previous run's answer is removed first: replacing a file of millions of rows
    # costs the file system more than writing a new one, and that is no part of the work.
    out.unlink(missing_ok=True)
    with open(log, "w") as err:
        started = time.perf_counter()
        done = subprocess.run(list(map(str, command)), stdout=subprocess.DEVNULL, stderr=err)
        wall = time.perf_counter() - started
    stderr = log.read_text()
    if done.returncode != 0:
        sys.exit(f"linli access nearest failed:\n{stderr}")
    compute = float(re.search(r" in ([0-9.]+) s; wrote", stderr).group(1))
    return {"total": wall, "compute": compute}, read_linli_answer(out, points), stderr


def read_linli_answer(path, points):
    row_of = {kind: t for t, kind in enumerate(points.types)}
    answer = np.full((len(points.types), len(points.origins)), np.nan)
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for origin_id, kind, meters in rows:
            if meters:
                answer[row_of[kind], int(origin_id[1:])] = float(meters)
    return answer


@contextmanager
def stdout_to(path):
    """Sends the process's stdout (pandana's C++ prints its progress there) to a file."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 1)
    try:
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def run_pandana(graph, points, cap, log):
    """Network (contraction hierarchies), precompute, set_pois and nearest_pois per type."""
    with stdout_to(log):
        started = time.perf_counter()
        net = pandana.Network(
            pd.Series(graph.lon), pd.Series(graph.lat), pd.Series(graph.src),
            pd.Series(graph.dst), pd.DataFrame({"meters": graph.meters}), twoway=True)
        net.precompute(cap)
        built = time.perf_counter()
        answer = np.full((len(points.types), len(points.origins)), np.nan)
        for t, kind in enumerate(points.types):
            nodes = points.by_type[kind]
            net.set_pois(kind, cap, 1, pd.Series(graph.lon[nodes]), pd.Series(graph.lat[nodes]))
            # max_distance=inf marks "none within the cap" apart from a facility at the cap.
            nearest = net.nearest_pois(cap, kind, num_pois=1, max_distance=np.inf)
            answer[t] = nearest[1].to_numpy()[points.origins]
        done = time.perf_counter()
    answer[np.isinf(answer)] = np.nan
    return {"build": built - started, "queries": done - built, "total": done - started}, answer


class PgRouting:
    """A fresh database holding the graph; pgRouting's vertex ids are node index + 1 (0 is
    ignored as a start vertex)."""

    EDGES_SQL = "SELECT id, source, target, cost, reverse_cost FROM edges"
    # Without equicost each root answers its own tree, so a vertex comes once per root that
    # reaches it: the nearest is the least agg_cost. With equicost each vertex comes once.
    QUERY = """SELECT d.node, min(d.agg_cost)
               FROM pgr_drivingDistance(%s, %s::bigint[], %s,
                                        directed => false, equicost => %s) AS d
               JOIN origins USING (node)
               GROUP BY d.node"""

    def __init__(self, url, name):
        self.url, self.name = url, name
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        self.conn = psycopg.connect(psycopg.conninfo.make_conninfo(url, dbname=name),
                                    autocommit=True)
        try:
            # Debian's pgRouting requires PostGIS (a dependency of the package).
            self.conn.execute("CREATE EXTENSION pgrouting CASCADE")
        except psycopg.Error:
            self.drop()
            raise

    def load(self, graph, origins):
        started = time.perf_counter()
        self.conn.execute("CREATE TABLE edges (id bigint PRIMARY KEY, source bigint,"
                          " target bigint, cost float8, reverse_cost float8)")
        with self.conn.cursor().copy("COPY edges FROM STDIN") as copy:
            for i, (a, b, m) in enumerate(zip(graph.src.tolist(), graph.dst.tolist(),
                                              graph.meters.tolist())):
                copy.write_row((i + 1, a + 1, b + 1, m, m))
        self.conn.execute("CREATE TABLE origins (node bigint PRIMARY KEY)")
        with self.conn.cursor().copy("COPY origins FROM STDIN") as copy:
            for v in origins.tolist():
                copy.write_row((v + 1,))
        self.conn.execute("ANALYZE edges")
        self.conn.execute("ANALYZE origins")
        loaded = time.perf_counter() - started
        # Loads pgRouting's library into this backend and the edges into its cache, so that
        # no timed query pays for either alone.
        self.conn.execute("SELECT count(*) FROM pgr_drivingDistance(%s, 1, 0)", (self.EDGES_SQL,))
        return loaded

    def run(self, points, cap, equicost):
        slot = {v + 1: i for i, v in enumerate(points.origins.tolist())}
        answer = np.full((len(points.types), len(points.origins)), np.nan)
        started = time.perf_counter()
        for t, kind in enumerate(points.types):
            roots = sorted({v + 1 for v in points.by_type[kind]})
            rows = self.conn.execute(self.QUERY, (self.EDGES_SQL, roots, cap, equicost))
            for node, meters in rows:
                answer[t, slot[node]] = meters
        return {"queries": time.perf_counter() - started}, answer

    def versions(self):
        server = self.conn.execute("SHOW server_version").fetchone()[0]
        pgr = self.conn.execute("SELECT pgr_version()").fetchone()[0]
        return server, pgr

    def drop(self):
        self.conn.close()
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


# ---------------------------------------------------------------------------------------------
# Agreement


def agree(reference, other, cap):
    """Every origin × type within TOLERANCE_M of the reference, or both empty. An answer at the
    cap may fall either side of it by rounding: empty against ≥ cap − TOLERANCE_M agrees."""
    a = Agreement(compared=reference.size)
    ref_empty, got_empty = np.isnan(reference), np.isnan(other)
    a.both_empty = int(np.sum(ref_empty & got_empty))
    both = ~ref_empty & ~got_empty
    diff = np.abs(reference - other)
    a.max_diff_m = float(diff[both].max()) if both.any() else 0.0
    one = ref_empty ^ got_empty
    present = np.where(ref_empty, other, reference)
    near_cap = one & (present >= cap - TOLERANCE_M)
    a.at_cap = int(near_cap.sum())
    bad = (both & (diff > TOLERANCE_M)) | (one & ~near_cap)
    a.mismatches = [(int(t), int(o), float(reference[t, o]), float(other[t, o]))
                    for t, o in zip(*np.nonzero(bad))]
    return a


# ---------------------------------------------------------------------------------------------
# One dataset


def median_times(runs):
    return {part: statistics.median(r[part] for r in runs) for part in runs[0]}


def components(graph):
    """Count and largest share of the connected components (for the data table)."""
    g = nx.Graph()
    g.add_nodes_from(range(graph.nodes))
    g.add_edges_from(zip(graph.src.tolist(), graph.dst.tolist()))
    sizes = sorted((len(c) for c in nx.connected_components(g)), reverse=True)
    return len(sizes), sizes[0] / graph.nodes


def run_dataset(ds, args, work, index, pg_info):
    print(f"== {ds.name}: {ds.about}", file=sys.stderr)
    rng = np.random.default_rng([args.seed, index])
    graph_csv = work / f"{ds.name}.graph.csv"
    linli(args.linli, "access", "graph", "--network", args.data / ds.network, "--out", graph_csv)
    graph = read_graph(graph_csv)
    graph.components, graph.largest_share = components(graph)
    points = make_points(ds, graph, args.linli, args.data, work, rng)
    files = write_points(graph, points, work, ds.name)
    print(f"   {graph.nodes:,} nodes, {len(graph.src):,} edges; {len(points.origins):,} origins,"
          f" {len(points.types)} types", file=sys.stderr)

    load_before = os.getloadavg()[0]
    times = {}
    times["networkx"], reference = run_networkx(graph, points, args.cap)
    print(f"   networkx {times['networkx']['total']:.2f} s", file=sys.stderr)
    pg = PgRouting(args.pg, f"linli_bench_access_{os.getpid()}_{ds.name}")
    try:
        pg_info.update(zip(["server", "pgrouting"], pg.versions()))
        pg_load = pg.load(graph, points.origins)
        # equicost => true answers wrong (longer) distances for some vertices in pgRouting
        # 3.4: measured once and reported, but the compared pgRouting runs without it.
        times["pgRouting equicost"], equicost_answer = pg.run(points, args.cap, True)
        runs = {"linli": [], "pandana": [], "pgRouting": []}
        answers = {}
        for r in range(args.repeat):
            # Interleaved, so that a burst of load on the shared machine hits all alike.
            t, answers["linli"], summary = run_linli(args.linli, graph, files, args.cap,
                                                     points, work)
            runs["linli"].append(t)
            t, answers["pandana"] = run_pandana(graph, points, args.cap, work / "pandana.stdout")
            runs["pandana"].append(t)
            t, answers["pgRouting"] = pg.run(points, args.cap, False)
            runs["pgRouting"].append(t)
            print(f"   run {r + 1}: linli {runs['linli'][-1]['total']:.3f} s, pandana "
                  f"{runs['pandana'][-1]['total']:.2f} s, pgRouting "
                  f"{runs['pgRouting'][-1]['queries']:.2f} s", file=sys.stderr)
    finally:
        pg.drop()
    for tool, r in runs.items():
        times[tool] = median_times(r)
    times["pgRouting"]["load"] = pg_load
    agreement = {tool: agree(reference, answers[tool], args.cap) for tool in answers}
    equicost = agree(reference, equicost_answer, args.cap)
    load = (load_before, os.getloadavg()[0])
    return Outcome(ds, graph, points, times, agreement, equicost, summary, load)


# ---------------------------------------------------------------------------------------------
# The report


def command_line(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "not installed"


def machine_rows(args, load_at_start, pg_info):
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    mem_kib = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
    os_name = re.search(r'PRETTY_NAME="(.*)"', Path("/etc/os-release").read_text())
    binary = Path(args.linli).resolve()
    return [
        ("CPU", f"{os.cpu_count()} × {cpu.group(1) if cpu else 'unknown'}"),
        ("nproc", str(os.cpu_count())),
        ("memory", f"{mem_kib / 2**20:.1f} GiB"),
        ("kernel (`uname -r`)", platform.release()),
        ("OS", os_name.group(1) if os_name else "unknown"),
        ("load average at the start (1, 5, 15 min)",
         f"{load_at_start} (the machine is shared: other builds or tests may run alongside)"),
        ("linli binary", f"`{binary}` ({binary.parent.name} profile)"),
        ("linli commit", args.linli_commit),
        ("compare.py arguments", f"`{' '.join(sys.argv[1:])}`"),
        ("rustc", command_line("rustc", "--version")),
        ("Python", platform.python_version()),
        ("pandana", pandana.__version__),
        ("networkx", nx.__version__),
        ("numpy / pandas / scipy", f"{np.__version__} / {pd.__version__} / {scipy.__version__}"),
        ("psycopg", psycopg.__version__),
        ("PostgreSQL server", f"{pg_info.get('server', '?')}, on this machine, over TCP"),
        ("pgRouting", pg_info.get("pgrouting", "?")),
    ]


def fmt_s(seconds):
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def fmt_ratio(x):
    return f"{x:.0f}×" if x >= 100 else f"{x:.1f}×"


def data_table(outcomes):
    lines = ["| dataset | network | nodes | edges | km | components (largest) | origins |"
             " types (real + generated) | facilities | real ones moved to a node (median, max) |",
             "|---|---|---:|---:|---:|---|---:|---|---:|---|"]
    for o in outcomes:
        g, p = o.graph, o.points
        real = sum(1 for t in p.types if p.provenance[t] == "real")
        facilities = sum(len(p.by_type[t]) for t in p.types)
        moved = (f"{np.median(p.moved_m):.1f} m, {max(p.moved_m):.0f} m; {p.dropped:,} dropped"
                 f" (> {MAX_SNAP_M:.0f} m)" if p.moved_m else "—")
        lines.append(
            f"| {o.dataset.name} | {o.dataset.about} | {g.nodes:,} | {len(g.src):,} |"
            f" {g.meters.sum() / 1000:,.0f} | {g.components:,} ({100 * g.largest_share:.1f} %) |"
            f" {len(p.origins):,} | {real} + {len(p.types) - real} | {facilities:,} | {moved} |")
    return "\n".join(lines)


def facilities_lines(outcomes):
    lines = []
    for o in outcomes:
        p = o.points
        listed = ", ".join(f"{t} {len(p.by_type[t])}" + ("" if p.provenance[t] == "real" else "*")
                           for t in p.types)
        lines.append(f"- **{o.dataset.name}**: {listed}")
    return "\n".join(lines)


def times_table(outcomes):
    lines = ["| dataset | linli whole command | linli compute | pandana build + precompute |"
             " pandana set_pois + nearest_pois | pandana total | pgRouting load (not counted) |"
             " pgRouting queries | networkx build | networkx queries |"
             " load (1 min) before → after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for o in outcomes:
        t = o.times
        lines.append(
            f"| {o.dataset.name} | {fmt_s(t['linli']['total'])} | {fmt_s(t['linli']['compute'])} |"
            f" {fmt_s(t['pandana']['build'])} | {fmt_s(t['pandana']['queries'])} |"
            f" {fmt_s(t['pandana']['total'])} | {fmt_s(t['pgRouting']['load'])} |"
            f" {fmt_s(t['pgRouting']['queries'])} | {fmt_s(t['networkx']['build'])} |"
            f" {fmt_s(t['networkx']['queries'])} | {o.load[0]:.2f} → {o.load[1]:.2f} |")
    return "\n".join(lines)


def ratios(o):
    """Peer time ÷ linli's, against (linli's whole command, linli's compute)."""
    t = o.times
    peers = {"pandana": t["pandana"]["total"], "pgRouting": t["pgRouting"]["queries"],
             "pgRouting equicost": t["pgRouting equicost"]["queries"],
             "networkx": t["networkx"]["total"]}
    return {peer: (s / t["linli"]["total"], s / t["linli"]["compute"]) for peer, s in peers.items()}


def ratios_table(outcomes):
    lines = ["| dataset | pandana ÷ linli (whole command) | pandana ÷ linli (compute) |"
             " pgRouting ÷ linli (whole command) | pgRouting ÷ linli (compute) |"
             " networkx ÷ linli (whole command) | networkx ÷ linli (compute) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        r = ratios(o)
        lines.append(f"| {o.dataset.name} | " + " | ".join(
            fmt_ratio(r[peer][k]) for peer in ("pandana", "pgRouting", "networkx")
            for k in (0, 1)) + " |")
    return "\n".join(lines)


def agreement_row(name, tool, a):
    return (f"| {name} | {tool} | {a.compared:,} | {a.both_empty:,} | {a.max_diff_m:.3g} m |"
            f" {a.at_cap} | {len(a.mismatches):,} |")


AGREEMENT_HEADER = ["| dataset | tool | origin × type answers | empty in both |"
                    " max \\|difference\\| where both answer | empty on one side at the cap |"
                    " disagreements |",
                    "|---|---|---:|---:|---:|---:|---:|"]


def agreement_table(outcomes):
    lines = list(AGREEMENT_HEADER)
    for o in outcomes:
        lines += [agreement_row(o.dataset.name, tool, a) for tool, a in o.agreement.items()]
    return "\n".join(lines)


def equicost_table(outcomes):
    lines = ["| dataset | queries (s) | ÷ linli (whole command) | answers | disagreements with"
             " networkx | max \\|difference\\| |",
             "|---|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        a = o.equicost
        lines.append(
            f"| {o.dataset.name} | {fmt_s(o.times['pgRouting equicost']['queries'])} |"
            f" {fmt_ratio(ratios(o)['pgRouting equicost'][0])} | {a.compared:,} |"
            f" {len(a.mismatches):,} | {a.max_diff_m:.3g} m |")
    return "\n".join(lines)


def examples(o, tool, a):
    lines = []
    for t, i, ref, got in a.mismatches[:EXAMPLES_SHOWN]:
        v = int(o.points.origins[i])
        lines.append(
            f"- {o.dataset.name}, origin o{i} (node at {float(o.graph.lon[v])!r},"
            f" {float(o.graph.lat[v])!r}), type {o.points.types[t]}: networkx {ref:.3f} m,"
            f" {tool} {got:.3f} m (nan: nothing within the cap)")
    if len(a.mismatches) > EXAMPLES_SHOWN:
        lines.append(f"- … and {len(a.mismatches) - EXAMPLES_SHOWN:,} more")
    return lines


def goals(outcomes):
    lines = []
    for o in outcomes:
        r = ratios(o)
        same = all(not a.mismatches for a in o.agreement.values())
        pandana_ok, pg_ok = r["pandana"][0] >= 10, r["pgRouting"][0] >= 50
        lines.append(
            f"- **{o.dataset.name}**: the same answers (within {TOLERANCE_M:g} m):"
            f" {'met' if same else 'MISSED'}. ≥ 10× faster than pandana including its"
            f" preprocessing: {'met' if pandana_ok else 'MISSED'} ({fmt_ratio(r['pandana'][0])}"
            f" on the whole command, {fmt_ratio(r['pandana'][1])} on compute). ≥ 50× faster than"
            f" pgRouting: {'met' if pg_ok else 'MISSED'} ({fmt_ratio(r['pgRouting'][0])} on the"
            f" whole command, {fmt_ratio(r['pgRouting'][1])} on compute).")
    return "\n".join(lines)


def method(args):
    cap = f"{args.cap:g}"
    return [
        "For each dataset, `linli access graph` exports the walking graph as CSV; every tool"
        " reads that one file, and linli is given it as `--network`, so all walk the same graph"
        " with the same edge lengths. Origins and facilities are placed exactly on graph nodes,"
        f" sampled with a fixed seed ({args.seed}), and linli runs with `--snap node`: snapping is"
        f" unambiguous for every tool. The cap is {cap} m. Real facilities (`linli access pois`"
        " for OSM files, the Overpass bus stops for Hangzhou) are moved onto their nearest node;"
        " generated ones (marked * below) sit on random nodes, one per catchment disk of the"
        f" type's radius at {ROAD_M_PER_M2 * 1000:g} km of road per km² (at least"
        f" {MIN_GENERATED}).",
        "",
        "- **linli**: the release binary, `linli access nearest … --snap node`, as a child"
        " process. *Whole command* is its wall time from outside (reading the graph CSV and the"
        " points, building the graph, snapping, searching, writing the answer CSV to a new file:"
        " the previous run's is deleted before the clock starts); *compute* is"
        " the time it prints itself (snapping and searching, after the files are read). It"
        " searches the types in parallel on the machine's cores.",
        "- **pandana**: `Network(x, y, from, to, meters, twoway=True)` (its contraction"
        f" hierarchies, on the machine's cores), `precompute({cap})`, then per type"
        f" `set_pois(type, {cap}, 1, x, y)` and `nearest_pois({cap}, type, num_pois=1)`;"
        " origins read by node id. Reading the CSV is not counted. Its progress output went to a"
        " log file.",
        "- **pgRouting**: a fresh database; the edges as (id, source, target, cost, reverse_cost)"
        " and the origins' vertex ids as tables (loading is listed, not counted); per type one"
        f" multi-source `pgr_drivingDistance(edges, ARRAY[facility vertices], {cap},"
        " directed => false, equicost => false)` joined to the origins, the least `agg_cost` per"
        " origin, rows fetched. One backend, one core. `equicost => true`, which should give"
        " the same distances in one tree, gives longer ones for some vertices in this version:"
        " it was measured once per dataset and is reported apart, not compared.",
        "- **networkx** (the reference): `Graph` from the CSV, then per type"
        f" `multi_source_dijkstra_path_length(G, facility nodes, cutoff={cap},"
        " weight='meters')`. Run once, one core.",
        "",
        f"linli, pandana and pgRouting ran {args.repeat} time{'s' * (args.repeat != 1)} each,"
        " interleaved; the times are medians. Ratios are the peer's time ÷ linli's, so 10× means"
        " linli took a tenth of the time.",
    ]


def report(outcomes, args, started, load_at_start, pg_info):
    failed = any(a.mismatches for o in outcomes for a in o.agreement.values())
    parts = [
        "# linli access nearest, side by side with pandana, pgRouting and networkx",
        "",
        "## Machine and software",
        "",
        f"Figures from **one run** of `bench/access/run` on {started:%Y-%m-%d %H:%M} UTC."
        " Absolute figures vary from machine to machine and run to run; the ratios compare"
        " tools measured side by side in that one run, on the same graph and the same points.",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine_rows(args, load_at_start, pg_info)],
        f"| load average at the end | {', '.join(Path('/proc/loadavg').read_text().split()[:3])} |",
        "",
        "## What was run",
        "",
        *method(args),
        "",
        "## Data",
        "",
        data_table(outcomes),
        "",
        "Facilities per type (* generated):",
        "",
        facilities_lines(outcomes),
        "",
        "## Times (seconds)",
        "",
        times_table(outcomes),
        "",
        "## Ratios (peer ÷ linli)",
        "",
        ratios_table(outcomes),
        "",
        "## Same answers",
        "",
        f"Every origin × type of each tool against networkx: within {TOLERANCE_M:g} m, or empty"
        f" in both. An answer within {TOLERANCE_M:g} m of the cap may be empty on the other side"
        " (the cap is inclusive everywhere, but the same lengths summed in another order round"
        " differently); those are counted apart and agree.",
        "",
        agreement_table(outcomes),
        "",
    ]
    if failed:
        parts += ["**Disagreements: the run failed.**", ""]
        for o in outcomes:
            for tool, a in o.agreement.items():
                parts += examples(o, tool, a)
        parts.append("")
    parts += ["## pgRouting with `equicost => true` (not compared)", "",
              "The same queries with `equicost => true`, once per dataset, against networkx:", "",
              equicost_table(outcomes), ""]
    for o in outcomes:
        parts += examples(o, "pgRouting equicost", o.equicost)
    parts += ["", "## Goals", "", goals(outcomes), "",
              "## linli's own output (its last run on each dataset)", ""]
    for o in outcomes:
        parts += [f"{o.dataset.name}:", "", "```", o.linli_summary.rstrip(), "```", ""]
    return "\n".join(parts), failed



# ---------------------------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--linli", required=True, help="the linli binary (a release build)")
    p.add_argument("--linli-commit", default="unknown", help="the commit it was built from")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared/data/geo",
                   help="the data root (osm/, hangzhou/)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1/postgres",
                   help="a PostgreSQL server with pgRouting installed; a database is made and"
                        " dropped per dataset")
    p.add_argument("--cap", type=float, default=1000.0, help="metres")
    p.add_argument("--origins", action="append", default=[], metavar="DATASET=N",
                   help="origins for a dataset (default: helsinki=5000, hangzhou=20000,"
                        " malta=50000, porto=50000)")
    p.add_argument("--only", action="append", choices=[d.name for d in DATASETS],
                   help="run only these datasets")
    p.add_argument("--repeat", type=int, default=3, help="runs of linli, pandana and pgRouting")
    p.add_argument("--seed", type=int, default=20261124)
    p.add_argument("--work", type=Path, help="keep the graphs, points and answers here")
    p.add_argument("--write", action="store_true", help="write bench/RESULTS-access.md")
    return p.parse_args()


def main():
    args = parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = ", ".join(Path("/proc/loadavg").read_text().split()[:3])
    counts = dict(o.split("=", 1) for o in args.origins)
    datasets = [d for d in DATASETS if not args.only or d.name in args.only]
    for d in datasets:
        d.origins = int(counts.get(d.name, d.origins))
    work = args.work or Path(tempfile.mkdtemp(prefix="linli-bench-access-"))
    work.mkdir(parents=True, exist_ok=True)
    pg_info = {}
    try:
        outcomes = [run_dataset(d, args, work, i, pg_info) for i, d in enumerate(datasets)]
    finally:
        if not args.work:
            shutil.rmtree(work)
    text, failed = report(outcomes, args, started, load_at_start, pg_info)
    finish(text, failed, args.write, "RESULTS-access.md")


def finish(text, failed, write, name):
    """Prints the report, writes it to bench/NAME when asked, and exits 1 if it failed."""
    print(text)
    if write:
        (REPO / "bench" / name).write_text(text)
        print(f"wrote {REPO / 'bench' / name}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
