"""The model bundle: a folder anyone can read without metricli.

Layout::

    OUT/
      M.npy  M.csv        the Mahalanobis matrix (CSV: feature names as header and first column)
      L.npy  L.csv        the components, one row per output dimension
      metadata.json       algorithm, parameters, seed, features, input checksum, fit report,
                          versions, and the sha256 of every other file
      axioms.json         the axiom report of M (metricli check)
      threshold.json      optional: a verification threshold (metricli calibrate), with its
                          checksum in metadata.json like every other file

Loading never executes anything (``allow_pickle=False``, JSON only), refuses files
whose checksums do not match the metadata, and reads only the fixed names above,
so nothing in a bundle can point outside it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import platform
import re
import stat
import tokenize
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.io.atomic import BUNDLE, atomic_path, note_input
from metricli.io.tables import sha256_file
from metricli.lazy import pd

FORMAT = "metricli-bundle"
FORMAT_VERSION = 1
DATA_FILES = ("M.npy", "M.csv", "L.npy", "L.csv", "axioms.json")
#: written by ``metricli calibrate``: same when d(x, y) <= threshold
THRESHOLD_FILE = "threshold.json"


@dataclass
class Bundle:
    """A loaded model bundle."""

    path: Path
    M: np.ndarray
    L: np.ndarray
    metadata: dict[str, Any]
    axioms: dict[str, Any]
    threshold: dict[str, Any] | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.metadata["feature_names"])

    @property
    def algorithm(self) -> str:
        return str(self.metadata.get("algorithm", "?"))

    def section(self, name: str) -> dict[str, Any]:
        """A section of metadata.json (``params``, ``input``, ``preprocessing``, ``fit``,
        ``versions``), or {} where the bundle has none (null, or absent: a bundle written by the
        library holds what its caller gave)."""
        value = self.metadata.get(name)
        return value if isinstance(value, dict) else {}


def to_json(obj: Any) -> str:
    """JSON with non-finite floats written as null (JSON has no inf or NaN)."""
    return json.dumps(_finite(obj), indent=2, ensure_ascii=False) + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj


def versions() -> dict[str, str]:
    import scipy

    from metricli import __version__

    return {
        "metricli": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def _matrix_csv(path: Path, matrix: np.ndarray, row_names: list[str], column_names: list[str]) -> None:
    frame = pd.DataFrame(matrix, index=pd.Index(row_names, name=""), columns=column_names)
    frame.to_csv(path, float_format="%.17g")


def preprocessing_record(mean: Any = None, scale: Any = None) -> dict[str, Any]:
    """The bundle's ``preprocessing`` section: the standardization folded into M and L, if any."""
    standardized = mean is not None
    return {
        "standardize": standardized,
        "mean": np.asarray(mean, dtype=np.float64).tolist() if standardized else None,
        "scale": np.asarray(scale, dtype=np.float64).tolist() if standardized else None,
        "note": "M and L apply to the raw features; standardization is folded into them"
        if standardized
        else None,
    }


def fit_record(learner: Any, seconds: float, **extra: Any) -> dict[str, Any]:
    """The bundle's ``fit`` section: how the fitted ``learner``'s optimisation went (for NCA,
    LMNN and MLKR also which solver ran and why), plus ``extra`` entries."""
    solver = (
        {"solver": learner.solver_, "solver_reason": learner.solver_reason_}
        if hasattr(learner, "solver_")
        else {}
    )
    return {
        "iterations": learner.n_iter_,
        "objective": learner.objective_,
        "converged": learner.converged_,
        "seconds": round(seconds, 6),
        "objective_history": learner.objective_history_,
        **solver,
        **extra,
    }


