"""The neighbour index: a bundle's learned space, searched approximately, saved once and queried often.

Layout::

    INDEX/
      index.json        format, the bundle it was built for (the sha256 of its L.npy and its
                        feature names), the library and its parameters, the rows, and the
                        sha256 of every other file and of itself
      vectors.faiss     the HNSW graph over the projected points L x (float32), in faiss' own
                        binary format
      rows.npy          int64: the row of DATA (0-based) each indexed point came from
      ids.parquet       optional: the --id value of each indexed point (one column: integers or text)

The graph is the hierarchical navigable small world of Malkov & Yashunin, "Efficient and
robust approximate nearest neighbor search using Hierarchical Navigable Small World graphs",
IEEE TPAMI 42(4), 2020, as built by faiss (Douze et al., "The Faiss library", 2024).
faiss is an optional extra (``pip install 'metricli[index]'``); nothing here imports it
until an index is built or loaded.

Loading never unpickles anything: every file's sha256 is checked against index.json (whose
own digest is checked first) before it is read; the .npy file is read with
``allow_pickle=False`` and the graph by faiss' reader, which parses its own binary format.
An index is refused with a bundle whose L differs from the one it was built from.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from metricli.errors import MetricliError, install_extra
from metricli.io.atomic import INDEX, atomic_path, note_input
from metricli.io.bundle import JSON_CAP
from metricli.io.tables import sha256_file

FORMAT = "metricli-index"
FORMAT_VERSION = 1
GRAPH_FILE, ROWS_FILE, IDS_FILE, META_FILE = "vectors.faiss", "rows.npy", "ids.parquet", "index.json"
INSTALL = install_extra("index")

#: HNSW parameters: links per node, candidate-list size while building, and while searching.
#: Chosen by benchmarks/retrieval.py (recall@10 against the exact scan at 5M rows, d = 32).
DEFAULT_LINKS = 32
DEFAULT_EF_CONSTRUCTION = 80
DEFAULT_EF_SEARCH = 96


def faiss_module() -> Any:
    """faiss, or one line saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise MetricliError(f"the neighbour index needs faiss; install the extra: {INSTALL}") from None
    return faiss


def bundle_fingerprint(metadata: dict[str, Any]) -> dict[str, Any]:
    """What ties an index to a bundle: the checksum of its L.npy (the space) and its features.

    A bundle given a threshold by ``calibrate`` keeps its L and so its indexes."""
    return {
        "L_sha256": metadata.get("files", {}).get("L.npy"),
        "feature_names": list(metadata.get("feature_names", [])),
    }


