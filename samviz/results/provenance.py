"""Where a result row came from: the commit, a hash of the library code that produced it, the machine, the command.

The code hash — exactly which files count
    A row's code hash covers the files that compute its numbers, and nothing else: the model code of its
    model kind (MODEL_CODE: the common model files plus the kind's core and what that core runs), the
    measuring code of its part (PART_CODE: the module that times or scores, and what it runs), and, for parts
    that load shipped checkpoints, each checkpoint's weights and configuration. Presentation (samviz/app/ except
    the timing function Compare's sweep uses, the bench's plots and paper data, samviz/results itself), the
    training loop and the CLIs' argument parsing are not in it: changing them cannot change a measured number.

    Python files count by their code, not their text: each is parsed, its docstrings are removed and the rest
    is printed back (ast.unparse), so comments, docstrings and formatting never make a row stale, while any
    change to what runs does. A checkpoint counts by the bytes of its model.safetensors and the "config" of
    its meta.json (the rest of meta.json holds evaluation results that `samviz.evaluate` rewrites). An
    input data file (an exported learning-curve grid) counts by its bytes.

    code_hash(files) = the first 16 hex digits of sha256 over "path\\0digest\\n" for each file, in sorted order.

The machine
    machine_info(): CPU model, logical cores, RAM, OS, Python, torch and faiss versions; its "id" is the
    one-line description the benchmark has always written into its rows (samviz.bench.runner
    .machine_description), so "this machine" is the machine whose id equals the server's.
"""
from __future__ import annotations

import ast
from functools import lru_cache
import hashlib
import json
import os
from pathlib import Path
import platform
import subprocess

from samviz.paths import IN_CHECKOUT, PACKAGE_DIR, PRETRAINED_DIR

ROOT = PACKAGE_DIR.parent            # the checkout (or site-packages, where paths below are samviz/…)
HASH_DIGITS = 16

# ---------------------------------------------------------------------------------------------- code sets
# Every model builds through model.py (controller, interface, output layer) and kinds.py (what a kind is);
# core.py is the MemoryCore contract, addressing.py the shared equations, initial.py how memory starts.
COMMON_MODEL_CODE = ("samviz/__init__.py", "samviz/model.py", "samviz/kinds.py", "samviz/memory/__init__.py",
                     "samviz/memory/core.py", "samviz/memory/addressing.py", "samviz/memory/initial.py")
_SPARSE = ("samviz/memory/sam.py", "samviz/memory/usage.py", "samviz/memory/journal.py", "samviz/memory/store.py",
           "samviz/memory/index.py", "samviz/memory/index_parts.py", "samviz/memory/index_clusters.py",
           "samviz/memory/index_cache.py")
MODEL_CODE = {                       # kind -> the files its step runs (beyond COMMON_MODEL_CODE)
    "ntm": ("samviz/memory/ntm.py",),
    "dam": ("samviz/memory/dam.py", "samviz/memory/sam.py", "samviz/memory/usage.py"),   # SAM's write rule
    "dnc": ("samviz/memory/dnc.py",),
    "sam": _SPARSE,
    "sdnc": (*_SPARSE, "samviz/memory/sdnc.py", "samviz/memory/links.py"),
}
# Checkpoint loading and the tasks' episodes (parts that run the shipped models on task episodes).
_CHECKPOINTS = ("samviz/pretrained.py", "samviz/checkpoint.py", "samviz/tasks.py")
PART_CODE = {                        # part -> the files that measure or score (beyond the model code)
    # a measured row: the worker (what is timed and measured, in which environment: measure.WORKER_ENV)
    "bench": ("samviz/bench/measure.py",),
    # a row the runner refused by its estimate, or stopped (timeout, memory): + the runner and the estimates it uses
    "bench_estimate": ("samviz/bench/measure.py", "samviz/bench/runner.py", "samviz/bench/cost.py"),
    # Compare's measure: the model as Compare builds it, one task episode, app/timing.py's step timer
    "forward": ("samviz/bench/forward.py", "samviz/app/timing.py", *_CHECKPOINTS),
    "scale": ("samviz/evaluate_scale.py", *_CHECKPOINTS),
    "index_recall": ("samviz/results/index_recall.py", "samviz/evaluate_scale.py", *_CHECKPOINTS),
    "per_level": ("samviz/per_level.py", "samviz/generalisation.py", *_CHECKPOINTS),
    "generalisation": ("samviz/generalisation.py", *_CHECKPOINTS),
    # summaries of committed training logs: the summary functions and the tasks' targets
    "learning_grids": ("samviz/learning_curves.py", "samviz/tasks.py"),
}


def code_files(part: str, kind: str | None = None) -> tuple[str, ...]:
    """The library files (relative to the checkout) whose code a row of `part` for model `kind` depends on."""
    if part not in PART_CODE:
        raise ValueError(f"unknown part {part!r}; choose from {', '.join(PART_CODE)}")
    files = list(PART_CODE[part])
    if kind is not None:
        if kind not in MODEL_CODE:
            raise ValueError(f"unknown model kind {kind!r}; choose from {', '.join(MODEL_CODE)}")
        files += [*COMMON_MODEL_CODE, *MODEL_CODE[kind]]
    return tuple(sorted(set(files)))


def strip_docstrings(source: str) -> str:
    """The code of a Python source without comments, docstrings or formatting (ast.unparse of the tree with every
    module, class and function docstring removed; a body left empty gets `pass`)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


@lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    data = Path(path).read_bytes()
    if path.endswith(".py"):
        data = strip_docstrings(data.decode("utf-8")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def file_digest(relative: str) -> str:
    """sha256 of one file as the code hash counts it (see the module docstring); "absent" when it is missing."""
    path = ROOT / relative
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "absent"
    return _file_digest(str(path), stat.st_mtime_ns, stat.st_size)


def checkpoint_digest(name: str) -> str:
    """A shipped checkpoint as the code hash counts it: its weights' bytes and its meta.json's "config"."""
    folder = PRETRAINED_DIR / name
    weights = folder / "model.safetensors"
    try:
        config = json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("config", {})
        stat = weights.stat()
    except (FileNotFoundError, ValueError):
        return "absent"
    digest = hashlib.sha256(_file_digest_bytes(str(weights), stat.st_mtime_ns, stat.st_size).encode())
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _file_digest_bytes(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def data_digest(path: Path) -> str:
    """An input data file (e.g. an exported learning-curve grid) by its bytes; "absent" when missing."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        return "absent"
    return _file_digest_bytes(str(path), stat.st_mtime_ns, stat.st_size)


def combine(entries: dict[str, str]) -> str:
    """{name: digest} -> the first HASH_DIGITS hex digits of sha256 over "name\\0digest\\n", names sorted."""
    h = hashlib.sha256()
    for name in sorted(entries):
        h.update(f"{name}\0{entries[name]}\n".encode())
    return h.hexdigest()[:HASH_DIGITS]


def code_hash(part: str, kind: str | None = None, checkpoints: tuple[str, ...] = (),
              data: tuple[Path, ...] = ()) -> str:
    """The code hash of a row of `part` for model `kind` that loaded `checkpoints` and read `data` files."""
    entries = {name: file_digest(name) for name in code_files(part, kind)}
    entries.update({f"pretrained/{name}": checkpoint_digest(name) for name in checkpoints})
    entries.update({f"data/{Path(p).name}": data_digest(p) for p in data})
    return combine(entries)


# ---------------------------------------------------------------------------------------------- commit, machine
@lru_cache(maxsize=1)
def commit() -> str:
    """The checkout's HEAD commit (40 hex digits), or "unknown" outside a git checkout."""
    if not IN_CHECKOUT:
        return "unknown"
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = out.stdout.strip()
    return text if out.returncode == 0 and len(text) == 40 else "unknown"


def _version(package: str) -> str | None:
    try:
        from importlib.metadata import version
        return version(package)
    except Exception:
        return None


@lru_cache(maxsize=1)
def machine_info() -> dict:
    """{"id", "cpu", "cores", "ram_gib", "os", "python", "torch", "faiss"}: "id" is the benchmark's one-line
    machine description (the same text its rows have always carried in "machine")."""
    import psutil

    from samviz.bench.runner import machine_description
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"id": machine_description(), "cpu": cpu, "cores": os.cpu_count(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "os": f"{platform.system()} {platform.machine()}",
            "python": platform.python_version(), "torch": _version("torch"), "faiss": _version("faiss-cpu")}


def this_machine() -> str:
    """The id of the machine this process runs on (machine_info()["id"])."""
    return machine_info()["id"]


PROVENANCE_KEYS = ("commit", "code_hash", "code", "machine", "machine_info", "command", "seeds")


def code_of(part: str, kind: str | None = None, checkpoints=(), data=()) -> dict:
    """What a row's code hash covers, as the row records it: {"part", "kind", "checkpoints", "data"} (data files
    relative to the checkout), enough to recompute the hash later (current_hash)."""
    return {"part": part, "kind": kind, "checkpoints": list(checkpoints),
            "data": [str(Path(p).resolve().relative_to(ROOT)) if Path(p).is_absolute() else str(p) for p in data]}


def current_hash(code: dict) -> str:
    """The code hash today's files give for a row's recorded "code" (code_of)."""
    return code_hash(code["part"], code.get("kind"), tuple(code.get("checkpoints") or ()),
                     tuple(ROOT / p for p in code.get("data") or ()))


def stamp(row: dict, part: str, kind: str | None, command: str, seeds, checkpoints=(), data=()) -> dict:
    """The row with its provenance: commit, code_hash and "code" (what the hash covers), machine (the id) and
    machine_info, the command that produced it and its seeds."""
    info = machine_info()
    code = code_of(part, kind, checkpoints, data)
    return {**row, "commit": commit(), "code_hash": current_hash(code), "code": code, "machine": info["id"],
            "machine_info": dict(info), "command": command, "seeds": seeds}
