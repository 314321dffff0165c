"""The confirmatory learning study (issue 27; protocol: docs/LEARNING_STUDY.md): run its queue, see where it
stands, and regenerate its results from the committed run folders.

    python scripts/learning_study.py run [--commit]        # the queue, one run at a time, in the protocol's order
    python scripts/learning_study.py run --lanes 2         # ... two runs at a time (the next two in that order)
    python scripts/learning_study.py status                # every run: not started / in progress / finished
    python scripts/learning_study.py stop                  # a running queue stops cleanly (its run saves its state)
    python scripts/learning_study.py save                  # commit the in-progress runs' state (end of a session)
    python scripts/learning_study.py summary               # the table and the verdicts (markdown)
    python scripts/learning_study.py export [--figure]     # the app's file, pretrained/README.md's section, the figure

Each run is an ordinary `python -m samviz.train` run in experiments/learning_study/<task>-<arm>-s<seed>/,
`--resume`d when it has a training state. The library code is pinned: stages 1-4 run samviz/ as it is at the
commit recorded in experiments/learning_study/code.json (extracted with `git archive` into .code/<commit>/),
whatever the working tree holds meanwhile; stage 5 (SAM with faiss at 2^16 slots) waits for its own pin
(`run --pin-faiss COMMIT`). Every session of a run is recorded in its study.json (commit, a hash of the code,
the CPU, the updates it began and ended at, the exit status).

Start it detached, niced, so that it outlives the shell (one training process, one thread):

    setsid nohup nice -n 10 .venv/bin/python scripts/learning_study.py run --commit \
        > experiments/learning_study/queue.log 2>&1 < /dev/null &

With --commit, each run's folder is committed when the run finishes (its logs, marks and final training-state
JSON; the *.safetensors files stay out, see experiments/learning_study/.gitignore), with the app's export and
pretrained/README.md's table and figure (left alone, with a line in the log, when that file has uncommitted
edits).
"""
from __future__ import annotations

import argparse
from datetime import UTC, datetime
import hashlib
import json
import os
from pathlib import Path
import platform
import signal
import subprocess
import sys
import threading
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from anywhere without installing

from samviz import cli, study  # noqa: E402

STUDY_DIR = study.STUDY_DIR
CODE_FILE = STUDY_DIR / "code.json"
SNAPSHOTS = STUDY_DIR / ".code"
PID_FILE = STUDY_DIR / "queue.pid"
RECORD = "study.json"
STATE = "train_state.safetensors"
FINAL_STATE = "train_state.final.safetensors"    # a finished run's state, kept on this machine only
README = ROOT / "pretrained" / "README.md"
README_BEGIN = "<!-- learning-study: begin (scripts/learning_study.py export writes this section) -->"
README_END = "<!-- learning-study: end -->"
FIGURE = ROOT / "docs" / "screenshots" / "learning_study.png"
FAISS_STAGE = 5
RETRIES = 1                     # a crashed run is resumed this many times before the queue moves on
COMMIT_TRIES = 12               # git busy (another commit's index.lock): wait and try again
MAX_LANES = max(1, os.cpu_count() or 1)   # more runs at once than cores only slows every one of them


# ------------------------------------------------------------------------------------------ helpers
def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=check)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_json(path: Path, default):
    return json.loads(path.read_text()) if path.is_file() else default


def write_json(path: Path, value) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=1) + "\n")
    temporary.replace(path)


