"""What a visitor can set, validated: query parameters (the shareable URL) and typed episode bits.

Pure functions, no Streamlit: bad input never raises. It comes back as a `Problem` that a page shows as a
message, and the value falls back to its default. A problem's `message` is our own text only; what the
visitor typed is kept apart in `echoed`, so a page can show it as plain text (st.text) and never as
markdown: a link such as `?model=[LOG IN HERE](http://…)` must not become a clickable link in our warning.

Model kinds, their slot limits and their sparse/dense split come from samviz/kinds.py.
"""
from __future__ import annotations

from collections.abc import Mapping
import string
from typing import NamedTuple

from samviz.kinds import DENSE_MODELS, INDEXES, MODELS, SPARSE_MODELS, spec
import samviz.tasks

TASKS = tuple(samviz.tasks.NAMES)

DEFAULT_MODEL = "ntm"         # the landing page: the classic dense memory first
DEFAULT_TASK = "copy"
DEFAULT_LEVELS = {"copy": 10, "associative_recall": 5, "priority_sort": 20}
MAX_SEED = 2**31 - 1
MAX_STEP = 10_000
GENERALISATION = 2            # visitors may ask for levels up to 2 × the task's training maximum
MAX_TYPED_STEPS = 60
MAX_TYPED_CHARS = 10_000
ECHO_CHARS = 40               # what a visitor typed is echoed back cut to this many characters
BAD_CHARACTERS_NAMED = 3      # a typed row names at most this many bad characters
SLOT_CHOICES = ("default", 64, 128, 256, 512, 1024, 2048, 4096)
MAX_APP_SLOTS = max(spec(kind).app_slot_limit for kind in MODELS)
DEFAULT_SLOTS = 128           # memory slots of an untrained model when the visitor keeps "default"

# which model-kind choices each model parameter of a link accepts
MODEL_KEYS = {"model": MODELS, "dense": DENSE_MODELS, "sparse": SPARSE_MODELS}


class Problem(NamedTuple):
    """A refused input: `message` is our text (safe as markdown); `echoed` is the visitor's own text, if any,
    to be shown only as plain text."""

    message: str
    echoed: str | None = None


