"""Test helpers: a fake OpenAI server (``openai_server``, and its lean asyncio variant
``fast_openai_server`` for throughput), waits on events instead of the clock (``waiting``),
a virtual clock for the pacing tests (``virtual_time``), a tiny LLaVA, and scripts the tests
run in a process of their own (``slow_run.py``, ``zero3_run.py``). The benchmarks use them
too."""