def recorded_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as a bundle records them: a matrix given as a file by its shape and checksum.

    A path is never recorded: whatever reads a bundle (``report`` re-running the fit's
    cross-validation) would open it, and a bundle from elsewhere could name any file.
    """
    return {
        k: (
            {"matrix": list(v.shape), "sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}
            if isinstance(v, np.ndarray)
            else v
        )
        for k, v in params.items()
    }


def replayable_params(cls: type, params: dict[str, Any], where: str = "bundle") -> dict[str, Any]:
    """The recorded parameters a new fit can take again: a matrix (recorded, or a path in older
    bundles) falls back to the default, and nothing read from a bundle is ever opened as a file.
    ``fit`` records numbers, text, true/false, null or a matrix's record: anything else (a list)
    is refused, naming the parameter."""
    kept = {}
    for name, value in params.items():
        if not isinstance(value, str | int | float | bool | dict | type(None)):
            raise MetricliError(
                f"{where}: corrupt bundle, metadata.json's 'params' is not what fit writes there "
                f"({name!r} is a {type(value).__name__})"
            )
        hint = typing.get_type_hints(cls.__init__).get(name)
        takes_matrix = np.ndarray in typing.get_args(hint)
        if isinstance(value, dict) or (takes_matrix and not re.fullmatch(r"[a-z_]+", str(value))):
            continue
        kept[name] = value
    return kept


def save_bundle(
    path: str | Path,
    L: np.ndarray,
    feature_names: list[str],
    metadata: dict[str, Any],
    axioms: dict[str, Any],
    force: bool = False,
) -> Path:
    """Write a bundle atomically: a temporary folder renamed into place when complete."""
    L = np.ascontiguousarray(L, dtype=np.float64)
    M = L.T @ L
    component_names = [f"c{i}" for i in range(L.shape[0])]
    target = Path(path)
    with atomic_path(target, force=force, kind=BUNDLE) as tmp:
        tmp.mkdir()
        np.save(tmp / "M.npy", M, allow_pickle=False)
        np.save(tmp / "L.npy", L, allow_pickle=False)
        _matrix_csv(tmp / "M.csv", M, feature_names, feature_names)
        _matrix_csv(tmp / "L.csv", L, component_names, feature_names)
        (tmp / "axioms.json").write_text(to_json(axioms), encoding="utf-8")
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **metadata,
            "feature_names": list(feature_names),
            "n_features": len(feature_names),
            "n_components": int(L.shape[0]),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": versions(),
            "files": {name: sha256_file(tmp / name) for name in DATA_FILES},
        }
        _seal(meta)
        (tmp / "metadata.json").write_text(to_json(meta), encoding="utf-8")
    return target


#: with a key in this variable, ``fit`` (and ``calibrate``) sign a bundle, and loading refuses a
#: bundle unsigned or signed with another key: the checksums carry no key, so anyone who edits a
#: bundle can reseal it; only a key tells a resealed bundle from the one written
ENV_SIGNING_KEY = "METRICLI_SIGNING_KEY"
SIGNATURE = "signature_hmac_sha256"


def _signing_key() -> bytes | None:
    key = os.environ.get(ENV_SIGNING_KEY)
    return key.encode("utf-8") if key else None


def _signature(digest: str, key: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) under ``key`` of the metadata's sha256, which covers every other
    field of metadata.json, the data files' checksums among them, so every file of the bundle."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def _seal(meta: dict[str, Any]) -> None:
    """Set metadata.json's own checksum and, with METRICLI_SIGNING_KEY set, its signature."""
    meta.pop(SIGNATURE, None)
    meta["metadata_sha256"] = _metadata_digest(meta)
    key = _signing_key()
    if key is not None:
        meta[SIGNATURE] = _signature(meta["metadata_sha256"], key)


def _require_signature(metadata: dict[str, Any], where: str) -> None:
    key = _signing_key()
    if key is None:
        return
    signature = metadata.get(SIGNATURE)
    if not isinstance(signature, str):
        raise MetricliError(
            f"{where}: the bundle is not signed and {ENV_SIGNING_KEY} is set; refit it with the key "
            f"set (or unset {ENV_SIGNING_KEY} to load unsigned bundles)"
        )
    if not hmac.compare_digest(signature, _signature(str(metadata.get("metadata_sha256")), key)):
        raise MetricliError(
            f"{where}: the bundle's signature does not match {ENV_SIGNING_KEY}: it was modified and "
            "resealed, or signed with another key; refit it"
        )