def echo(text) -> str:
    """A visitor's text as we echo it: repr (so newlines and control characters are visible), cut short."""
    text = str(text)
    return repr(text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…")


def character(c: str) -> str:
    """One typed character, quoted, safe inside a markdown message: ASCII punctuation is backslash-escaped
    (CommonMark shows it literally), so '*', '_', '`', '$' or '[' cannot pair up with another into markup."""
    return f"'\\{c}'" if c in string.punctuation else repr(c)


# ------------------------------------------------------------------------------------------ tasks and levels

def task_info(task: str):
    return samviz.tasks.get(task)


def level_range(task: str) -> tuple[int, int]:
    t = task_info(task)
    return t.min_level, GENERALISATION * t.max_level


def default_level(task: str) -> int:
    low, high = level_range(task)
    return max(low, min(high, DEFAULT_LEVELS.get(task, low)))


def parse_int(text, low: int, high: int, name: str) -> tuple[int | None, Problem | None]:
    """-> (value, None) or (None, problem)."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None, Problem(f"{name} must be a whole number", echo(text))
    if not low <= value <= high:
        return None, Problem(f"{name} must be between {low} and {high}, got {value}")
    return value, None


# ------------------------------------------------------------------------------------------ memory slots

def slot_limit(*kinds: str) -> int:
    """The largest memory the app offers for all of these kinds together (the smallest limit wins)."""
    return min([spec(kind).app_slot_limit for kind in kinds] or [MAX_APP_SLOTS])


def slot_choices(*kinds: str) -> tuple:
    """The memory sizes a visitor may pick for these models."""
    limit = slot_limit(*kinds)
    return tuple(c for c in SLOT_CHOICES if c == "default" or c <= limit)


def slot_limit_message(slots: int, *kinds: str) -> str:
    """Why `slots` is refused for these kinds (names the kind whose limit is the smallest)."""
    limit = slot_limit(*kinds)
    kind = min(kinds, key=lambda k: spec(k).app_slot_limit)
    return (f"{kind.upper()} runs with at most {limit} memory slots here, not {slots} (recording every step "
            f"of a bigger {kind.upper()} memory is too slow for this page)")


# ------------------------------------------------------------------------------------------ query parameters

def validate_params(params: Mapping[str, str], allowed_models=MODELS) -> tuple[dict, list[Problem]]:
    """Query params -> (valid values, problems). Unknown keys are ignored; bad values are reported and dropped.

    Keys: model, dense, sparse (a model kind each), task, level, seed, step, index, slots.
    A link that names a task but no (valid) level gets that task's default level. Slots beyond what a named
    model allows in the app (its app_slot_limit) are refused with the reason.
    """
    values: dict = {}
    problems: list[Problem] = []
    choices_of = {**MODEL_KEYS, "model": tuple(allowed_models), "task": TASKS, "index": INDEXES}
    for key, choices in choices_of.items():
        if key in params:
            value = str(params[key])
            if value in choices:
                values[key] = value
            else:
                problems.append(Problem(f"{key} in the link must be one of {', '.join(choices)}", echo(value)))
    task = values.get("task", DEFAULT_TASK)
    if "level" in params:
        low, high = level_range(task)
        value, problem = parse_int(params["level"], low, high, f"level (for {task})")
        if problem:
            problems.append(problem)
        else:
            values["level"] = value
    if "task" in values and "level" not in values:
        values["level"] = default_level(task)
    for key, low, high in (("seed", 0, MAX_SEED), ("step", 0, MAX_STEP)):
        if key in params:
            value, problem = parse_int(params[key], low, high, key)
            if problem:
                problems.append(problem)
            else:
                values[key] = value
    if "slots" in params:
        value, problem = _slots(params["slots"], [values[k] for k in MODEL_KEYS if k in values])
        if problem:
            problems.append(problem)
        else:
            values["slots"] = value
    return values, problems


def _slots(text, kinds: list[str]) -> tuple[object, Problem | None]:
    text = str(text)
    if text == "default":
        return "default", None
    value, problem = parse_int(text, 2, MAX_APP_SLOTS, "slots")
    if problem:
        return None, problem
    if value not in SLOT_CHOICES:
        return None, Problem(f"slots must be one of {', '.join(map(str, SLOT_CHOICES))}, got {value}")
    if kinds and value > slot_limit(*kinds):
        return None, Problem(slot_limit_message(value, *kinds))
    return value, None


# ------------------------------------------------------------------------------------------ typed bits

def _is_compact(token: str) -> bool:
    """One token of several characters with no decimal point, sign or exponent: one character per channel."""
    return len(token) > 1 and not any(c in token for c in ".+-eE")


def _compact_row(token: str, number: int, size: int, task: str) -> tuple[list[float] | None, Problem | None]:
    bad = [(position, c) for position, c in enumerate(token, start=1) if c not in "01"]
    if bad:
        named = ", ".join(f"character {position} is {character(c)}" for position, c in bad[:BAD_CHARACTERS_NAMED])
        more = f" (and {len(bad) - BAD_CHARACTERS_NAMED} more)" if len(bad) > BAD_CHARACTERS_NAMED else ""
        return None, Problem(f"row {number}: bits must be 0 or 1, but {named}{more}", echo(token))
    if len(token) != size:
        return None, Problem(f"row {number} has {len(token)} bits; {task} needs {size} per row "
                             f"(e.g. {'0' * size})", echo(token))
    return [float(c) for c in token], None


def parse_bits(text: str, task: str) -> tuple[list[list[float]] | None, Problem | None]:
    """A visitor's typed episode -> (rows [T][input_size], None) or (None, the problem).

    One row per time step. A row is either input_size characters of 0/1 ("100110101") or input_size
    numbers separated by spaces or commas. Values must be 0 or 1, except priority sort's priority
    channel, which takes a number in [-1, 1]. At most MAX_TYPED_STEPS rows. A problem names the row and
    the position of the first bad characters.
    """
    t = task_info(task)
    size = t.input_size
    priority = getattr(t, "priority_channel", None)
    if text is None or not str(text).strip():
        return None, Problem("the input is empty: type one row of bits per time step")
    if len(text) > MAX_TYPED_CHARS:
        return None, Problem(f"the input is too long ({len(text)} characters; at most {MAX_TYPED_CHARS})")
    lines = [line.strip() for line in str(text).strip().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > MAX_TYPED_STEPS:
        return None, Problem(f"{len(lines)} rows typed; at most {MAX_TYPED_STEPS} time steps are allowed")
    rows = []
    for number, line in enumerate(lines, start=1):
        tokens = line.replace(",", " ").split()
        if len(tokens) == 1 and _is_compact(tokens[0]):
            row, problem = _compact_row(tokens[0], number, size, task)
            if problem:
                return None, problem
            rows.append(row)
            continue
        if len(tokens) != size:
            return None, Problem(f"row {number} has {len(tokens)} value{'s' if len(tokens) != 1 else ''}; {task} "
                                 f"needs {size} per row (e.g. {'0' * size})", echo(line))
        row = []
        for channel, token in enumerate(tokens):
            try:
                value = float(token)
            except ValueError:
                return None, Problem(f"row {number}, channel {channel}: not a number", echo(token))
            if channel == priority:
                if not -1.0 <= value <= 1.0:      # also refuses nan
                    return None, Problem(f"row {number}, channel {channel} (priority) must be in [-1, 1]",
                                         echo(token))
            elif value not in (0.0, 1.0):
                return None, Problem(f"row {number}, channel {channel}: bits must be 0 or 1", echo(token))
            row.append(value)
        rows.append(row)
    return rows, None


def format_bits(rows, task: str) -> str:
    """Rows [T][input_size] -> the text parse_bits reads (compact 0/1 rows when every value is a bit)."""
    lines = []
    for row in rows:
        if all(float(v) in (0.0, 1.0) for v in row):
            lines.append("".join(str(int(float(v))) for v in row))
        else:
            lines.append(" ".join(f"{float(v):g}" for v in row))
    return "\n".join(lines)
