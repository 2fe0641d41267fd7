"""``logistic`` on text: TF-IDF over the fitted vocabulary, then logistic regression.

scikit-learn fits the model; the served graph recomputes TF-IDF from token ids in ONNX (a
scatter-add of counts, the fitted IDF weights, L2 normalisation) so the artifact is the same
``onnx_text`` directory as the other text families and takes raw text.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfTransformer
from torch import nn

from modelmart.arrays import Array
from modelmart.training.context import FitContext, FitResult, class_indices
from modelmart.training.splits import split_rows
from modelmart.training.tabular import logistic_regression
from modelmart.training.text import (
    encode,
    fit_tokenizer,
    reference_probabilities,
    save_text_classifier,
    texts_of,
)
from modelmart.types import ArtifactFormat

_MAX_LENGTH = 512
_VOCABULARY = 50_000


class TfidfLogistic(nn.Module):
    """Token ids -> TF-IDF (L2-normalised) -> linear logits, weights fitted by scikit-learn."""

    def __init__(self, idf: Array, coef: Array, intercept: Array) -> None:
        super().__init__()
        if coef.shape[0] == 1:  # binary: sklearn keeps one row, for the positive class
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        self.register_buffer("idf", torch.tensor(idf, dtype=torch.float32))
        self.register_buffer("coef", torch.tensor(coef.T, dtype=torch.float32))
        self.register_buffer("intercept", torch.tensor(intercept, dtype=torch.float32))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        idf: torch.Tensor = self.idf  # type: ignore[assignment]
        counts = torch.zeros(input_ids.shape[0], idf.shape[0], dtype=torch.float32)
        counts = counts.scatter_add(1, input_ids, attention_mask.to(torch.float32))
        weighted = counts * idf
        norm = weighted.norm(dim=1, keepdim=True).clamp(min=1e-12)
        logits: torch.Tensor = (weighted / norm) @ self.coef + self.intercept
        return logits


def counts_matrix(ids: Array, mask: Array, vocabulary: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
    values = (mask * (ids != 0)).ravel().astype(np.float64)  # padding carries no weight
    matrix = sp.csr_matrix((values, (rows, ids.ravel())), shape=(ids.shape[0], vocabulary))
    matrix.sum_duplicates()
    return matrix


def fit_text_logistic(context: FitContext) -> FitResult:
    texts = texts_of(context)
    y, labels = class_indices(context.data.frame[context.target])
    split = split_rows(len(y), context.spec.split, context.spec.seed, y)
    train_rows = np.concatenate([split.train, split.validation])
    tokenizer = fit_tokenizer([texts[i] for i in train_rows], _VOCABULARY, _MAX_LENGTH)
    ids, mask = encode(tokenizer, texts)
    vocabulary = tokenizer.get_vocab_size()
    counts = counts_matrix(ids, mask, vocabulary)
    tfidf = TfidfTransformer().fit(counts[train_rows])
    classifier = logistic_regression(context.hyper, context.spec.seed)
    classifier.fit(tfidf.transform(counts[train_rows]), y[train_rows])
    context.check_cancelled()
    model = TfidfLogistic(tfidf.idf_, classifier.coef_, classifier.intercept_)
    directory = save_text_classifier(context.workdir, model, tokenizer, labels)
    return FitResult(
        artifact=directory,
        format=ArtifactFormat.ONNX_TEXT,
        parameters={"labels": labels, "max_length": _MAX_LENGTH},
        test_batch={"text": np.array([texts[i] for i in split.test], dtype=object)},
        y_test=y[split.test],
        split=split,
        labels=labels,
        details={"vocabulary_size": vocabulary},
        reference=reference_probabilities(model, tokenizer, [texts[i] for i in split.test]),
    )
