"""Long episodes in the Episode player (issue 14 item 5): a pretrained sparse model (SAM, SDNC) run forward over an
episode far past its training length, with no trace, and the wrong bits at each answer step.

Pure (no Streamlit): the page passes a `progress(done, total)` callback and shows what `view_payload` (the
browser's episode view: the wrong bits at every step, scrubbed and played there) and `sentence` return. The
normal player records a trace (O(N) things per step for a large memory); this mode keeps only the logits
(T × B × outputs) and computes from them the wrong bits per step (samviz.tasks.wrong_bits), so its memory is the
model's run and nothing that grows with the trace.

Levels: from the normal player's highest (params.level_range: 2 × the trained maximum) to the task's
generalisation limit (samviz.tasks.GENERALISATION_FACTOR × the trained maximum): associative recall 12–60 items
(56–248 steps), copy 40–200 vectors (81–401 steps), priority sort 40–200 inputs (73–361 steps).

Long tasks (issue 26 item 6; the second half of this file): the long-curriculum SAM (its checkpoint in the checkout,
experiments/long_curriculum/sam-faiss-65536, read without pickle; labelled with the level its meta.json says it
was trained to) on samviz.tasks.LongTask associative recall from that level h up to 100 h, at 2^16 or 2^20 slots,
through samviz.long_evaluation.run_batch in at most STRIP_BINS parts: the wrong bits of each answer step, and per
part the CPU time per step, the rows written and the index's recall against an exact top-K (sampled). strip_bins
turns the parts into what the episode view's strip draws, and long_task_sentence says the strip's numbers.
Bounded before anything is allocated (check_long_task: the length, slots, episodes, episodes × steps and the
memory estimate against the app's LARGE_RUN_BYTES) and while it runs (a CPU and a wall budget per run).
"""
from __future__ import annotations

from collections.abc import Callable
import contextlib
import copy
import functools
from pathlib import Path
import time
from typing import NamedTuple

import numpy as np

from samviz.app import colours, params
from samviz.kinds import SPARSE_MODELS
import samviz.tasks as tasks_module

EPISODE_CHOICES = (1, 4, 16)      # episodes per run (one batch): the mean over a few is a steadier picture
DEFAULT_EPISODES = 4
PROGRESS_UPDATES = 50             # the progress callback is called about this many times per run (and at the end)


class LongResult(NamedTuple):
    """What one long run gives the view. Every number the page shows is computed from `wrong` and `answer`."""

    wrong: np.ndarray        # float64 [T]: wrong bits at each step, mean over the episodes (0 outside the answer phase)
    answer: np.ndarray       # bool [T]: the answer-phase (scored) steps
    per_episode: np.ndarray  # float64 [B]: wrong bits of each episode (its sum over the steps)
    bits_per_step: int       # output bits per answer step (guessing gets half of them wrong)
    level: int
    seconds: float           # wall time of the forward run on this server (index set-up included)


# ------------------------------------------------------------------------------------------ levels and validation

def level_range(task: str) -> tuple[int, int]:
    """(lowest, highest) level of a long episode of `task`: the normal player's highest to the task's limit."""
    t = params.task_info(task)
    return params.level_range(task)[1], tasks_module.GENERALISATION_FACTOR * t.max_level


@functools.cache
def episode_steps(task: str, level: int) -> tuple[int, int]:
    """(steps, answer steps) of one episode of `task` at `level` (validated by the task)."""
    import torch
    ep = params.task_info(task).sample(1, level=int(level), generator=torch.Generator().manual_seed(0))
    return int(ep.inputs.shape[0]), int(ep.mask[:, 0].sum())


