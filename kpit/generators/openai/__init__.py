"""The OpenAI-compatible backends and what only they need.

- ``chat``: the ``openai`` backend (:class:`OpenAIGenerator`, any chat completions server);
- ``batch``: the ``openai-batch`` backend (:class:`OpenAIBatchGenerator`, the Batch API);
- :mod:`~kpit.generators.openai.ratelimit`: pacing under requests and tokens per minute (no
  second over its share), limits learned from headers, a concurrency that 429s lower;
- :mod:`~kpit.generators.openai.pricing`: list prices per model, for costs and budgets.

Token counting stays in :mod:`kpit.prompts.tokens`: the pipeline's dry run and ``kpit stats`` count
tokens for every backend, not only these.
"""

from kpit.generators.openai.batch import OpenAIBatchGenerator, OpenAIBatchOptions
from kpit.generators.openai.chat import OpenAIGenerator, OpenAIOptions, redact

__all__ = [
    "OpenAIBatchGenerator",
    "OpenAIBatchOptions",
    "OpenAIGenerator",
    "OpenAIOptions",
    "redact",
]
