"""Text classification with networks over a fitted word vocabulary: ``rnn``, ``lstm``, ``gru``
and ``transformer`` (a small encoder).

The vocabulary tokenizer (lower-cased words and punctuation, ``[PAD]`` = 0, ``[UNK]`` = 1) is
fitted on the training texts and saved as ``tokenizer.json`` beside ``model.onnx``: the
artifact is an ``onnx_text`` directory whose graph classifies, so the served model takes raw
text (``{"instances": ["some text"]}``) and returns ``label`` and ``probabilities``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer
from torch import nn

from modelmart.arrays import Array
from modelmart.errors import ValidationFailed
from modelmart.training.context import FitContext, FitResult, class_indices
from modelmart.training.loop import Tensors, classification_loss, fit_network, predict
from modelmart.training.onnx_graphs import add_classifier_outputs, export_module
from modelmart.training.splits import split_rows
from modelmart.types import ArtifactFormat

PAD, UNK = "[PAD]", "[UNK]"
TEXT_COLUMN = "text"


def fit_tokenizer(texts: list[str], vocabulary_size: int, max_length: int) -> Tokenizer:
    tokenizer = Tokenizer(WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = WordLevelTrainer(vocab_size=vocabulary_size, special_tokens=[PAD, UNK])
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.enable_padding(pad_id=0, pad_token=PAD)
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def encode(tokenizer: Tokenizer, texts: list[str]) -> tuple[Array, Array]:
    """Token ids and attention mask, padded to the longest text (at least one column)."""
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), -1)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(len(texts), -1)
    if ids.shape[1] == 0:
        return np.zeros((len(texts), 1), np.int64), np.zeros((len(texts), 1), np.int64)
    return ids, mask


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(states.dtype)
    pooled: torch.Tensor = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return pooled


class RecurrentClassifier(nn.Module):
    """Embedding, an RNN/LSTM/GRU, the mean of its states under the mask, a linear layer."""

    def __init__(self, cell: str, vocabulary: int, n_classes: int, hyper: dict[str, Any]) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, int(hyper["embedding_dim"]), padding_idx=0)
        kinds: dict[str, Any] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        layers = int(hyper["num_layers"])
        self.recurrent: nn.Module = kinds[cell](
            int(hyper["embedding_dim"]),
            int(hyper["hidden_size"]),
            num_layers=layers,
            batch_first=True,
            bidirectional=bool(hyper["bidirectional"]),
            dropout=float(hyper["dropout"]) if layers > 1 else 0.0,
        )
        width = int(hyper["hidden_size"]) * (2 if hyper["bidirectional"] else 1)
        self.dropout = nn.Dropout(float(hyper["dropout"]))
        self.output = nn.Linear(width, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.recurrent(self.embedding(input_ids))
        logits: torch.Tensor = self.output(self.dropout(masked_mean(states, attention_mask)))
        return logits


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, written out so ONNX export keeps every
    dimension dynamic (torch's fused encoder layer bakes the traced shapes in)."""

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.project = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.feedforward = nn.Sequential(
            nn.Linear(dim, feedforward), nn.GELU(), nn.Linear(feedforward, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(dim, dim=2)
        shape = (batch, length, self.heads, dim // self.heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(dim // self.heads) + bias
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + self.dropout(self.project(attended))
        out: torch.Tensor = x + self.dropout(self.feedforward(self.norm2(x)))
        return out


class TransformerClassifier(nn.Module):
    """Token and position embeddings, a few encoder blocks, masked mean pooling, a linear head."""

    def __init__(self, vocabulary: int, n_classes: int, hyper: dict[str, Any]) -> None:
        super().__init__()
        dim = int(hyper["embedding_dim"])
        if dim % int(hyper["heads"]):
            raise ValidationFailed(
                f"embedding_dim {dim} must be a multiple of heads {hyper['heads']}"
            )
        self.tokens = nn.Embedding(vocabulary, dim, padding_idx=0)
        self.positions = nn.Embedding(int(hyper["max_length"]), dim)
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, int(hyper["heads"]), int(hyper["feedforward_dim"]), hyper["dropout"])
            for _ in range(int(hyper["layers"]))
        )
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(positions).unsqueeze(0)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -1e4
        for block in self.blocks:
            x = block(x, bias)
        logits: torch.Tensor = self.output(masked_mean(self.norm(x), attention_mask))
        return logits


def texts_of(context: FitContext) -> list[str]:
    frame = context.data.frame
    if TEXT_COLUMN not in frame.columns:
        raise ValidationFailed(
            f"a text dataset needs a '{TEXT_COLUMN}' column; its columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    return ["" if v is None or v != v else str(v) for v in frame[TEXT_COLUMN]]


def fit_sequence(context: FitContext) -> FitResult:
    """Fit ``rnn``/``lstm``/``gru``/``transformer`` on the ``text`` column."""
    hyper, family = context.hyper, context.family.name
    texts = texts_of(context)
    y, labels = class_indices(context.data.frame[context.target])
    split = split_rows(len(y), context.spec.split, context.spec.seed, y)
    tokenizer = fit_tokenizer(
        [texts[i] for i in split.train], int(hyper["vocabulary_size"]), int(hyper["max_length"])
    )
    ids, mask = encode(tokenizer, texts)
    vocabulary = tokenizer.get_vocab_size()
    torch.manual_seed(context.spec.seed)  # the initial weights come from the seed too
    model: nn.Module = (
        TransformerClassifier(vocabulary, len(labels), hyper)
        if family == "transformer"
        else RecurrentClassifier(family, vocabulary, len(labels), hyper)
    )
    x_ids, x_mask, target = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(y)
    history = fit_network(
        context,
        model,
        classification_loss(context, y[split.train], len(labels)),
        Tensors((x_ids[split.train], x_mask[split.train]), target[split.train]),
        Tensors((x_ids[split.validation], x_mask[split.validation]), target[split.validation]),
    )
    directory = save_text_classifier(context.workdir, model, tokenizer, labels)
    return FitResult(
        artifact=directory,
        format=ArtifactFormat.ONNX_TEXT,
        parameters={"labels": labels, "max_length": int(hyper["max_length"])},
        test_batch={"text": np.array([texts[i] for i in split.test], dtype=object)},
        y_test=y[split.test],
        split=split,
        labels=labels,
        history=history,
        details={"vocabulary_size": vocabulary},
        reference=reference_probabilities(model, tokenizer, [texts[i] for i in split.test]),
    )


def reference_probabilities(model: nn.Module, tokenizer: Tokenizer, texts: list[str]) -> Array:
    """The in-memory model's probabilities, batch by batch as the server pads them."""
    chunks = []
    for start in range(0, len(texts), 512):
        ids, mask = encode(tokenizer, texts[start : start + 512])
        logits = predict(model, (torch.from_numpy(ids), torch.from_numpy(mask)))
        chunks.append(logits.softmax(1).numpy().astype(np.float64))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


def save_text_classifier(
    workdir: Path, model: nn.Module, tokenizer: Tokenizer, labels: list[str]
) -> Path:
    """An ``onnx_text`` directory: the classifier graph and its tokenizer."""
    example = (torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    dynamic = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask")}
    graph = export_module(model, example, ["input_ids", "attention_mask"], "logits", dynamic)
    add_classifier_outputs(graph, "logits", labels)
    directory = workdir / "text-classifier"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(graph.SerializeToString())
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory
