"""Every command line turns an operating-system error into one line and a non-zero exit, never a traceback
(issue 29, item 5): a full disk (/dev/full), a full stdout, a path the file system will not create (/proc/self)."""
import errno
import os
from pathlib import Path
import subprocess
import sys

import pytest

from samviz import cli

ROOT = Path(__file__).resolve().parent.parent
TINY_RUN = ["--model", "ntm", "--task", "copy", "--slots", "8", "--word-size", "4", "--controller", "8", "--batch", "2",
            "--eval-every", "5", "--val-batch", "4", "--log-every", "1000", "--checkpoint-every", "4"]


def run(command: list[str], tmp_path: Path, stdout=subprocess.PIPE, timeout: float = 180):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "SAMVIZ_BENCH_LOCK": str(tmp_path / "bench.lock")}
    return subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=ROOT, env=env)


def assert_one_line(done: subprocess.CompletedProcess, prog: str, *words: str) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{prog}: error: "), done.stderr
    assert sum(line.startswith(f"{prog}: error") for line in done.stderr.splitlines()) == 1, done.stderr
    for word in words:
        assert word in last, last
    return last


# ------------------------------------------------------------------------------------- the shared place

def test_a_decorated_main_reports_an_os_error_in_one_line(capsys):
    @cli.reports_os_errors("prog")
    def main():
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/data/out.jsonl")
        finally:
            raise OSError(errno.ENOSPC, "No space left on device")      # a close in a finally fails again
    assert main() == cli.EXIT_OS_ERROR
    assert capsys.readouterr().err == "prog: error: no space left on device\n"


@pytest.mark.parametrize("error, says", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/x.json"),
     "cannot write /data/x.json: no space left on its device"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/self/x.json"),
     "cannot create /proc/self/x.json: /proc/self is in a virtual file system that makes no new files"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/no/such/dir/x.json"),
     "/no/such/dir/x.json: the directory /no/such/dir does not exist"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: Permission denied"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp"), "/tmp: Is a directory"),
])
def test_the_message_says_what_is_true(error, says):
    assert cli.os_error_message(error) == says


def test_a_path_thousands_of_characters_long_is_cut_short():
    message = cli.os_error_message(OSError(errno.ENAMETOOLONG, "File name too long", "/tmp/" + "x" * 5000))
    assert len(message) < 300 and message.endswith("File name too long")


# ------------------------------------------------------------------------------------- each command line

def test_bench_out_on_a_full_disk(tmp_path):
    """The issue's case: a raw chained OSError traceback before."""
    done = run([sys.executable, "-m", "samviz.bench", "--models", "ntm", "--slots", "64", "--steps", "1", "--batch",
                "1", "--repeat-time", "0.01", "--out", "/dev/full"], tmp_path)
    assert_one_line(done, "python -m samviz.bench", "cannot write /dev/full", "no space left")


def test_evaluate_with_a_full_stdout(tmp_path):
    with open("/dev/full", "w") as full:
        done = run([sys.executable, "-m", "samviz.evaluate", "ntm-copy", "--batches", "1", "--batch-size", "1",
                    "--no-generalisation"], tmp_path, stdout=full)
    assert_one_line(done, "python -m samviz.evaluate", "no space left")


@pytest.mark.parametrize("path, says", [("/dev/full", "no space left"),
                                        ("/proc/self/rows.json", "virtual file system that makes no new files")])
def test_per_level_json_that_cannot_be_written(tmp_path, path, says):
    done = run([sys.executable, "-m", "samviz.per_level", "--models", "ntm-copy", "--episodes", "1", "--json", path],
               tmp_path)
    assert_one_line(done, "python -m samviz.per_level", path, says)


def test_generalisation_json_on_a_full_disk(tmp_path):
    done = run([sys.executable, "-m", "samviz.generalisation", "--task", "copy", "--models", "ntm-copy", "--levels",
                "20", "--episodes", "1", "--json", "/dev/full"], tmp_path)
    assert_one_line(done, "python -m samviz.generalisation", "/dev/full", "no space left")


def test_train_out_proc_self_says_why_not_no_such_file(tmp_path):
    """`--out /proc/self` said "No such file or directory" about a directory that exists."""
    done = run([sys.executable, "-m", "samviz.train", *TINY_RUN, "--steps", "3", "--out", "/proc/self"], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "cannot write to /proc/self" in last and "No such file" not in last
    assert "does not let new files be made in this directory" in last


def test_learning_curves_export_where_no_file_can_be_made(tmp_path):
    runs = tmp_path / "curves"
    runs.mkdir()
    done = run([sys.executable, "scripts/learning_curves.py", "export", "--out", str(runs), "--to",
                "/proc/self/curves.jsonl"], tmp_path)
    assert_one_line(done, "scripts/learning_curves.py", "cannot create /proc/self/curves.jsonl")