@dataclass
class IndexBuilder:
    """Projected points gathered batch by batch (float32, with their rows and ids), then
    linked into one HNSW graph by :meth:`build`.

    The graph is built in one call, not batch by batch: faiss' HNSW inserted in several
    calls of unequal size lost recall (measured: 200,000 points, d = 32, recall@10 1.000 in
    one call, 0.86 in batches of 65,536). The points are held once more while it runs."""

    dims: int
    links: int = DEFAULT_LINKS
    ef_construction: int = DEFAULT_EF_CONSTRUCTION
    points: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    ids: list[np.ndarray] = field(default_factory=list)
    graph: Any = None

    def __post_init__(self) -> None:
        faiss = faiss_module()
        self.graph = faiss.IndexHNSWFlat(self.dims, self.links)
        self.graph.hnsw.efConstruction = self.ef_construction

    def add(self, Z: np.ndarray, rows: np.ndarray, ids: np.ndarray | None) -> None:
        self.points.append(np.asarray(Z, dtype=np.float32))
        self.rows.append(np.asarray(rows, dtype=np.int64))
        if ids is not None:
            self.ids.append(np.asarray(ids, dtype=object))

    def build(self) -> None:
        """Link every gathered point into the graph. faiss works without the GIL in a
        thread while this (main) thread waits, so Ctrl-C still ends the run at once."""
        if not self.points:
            return
        Z = np.concatenate(self.points)
        self.points = []
        failed: list[BaseException] = []

        def link() -> None:
            try:
                self.graph.add(Z)
            except BaseException as exc:  # re-raised in the main thread
                failed.append(exc)

        worker = threading.Thread(target=link, name="metricli-index", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
        if failed:
            raise failed[0]

    @property
    def n(self) -> int:
        return int(sum(len(r) for r in self.rows))


@dataclass
class NeighbourIndex:
    """A loaded (so verified) index."""

    path: Path
    graph: Any
    rows: np.ndarray
    ids: np.ndarray | None
    metadata: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def keys(self, id_column: str | None) -> np.ndarray:
        """How output rows name an indexed point, as the exact scan with ``--id id_column``
        names a REFERENCE row: its id value, else its 0-based row in DATA."""
        if id_column is None:
            return self.rows
        built = self.metadata.get("data", {}).get("id_column")
        if self.ids is None or built != id_column:
            raise MetricliError(
                f"{self.path}: this index was built "
                + ("without --id" if built is None else f"with --id {built}")
                + f", so its rows have no {id_column!r} values; build it with --id {id_column}"
            )
        return self.ids

    def search(self, Z: np.ndarray, k: int, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The (approximate) k nearest indexed points of each row of Z: positions and squared
        distances, nearest first, ties to the earlier position; -1 (and inf) where fewer than
        k were found. The graph is walked in float32; the distances of the points it finds
        are computed again in float64 from Z and the stored (float32) points, and ordered by
        them, so they match the exact scan's to float32 rounding of the stored points."""
        faiss = faiss_module()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(int(ef or self.metadata["parameters"]["ef_search"]), k)
        _, idx = self.graph.search(np.ascontiguousarray(Z, dtype=np.float32), k, params=params)
        idx = idx.astype(np.intp)
        found = idx >= 0
        points = self.graph.reconstruct_batch(idx[found]).astype(np.float64)
        sq = np.full(idx.shape, np.inf)
        diff = points - np.repeat(np.asarray(Z, dtype=np.float64), found.sum(axis=1), axis=0)
        sq[found] = np.einsum("ij,ij->i", diff, diff)
        order = np.lexsort((np.where(found, idx, np.iinfo(np.intp).max), sq), axis=1)
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(sq, order, axis=1)


def save_index(
    path: str | Path,
    builder: IndexBuilder,
    bundle_metadata: dict[str, Any],
    data: dict[str, Any],
    ef_search: int = DEFAULT_EF_SEARCH,
    force: bool = False,
) -> Path:
    """Write the index atomically: a temporary folder renamed into place when complete."""
    faiss = faiss_module()
    target = Path(path)
    with atomic_path(target, force=force, kind=INDEX) as tmp:
        tmp.mkdir()
        builder.build()
        faiss.write_index(builder.graph, str(tmp / GRAPH_FILE))
        rows = np.concatenate(builder.rows) if builder.rows else np.empty(0, dtype=np.int64)
        np.save(tmp / ROWS_FILE, rows, allow_pickle=False)
        names = [GRAPH_FILE, ROWS_FILE]
        if builder.ids:
            import pyarrow as pa
            import pyarrow.parquet as pq

            ids = np.concatenate(builder.ids).tolist()
            # integer ids stay integers, as the exact scan names them; else their text
            whole = all(isinstance(v, int) for v in ids)
            column = (
                pa.array(ids, type=pa.int64()) if whole else pa.array([str(v) for v in ids], type=pa.string())
            )
            pq.write_table(pa.table({"id": column}), tmp / IDS_FILE)
            names.append(IDS_FILE)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "bundle": bundle_fingerprint(bundle_metadata),
            "library": {"name": "faiss", "version": faiss.__version__, "kind": "IndexHNSWFlat"},
            "parameters": {
                "links": builder.links,
                "ef_construction": builder.ef_construction,
                "ef_search": int(ef_search),
            },
            "n_rows": int(rows.shape[0]),
            "dims": builder.dims,
            "data": data,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {name: sha256_file(tmp / name) for name in names},
        }
        meta["index_sha256"] = _digest(meta)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def _digest(meta: dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "index_sha256"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_index(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / META_FILE).is_file()


def load_index(path: str | Path, bundle: Any = None) -> NeighbourIndex:
    """Load and verify an index (and, given a loaded bundle, that it was built for it);
    any mismatch is refused with a MetricliError."""
    root = Path(path)
    where = str(root)
    if not root.exists():
        raise MetricliError(f"{where}: no such index")
    meta_file = root / META_FILE
    if not root.is_dir() or not meta_file.is_file() or meta_file.is_symlink():
        raise MetricliError(f"{where}: not a metricli index (no {META_FILE}); build one with metricli index")
    note_input(root)
    if meta_file.stat().st_size > JSON_CAP:
        raise MetricliError(f"{where}: corrupt index, {META_FILE} is larger than {JSON_CAP >> 20} MiB")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except RecursionError:
        raise MetricliError(f"{where}: corrupt index, {META_FILE} nests its values too deeply") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetricliError(f"{where}: corrupt index, cannot read {META_FILE} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise MetricliError(f"{where}: not a metricli index ({META_FILE} has no format '{FORMAT}')")
    if meta.get("format_version") != FORMAT_VERSION:
        raise MetricliError(
            f"{where}: index format version {meta.get('format_version')} is not supported "
            f"(this metricli reads version {FORMAT_VERSION}); build it again"
        )
    if meta.get("index_sha256") != _digest(meta):
        raise MetricliError(
            f"{where}: {META_FILE} does not match its own checksum; the index was modified or damaged, build it again"
        )
    if bundle is not None and bundle_fingerprint(bundle.metadata) != meta.get("bundle"):
        raise MetricliError(
            f"{where}: this index was built for another bundle (its L or features differ from those "
            f"of {bundle.path}); build one for this bundle with metricli index"
        )
    files = meta.get("files")
    if not isinstance(files, dict) or GRAPH_FILE not in files or ROWS_FILE not in files:
        raise MetricliError(f"{where}: corrupt index, {META_FILE} lists no file checksums")
    for name in files:
        if name not in (GRAPH_FILE, ROWS_FILE, IDS_FILE):
            raise MetricliError(f"{where}: corrupt index, {META_FILE} lists an unknown file {name!r}")
        file = root / name
        if not file.is_file() or file.is_symlink():
            raise MetricliError(f"{where}: corrupt index, {name} is missing")
        if sha256_file(file) != files[name]:
            raise MetricliError(
                f"{where}: {name} does not match the checksum in {META_FILE}; the index was modified "
                "or damaged, build it again"
            )
    faiss = faiss_module()
    try:
        rows = np.load(root / ROWS_FILE, allow_pickle=False)
        graph = faiss.read_index(str(root / GRAPH_FILE))
    except (OSError, ValueError, EOFError, RuntimeError) as exc:
        raise MetricliError(f"{where}: corrupt index, cannot read it ({exc})") from None
    ids = None
    if IDS_FILE in files:
        import pyarrow.parquet as pq

        ids = pq.read_table(root / IDS_FILE).column("id").to_numpy(zero_copy_only=False).astype(object)
    n = int(meta.get("n_rows", -1))
    if (
        rows.dtype != np.int64
        or rows.shape != (n,)
        or graph.ntotal != n
        or (ids is not None and len(ids) != n)
    ):
        raise MetricliError(f"{where}: corrupt index, its files do not hold {n} rows each")
    if graph.d != meta.get("dims"):
        raise MetricliError(
            f"{where}: corrupt index, its graph has {graph.d} dimensions, not {meta.get('dims')}"
        )
    return NeighbourIndex(path=root, graph=graph, rows=rows, ids=ids, metadata=meta)
