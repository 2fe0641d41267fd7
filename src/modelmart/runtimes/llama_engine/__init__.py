"""Continuous batching for llama.cpp chat models: many sequences in one context.

Modules: :mod:`.engine` (the step loop), :mod:`.sequences` (one generation's state and
text), :mod:`.sampling` (the sampler chain of each sequence, log-probabilities),
:mod:`.prefix_cache` (finished sequences' KV cells, reused by prompts that start the same
way), :mod:`.kv_budget` (admission by KV cells), :mod:`.backend` (what the engine needs of a
model) and :mod:`.llama_backend` (llama.cpp's), :mod:`.chat_template` (messages and tools as
the model's chat template sees them).

Determinism. A greedy (temperature 0) answer is the same alone, among other concurrent
answers and with or without the prefix cache, and a seeded one repeats, because every token
is evaluated on the same numerical path of llama.cpp's CPU kernels however it is batched.
Measured on SmolLM2-135M (Q4_1) with this llama.cpp build, a token's logits depend on:

* the batch size: flash attention switches to a tiled kernel from 64 tokens a batch on
  (a prompt read in one batch of 72 tokens moved the logits by up to 0.58). The llama.cpp
  runtime decodes at most 63 tokens a step (``BATCH_TOKENS``).
* a batch of exactly one token: flash attention then splits a cache view of 512 cells or
  more across threads and merges the parts; where a sequence's cells fall relative to the
  split moved its logits by up to 0.68. The backend pads a one-token batch with a
  throwaway token of a spare sequence, so one running answer takes the batched path too.
* where the cells lie, without flash attention (the plain path sums over every cell in the
  view, masked ones included: other sequences' cells in between moved the logits by up to
  0.53). Flash attention is on.

* the order of a sequence's cells: flash attention visits cells in cache order, so a token
  placed in a hole before its sequence's earlier cells changes the sum's order. llama.cpp
  fills holes first once enough cells were freed; the engine frees cells only when it must
  (a cancelled answer, a prefix-cache entry evicted for room or for its sequence id), so
  until then every sequence's cells stay in order. After such frees, a greedy answer can
  differ from the same request alone (seen on SmolLM2 once holes were refilled: the same
  prompt answered "The sky is a deep, foreboding blue." instead of "The sky is a deep shade
  of indigo, ...").

With those kept fixed, the logits were bit-identical whatever else was in the batch,
how a prompt was chunked, which sequence id it had and what else the cache held, including
prompt cells copied from the prefix cache. Not promised: the same bits with another CPU,
thread count, llama.cpp build or model file; a seed repeats its tokens only for the same
request (prompt, options, max_tokens).
"""
