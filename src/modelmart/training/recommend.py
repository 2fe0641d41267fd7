"""Recommendation from (user, item, rating) interactions: ``als`` and ``matrix-factorization``.

Both learn user and item vectors for implicit feedback: ALS (Hu, Koren and Volinsky's
confidence-weighted least squares, solved in NumPy) and MF (PyTorch, logistic loss on the
observed interactions against sampled negatives). Interactions are split at random; a test
item counts as relevant when its rating is at least the dataset's mean rating. Rankings
exclude items the user met in training.

The served model is one ONNX graph: ``user`` BYTES [-1] in; ``items`` BYTES [-1, k] and
``scores`` FP32 [-1, k] out. An unknown user gets the mean user vector, a popularity-like
ranking.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from modelmart.arrays import Array
from modelmart.training.context import FitContext, FitResult
from modelmart.training.metrics import ranking_metrics
from modelmart.training.runs import ProgressEvent
from modelmart.training.splits import split_rows
from modelmart.types import ArtifactFormat

MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Interactions:
    """Interactions as index arrays, with the id maps and the split."""

    users: Array
    items: Array
    ratings: Array
    user_ids: list[str]
    item_ids: list[str]
    train: Array
    validation: Array
    test: Array

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def relevant(self, rows: Array) -> dict[int, set[int]]:
        threshold = float(self.ratings.mean())
        found: dict[int, set[int]] = {}
        for row in rows:
            if self.ratings[row] >= threshold:
                found.setdefault(int(self.users[row]), set()).add(int(self.items[row]))
        return found

    def seen(self) -> dict[int, Array]:
        frame = pd.DataFrame({"u": self.users[self.train], "i": self.items[self.train]})
        return {int(u): group.to_numpy() for u, group in frame.groupby("u")["i"]}


def read_interactions(context: FitContext) -> Interactions:
    frame = context.data.frame
    users, user_ids = pd.factorize(frame["user"].astype(str), sort=True)
    items, item_ids = pd.factorize(frame["item"].astype(str), sort=True)
    ratings = frame["rating"].to_numpy(dtype=np.float64)
    split = split_rows(len(frame), context.spec.split, context.spec.seed)
    return Interactions(
        np.asarray(users), np.asarray(items), ratings, [str(u) for u in user_ids],
        [str(i) for i in item_ids], split.train, split.validation, split.test,
    )  # fmt: skip


def top_k(
    user_vectors: Array, item_vectors: Array, seen: dict[int, Array], k: int
) -> dict[int, list[int]]:
    """Top-``k`` unseen items per user by dot product."""
    scores = user_vectors @ item_vectors.T
    for user, items in seen.items():
        scores[user, items] = -np.inf
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    ordered = np.take_along_axis(best, np.argsort(-np.take_along_axis(scores, best, 1), 1), 1)
    return {user: ordered[user].tolist() for user in range(len(ordered))}


def evaluate_ranking(
    data: Interactions, user_vectors: Array, item_vectors: Array, rows: Array, k: int
) -> dict[str, float]:
    relevant = data.relevant(rows)
    recommended = top_k(user_vectors, item_vectors, data.seen(), k)
    return ranking_metrics(recommended, relevant, k, data.shape[1])


def popularity_vectors(data: Interactions) -> tuple[Array, Array]:
    """Vectors whose dot products rank items by training popularity (the baseline)."""
    counts = np.bincount(data.items[data.train], minlength=data.shape[1]).astype(np.float64)
    return np.ones((data.shape[0], 1)), counts[:, np.newaxis]


def fit_als(context: FitContext) -> FitResult:
    data = read_interactions(context)
    hyper = context.hyper
    rng = np.random.default_rng(context.spec.seed)
    factors = int(hyper["factors"])
    users = rng.normal(0, 0.01, (data.shape[0], factors))
    items = rng.normal(0, 0.01, (data.shape[1], factors))
    confidence = 1.0 + float(hyper["alpha"]) * data.ratings[data.train]
    by_user = _rows_by(data.users[data.train], data.items[data.train], confidence, data.shape[0])
    by_item = _rows_by(data.items[data.train], data.users[data.train], confidence, data.shape[1])
    history: list[dict[str, float]] = []
    for epoch in range(1, context.epochs + 1):
        context.check_cancelled()
        users = _als_step(items, by_user, float(hyper["regularization"]))
        items = _als_step(users, by_item, float(hyper["regularization"]))
        history.append(_ranking_epoch(context, data, users, items, epoch))
    return _result(context, data, users, items, history)


def _rows_by(keys: Array, values: Array, confidence: Array, n: int) -> list[tuple[Array, Array]]:
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [(values[order[a:b]], confidence[order[a:b]]) for a, b in itertools.pairwise(bounds)]


def _als_step(fixed: Array, rows: list[tuple[Array, Array]], regularization: float) -> Array:
    """Solve every row's vector given the other side: (YᵀCY + λI) x = YᵀC p."""
    gram = fixed.T @ fixed
    eye = regularization * np.eye(fixed.shape[1])
    solved = np.zeros((len(rows), fixed.shape[1]))
    for index, (columns, confidence) in enumerate(rows):
        if len(columns) == 0:
            continue
        block = fixed[columns]
        lhs = gram + (block.T * (confidence - 1.0)) @ block + eye
        solved[index] = np.linalg.solve(lhs, block.T @ confidence)
    return solved