def code_hash(snapshot: Path) -> str:
    """sha256 over the snapshot's samviz/**/*.py (relative path and bytes, in path order)."""
    digest = hashlib.sha256()
    for path in sorted((snapshot / "samviz").rglob("*.py")):
        digest.update(str(path.relative_to(snapshot)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def snapshot(commit: str) -> Path:
    """samviz/ at `commit`, extracted once into .code/<commit>/ (the queue imports it from there)."""
    folder = SNAPSHOTS / commit
    if not (folder / "samviz" / "train.py").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "samviz"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def resolve(commit: str) -> str:
    return git("rev-parse", "--verify", f"{commit}^{{commit}}").stdout.strip()


def pins(arguments) -> dict:
    """code.json's pins, adding the ones given now (stages 1-4 default to HEAD on the queue's first start)."""
    code = read_json(CODE_FILE, {"pins": {}})
    changed = False
    if "1-4" not in code["pins"]:
        commit = resolve(arguments.pin or "HEAD")
        code["pins"]["1-4"] = {"commit": commit, "pinned_at": now()}
        changed = True
    elif arguments.pin and resolve(arguments.pin) != code["pins"]["1-4"]["commit"]:
        raise SystemExit(f"stages 1-4 are pinned to {code['pins']['1-4']['commit']} (code.json); changing the pin "
                         "mid-study is a deviation: edit code.json by hand and list it in docs/LEARNING_STUDY.md")
    if arguments.pin_faiss and "5" not in code["pins"]:
        code["pins"]["5"] = {"commit": resolve(arguments.pin_faiss), "pinned_at": now()}
        changed = True
    if changed:
        STUDY_DIR.mkdir(parents=True, exist_ok=True)
        write_json(CODE_FILE, code)
    return code["pins"]


def commit_paths(paths: list[Path], message: str, force: list[Path] = ()) -> bool:
    """git add + commit of exactly `paths` (others' staged work is left alone), retried while git is busy."""
    names = [str(p.relative_to(ROOT)) for p in paths]
    for _attempt in range(COMMIT_TRIES):
        added = git("add", "--", *names, check=False)
        forced = git("add", "-f", "--", *(str(p.relative_to(ROOT)) for p in force), check=False) if force else added
        if added.returncode == 0 and forced.returncode == 0:
            if not git("diff", "--cached", "--quiet", "--", *names, check=False).returncode:
                return True                                  # nothing new to commit
            done = git("commit", "-q", "-m", message, "--", *names, check=False)
            if done.returncode == 0:
                return True
            problem = done.stderr
        else:
            problem = added.stderr + forced.stderr
        print(f"git busy or refused ({problem.strip()[:200]}); retrying in 10 s", flush=True)
        time.sleep(10)
    print(f"could not commit {', '.join(names)}; commit it by hand", flush=True)
    return False


# ------------------------------------------------------------------------------------------ run
class Queue:
    """Runs the plan's unfinished runs in the protocol's order, `lanes` of them at a time (one training process,
    one thread each): every lane takes the next run no lane has taken yet."""

    def __init__(self, arguments):
        self.arguments = arguments
        self.lanes = getattr(arguments, "lanes", 1) or 1
        self.children: list[subprocess.Popen] = []
        self.stopping = False
        self.lock = threading.Lock()          # the lanes' claims, the snapshot, commits and exports
        self.claimed: set[str] = set()

    def stop(self, *_signal) -> None:
        # a signal handler: no lock here (the main thread may hold it when the signal lands)
        self.stopping = True
        for child in list(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)        # the trainer saves its state and exits

    def run(self) -> int:
        code = pins(self.arguments)
        PID_FILE.write_text(str(os.getpid()))
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        try:
            if self.lanes == 1:
                self.lane(code)
            else:
                threads = [threading.Thread(target=self.lane, args=(code,), daemon=True) for _ in range(self.lanes)]
                for thread in threads:
                    thread.start()
                while any(thread.is_alive() for thread in threads):
                    for thread in threads:
                        thread.join(timeout=0.5)          # short waits: signals are handled in this thread
        finally:
            if PID_FILE.is_file() and PID_FILE.read_text().strip() == str(os.getpid()):
                PID_FILE.unlink()
        return 0

    def lane(self, code: dict) -> None:
        while not self.stopping:
            taken = self.next_run(code)
            if taken is None:
                return
            self.train(*taken)

    def next_run(self, code: dict) -> tuple[study.PlannedRun, str] | None:
        """The first planned run, in the protocol's order, that is unfinished and no lane has taken (with the
        commit it runs), or None: nothing left, a stop, or stage 5 waiting for its pin."""
        with self.lock:
            for planned in study.plan():
                if self.stopping:
                    return None
                if self.arguments.stages and planned.arm.stage not in self.arguments.stages:
                    continue
                if planned.name in self.claimed:
                    continue
                record = study.read_run_folder(STUDY_DIR / planned.name, planned)
                if record.done:
                    continue
                pin = code.get("5" if planned.arm.stage == FAISS_STAGE else "1-4")
                if pin is None:
                    print(f"{now()} stage {FAISS_STAGE} waits for its code pin (run --pin-faiss COMMIT); stopping",
                          flush=True)
                    return None
                self.claimed.add(planned.name)
                return planned, pin["commit"]
        return None

    def train(self, planned: study.PlannedRun, commit: str) -> None:
        folder = STUDY_DIR / planned.name
        folder.mkdir(parents=True, exist_ok=True)
        with self.lock:                              # two lanes must not extract the same snapshot at once
            code = snapshot(commit)
        for _attempt in range(RETRIES + 1):
            before = study.read_run_folder(folder, planned)
            if (folder / "train_state.json").is_file() and not (folder / STATE).is_file():
                print(f"{now()} {planned.name}: a training-state JSON without its tensors; not resumable, skipped "
                      "(a deviation to list)", flush=True)
                return
            if (folder / STATE).is_file():
                arguments = study.resume_arguments(planned)
            else:
                for name in ("meta.json", "model.safetensors", "train_log.jsonl", "marks.jsonl"):
                    (folder / name).unlink(missing_ok=True)     # a start that died before its first state save
                arguments = study.train_arguments(planned)
            command = [sys.executable, "-m", "samviz.train", *arguments, "--out", str(folder)]
            session = {"commit": commit, "code_hash": code_hash(code), "cpu": cpu_name(), "host": platform.node(),
                       "started": now(), "step_before": before.step, "command": command[1:], "lanes": self.lanes}
            print(f"{now()} {planned.name}: {'resuming at ' + format(before.step, ',') if before.step else 'starting'}"
                  f" (stage {planned.arm.stage}, code {commit[:10]})", flush=True)
            # recorded before the run starts, so a machine lost mid-session still leaves its commit, code and CPU
            history = read_json(folder / RECORD, {"run": planned.name, "sessions": []})
            history["sessions"].append(session)
            write_json(folder / RECORD, history)
            with open(folder / "stdout.log", "a") as log:
                log.write(f"$ {' '.join(command[1:])}\n")
                log.flush()
                environment = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
                child = subprocess.Popen(command, cwd=code, stdout=log, stderr=subprocess.STDOUT, env=environment)
                self.children.append(child)
                if self.stopping:                        # a stop that came while this run was starting
                    child.send_signal(signal.SIGTERM)
                exit_code = child.wait()
                self.children.remove(child)
            after = study.read_run_folder(folder, planned)
            session.update(ended=now(), step_after=after.step, exit=exit_code, finished=after.finished)
            history["sessions"][-1] = session
            write_json(folder / RECORD, history)
            print(f"{now()} {planned.name}: exit {exit_code} at update {after.step:,} ({after.status}"
                  f"{', ' + after.finished if after.finished else ''})", flush=True)
            if after.done:
                if self.arguments.commit:
                    with self.lock:                      # one export and one commit at a time
                        self.commit_finished(planned, after)
                return
            if self.stopping:
                return
            if exit_code == 0 and after.step < planned.arm.budget:
                return                                           # stopped by a signal from elsewhere
        print(f"{now()} {planned.name}: crashed {RETRIES + 1} times; left unfinished (a deviation to list)", flush=True)

    def commit_finished(self, planned: study.PlannedRun, record: study.StudyRun) -> None:
        folder = STUDY_DIR / planned.name
        if (folder / STATE).is_file():
            # kept on disk, out of git (a session end may have committed it while in progress: a path-limited
            # commit records its removal only when the file itself is gone)
            (folder / STATE).replace(folder / FINAL_STATE)
        # pretrained/README.md's table is regenerated and committed with the run, so it never lags the committed
        # runs; but only when that file has no uncommitted edits (the commit would sweep them in with the table).
        readme = not git("diff", "--quiet", "HEAD", "--", str(README.relative_to(ROOT)), check=False).returncode
        export(figure=False, readme=readme)
        figure = readme and photographed()
        commit_paths([folder, study.EXPORT_DIR, *([README] if readme else []), *([FIGURE] if figure else [])],
                     f"learning study: {planned.name} finished ({record.finished} at update {record.step:,}; "
                     f"{len(record.marks)} marks); the app's export"
                     + (" and pretrained/README.md's table" if readme else "")
                     + (" and figure" if figure else "") + " updated")
        if not readme:
            print(f"{now()} {README.relative_to(ROOT)} has uncommitted edits: its table was left for "
                  "`scripts/learning_study.py export`", flush=True)


def photographed() -> bool:
    """Re-photograph the study's figure for pretrained/README.md (chromium, ~10 s). A failure is logged and leaves
    the figure for `export --figure`: it never stops the queue's training."""
    try:
        import plot_learning_curves
        plot_learning_curves.photograph_study(FIGURE)
        return True
    except Exception as error:                     # any failure of the browser: reported, not raised
        print(f"{now()} the figure was not photographed ({type(error).__name__}: {error}); "
              "`scripts/learning_study.py export --figure` makes it", flush=True)
        return False


# ------------------------------------------------------------------------------------------ other commands
def status() -> None:
    code = read_json(CODE_FILE, {"pins": {}})
    for stage, pin in code["pins"].items():
        print(f"stages {stage}: code {pin['commit']} (pinned {pin['pinned_at']})")
    pid = PID_FILE.read_text().strip() if PID_FILE.is_file() else None
    print(f"queue: {'running, pid ' + pid if pid and Path('/proc', pid).exists() else 'not running'}")
    counts: dict[str, int] = {}
    print("| run | stage | status | updates | last mark (bit errors/seq) |")
    print("|---|---|---|---|---|")
    for planned in study.plan():
        record = study.read_run_folder(STUDY_DIR / planned.name, planned)
        counts[record.status] = counts.get(record.status, 0) + 1
        if record.status == "not started":
            continue
        last = f"{record.marks[-1][1]:.3f} at {record.marks[-1][0]:,}" if record.marks else "—"
        how = record.status + (f" ({record.finished})" if record.finished else "")
        print(f"| {planned.name} | {planned.arm.stage} | {how} | {record.step:,} / {planned.arm.budget:,} | {last} |")
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" of {len(study.plan())} planned runs")


def stop() -> int:
    if not PID_FILE.is_file():
        print("no queue is running (no queue.pid)")
        return 1
    pid = int(PID_FILE.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"queue {pid} is not running; removing the stale queue.pid")
        PID_FILE.unlink()
        return 1
    print(f"asked queue {pid} to stop; its run saves its training state and exits")
    return 0


def save() -> int:
    """Commit every in-progress run's folder with its training state (forced past .gitignore)."""
    saved = 0
    for planned in study.plan():
        folder = STUDY_DIR / planned.name
        record = study.read_run_folder(folder, planned)
        if record.status != "in progress" or not (folder / STATE).is_file():
            continue
        commit_paths([folder, CODE_FILE], f"learning study: {planned.name} in progress at update {record.step:,} "
                     "(its training state, for the next session to resume)", force=[folder / STATE])
        saved += 1
    print(f"{saved} in-progress run(s) committed")
    return 0


def export(figure: bool, readme: bool) -> None:
    runs = study.read_study()
    study.EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    temporary = study.EXPORT_FILE.with_suffix(".tmp")
    temporary.write_text("".join(run.to_json() + "\n" for run in runs))
    temporary.replace(study.EXPORT_FILE)
    started = sum(r.status != "not started" for r in runs)
    print(f"{started} started runs written to {study.EXPORT_FILE.relative_to(ROOT)}")
    deviations = study.deviations_markdown(study.protocol_deviations(ROOT / study.PROTOCOL), study.recorded_events())
    study.DEVIATIONS_FILE.write_text(deviations + "\n")
    if readme:
        text = README.read_text()
        if README_BEGIN not in text or README_END not in text:
            raise SystemExit(f"{README} has no learning-study section markers")
        head, rest = text.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        section = (study.table_markdown(study.summarise(runs), protocol_link="../docs/LEARNING_STUDY.md")
                   + f"\n\n**Deviations from the protocol.**\n\n{deviations}")
        README.write_text(f"{head}{README_BEGIN}\n{section}\n{README_END}{tail}")
        print(f"the table in {README.relative_to(ROOT)} regenerated")
    if figure:
        import plot_learning_curves
        plot_learning_curves.photograph_study(FIGURE)


@cli.reports_os_errors("scripts/learning_study.py")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the queue in the protocol's order (resumes what exists)")
    run.add_argument("--commit", action="store_true", help="commit each run's folder when it finishes")
    run.add_argument("--stages", type=lambda t: [int(x) for x in t.split(",")], default=None,
                     help="only these stages, e.g. 1,2 (default: all, in order)")
    run.add_argument("--pin", help="the commit stages 1-4 run (default HEAD; only on the queue's first start)")
    run.add_argument("--pin-faiss", help="the commit stage 5 (SAM-faiss-2^16) runs")
    run.add_argument("--lanes", type=int, default=1,
                     help=f"runs trained at once, 1-{MAX_LANES} (each one process, one thread; default 1)")
    sub.add_parser("status", help="where every run stands")
    sub.add_parser("stop", help="stop a running queue cleanly")
    sub.add_parser("save", help="commit the in-progress runs' training state")
    sub.add_parser("summary", help="the table and verdicts, from the run folders")
    out = sub.add_parser("export", help="the app's file, pretrained/README.md's table, the figure")
    out.add_argument("--figure", action="store_true", help=f"also photograph {FIGURE.relative_to(ROOT)} (chromium)")
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        if arguments.stages and not set(arguments.stages) <= set(study.STAGES):
            parser.error(f"--stages: choose from {', '.join(map(str, study.STAGES))}")
        if not 1 <= arguments.lanes <= MAX_LANES:
            parser.error(f"--lanes must be between 1 and {MAX_LANES} (this machine's cores), got {arguments.lanes}")
        if PID_FILE.is_file() and Path("/proc", PID_FILE.read_text().strip()).exists():
            parser.error(f"a queue is already running (pid {PID_FILE.read_text().strip()}); one at a time")
        return Queue(arguments).run()
    if arguments.command == "status":
        status()
        return 0
    if arguments.command == "stop":
        return stop()
    if arguments.command == "save":
        return save()
    if arguments.command == "summary":
        print(study.table_markdown(study.summarise(study.read_study())))
        return 0
    export(figure=arguments.figure, readme=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
