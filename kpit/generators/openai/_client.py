"""The ``openai`` package, imported on first use, and the async client the backend talks through.

The client makes no retries of its own (kpit retries, with its own backoff and rate limits),
and credentials in a URL never reach it (it logs URLs): the user and password become the
header they stood for, the query default parameters.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from kpit.errors import ConfigError
from kpit.generators.openai._options import OpenAIOptions
from kpit.generators.openai.credentials import ServerURL


def openai_module() -> ModuleType:
    """The ``openai`` package, imported on first use (it takes about half a second)."""
    import openai

    return openai


@functools.cache
def response_class() -> type:
    """The HTTP library's response class, as the ``openai`` client uses it (httpx or a fork)."""
    client_class = openai_module().DefaultAsyncHttpxClient.__mro__[1]
    module = importlib.import_module(client_class.__module__.split(".")[0])
    response: type = module.Response
    return response


def make_client(
    options: OpenAIOptions,
    secret: str | None,
    server: ServerURL,
    azure: ServerURL,
    on_request: Callable[[Any], Awaitable[None]],
    *,
    timeout: float,
) -> Any:
    """The async client for the server of ``options`` (Azure's with ``azure_endpoint``).

    ``server`` and ``azure`` are the server's and Azure's URLs taken apart; ``on_request``
    is the HTTP client's request hook; ``timeout`` is in seconds per request. Without
    ``secret``, a :class:`ConfigError`.
    """
    if not secret:
        raise ConfigError(
            "no API key: set OPENAI_API_KEY, or pass api_key (any value for a local "
            "server that does not check keys)",
            field="api_key",
        )
    openai = openai_module()
    http_client = openai.DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
    if options.azure_endpoint:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=azure.url or options.azure_endpoint,
            api_version=options.api_version,
            api_key=secret,
            timeout=timeout,
            max_retries=0,
            default_headers=azure.headers or None,
            default_query=azure.query or None,
            http_client=http_client,
        )
    return openai.AsyncOpenAI(
        base_url=server.url,
        api_key=secret,
        organization=options.organization,
        project=options.project,
        timeout=timeout,
        max_retries=0,
        default_headers=server.headers or None,
        default_query=server.query or None,
        http_client=http_client,
    )