def check(kind: str, task: str, level, episodes) -> params.Problem | None:
    """None when a long episode of these settings may run, else the Problem to show (nothing is allocated)."""
    if kind not in SPARSE_MODELS:
        names = " and ".join(k.upper() for k in SPARSE_MODELS)
        return params.Problem(f"The long-episode mode runs the sparse models ({names}) only: "
                              f"{str(kind).upper()} touches every slot at every step")
    if task not in params.TASKS:
        return params.Problem("Unknown task", params.echo(task))
    low, high = level_range(task)
    if isinstance(level, bool) or not isinstance(level, int):
        return params.Problem(f"A long episode's level must be a whole number from {low} to {high}", params.echo(level))
    if not low <= level <= high:
        return params.Problem(f"A long episode of {task.replace('_', ' ')} runs at levels {low} to {high} "
                              f"({tasks_module.GENERALISATION_FACTOR}× the trained maximum at most), not {level}")
    if isinstance(episodes, bool) or episodes not in EPISODE_CHOICES:
        return params.Problem(f"Episodes per run must be one of {', '.join(map(str, EPISODE_CHOICES))}",
                              params.echo(episodes))
    return None


LINK_KEYS = ("long", "episodes")     # in the player's link: ?...&long=60&episodes=4 opens this mode at level 60


def link(level: int, episodes: int) -> dict[str, str]:
    """The long mode's part of the player's link."""
    return {"long": str(int(level)), "episodes": str(int(episodes))}


def read_link(query, kind: str, task: str) -> tuple[dict | None, list[params.Problem]]:
    """A player link's long-mode keys -> ({"level", "episodes"} or None when the mode stays off, problems). Each
    problem names the parameter, the refused value, and what is done instead."""
    if "long" not in query:
        return None, []
    low, high = level_range(task)
    level, problem = params.parse_int(query["long"], low, high,
                                      f"long (a long episode's level for {task.replace('_', ' ')})")
    if problem is None and kind not in SPARSE_MODELS:
        names = " and ".join(k.upper() for k in SPARSE_MODELS)
        problem = params.Problem(f"long in the link runs the sparse models ({names}) only, not {str(kind).upper()}")
    if problem is not None:
        return None, [problem._replace(message=problem.message + "; the long-episode mode stays off")]
    episodes, problems = DEFAULT_EPISODES, []
    if "episodes" in query:
        value, problem = params.parse_int(query["episodes"], min(EPISODE_CHOICES), max(EPISODE_CHOICES), "episodes")
        if problem is None and value not in EPISODE_CHOICES:
            problem = params.Problem(f"episodes must be one of {', '.join(map(str, EPISODE_CHOICES))}, got {value}")
        if problem is None:
            episodes = value
        else:
            problems.append(problem._replace(message=f"{problem.message}; using episodes = {DEFAULT_EPISODES} "
                                                     "instead"))
    return {"level": level, "episodes": episodes}, problems


# ------------------------------------------------------------------------------------------ the run

def wrong_per_step(logits, episode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """logits [T, B, O] -> (wrong bits per step, mean over the batch [T]; answer steps [T] bool; wrong bits per
    episode [B]). The sum of the first is samviz.tasks.bit_errors_per_sequence on the same logits."""
    wrong = tasks_module.wrong_bits(logits, episode).sum(dim=-1).double()      # [T, B]
    return (wrong.mean(dim=1).numpy(), (episode.mask[:, 0] > 0).numpy(), wrong.sum(dim=0).numpy())


def sample(task: str, level: int, seed: int, episodes: int):
    """The episodes of a run: `episodes` of `task` at `level`, drawn from `seed`."""
    import torch
    return params.task_info(task).sample(int(episodes), level=int(level),
                                         generator=torch.Generator().manual_seed(int(seed)))


def run(model, episode, progress: Callable[[int, int], None] | None = None) -> LongResult:
    """Run `model` forward (no gradients, no trace) over `episode`, calling progress(steps done, total) about
    PROGRESS_UPDATES times. Whatever progress raises (Streamlit stopping a page the visitor left) ends the run.

    The model is copied first (a few MiB at most): the step counter is a hook on the copy's controller, so a model
    shared by other sessions is never touched.
    """
    import torch
    total = int(episode.inputs.shape[0])
    every = max(1, total // PROGRESS_UPDATES)
    clone = copy.deepcopy(model).eval()
    started = [0]

    def hook(module, args):
        done = started[0]                   # steps finished before this one
        started[0] += 1
        if progress is not None and done and done % every == 0:
            progress(done, total)

    handle = clone.controller.register_forward_pre_hook(hook)
    start = time.perf_counter()
    try:
        with torch.no_grad():
            logits, _ = clone.run(episode.inputs)
    finally:
        handle.remove()
    seconds = time.perf_counter() - start
    if progress is not None:
        progress(total, total)
    wrong, answer, per_episode = wrong_per_step(logits, episode)
    return LongResult(wrong, answer, per_episode, int(episode.targets.shape[-1]), int(episode.level), seconds)


# ------------------------------------------------------------------------------------------ what the view shows

class Summary(NamedTuple):
    steps: int
    answer_steps: int
    first_answer: int
    episodes: int
    per_sequence: float      # wrong bits per sequence: the sum of the bars
    chance: float            # guessing: half the scored bits per sequence (the chance line × answer steps)
    chance_per_step: float   # the chance line
    worst_step: int
    worst: float
    cumulative: np.ndarray   # [answer steps]: wrong bits per sequence up to each answer step (the line)


def summary(result: LongResult) -> Summary:
    steps = np.flatnonzero(result.answer)
    bars = result.wrong[steps]
    chance_per_step = result.bits_per_step / 2
    worst = int(np.argmax(bars)) if len(bars) else 0
    return Summary(len(result.wrong), len(steps), int(steps[0]) if len(steps) else 0, len(result.per_episode),
                   float(bars.sum()), chance_per_step * len(steps), chance_per_step,
                   int(steps[worst]) if len(steps) else 0, float(bars[worst]) if len(bars) else 0.0,
                   np.cumsum(bars))


def sentence(result: LongResult, kind: str, slots: int) -> str:
    """The numbers under the chart, each from the arrays the chart draws (summary)."""
    s = summary(result)
    over = "one episode" if s.episodes == 1 else f"the mean over {s.episodes} episodes"
    text = (f"At level {result.level} ({s.steps:,} steps, the answer at steps {s.first_answer:,}–{s.steps - 1:,}), "
            f"{kind.upper()} with {slots:,} slots got **{s.per_sequence:.2f} bits wrong per sequence** "
            f"({over}), against **{s.chance:.1f}** for guessing (half of the {s.answer_steps * result.bits_per_step:,} "
            f"scored bits: {s.answer_steps:,} answer steps × {result.bits_per_step} bits).")
    if s.per_sequence > 0:
        text += f" The worst answer step, {s.worst_step:,}, had {s.worst:.2f} wrong bits of {result.bits_per_step}."
    else:
        text += " Every answer bit was right."
    return text


VIEW_COLUMNS = 600        # at most this many bars: a longer episode is drawn in bins of steps (each its largest)


def view_payload(result: LongResult, kind: str, run_id: str) -> dict:
    """The long episode for the browser's episode view (samviz/app/episode_view): bars of the wrong bits at each
    answer step (mean over the episodes, out of the step's bits), the running total per sequence and guessing's,
    and a readout of the step under the clock, all drawn from `result.wrong` and `result.answer`, the arrays the
    sentence is computed from (summary). It opens at the last step, where the lines end at the sentence's totals."""
    s = summary(result)
    over = "" if s.episodes == 1 else f", mean over {s.episodes} episodes"
    steps = len(result.wrong)
    return {"version": 1, "view": "long", "episode": run_id, "clock": run_id, "steps": steps, "step": steps - 1,
            "url": None, "colours": {"mark": colours.MARK},
            "long": {"title": f"{kind.upper()}: wrong bits along the answer of a {steps:,}-step episode{over}",
                     "wrong": [float(v) for v in result.wrong], "answer": [bool(a) for a in result.answer],
                     "bits": result.bits_per_step, "episodes": s.episodes, "columns": VIEW_COLUMNS}}


def stored_curve_label(task: str) -> str | None:
    """The link text to the stored generalisation curve of `task` (Learning curves page), or None when none is
    stored (assets/generalisation/<task>.json)."""
    from samviz import generalisation
    try:
        rows = generalisation.stored_curves().get(task)
    except (OSError, ValueError):
        return None
    if not rows:
        return None
    levels = sorted({int(r["level"]) for r in rows})
    episodes = sorted({int(r.get("episodes", 0)) for r in rows} - {0})
    each = f", {episodes[0]} episodes per level" if len(episodes) == 1 else ""
    return (f"The averaged picture: the stored generalisation curve of {task.replace('_', ' ')} (bit errors per "
            f"sequence at levels {levels[0]}–{levels[-1]}{each}) on the Learning curves page")


# ------------------------------------------------------------------------------------------ long tasks
# Issue 26 item 6: the long-curriculum SAM (samviz.training.long_curriculum: trained from zero rows with faiss in
# the loop) on samviz.tasks.LongTask associative recall, from its trained level h up to LONG_TASK_FACTOR × h, with
# what samviz.long_evaluation.run_batch records along the episode (bit errors, CPU time per step, rows written,
# index recall against an exact top-K), per bin of steps, for the browser's strip of charts.

CURRICULUM_RUN = Path("experiments") / "long_curriculum" / "sam-faiss-65536"    # in a source checkout
LONG_TASK = "associative_recall"
LONG_TASK_FACTOR = 100                 # lengths up to this many times the trained level h
LONG_TASK_SLOTS = (1 << 16, 1 << 20)
LONG_TASK_EPISODES = (1, 2, 4)         # run as one batch
LONG_TASK_MAX_EPISODE_STEPS = 110_000  # episodes × steps of one run: 100 h at h = 256 is 102,408 steps
RUN_CPU_BUDGET_S = 600.0               # CPU seconds of one visitor's run (its thread; the recall checks included)
RUN_WALL_BUDGET_S = 1200.0             # ... and wall seconds, on a busy server
PROJECT_AFTER = 0.05                   # from this share of the steps on, a run projected past the budget stops
STRIP_BINS = 200                       # the strip's points: the episode in at most this many bins of equal steps
RECALL_SAMPLES = 50                    # recall checks per run at most (each one scans the whole memory exactly:
RECALL_EVERY = 100                     # ~0.2 s of CPU at 2^20), and at most one per this many steps


class CurriculumModel(NamedTuple):
    """A long-curriculum checkpoint as its meta.json describes it (samviz.long_evaluation.checkpoint_info)."""

    directory: Path
    kind: str
    trained: int             # h: the curriculum level of these weights
    ceiling: int | None
    update: int | None
    interim: bool            # not (yet) trained to its ceiling
    validation: float | None  # bit errors per query of its latest validation at h
    trained_slots: int
    config: dict


class RunStopped(Exception):
    """A long-task run stopped on its budget (the message says where and why)."""


def curriculum_directory() -> Path | None:
    """The long-curriculum SAM's run folder in this checkout (None in an installed package: it is not shipped)."""
    from samviz import paths
    return paths.PACKAGE_DIR.parent / CURRICULUM_RUN if paths.IN_CHECKOUT else None


def curriculum_model(directory: Path | None = None) -> tuple[CurriculumModel | None, str | None]:
    """(the long-curriculum checkpoint's description, None), or (None, why the long-task option is not offered).
    Reads meta.json only (bounded and checked by samviz.checkpoint); never raises for a missing or bad folder."""
    from samviz.checkpoint import read_meta
    directory = directory if directory is not None else curriculum_directory()
    if directory is None or not (Path(directory) / "meta.json").is_file():
        return None, (f"The long-task option needs the long-curriculum SAM's checkpoint ({CURRICULUM_RUN.as_posix()}"
                      "), which this installation does not have.")
    directory = Path(directory)
    try:
        meta = read_meta(directory)
        model = described(directory, meta)
    except (ValueError, OSError, KeyError, TypeError) as problem:       # CheckpointError is a ValueError
        return None, f"The long-curriculum checkpoint could not be read ({type(problem).__name__}: {problem})."
    if meta.get("task") != LONG_TASK or model.kind not in SPARSE_MODELS or model.trained < 1:
        return None, (f"The checkpoint in {CURRICULUM_RUN.as_posix()} is not a sparse model trained on "
                      f"{LONG_TASK.replace('_', ' ')} by curriculum.")
    return model, None


def described(directory: Path, meta: dict) -> CurriculumModel:
    """A long-curriculum checkpoint's meta.json (as read by samviz.checkpoint) -> its CurriculumModel."""
    from samviz import long_evaluation
    info = long_evaluation.checkpoint_info(directory, meta)
    config = meta["config"]
    validation = info["validation_bit_errors"]
    return CurriculumModel(directory, str(info["kind"]), int(info["curriculum_level"]),
                           info["ceiling"] if isinstance(info["ceiling"], int) else None,
                           info["checkpoint_step"] if isinstance(info["checkpoint_step"], int) else None,
                           bool(info["interim"]), float(validation) if isinstance(validation, int | float) else None,
                           int(config["memory_slots"]), dict(config))


def trained_label(model: CurriculumModel) -> str:
    """"SAM trained to 256 items so far (long curriculum, update 18,529; its ceiling 1,024 items)": the level of
    these weights, from their own meta.json."""
    so_far = " so far" if model.interim else ""
    update = f"update {model.update:,}" if model.update is not None else "its latest save"
    ceiling = f"; its ceiling {model.ceiling:,} items" if model.ceiling is not None else ""
    return f"{model.kind.upper()} trained to {model.trained:,} items{so_far} (long curriculum, {update}{ceiling})"


def long_task_steps(items: int) -> int:
    """Steps of one long associative-recall episode of `items` items (the task's own layout)."""
    return params.task_info(LONG_TASK).steps(int(items))


def long_task_range(model: CurriculumModel) -> tuple[int, int]:
    """(lowest, highest) items of a run: the trained level h to LONG_TASK_FACTOR × h, within the longest LongTask
    episode and LONG_TASK_MAX_EPISODE_STEPS steps."""
    task = params.task_info(LONG_TASK)
    fits = (LONG_TASK_MAX_EPISODE_STEPS - long_task_steps(0)) // (long_task_steps(1) - long_task_steps(0))
    return model.trained, max(model.trained, min(LONG_TASK_FACTOR * model.trained, task.longest_level, fits))


def long_task_bytes(model: CurriculumModel, slots: int, episodes: int, items: int) -> int:
    """The run's memory from its settings alone (samviz.long_evaluation.estimate_bytes: buffer, tables, the recall
    check's exact index, the episode and its logits)."""
    from samviz.long_evaluation import estimate_bytes
    c = model.config
    return estimate_bytes(model.kind, int(slots), int(c["word_size"]), int(c["heads"]), int(episodes),
                          long_task_steps(items), int(c["input_size"]), int(c["output_size"]))


def check_long_task(model: CurriculumModel, items, slots, episodes, memory_limit: int) -> params.Problem | None:
    """None when a long-task run of these settings may start, else the Problem to show. Nothing is allocated:
    the length, slots and episodes are checked, then episodes × steps against LONG_TASK_MAX_EPISODE_STEPS and the
    memory estimate against `memory_limit` (the app's LARGE_RUN_BYTES)."""
    low, high = long_task_range(model)
    problem = (params.whole_number_problem(items, low, high, f"Items to recall (h = {model.trained:,} to "
                                                             f"{high // model.trained}× h on this server)")
               or params.choice_problem(slots, LONG_TASK_SLOTS, "Memory slots", params.slots_label)
               or params.choice_problem(episodes, LONG_TASK_EPISODES, "Episodes"))
    if problem is not None:
        return problem
    steps = long_task_steps(items)
    if episodes * steps > LONG_TASK_MAX_EPISODE_STEPS:
        return params.Problem(f"{episodes} episodes of {steps:,} steps is {episodes * steps:,} episode-steps, more "
                              f"than the {LONG_TASK_MAX_EPISODE_STEPS:,} one run may take on this server: choose "
                              "fewer episodes or fewer items")
    need = long_task_bytes(model, slots, episodes, items)
    if need > memory_limit:
        return params.Problem(f"{episodes} episode{'s' if episodes != 1 else ''} at {slots:,} slots would take about "
                              f"{need / 2**20:,.0f} MiB, more than the {memory_limit / 2**20:,.0f} MiB one long run "
                              "may take on this server: choose fewer episodes or fewer slots")
    return None


class LongTaskResult(NamedTuple):
    """One long-task run: what samviz.long_evaluation.run_batch recorded, and what it ran."""

    model: CurriculumModel   # the weights that ran (read at the run: a training run may have saved newer ones)
    items: int
    steps: int
    slots: int
    index: str
    episodes: int
    seed: int
    parts: list              # run_batch's parts: steps [start, end), cpu_seconds, rows_written, recall sums
    answer_steps: list       # the scored steps
    answer_wrong: list       # [answer step][episode]: wrong bits
    bits: int                # output bits per answer step
    chance: float            # guessing's wrong bits per query (samviz.long_evaluation.chance_per_sequence)
    recall_samples: int      # recall checks asked for
    seconds: float           # wall time of the run, set-up and recall checks included
    cpu_seconds: float       # this thread's CPU time of the run, set-up and recall checks included


def recall_samples(steps: int) -> int:
    """Recall checks asked of run_batch for an episode of `steps` steps (it checks every ⌈steps / this⌉ steps)."""
    return max(1, min(RECALL_SAMPLES, steps // RECALL_EVERY))


@contextlib.contextmanager
def one_thread():
    """torch (and faiss) on one thread for the run, as samviz.long_evaluation runs: the step's operations are tiny,
    and on a busy server an intra-op pool's threads wait for each other (docs/MEASUREMENT_HISTORY.md); the run's
    thread time is then its CPU time. The setting is the process's: another session's episode recorded meanwhile
    runs on one thread too."""
    import torch
    before = torch.get_num_threads()
    faiss = None
    try:
        import faiss
        omp = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if faiss is not None:
            faiss.omp_set_num_threads(omp)


def run_long_task(model_info: CurriculumModel, items: int, slots: int, episodes: int, seed: int,
                  progress: Callable[[int, int, float], None] | None = None,
                  cpu_budget: float = RUN_CPU_BUDGET_S, wall_budget: float = RUN_WALL_BUDGET_S,
                  check_exact: bool = False, index: str | None = None) -> LongTaskResult:
    """Run the long-curriculum checkpoint at `slots` over `episodes` long associative-recall episodes of `items`
    items (one batch, drawn from `seed`), forward only, through samviz.long_evaluation.run_batch in STRIP_BINS
    parts. progress(steps done, total, CPU seconds so far) is called at each part; whatever it raises (Streamlit
    stopping a page the visitor left) ends the run. RunStopped when the run's CPU time passes cpu_budget, its wall
    time wall_budget, or (from PROJECT_AFTER of its steps on) its projected CPU time passes cpu_budget.
    `index` and `check_exact` are for tests (an exact index, checked against the exact top-K too).

    Validate with check_long_task first. The weights are read at the run (samviz.checkpoint: never pickle, a torn
    read retried). A large memory's store is not kept after the run (samviz.memory.store's pool)."""
    import gc

    import torch

    from samviz import long_evaluation
    from samviz.checkpoint import load_checkpoint
    from samviz.memory import store
    started, started_cpu = time.perf_counter(), time.thread_time()
    overrides = {"memory_slots": int(slots), **({"index": index} if index else {})}
    model = load_checkpoint(model_info.directory, overrides)
    ran = described(model_info.directory, model.meta)          # the weights read now, which the run scores
    index_kind = model.config.index
    task = tasks_module.LongTask(tasks_module.get(LONG_TASK), tasks_module.get(LONG_TASK).longest_level)
    episode = task.sample(int(episodes), int(items), torch.Generator().manual_seed(int(seed)))
    steps = int(episode.inputs.shape[0])
    bins = min(STRIP_BINS, steps)

    def tick(done: int) -> None:
        cpu, wall = time.thread_time() - started_cpu, time.perf_counter() - started
        if progress is not None:
            progress(done, steps, cpu)
        projected = cpu / done * steps
        if cpu > cpu_budget or wall > wall_budget or (done >= PROJECT_AFTER * steps and projected > cpu_budget):
            why = (f"projected {projected:,.0f} s of CPU" if cpu <= cpu_budget and wall <= wall_budget
                   else f"{cpu:,.0f} s of CPU, {wall:,.0f} s on the clock")
            raise RunStopped(f"stopped at step {done:,} of {steps:,}: {why}, more than this server gives one run "
                             f"({cpu_budget:,.0f} s of CPU, {wall_budget:,.0f} s on the clock); choose fewer items, "
                             "episodes or slots")

    stopped = None
    try:
        with one_thread():
            out = long_evaluation.run_batch(model, episode, recall_samples(steps), tick,
                                            {"checks": 0.0, "check_cpu": 0.0}, parts=bins, check_exact=check_exact)
    except RunStopped as error:
        stopped = str(error)
    finally:
        del model
        gc.collect()             # the episode's memory goes back to the store pool ...
        store.clear_pool()       # ... which keeps nothing of a long run (hundreds of MiB at 2^20) ...
        gc.collect()             # ... and a dropped store's own reference cycles go now, not at some later run
    if stopped is not None:
        raise RunStopped(stopped)
    if progress is not None:
        progress(steps, steps, time.thread_time() - started_cpu)
    return LongTaskResult(ran, int(items), steps, int(slots), index_kind, int(episodes), int(seed), out["parts"],
                          out["answer_steps"], out["answer_wrong"], int(episode.targets.shape[-1]),
                          long_evaluation.chance_per_sequence(task, int(items)), recall_samples(steps),
                          time.perf_counter() - started, time.thread_time() - started_cpu)


# ------------------------------------------------------------------------------------------ the strip

DIGITS = 6      # decimals of the strip's numbers (the sentence is computed from the rounded ones the view draws)


def _round(value) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def strip_bins(result: LongTaskResult) -> dict:
    """Per bin of steps (run_batch's parts): the numbers the strip draws, and the sentence reads.

    start, end   the bin's steps [start, end)
    wrong        wrong bits per answer step in the bin: mean over its answer steps and the episodes (None: none)
    answered     answer steps in the bin
    cpu_ms       CPU ms per step of the batch (the run's thread; recall checks left out)
    rows         distinct rows written by the bin's end, mean over the episodes; filled = 100 × rows / N
    recall       the index's reads against the exact top-K: mean over the bin's samples (None: not sampled)
    samples      recall checks in the bin
    """
    answer = {int(t): sum(w) / len(w) for t, w in zip(result.answer_steps, result.answer_wrong, strict=True)}
    out = {key: [] for key in ("start", "end", "wrong", "answered", "cpu_ms", "rows", "filled", "recall", "samples")}
    for part in result.parts:
        start, end = (int(v) for v in part["steps"])
        scored = [w for t, w in answer.items() if start <= t < end]
        rows = part["rows_written"]
        count = int(part["recall_count"])
        out["start"].append(start)
        out["end"].append(end)
        out["wrong"].append(_round(sum(scored) / len(scored)) if scored else None)
        out["answered"].append(len(scored))
        out["cpu_ms"].append(_round(1e3 * part["cpu_seconds"] / max(1, end - start)))
        out["rows"].append(_round(rows))
        out["filled"].append(_round(100 * rows / result.slots) if rows is not None else None)
        out["recall"].append(_round(part["recall_sum"] / count) if count else None)
        out["samples"].append(count)
    return out


class StripSummary(NamedTuple):
    per_query: float         # wrong bits per query: Σ over bins of wrong × answered
    chance: float            # guessing's: answered × bits / 2
    cpu_ms: float            # CPU ms per step over the episode: Σ cpu_ms × bin steps / steps
    cpu_first: float
    cpu_last: float
    rows: float | None       # by the end
    filled: float | None
    recall: float | None     # over every sample: Σ recall × samples / Σ samples
    recall_lowest: float | None
    samples: int


def strip_summary(bins: dict, bits: int) -> StripSummary:
    """The strip's totals, from the bins it draws (episode.js's LongTaskView computes the same)."""
    per_query = sum(w * n for w, n in zip(bins["wrong"], bins["answered"], strict=True) if w is not None)
    answered = sum(bins["answered"])
    spans = [e - s for s, e in zip(bins["start"], bins["end"], strict=True)]
    cpu = sum(c * n for c, n in zip(bins["cpu_ms"], spans, strict=True)) / max(1, sum(spans))
    samples = sum(bins["samples"])
    sampled = [(r, n) for r, n in zip(bins["recall"], bins["samples"], strict=True) if r is not None]
    return StripSummary(per_query, answered * bits / 2, cpu, bins["cpu_ms"][0], bins["cpu_ms"][-1],
                        bins["rows"][-1], bins["filled"][-1],
                        sum(r * n for r, n in sampled) / samples if samples else None,
                        min(r for r, _ in sampled) if sampled else None, samples)


def long_task_payload(result: LongTaskResult, run_id: str) -> dict:
    """The long-task run for the browser's episode view: a strip of charts along the episode, on the view's clock
    (one step per tick; the charts in bins of steps), opening at the last step."""
    from samviz.app.episode_view import payload
    bins = strip_bins(result)
    over = "" if result.episodes == 1 else f", mean over {result.episodes} episodes"
    return {"version": payload.VERSION, "view": "long_task", "episode": run_id, "clock": run_id,
            "steps": result.steps, "step": result.steps - 1, "url": None, "colours": payload.roles(),
            "strip": {"title": f"{trained_label(result.model)}: {result.items:,} items, {result.steps:,} steps, "
                               f"{result.slots:,} slots{over}",
                      "slots": result.slots, "bits": result.bits, "episodes": result.episodes, **bins}}


def long_task_sentence(result: LongTaskResult, strip: dict) -> str:
    """The sentence beside the strip: every number is computed from the bins the strip draws (strip_summary)."""
    s = strip_summary(strip, strip["bits"])
    factor = result.items / result.model.trained
    times = f"{factor:g}× its trained length" if factor != 1 else "its trained length"
    over = "one episode" if result.episodes == 1 else f"the mean over {result.episodes} episodes"
    text = (f"**{trained_label(result.model)}**, on associative recall at **{result.items:,} items** ({times}; "
            f"{result.steps:,} steps, {over}) with {result.slots:,} slots and the {result.index} index: "
            f"**{s.per_query:.2f} wrong bits per query**, against {s.chance:.1f} for guessing. "
            f"CPU time per step: {s.cpu_ms:.2f} ms over the episode (first bin {s.cpu_first:.2f}, last bin "
            f"{s.cpu_last:.2f}).")
    if s.rows is not None:
        text += (f" Rows written by the end: {s.rows:,.0f} of {result.slots:,} (memory filled "
                 f"{s.filled:.2f}%).")
    if s.recall is not None:
        text += (f" Index recall against the exact top-K, sampled {s.samples} times: {s.recall:.4f} over all "
                 f"samples, {s.recall_lowest:.4f} in the lowest bin.")
    return text


# ------------------------------------------------------------------------------------------ the long task's link

TASK_LINK_KEYS = ("longtask", "lslots", "lepisodes")   # ?...&longtask=2560&lslots=1048576&lepisodes=1


def task_link(items: int, slots: int, episodes: int) -> dict[str, str]:
    """The long-task option's part of the player's link."""
    return {"longtask": str(int(items)), "lslots": str(int(slots)), "lepisodes": str(int(episodes))}


def read_task_link(query, model: CurriculumModel | None) -> tuple[dict | None, list[params.Problem]]:
    """A player link's long-task keys -> ({"items", "slots", "episodes"} or None when the option stays off,
    problems). A refused length turns the option off; refused slots or episodes fall back to their defaults. Each
    problem names the parameter, the refused value and what is done instead. The run itself is checked again
    (check_long_task) before it starts."""
    if "longtask" not in query:
        return None, []
    if model is None:
        return None, [params.Problem("longtask in the link needs the long-curriculum SAM's checkpoint, which this "
                                     "installation does not have; the long-task option stays off")]
    low, high = long_task_range(model)
    items, problem = params.parse_int(query["longtask"], low, high, "longtask (items to recall)")
    if problem is not None:
        return None, [problem._replace(message=problem.message + "; the long-task option stays off")]
    chosen, problems = {"items": items, "slots": LONG_TASK_SLOTS[-1], "episodes": LONG_TASK_EPISODES[0]}, []
    for key, name, choices in (("lslots", "slots", LONG_TASK_SLOTS), ("lepisodes", "episodes", LONG_TASK_EPISODES)):
        if key not in query:
            continue
        value, problem = params.parse_int(query[key], min(choices), max(choices), key)
        if problem is None and value not in choices:
            problem = params.Problem(f"{key} must be one of {', '.join(map(str, choices))}, got {value}")
        if problem is None:
            chosen[name] = value
        else:
            problems.append(problem._replace(message=f"{problem.message}; using {key} = {chosen[name]} instead"))
    return chosen, problems
