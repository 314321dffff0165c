"""What a visitor can set, validated: query parameters (the shareable URL) and typed episode bits.

Pure functions, no Streamlit: bad input never raises. It comes back as a `Problem` that a page shows as a
message, and the value falls back to its default. A problem's `message` is our own text only; what the
visitor typed is kept apart in `echoed`, so a page can show it as plain text (st.text) and never as
markdown: a link such as `?model=[LOG IN HERE](http://…)` must not become a clickable link in our warning.

Model kinds, their slot limits and their sparse/dense split come from samviz/kinds.py.

Each page's settings go to and from its link here too (issue 12 item 6: the state is in the URL on every page):
`player_query` / `read_player`, `compare_query` / `read_compare`, `lab_query` / `read_lab`. A `read_*` gives the
page's complete settings (the link's valid values over the page's defaults) and a problem for every value it
did not use, naming the parameter and what was used instead. The settings the pages share (model, task, level,
seed, slots, index) are carried from page to page by `*_from_shared` and `shared_from_*`.
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
# 2^14 … 2^20 are offered only to the sparse kinds (their app_slot_limit); slot_choices takes the smallest limit
# of the kinds shown, so a page showing a dense kind beside a sparse one stops at the dense kind's limit
LARGE_SLOT_CHOICES = (1 << 14, 1 << 16, 1 << 18, 1 << 20)
SLOT_CHOICES = ("default", 64, 128, 256, 512, 1024, 2048, 4096, *LARGE_SLOT_CHOICES)
MAX_APP_SLOTS = max(spec(kind).app_slot_limit for kind in MODELS)
DEFAULT_SLOTS = 128           # memory slots of an untrained model when the visitor keeps "default"

# which model-kind choices each model parameter of a link accepts
MODEL_KEYS = {"model": MODELS, "dense": DENSE_MODELS, "sparse": SPARSE_MODELS}


def sparse_partner(dense: str) -> str:
    """The sparse kind to set beside a dense one: the kind whose dense twin it is (DAM -> SAM, DNC -> SDNC).
    A dense kind that is no sparse kind's twin (the NTM) gets the first sparse kind, SAM: the paper's sparse
    successor of the NTM."""
    return next((kind for kind in SPARSE_MODELS if spec(kind).dense_twin == dense), SPARSE_MODELS[0])


# what a refused link value falls back to when the page gives no default of its own
GENERIC_DEFAULTS = {"model": DEFAULT_MODEL, "dense": DEFAULT_MODEL, "sparse": sparse_partner(DEFAULT_MODEL),
                    "task": DEFAULT_TASK, "level": DEFAULT_LEVELS[DEFAULT_TASK], "seed": 0, "step": 0,
                    "index": INDEXES[0], "slots": "default"}


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


def whole_number_problem(value, low: int, high: int, name: str) -> Problem | None:
    """None when `value` is a whole number (an int, not a bool) in [low, high], else the Problem naming `name`, the
    range and (echoed) the value: a widget's or a session's value, checked before anything is allocated."""
    if isinstance(value, bool) or not isinstance(value, int):
        return Problem(f"{name} must be a whole number from {low:,} to {high:,}", echo(value))
    if not low <= value <= high:
        return Problem(f"{name} must be from {low:,} to {high:,}, not {value:,}")
    return None


def choice_problem(value, choices: tuple, name: str, label=str) -> Problem | None:
    """None when `value` is one of `choices` (a bool is none of them), else the Problem listing them as `label`
    writes them."""
    if isinstance(value, bool) or value not in choices:
        return Problem(f"{name} must be one of {', '.join(label(c) for c in choices)}", echo(value))
    return None


# ------------------------------------------------------------------------------------------ memory slots

def slot_limit(*kinds: str) -> int:
    """The largest memory the app offers for all of these kinds together (the smallest limit wins)."""
    return min([spec(kind).app_slot_limit for kind in kinds] or [MAX_APP_SLOTS])


def slot_choices(*kinds: str) -> tuple:
    """The memory sizes a visitor may pick for these models."""
    limit = slot_limit(*kinds)
    return tuple(c for c in SLOT_CHOICES if c == "default" or c <= limit)


def slots_label(value) -> str:
    """How a slot choice reads in a select box: 1048576 -> "1,048,576 (2^20)"; 'default' and sizes up to 4096 as
    they are."""
    if isinstance(value, int) and value in LARGE_SLOT_CHOICES:
        return f"{value:,} (2^{value.bit_length() - 1})"
    return str(value)


def slot_limit_message(slots: int, *kinds: str) -> str:
    """Why `slots` is refused for these kinds (names the kind whose limit is the smallest)."""
    limit = slot_limit(*kinds)
    kind = min(kinds, key=lambda k: spec(k).app_slot_limit)
    return (f"{kind.upper()} runs with at most {limit} memory slots here, not {slots} (recording every step "
            f"of a bigger {kind.upper()} memory is too slow for this page)")


# ------------------------------------------------------------------------------------------ query parameters

FALLBACK_WORDS = {"slots": "default (the size the model was trained with)"}


def fallback_text(key: str, value) -> str:
    """How a problem names the value used instead of a refused one (as the link would write it)."""
    if key in FALLBACK_WORDS and value in ("default", "", None):
        return FALLBACK_WORDS[key]
    if isinstance(value, tuple):
        return "-".join(map(str, value))             # a range, as the Scaling lab's link writes it
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _instead(problem: Problem, key: str, value) -> Problem:
    """The problem, its message ending with what was used instead (our text: the fallback is never the visitor's)."""
    used = "showing a random episode" if key == "bits" else f"using {key} = {fallback_text(key, value)}"
    return problem._replace(message=f"{problem.message}; {used} instead")


def repeated_keys(query: Mapping[str, list]) -> list[Problem]:
    """A problem for each key a link gives more than once (`?model=sam&model=ntm`), saying that only the last value
    is read (Streamlit's query_params keeps the last) and echoing the values given. query: key -> every value."""
    problems = []
    for key, values in query.items():
        if len(values) > 1:
            # our message names the key only when it is a plain lowercase word (every key of ours is): any other
            # text is the visitor's, and is echoed as plain text only
            name = key if key.isascii() and key.isalpha() and key.islower() and len(key) <= 20 else "a setting"
            problems.append(Problem(f"{name} is given {len(values)} times in the link; only the last one is read",
                                    echo(" & ".join(f"{key}={value}" for value in values))))
    return problems


def validate_params(params: Mapping[str, str], allowed_models=MODELS, defaults: Mapping | None = None,
                    ) -> tuple[dict, list[Problem]]:
    """Query params -> (valid values, problems). Unknown keys are ignored; bad values are reported and dropped.

    Keys: model, dense, sparse (a model kind each), task, level, seed, step, index, slots.
    A link that names a task but no (valid) level gets that task's default level. Slots beyond what a named
    model allows in the app (its app_slot_limit) are refused with the reason. Every problem names the
    parameter and the value used instead: `defaults` (a page's defaults) where it has the key, else the
    app-wide default.
    """
    page = dict(defaults or {})
    defaults = {**GENERIC_DEFAULTS, **page}
    values: dict = {}
    problems: list[Problem] = []
    choices_of = {**MODEL_KEYS, "model": tuple(allowed_models), "task": TASKS, "index": INDEXES}
    for key, choices in choices_of.items():
        if key in params:
            value = str(params[key])
            if value in choices:
                values[key] = value
            else:
                problems.append(_instead(Problem(f"{key} in the link must be one of {', '.join(choices)}",
                                                 echo(value)), key, defaults[key]))
    task = values.get("task", defaults["task"])
    if "level" in params:
        low, high = level_range(task)
        value, problem = parse_int(params["level"], low, high, f"level (for {task})")
        if problem:
            fallback = defaults["level"] if task == defaults["task"] else default_level(task)
            problems.append(_instead(problem, "level", fallback))
        else:
            values["level"] = value
    if "task" in values and "level" not in values:
        values["level"] = default_level(task)
    for key, low, high in (("seed", 0, MAX_SEED), ("step", 0, MAX_STEP)):
        if key in params:
            value, problem = parse_int(params[key], low, high, key)
            if problem:
                problems.append(_instead(problem, key, defaults[key]))
            else:
                values[key] = value
    if "slots" in params:
        # the models this link will show: its own, else the page's defaults for the page's model keys
        kinds = [values.get(k, page.get(k)) for k in MODEL_KEYS if k in values or k in page]
        value, problem = _slots(params["slots"], kinds)
        if problem:
            problems.append(_instead(problem, "slots", defaults["slots"]))
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


def canonical_bits(text: str, task: str) -> str:
    """Typed bits as the player writes them into its link ('' when they do not parse)."""
    rows, problem = parse_bits(text, task)
    return "" if problem else format_bits(rows, task)


# ------------------------------------------------------------------------------------------ a page's link
# settings (a dict of typed values) -> the page's query dict -> settings: read_x(x_query(s)) == (s, []).

SHARED_KEYS = ("model", "task", "level", "seed", "slots", "index")   # carried from page to page in a session
PLAYER_KEYS = ("model", "task", "level", "seed", "step", "index", "slots", "bits")
COMPARE_KEYS = ("dense", "sparse", "task", "level", "seed", "index", "slots", "step")


def player_defaults() -> dict:
    return {"model": DEFAULT_MODEL, "task": DEFAULT_TASK, "level": default_level(DEFAULT_TASK), "seed": 0,
            "step": 0, "index": INDEXES[0], "slots": "default", "bits": ""}


def compare_defaults() -> dict:
    return {"dense": DEFAULT_MODEL, "sparse": sparse_partner(DEFAULT_MODEL), "task": DEFAULT_TASK,
            "level": default_level(DEFAULT_TASK), "seed": 0, "index": INDEXES[0], "slots": "default", "step": 0}


def player_query(settings: Mapping) -> dict[str, str]:
    """The player's settings as its link: the index only for a sparse model (a dense one has none), the typed
    bits (rows separated by newlines) only when the episode is typed."""
    query = {k: str(settings[k]) for k in ("model", "task", "level", "seed", "step", "slots")}
    if spec(settings["model"]).sparse:
        query["index"] = str(settings["index"])
    if settings.get("bits"):
        query["bits"] = str(settings["bits"])
    return query


def read_player(query: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """The player's link -> (its complete settings, problems). A dense model's index is always 'exact' (a link
    that gives it another is told so)."""
    defaults = player_defaults()
    values, problems = validate_params(query, MODELS, {k: v for k, v in defaults.items() if k != "bits"})
    settings = {**defaults, **{k: v for k, v in values.items() if k in defaults}}
    if not spec(settings["model"]).sparse:
        if settings["index"] != INDEXES[0]:
            sparse = " and ".join(kind.upper() for kind in SPARSE_MODELS)
            problems.append(_instead(Problem(f"index in the link is for a sparse model ({sparse}); "
                                             f"{settings['model'].upper()} addresses every slot and has none"),
                                     "index", INDEXES[0]))
        settings["index"] = INDEXES[0]
    if "bits" in query:
        text = str(query["bits"])
        rows, problem = (None, Problem(f"too long ({len(text)} characters; at most "
                                       f"{MAX_TYPED_CHARS})")) if len(text) > MAX_TYPED_CHARS else \
            parse_bits(text, settings["task"])
        if problem:
            problems.append(_instead(problem._replace(message=f"bits in the link: {problem.message}"), "bits", ""))
        else:
            settings["bits"] = format_bits(rows, settings["task"])
    return settings, problems


def compare_query(settings: Mapping) -> dict[str, str]:
    return {k: str(settings[k]) for k in COMPARE_KEYS}


def read_compare(query: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """Compare's link -> (its complete settings, problems). A link that names a dense model but no sparse one
    gets the dense model's sparse partner. A player's model= (the player's link with /compare) becomes one of
    the pair, as when the visitor comes from the player."""
    defaults = compare_defaults()
    values, problems = validate_params(query, MODELS, defaults)
    settings = {**defaults, **{k: v for k, v in values.items() if k in defaults}}
    model = values.get("model")
    if model and spec(model).sparse and "sparse" not in values:
        settings["sparse"] = model
    elif model and not spec(model).sparse and "dense" not in values:
        settings["dense"] = model
    if settings["dense"] != defaults["dense"] and "sparse" not in values and not (model and spec(model).sparse):
        settings["sparse"] = sparse_partner(settings["dense"])
    return settings, problems


def _new_episode(settings: dict, before: Mapping) -> dict:
    """A step belongs to its episode: a carried setting that changes the episode starts at step 0."""
    if any(settings.get(k) != before.get(k) for k in (*SHARED_KEYS, *MODEL_KEYS)):
        settings["step"] = 0
    return settings


def player_from_shared(shared: Mapping, last: Mapping) -> dict:
    """The player's settings when it is opened again in a session: its last settings with the shared ones
    (changed on another page since) over them. Typed bits are kept only for the same task; a dense model's
    index is 'exact' (it has none)."""
    before = {**player_defaults(), **last}
    settings = {**before, **{k: shared[k] for k in SHARED_KEYS if k in shared}}
    if settings["task"] != before["task"]:
        settings["bits"] = ""
    if not spec(settings["model"]).sparse:
        settings["index"] = INDEXES[0]
    return _new_episode(settings, before)


def shared_from_player(settings: Mapping, shared: Mapping) -> dict:
    """What the player shares: all its shared settings, but a dense model's index (it has none) leaves the
    shared index as it was."""
    out = {k: settings[k] for k in SHARED_KEYS}
    if not spec(settings["model"]).sparse:
        out["index"] = shared.get("index", INDEXES[0])
    return out


def compare_from_shared(shared: Mapping, last: Mapping) -> dict:
    """Compare's settings when opened again: the shared task, level, seed, slots and index; the shared model
    as one of the pair (kept when it already is one; a dense model gets its sparse partner, a sparse one
    replaces the sparse model)."""
    before = {**compare_defaults(), **last}
    settings = {**before, **{k: shared[k] for k in ("task", "level", "seed", "slots", "index") if k in shared}}
    model = shared.get("model")
    if model in MODELS and model not in (settings["dense"], settings["sparse"]):
        if spec(model).sparse:
            settings["sparse"] = model
        else:
            settings["dense"], settings["sparse"] = model, sparse_partner(model)
    return _new_episode(settings, before)


def shared_from_compare(settings: Mapping, shared: Mapping) -> dict:
    """What Compare shares: its task, level, seed, slots, index, and as the model the shared one if it is one
    of the pair, else the dense model."""
    model = shared.get("model") if shared.get("model") in (settings["dense"], settings["sparse"]) else \
        settings["dense"]
    return {"model": model, **{k: settings[k] for k in ("task", "level", "seed", "slots", "index")}}


# ------------------------------------------------------------------------------------------ Scaling lab
# The lab's choices and bounds (samviz/app/pages/scaling_lab.py draws its widgets from these).

LAB_MODELS = ("ntm", "dam", "dnc", "sam-exact", "sam-faiss", "sdnc-exact", "sdnc-faiss")
LAB_POWERS = tuple(1 << p for p in range(5, 23))          # 2^5 … 2^22 (a small machine's crossover can lie below 2^8)
LAB_BATCHES = (1, 2, 4, 8, 16)
LAB_MAX_STEPS = 1000
LAB_MAX_HEADS = 8
LAB_TIMEOUTS = (30, 60, 120, 300, 600)
LAB_KEYS = ("models", "slots", "batch", "steps", "heads", "timeout")


def lab_defaults() -> dict:
    return {"models": ["ntm", "sam-faiss"], "slots": (1 << 10, 1 << 14), "batch": 8, "steps": 10, "heads": 4,
            "timeout": 120}


def lab_query(settings: Mapping) -> dict[str, str]:
    """models=ntm,sam-faiss&slots=1024-16384&batch=8&steps=10&heads=4&timeout=120"""
    low, high = settings["slots"]
    return {"models": ",".join(settings["models"]), "slots": f"{low}-{high}",
            **{k: str(settings[k]) for k in ("batch", "steps", "heads", "timeout")}}


def _lab_models(text: str) -> tuple[list[str] | None, Problem | None]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAB_MODELS]
    if unknown:
        return None, Problem(f"models in the link must be among {', '.join(LAB_MODELS)} (comma-separated); "
                             f"{len(unknown)} {'is' if len(unknown) == 1 else 'are'} not", echo(text))
    return list(dict.fromkeys(names)), None


def _lab_slots(text: str) -> tuple[tuple[int, int] | None, Problem | None]:
    parts = text.split("-")
    limits = f"powers of two from {LAB_POWERS[0]} to {LAB_POWERS[-1]}"
    if len(parts) > 2:
        return None, Problem(f"slots in the link must be one size or a range from-to ({limits})", echo(text))
    sizes = []
    for part in parts:
        value, problem = parse_int(part, LAB_POWERS[0], LAB_POWERS[-1], "slots")
        if problem:
            return None, problem._replace(message=f"{problem.message} ({limits})")
        if value not in LAB_POWERS:
            return None, Problem(f"slots must be {limits}, got {value}")
        sizes.append(value)
    low, high = sizes[0], sizes[-1]
    if low > high:
        return None, Problem(f"slots: the range must go from the smaller size to the larger, got {low}-{high}")
    return (low, high), None


def read_lab(query: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """The Scaling lab's link -> (its complete settings, problems), within the lab's own bounds."""
    settings = lab_defaults()
    problems: list[Problem] = []
    readers = {
        "models": _lab_models,
        "slots": _lab_slots,
        "batch": lambda text: _choice(text, LAB_BATCHES, "batch"),
        "steps": lambda text: parse_int(text, 1, LAB_MAX_STEPS, "steps"),
        "heads": lambda text: parse_int(text, 1, LAB_MAX_HEADS, "heads"),
        "timeout": lambda text: _choice(text, LAB_TIMEOUTS, "timeout"),
    }
    for key, reader in readers.items():
        if key in query:
            value, problem = reader(str(query[key]))
            if problem:
                problems.append(_instead(problem, key, settings[key]))
            else:
                settings[key] = value
    return settings, problems


def _choice(text: str, choices: tuple[int, ...], name: str) -> tuple[int | None, Problem | None]:
    value, problem = parse_int(text, -MAX_SEED, MAX_SEED, name)
    if problem:
        return None, problem
    if value not in choices:
        return None, Problem(f"{name} must be one of {', '.join(map(str, choices))}, got {value}")
    return value, None
