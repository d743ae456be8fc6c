"""The demo's own nano models, trained from scratch on the built-in benchmark (`audistill zoo build`).

- config.py: network shapes, training phases and the demo / quick / tiny budgets.
- texts.py: perception tasks, heard and oracle descriptions, the tokenizer corpus.
- units.py: acoustic units, the CTC labels the student's encoder learns first.
- nets.py: the nano Qwen2-Audio student and Qwen3 teacher as real HF classes.
- encode.py: the student's training forward (HF's computation on the frames a batch needs).
- loop.py: the from-scratch training loop.
- student.py / teacher.py: their training data and phases.
- gates.py: dev evaluation and the gates; card.py: ZOO.md; key.py: the cache key.
- build.py: `build_zoo`, the whole build, cached and atomic.
"""

from audistill.models.zoo.build import ZooResult, build_zoo, read_zoo_json
from audistill.models.zoo.config import BUDGETS, ZooConfig, budget_config
from audistill.models.zoo.texts import ZooDataError

__all__ = ["BUDGETS", "ZooConfig", "ZooDataError", "ZooResult", "budget_config", "build_zoo", "read_zoo_json"]
