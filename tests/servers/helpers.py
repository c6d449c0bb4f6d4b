"""Request builders shared by the server tests."""

from __future__ import annotations

import numpy as np

from bbt_mp2.tasks.types import Example, TaskSpec, TaskType
from servers.wire import encode_array, example_to_dict, task_to_dict

TASK = TaskSpec(name="toy", lang="en", type=TaskType.SINGLE, label_words=("bad", "good"))


def toy_examples(n: int = 8, offset: int = 0) -> list[Example]:
    words = ["good movie", "bad film", "great story", "terrible book", "fun game", "boring music"]
    return [Example(uid=f"toy/{i + offset}", fields={"text": f"{words[(i + offset) % len(words)]} {i}"},
                    label=int((i + offset) % len(words) % 2 == 0)) for i in range(n)]


def dataset_body(n: int = 8, offset: int = 0, n_tokens: int = 4) -> dict:
    return {"task_spec": task_to_dict(TASK), "examples": [example_to_dict(e) for e in toy_examples(n, offset)],
            "n_tokens": n_tokens, "max_length": 48}


def evaluate_body(dataset_id: str, population: np.ndarray, *, layers=(0,), d: int = 8, request_id=None,
                  projection=None) -> dict:
    body = {"dataset_id": dataset_id, "param": {"layers": list(layers), "d": d, "n_tokens": 4,
                                                "projection": projection or {"kind": "uniform", "seed": 1}},
            "population": encode_array(population)}
    if request_id is not None:
        body["request_id"] = request_id
    return body
