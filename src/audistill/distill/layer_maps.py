"""Which student layer is compared with which teacher layer.

Layers are numbered 1..L as Hugging Face `hidden_states[1:]` (index 0 is the embedding output,
which no strategy uses). Strategies (config: `<teacher>.layers.strategy`):

- none: no pairs.
- top: (L_S, L_T).
- proportional: every student layer i in 1..L_S to teacher layer round(i * L_T / L_S), rounding
  halves up (floor(x + 1/2), computed in integers; Python's round() would send halves to the even
  neighbour). A teacher shallower than half the student could map layer 1 to 0, the embeddings;
  such partners are raised to layer 1.
- skip: student layers k, 2k, 3k, ... <= L_S with their proportional partners. When k does not
  divide L_S the top layer (L_S, L_T) is added as well: the last layer carries the most
  task-specific representation, and the paper's "1 in 7" on 28 layers ends on it too.
- all: identity (i, i) for i in 1..L; needs equal depths (the acoustic teacher is the student).
- pairs: the explicit list, checked against both depths; repeats are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audistill.config import ConfigError

if TYPE_CHECKING:
    from audistill.config import LayerDistillConfig

STRATEGIES = ("none", "top", "proportional", "skip", "all", "pairs")


def proportional_partner(student_layer: int, student_layers: int, teacher_layers: int) -> int:
    """round_half_up(student_layer * teacher_layers / student_layers), at least 1."""
    # floor(i * L_T / L_S + 1/2) == (2 * i * L_T + L_S) // (2 * L_S), exactly, in integers
    partner = (2 * student_layer * teacher_layers + student_layers) // (2 * student_layers)
    return max(1, partner)


def layer_pairs(strategy: str, student_layers: int, teacher_layers: int, *, k: int = 7,
                pairs: Sequence[Sequence[int]] = (), path: str = "layers") -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs of a strategy; errors name `path` (a config path).

    Example: layer_pairs("skip", 28, 36, k=7) == [(7, 9), (14, 18), (21, 27), (28, 36)].
    """
    for name, depth in (("student", student_layers), ("teacher", teacher_layers)):
        if depth < 1:
            raise ConfigError(f"{path}: the {name} has {depth} layers; need at least 1")
    if strategy == "none":
        return []
    if strategy == "top":
        return [(student_layers, teacher_layers)]
    if strategy == "proportional":
        return [(i, proportional_partner(i, student_layers, teacher_layers))
                for i in range(1, student_layers + 1)]
    if strategy == "skip":
        if k < 1:
            raise ConfigError(f"{path}.k: must be >= 1, got {k}")
        chosen = list(range(k, student_layers + 1, k))
        if not chosen or chosen[-1] != student_layers:
            chosen.append(student_layers)
        return [(i, proportional_partner(i, student_layers, teacher_layers)) for i in chosen]
    if strategy == "all":
        if student_layers != teacher_layers:
            raise ConfigError(f"{path}.strategy: 'all' pairs each layer with itself and needs equal "
                              f"depths; got student {student_layers} and teacher {teacher_layers} "
                              "layers (use proportional)")
        return [(i, i) for i in range(1, student_layers + 1)]
    if strategy == "pairs":
        return _checked_pairs(pairs, student_layers, teacher_layers, path)
    raise ConfigError(f"{path}.strategy: unknown strategy {strategy!r}; choose one of "
                      f"{', '.join(STRATEGIES)}")


def layer_pairs_from_config(layers: LayerDistillConfig, student_layers: int, teacher_layers: int,
                            path: str) -> list[tuple[int, int]]:
    """The pairs a `<teacher>.layers` config section asks for; `path` is that section's path,
    e.g. "textual_teacher.layers"."""
    return layer_pairs(layers.strategy, student_layers, teacher_layers, k=layers.k,
                       pairs=layers.pairs, path=path)


def _checked_pairs(pairs: Sequence[Sequence[int]], student_layers: int, teacher_layers: int,
                   path: str) -> list[tuple[int, int]]:
    if not pairs:
        raise ConfigError(f"{path}.pairs: strategy 'pairs' needs at least one (student, teacher) pair")
    checked: list[tuple[int, int]] = []
    for index, pair in enumerate(pairs):
        where = f"{path}.pairs.{index}"
        if len(pair) != 2:
            raise ConfigError(f"{where}: expected (student layer, teacher layer), got {list(pair)}")
        student, teacher = int(pair[0]), int(pair[1])
        if not 1 <= student <= student_layers:
            raise ConfigError(f"{where}: student layer {student} out of range 1..{student_layers}")
        if not 1 <= teacher <= teacher_layers:
            raise ConfigError(f"{where}: teacher layer {teacher} out of range 1..{teacher_layers}")
        if (student, teacher) in checked:
            raise ConfigError(f"{where}: pair ({student}, {teacher}) is listed twice")
        checked.append((student, teacher))
    return checked


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """Parse "1:2,3:4" into [(1, 2), (3, 4)] (the CLI's --pairs)."""
    parsed: list[tuple[int, int]] = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        student, sep, teacher = item.partition(":")
        try:
            if not sep:
                raise ValueError
            parsed.append((int(student), int(teacher)))
        except ValueError:
            raise ConfigError(f"--pairs item {index} {item!r}: expected STUDENT:TEACHER, "
                              "e.g. 7:9") from None
    return parsed