def _metadata_digest(meta: dict[str, Any]) -> str:
    """sha256 of the metadata's canonical JSON without this digest (nor the signature, made from
    it), so edits to it are caught too."""
    body = {k: v for k, v in meta.items() if k not in ("metadata_sha256", SIGNATURE)}
    canonical = json.dumps(_finite(body), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


#: the largest JSON file of a bundle read (metadata.json with 100,000 feature names is ~2 MiB):
#: a bigger one is refused from its size, never read whole
JSON_CAP = 16 << 20


#: how deep a bundle's JSON may nest (metadata.json nests 4 levels); deeper is refused before
#: the recursive steps after it (the checksum, the display) reach Python's recursion limit
JSON_DEPTH = 64


def _depth(value: Any) -> int:
    """The nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= JSON_DEPTH:
                stack.extend(
                    (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
                )
    return deepest


_NUMBER = (int, float, type(None))
_TEXT = (str, type(None))
_COUNT = (int, type(None))


class _Keys(dict):
    """A dict spec whose keys may be absent (a bundle written by the library holds only what
    its caller gave); a key that is there must conform."""


#: the sections the commands read inside: ``info`` and ``report`` show them, ``report`` draws
#: the objective per iteration, ``evaluate`` and ``report`` use the standardization
_PREPROCESSING = _Keys(
    standardize=bool, mean=(type(None), [_NUMBER]), scale=(type(None), [_NUMBER]), note=_TEXT
)
_INPUT = _Keys(
    path=_TEXT, sha256=_TEXT, rows_read=_COUNT, rows_used=_COUNT, label=_TEXT, target=_TEXT, id=_TEXT
)
_FIT = _Keys(
    iterations=_COUNT, objective=_NUMBER, converged=bool, seconds=_NUMBER, objective_history=[_NUMBER]
)
#: what ``fit`` writes in metadata.json, by type; checked on load, because the checksums carry
#: no key: a resealed metadata.json must still be what the commands that read it expect.
#: A dict spec lists required keys; [spec] is a list of such items; a tuple of types, any of them.
METADATA_SCHEMA: dict[str, Any] = {
    "algorithm": str,
    "supervision": _TEXT,
    "params": dict,
    "seed": _COUNT,
    "preprocessing": (type(None), _PREPROCESSING),
    "input": (type(None), _INPUT),
    "fit": (type(None), _FIT),
    "n_features": int,
    "n_components": int,
    "created": _TEXT,
    "versions": (type(None), _Keys()),
    SIGNATURE: _TEXT,
    "selection": (
        type(None),
        {
            "figure": str,
            "cv": int,
            "verdict": str,
            "leaderboard": [{"name": str, "mean": (int, float)}],
            "skipped": [{"name": str}],
        },
    ),
}


def _conforms(value: Any, spec: Any) -> bool:
    if isinstance(spec, _Keys):
        return isinstance(value, dict) and all(
            k not in value or _conforms(value[k], v) for k, v in spec.items()
        )
    if isinstance(spec, dict):
        return isinstance(value, dict) and all(k in value and _conforms(value[k], v) for k, v in spec.items())
    if isinstance(spec, list):
        return isinstance(value, list) and all(_conforms(item, spec[0]) for item in value)
    if isinstance(spec, tuple) and any(isinstance(s, dict | list) for s in spec):
        return any(_conforms(value, s) for s in spec)
    if spec in (int, _COUNT, _NUMBER, (int, float)) and isinstance(value, bool):
        return False
    return isinstance(value, spec)


def _check_schema(metadata: dict[str, Any], where: str) -> None:
    for key, spec in METADATA_SCHEMA.items():
        if key in metadata and not _conforms(metadata[key], spec):
            raise MetricliError(
                f"{where}: corrupt bundle, metadata.json's '{key}' is not what fit writes there"
            )


def _regular_file(path: Path, where: str, missing: str = "is missing") -> None:
    """Refuse, by name, a bundle member that is not a regular file: a symbolic link, a named
    pipe (which would block the read), a device, a socket or a folder; or one not there."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        raise MetricliError(f"{where}: corrupt bundle, {path.name} {missing}") from None
    except OSError as exc:
        raise MetricliError(f"{where}: cannot read {path.name} ({exc.strerror or exc})") from None
    what = (
        "a symbolic link" if stat.S_ISLNK(mode)
        else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a folder" if stat.S_ISDIR(mode)
        else None
    )  # fmt: skip
    if what is not None:
        raise MetricliError(f"{where}: corrupt bundle, {path.name} is {what}, not a regular file")


def _read_json(path: Path, where: str) -> dict[str, Any]:
    _regular_file(path, where)
    size = path.stat().st_size
    if size > JSON_CAP:
        raise MetricliError(
            f"{where}: corrupt bundle, {path.name} is {size:,} bytes; a bundle's is a few KiB "
            f"(at most {JSON_CAP >> 20} MiB is read)"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(JSON_CAP + 1)
        value = json.loads(text)
        if _depth(value) > JSON_DEPTH:
            raise RecursionError
    except RecursionError:
        raise MetricliError(
            f"{where}: corrupt bundle, {path.name} nests its values too deeply to be a bundle's"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetricliError(f"{where}: corrupt bundle, cannot read {path.name} ({exc})") from None
    if not isinstance(value, dict):
        raise MetricliError(f"{where}: corrupt bundle, {path.name} is not a JSON object")
    return value


def _read_npy(path: Path, where: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError) as exc:
        raise MetricliError(f"{where}: corrupt bundle, cannot read {path.name} ({exc})") from None
    if array.dtype != np.float64 or array.ndim != 2:
        raise MetricliError(f"{where}: corrupt bundle, {path.name} is not a 2-D float64 matrix")
    return array


def is_bundle(path: str | Path) -> bool:
    """A folder holding a metadata.json of any kind (a link or a pipe there is refused by name
    when the bundle is loaded, not taken for a table)."""
    metadata = Path(path) / "metadata.json"
    return Path(path).is_dir() and (metadata.exists() or metadata.is_symlink())


def load_bundle(path: str | Path) -> Bundle:
    """Load and verify a bundle; any mismatch is refused with a MetricliError."""
    root = Path(path)
    where = str(root)
    if root.is_symlink():
        raise MetricliError(
            f"{where}: the bundle folder is a symbolic link; give the folder it points to "
            "(a link could swap the bundle between its checks and its use)"
        )
    if not root.exists():
        raise MetricliError(f"{where}: no such bundle")
    if not root.is_dir() or not ((root / "metadata.json").exists() or (root / "metadata.json").is_symlink()):
        raise MetricliError(f"{where}: not a metricli bundle (no metadata.json)")
    note_input(root)
    metadata = _read_json(root / "metadata.json", where)
    if metadata.get("format") != FORMAT:
        raise MetricliError(f"{where}: not a metricli bundle (metadata.json has no format '{FORMAT}')")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise MetricliError(
            f"{where}: bundle format version {metadata.get('format_version')} is not supported "
            f"(this metricli reads version {FORMAT_VERSION})"
        )
    if metadata.get("metadata_sha256") != _metadata_digest(metadata):
        raise MetricliError(
            f"{where}: metadata.json does not match its own checksum; the bundle was modified or damaged, refit it"
        )
    _require_signature(metadata, where)
    checksums = metadata.get("files")
    if not isinstance(checksums, dict):
        raise MetricliError(f"{where}: corrupt bundle, metadata.json lists no file checksums")
    for name in DATA_FILES:
        file = root / name
        _regular_file(file, where)
        if sha256_file(file) != checksums.get(name):
            raise MetricliError(
                f"{where}: {name} does not match the checksum in metadata.json; the bundle was "
                "modified or damaged, refit it"
            )
    M = _read_npy(root / "M.npy", where)
    L = _read_npy(root / "L.npy", where)
    _check_schema(metadata, where)
    names = metadata.get("feature_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise MetricliError(f"{where}: corrupt bundle, metadata.json has no list of feature names")
    d = len(names)
    if M.shape != (d, d) or L.shape[1] != d:
        raise MetricliError(
            f"{where}: corrupt bundle, M is {M.shape[0]}x{M.shape[1]} and L is {L.shape[0]}x{L.shape[1]} "
            f"but there are {d} features"
        )
    axioms = _consistent(M, L, names, _read_json(root / "axioms.json", where), where)
    return Bundle(
        path=root,
        M=M,
        L=L,
        metadata=metadata,
        axioms=axioms,
        threshold=_read_threshold(root, checksums, where),
    )


#: how far M may be from LᵀL, relative to its size (save_bundle writes M = LᵀL exactly)
CONSISTENCY_RTOL = 1e-9


def _consistent(
    M: np.ndarray, L: np.ndarray, names: list[str], stored: dict[str, Any], where: str
) -> dict[str, Any]:
    """The axiom report of M, recomputed, once M, L and axioms.json are shown to agree.

    The checksums carry no key: anyone can edit a file and reseal the bundle. ``check`` reads
    M while ``transform``, ``distance`` and ``neighbors`` apply L, so a bundle whose M is not
    LᵀL (or holds NaN, or whose axioms.json was edited) would be judged by one matrix and
    used as another. Refused instead; the report returned is the recomputed one.
    """
    for name, array in (("M.npy", M), ("L.npy", L)):
        if not np.isfinite(array).all():
            raise MetricliError(f"{where}: corrupt bundle, {name} holds NaN or infinite values; refit it")
    gap = float(np.linalg.norm(M - L.T @ L))
    if gap > CONSISTENCY_RTOL * max(float(np.linalg.norm(M)), float(np.linalg.norm(L)) ** 2, 1e-300):
        raise MetricliError(
            f"{where}: corrupt bundle, M.npy is not LᵀL of L.npy (off by {gap:.3g}); the metric "
            "check reads M and the commands apply L, so they must agree: refit it"
        )
    from metricli.axioms import check_mahalanobis

    report = check_mahalanobis(M, names)
    if stored.get("verdict") != report["verdict"]:
        raise MetricliError(
            f"{where}: corrupt bundle, axioms.json says '{stored.get('verdict')}' but M is "
            f"'{report['verdict']}'; refit it"
        )
    return report


def _read_threshold(root: Path, checksums: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The calibrated threshold, if metadata.json records one; a file it does not record is refused."""
    file = root / THRESHOLD_FILE
    recorded = checksums.get(THRESHOLD_FILE)
    if recorded is None:
        if file.exists() or file.is_symlink():
            raise MetricliError(
                f"{where}: {THRESHOLD_FILE} is not recorded in metadata.json; the bundle was modified, "
                "remove the file or calibrate again"
            )
        return None
    _regular_file(file, where)
    if sha256_file(file) != recorded:
        raise MetricliError(
            f"{where}: {THRESHOLD_FILE} does not match the checksum in metadata.json; the bundle was "
            "modified or damaged, calibrate again"
        )
    threshold = _read_json(file, where)
    value = threshold.get("threshold")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise MetricliError(f"{where}: corrupt bundle, {THRESHOLD_FILE} holds no threshold (a distance >= 0)")
    return threshold


def save_threshold(bundle: Bundle, threshold: dict[str, Any]) -> Path:
    """Store a verification threshold in a loaded (so verified) bundle, replacing any earlier one.

    The bundle is rewritten whole into a temporary folder (its files copied, threshold.json
    added, metadata.json given the new checksum and a summary) and renamed into place, so a
    reader sees the old bundle or the new one, never a mix.
    """
    import shutil

    root = bundle.path
    with atomic_path(root, force=True, kind=BUNDLE, update=True) as tmp:
        tmp.mkdir()
        for name in DATA_FILES:
            shutil.copyfile(root / name, tmp / name)
        (tmp / THRESHOLD_FILE).write_text(to_json(threshold), encoding="utf-8")
        meta = {k: v for k, v in bundle.metadata.items() if k != "metadata_sha256"}
        meta["files"] = {**meta["files"], THRESHOLD_FILE: sha256_file(tmp / THRESHOLD_FILE)}
        meta["threshold"] = {
            key: threshold.get(key) for key in ("threshold", "strategy", "target_far", "far", "frr")
        }
        _seal(meta)
        (tmp / "metadata.json").write_text(to_json(meta), encoding="utf-8")
    return root


def read_matrix_file(path: str | Path, square: bool = True) -> tuple[np.ndarray, list[str] | None]:
    """A square matrix M from .npy or CSV/TSV (with a header, and optionally a first column of names).

    With ``square=False`` any 2-D matrix is accepted (e.g. SCML's K x d bases); the
    caller checks its shape.
    """
    p = Path(path)
    where = str(p)
    if not p.is_file():
        raise MetricliError(f"{where}: no such file")
    if p.suffix.lower() == ".npy":
        try:
            array = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError) as exc:
            raise MetricliError(f"{where}: not a plain numeric .npy matrix ({exc})") from None
        names = None
    else:
        from metricli.io.tables import numeric_column, read_table

        frame, _ = read_table(str(p), None)
        first = frame.columns[0]
        names_first = not pd.api.types.is_numeric_dtype(frame[first])
        if names_first and (frame.shape[1] == frame.shape[0] + 1 or not square):
            frame = frame.set_index(first)
        names = [str(c) for c in frame.columns]
        array = np.column_stack([numeric_column(frame[c], where, c, 2) for c in frame.columns])
    if array.dtype.kind not in "biuf":
        raise MetricliError(f"{where}: matrix is not numeric")
    if array.ndim != 2 or (square and array.shape[0] != array.shape[1]):
        shape = "x".join(map(str, array.shape))
        raise MetricliError(f"{where}: matrix must be {'square' if square else '2-D'}; got shape {shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        i, j = np.argwhere(~np.isfinite(array))[0]
        raise MetricliError(f"{where}: matrix has a missing or infinite value at row {i}, column {j}")
    return array, names