def _ranking_epoch(
    context: FitContext, data: Interactions, users: Array, items: Array, epoch: int
) -> dict[str, float]:
    k = int(context.hyper["top_k"])
    rows = data.validation if len(data.validation) else data.train
    found = evaluate_ranking(data, users, items, rows, k)
    entry = {"epoch": float(epoch), f"validation_ndcg_at_{k}": found[f"ndcg_at_{k}"]}
    context.progress(
        ProgressEvent(
            epoch, context.epochs, None, None, {k_: v for k_, v in entry.items() if k_ != "epoch"}
        )
    )
    return entry


def _result(
    context: FitContext,
    data: Interactions,
    users: Array,
    items: Array,
    history: list[dict[str, float]],
) -> FitResult:
    k = int(context.hyper["top_k"])
    metrics = evaluate_ranking(data, users, items, data.test, k)
    baseline = evaluate_ranking(data, *popularity_vectors(data), data.test, k)
    graph = recommender_graph(users, items, data.user_ids, data.item_ids, k)
    path = context.workdir / MODEL_FILE
    path.write_bytes(graph.SerializeToString())
    test_users = np.array(sorted({data.user_ids[u] for u in data.users[data.test]}), dtype=object)
    parameters: dict[str, Any] = {"top_k": min(k, len(data.item_ids)), "users": len(data.user_ids)}
    parameters["items"] = len(data.item_ids)
    return FitResult(
        artifact=path,
        format=ArtifactFormat.ONNX,
        parameters=parameters,
        test_batch={"user": test_users[:256]},
        y_test=np.zeros(0),
        split=_split_of(data),
        history=history,
        extra_metrics=metrics,
        details={"baseline_popularity": baseline},
        reference=_served_scores(users, items, data, test_users[:256], k),
    )


def _served_scores(
    users: Array, items: Array, data: Interactions, user_ids: Array, k: int
) -> Array:
    """Top-k scores over all items (the served graph does not drop seen items)."""
    index = {user: i for i, user in enumerate(data.user_ids)}
    scores = users[[index[str(u)] for u in user_ids]] @ items.T
    top: Array = -np.sort(-scores, axis=1)[:, : min(k, scores.shape[1])]
    return top


def _split_of(data: Interactions) -> Any:
    from modelmart.training.splits import Split

    return Split(data.train, data.validation, data.test)


def recommender_graph(
    users: Array, items: Array, user_ids: list[str], item_ids: list[str], k: int
) -> onnx.ModelProto:
    """user id -> (top-k item ids, scores); unknown users get the mean user vector."""
    table = np.vstack([users, users.mean(axis=0, keepdims=True)]).astype(np.float32)
    k = min(k, len(item_ids))
    nodes = [
        helper.make_node(
            "LabelEncoder", ["user"], ["user_index"], domain="ai.onnx.ml",
            keys_strings=user_ids, values_int64s=list(range(len(user_ids))),
            default_int64=len(user_ids),
        ),
        helper.make_node("Gather", ["user_table", "user_index"], ["user_vector"], axis=0),
        helper.make_node("MatMul", ["user_vector", "item_table_t"], ["all_scores"]),
        helper.make_node("TopK", ["all_scores", "k"], ["scores", "item_index"], axis=1),
        helper.make_node(
            "LabelEncoder", ["item_index"], ["items"], domain="ai.onnx.ml",
            keys_int64s=list(range(len(item_ids))), values_strings=item_ids, default_string="",
        ),
    ]  # fmt: skip
    initializers = [
        numpy_helper.from_array(table, "user_table"),
        numpy_helper.from_array(items.T.astype(np.float32), "item_table_t"),
        numpy_helper.from_array(np.array([k], dtype=np.int64), "k"),
    ]
    graph = helper.make_graph(
        nodes,
        "recommender",
        [helper.make_tensor_value_info("user", TensorProto.STRING, ["batch"])],
        [
            helper.make_tensor_value_info("items", TensorProto.STRING, ["batch", k]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", k]),
        ],
        initializers,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="modelmart")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
