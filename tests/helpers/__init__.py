"""Test helpers: a fake OpenAI server, a tiny LLaVA, and scripts the tests run in a process
of their own (``slow_run.py``, ``zero3_run.py``). The benchmarks use them too."""
