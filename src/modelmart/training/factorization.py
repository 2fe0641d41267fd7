"""``matrix-factorization``: user and item embeddings trained with PyTorch on implicit
feedback (logistic loss on observed interactions against uniformly sampled negatives)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from modelmart.arrays import Array
from modelmart.training.context import FitContext, FitResult
from modelmart.training.recommend import Interactions, _result, evaluate_ranking, read_interactions
from modelmart.training.runs import ProgressEvent

_NEGATIVES = 4


class Factorization(nn.Module):
    def __init__(self, n_users: int, n_items: int, factors: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, factors)
        self.items = nn.Embedding(n_items, factors)
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.items.weight, std=0.1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        scores: torch.Tensor = (self.users(users) * self.items(items)).sum(-1)
        return scores


def fit_matrix_factorization(context: FitContext) -> FitResult:
    data = read_interactions(context)
    hyper = context.hyper
    torch.manual_seed(context.spec.seed)
    model = Factorization(*data.shape, int(hyper["factors"]))
    optimiser = torch.optim.Adam(
        model.parameters(),
        lr=float(hyper["learning_rate"]),
        weight_decay=float(hyper["weight_decay"]),
    )
    rng = np.random.default_rng(context.spec.seed)
    history: list[dict[str, float]] = []
    best, best_state, stale = -1.0, copy.deepcopy(model.state_dict()), 0
    k = int(hyper["top_k"])
    for epoch in range(1, context.epochs + 1):
        loss = _epoch(context, model, optimiser, data, rng)
        users, items = _vectors(model)
        rows = data.validation if len(data.validation) else data.train
        ndcg = evaluate_ranking(data, users, items, rows, k)[f"ndcg_at_{k}"]
        history.append({"epoch": float(epoch), "train_loss": loss, f"validation_ndcg_at_{k}": ndcg})
        context.progress(
            ProgressEvent(epoch, context.epochs, loss, None, {f"validation_ndcg_at_{k}": ndcg})
        )
        if ndcg > best + 1e-6:
            best, best_state, stale = ndcg, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            patience = context.spec.early_stopping_patience
            if patience is not None and stale >= patience:
                break
    model.load_state_dict(best_state)
    return _result(context, data, *_vectors(model), history)


def _epoch(
    context: FitContext,
    model: Factorization,
    optimiser: torch.optim.Optimizer,
    data: Interactions,
    rng: np.random.Generator,
) -> float:
    users = np.repeat(data.users[data.train], 1 + _NEGATIVES)
    items = np.repeat(data.items[data.train], 1 + _NEGATIVES)
    labels = np.tile(np.r_[1.0, np.zeros(_NEGATIVES)], len(data.train))
    negatives = labels == 0
    items[negatives] = rng.integers(0, data.shape[1], int(negatives.sum()))
    order = rng.permutation(len(users))
    batch_size, total = int(context.hyper["batch_size"]), 0.0
    loss_fn = nn.BCEWithLogitsLoss()
    model.train()
    for start in range(0, len(order), batch_size):
        context.check_cancelled()
        rows = order[start : start + batch_size]
        optimiser.zero_grad()
        logits = model(torch.from_numpy(users[rows]), torch.from_numpy(items[rows]))
        loss = loss_fn(logits, torch.from_numpy(labels[rows]).float())
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(rows)
    return total / max(len(order), 1)


def _vectors(model: Factorization) -> tuple[Array, Array]:
    return model.users.weight.detach().numpy().copy(), model.items.weight.detach().numpy().copy()
