"""The one PyTorch training loop every neural family shares.

Mini-batches in a seeded order, AdamW (weight decay), class weights, early stopping on the
validation loss with the best weights restored, a progress event per epoch and a cancellation
check per batch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from modelmart.arrays import Array
from modelmart.training.context import FitContext
from modelmart.training.runs import ProgressEvent


@dataclass(frozen=True)
class Tensors:
    """Model inputs and the target for one part of the split."""

    inputs: tuple[torch.Tensor, ...]
    target: torch.Tensor

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def rows(self, index: torch.Tensor) -> Tensors:
        return Tensors(tuple(t[index] for t in self.inputs), self.target[index])


def classification_loss(context: FitContext, y_train: Array, n_classes: int) -> nn.Module:
    """Cross-entropy, weighted by inverse class frequency when class_weight is balanced."""
    if context.hyper.get("class_weight") != "balanced":
        return nn.CrossEntropyLoss()
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    weights = len(y_train) / (n_classes * np.clip(counts, 1, None))
    return nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))


def fit_network(
    context: FitContext, model: nn.Module, loss_fn: nn.Module, train: Tensors, validation: Tensors
) -> list[dict[str, float]]:
    """Train ``model`` in place; return the learning curve (one entry per epoch)."""
    torch.manual_seed(context.spec.seed)
    optimiser = torch.optim.AdamW(
        model.parameters(),
        lr=float(context.hyper["learning_rate"]),
        weight_decay=float(context.hyper["weight_decay"]),
    )
    order = torch.Generator().manual_seed(context.spec.seed)
    patience = context.spec.early_stopping_patience
    history: list[dict[str, float]] = []
    best_loss, best_state, stale = float("inf"), copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, context.epochs + 1):
        train_loss = _one_epoch(context, model, loss_fn, optimiser, train, order)
        entry = {"epoch": float(epoch), "train_loss": train_loss}
        entry.update(evaluate(model, loss_fn, validation) if len(validation) else {})
        history.append(entry)
        _report(context, entry, epoch)
        watched = entry.get("validation_loss", train_loss)
        if watched < best_loss - 1e-6:
            best_loss, best_state, stale = watched, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if patience is not None and stale >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return history


def _one_epoch(
    context: FitContext,
    model: nn.Module,
    loss_fn: nn.Module,
    optimiser: torch.optim.Optimizer,
    train: Tensors,
    order: torch.Generator,
) -> float:
    model.train()
    batch_size = int(context.hyper["batch_size"])
    permutation = torch.randperm(len(train), generator=order)
    total = 0.0
    for start in range(0, len(train), batch_size):
        context.check_cancelled()
        batch = train.rows(permutation[start : start + batch_size])
        optimiser.zero_grad()
        loss = loss_fn(model(*batch.inputs), batch.target)
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(batch)
    return total / max(len(train), 1)


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: nn.Module, part: Tensors) -> dict[str, float]:
    """Loss (and accuracy, for class targets) on a held-out part, in eval mode."""
    model.eval()
    output = predict(model, part.inputs)
    found = {"validation_loss": float(loss_fn(output, part.target))}
    if part.target.dtype == torch.long and output.dim() == 2:
        found["validation_accuracy"] = float((output.argmax(1) == part.target).float().mean())
    return found


@torch.no_grad()
def predict(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], batch_size: int = 512
) -> torch.Tensor:
    model.eval()
    n = int(inputs[0].shape[0])
    outputs = [
        model(*(t[start : start + batch_size] for t in inputs)) for start in range(0, n, batch_size)
    ]
    return torch.cat(outputs)


def _report(context: FitContext, entry: dict[str, float], epoch: int) -> None:
    metrics = {
        k: v for k, v in entry.items() if k not in ("epoch", "train_loss", "validation_loss")
    }
    context.progress(
        ProgressEvent(
            epoch=epoch,
            total_epochs=context.epochs,
            train_loss=entry["train_loss"],
            validation_loss=entry.get("validation_loss"),
            metrics=metrics,
        )
    )
