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
"""
from __future__ import annotations

from collections.abc import Callable
import copy
import functools
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
