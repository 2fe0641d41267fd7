"""Continuous batching for llama.cpp chat models: many sequences in one context.

Modules: :mod:`.engine` (the step loop), :mod:`.sequences` (one generation's state and
text), :mod:`.sampling` (the sampler chain of each sequence, log-probabilities),
:mod:`.prefix_cache` (finished sequences' KV cells, reused by prompts that start the same
way), :mod:`.kv_budget` (admission by KV cells), :mod:`.backend` (what the engine needs of a
model) and :mod:`.llama_backend` (llama.cpp's), :mod:`.chat_template` (messages and tools as
the model's chat template sees them).

Determinism. Greedy decoding (temperature 0) and seeded sampling are repeatable for the
same request evaluated the same way. The engine does not promise bit-identical logits
across different ways of evaluating a prompt: llama.cpp's CPU kernels sum in an order that
depends on the batch shape (how many tokens a decode holds) and on where a sequence's cells
lie in the shared KV cache, so a prompt read in one batch, read in chunks next to other
sequences, or partly copied from the prefix cache can differ in the last bits of its logits.
A greedy answer changes only where two candidate tokens are that close; the integration
tests check that answers stay the same with and without the prefix cache and alone or
among 16 concurrent streams for their prompts (see the README's chat section for what was
measured).
"""
