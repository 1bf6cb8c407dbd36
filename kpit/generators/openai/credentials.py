"""Keys and URL credentials: kept out of URLs, logs and error messages.

The ``openai`` backends take a key (``api_key`` or ``OPENAI_API_KEY``) and a server URL that
may carry credentials of its own: ``https://user:password@host/v1`` (a proxy's basic
authentication) or ``https://host/v1?api-key=...``. The HTTP client logs every request's
URL (at ``INFO``, and more at ``DEBUG``), and the ``openai`` client logs request options
and errors; none of that may show a secret, at any verbosity. So:

- :func:`clean_key` strips the white space around a key (a key read from a CRLF file ends
  in ``\\r``, which would fail as a connection error and show in debug logs) and refuses a
  key with a control or non-ASCII character inside, never showing the key;
- :func:`split_url` takes the credentials out of a server URL: the user and password
  become the basic authentication header they stood for, and the query parameters go to
  the client as default query parameters. The whole query is secret, whatever its names
  (``?subscription-key=``, ``?code=``, ``?sig=`` all carry credentials somewhere): a URL is
  shown (``ServerURL.public``) with every query value as ``***``;
- :func:`protect_logs` registers the secrets and the names of the server URL's query
  parameters and, once per process, wraps the logging record factory so that every log
  record (its message and its traceback) has them, and any credential-like query parameter
  (``api-key=``, ``key=``, ``token=``...) or one of the registered names, replaced by
  ``***`` before any handler sees it, whichever library logged it.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

from kpit.errors import ConfigError

__all__ = [
    "ServerURL",
    "clean_key",
    "protect_logs",
    "public_url",
    "redact",
    "redact_logged",
    "split_url",
]

_KEY_LIKE = re.compile(r"\b(?:sk|key|rk)-[A-Za-z0-9_\-]{6,}")

_SECRET_PARAMETER = r"(?:api[-_]?key|key|token|access[-_]?token|secret|password|sig|signature)"
_QUERY_SECRET = re.compile(rf"(?i)(?<![\w-])({_SECRET_PARAMETER}=)[^&#\s'\"<>]+")
"""A credential-like query parameter in any text (``...?api-key=abc&x=1``)."""

_MIN_SECRET = 4
"""Shorter secrets are not replaced in logs: replacing every ``ab`` would garble them all."""

_lock = threading.Lock()
_secrets: set[str] = set()
_names: set[str] = set()  # query parameters of a server URL: their values are secret
_named: re.Pattern[str] | None = None  # ``name=value`` for the names above
_installed = False


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with ``secret`` and anything shaped like an API key replaced by ``***``."""
    if secret:
        text = text.replace(secret, "***")
    return redact_logged(_KEY_LIKE.sub("***", text))


def redact_logged(text: str) -> str:
    """``text`` with every registered secret and credential-like query value as ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    if _named is not None:
        text = _named.sub(r"\1***", text)
    return _QUERY_SECRET.sub(r"\1***", text)


def clean_key(key: str | None) -> str | None:
    """A key without the white space around it; ``None`` when nothing is left.

    Raises:
        ConfigError: the key holds a control character (a line break inside) or a
            character outside ASCII, which no HTTP header can carry; the key is not shown.
    """
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ConfigError("the API key holds a control character (a line break inside?); "
                          "it is not shown", field="api_key")  # fmt: skip
    if not key.isascii():
        raise ConfigError("the API key holds a character outside ASCII; it is not shown",
                          field="api_key")  # fmt: skip
    return key


@dataclass(frozen=True, slots=True)
class ServerURL:
    """A server URL taken apart: what the client may log, and the credentials it carried.

    Attributes:
        url: the URL without user, password or query (``None`` when none was given).
        headers: the basic authentication header the user and password stood for.
        query: the query parameters, sent with every request as before.
        secrets: the credentials (user, password, every query value), to keep out of logs
            and messages.
        public: the URL as shown (in logs, settings, manifests and errors): user and
            password as ``***@``, every query value as ``***`` whatever its name.
    """

    url: str | None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    public: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The query parameters' names (as given, and as a URL encodes them)."""
        return tuple({form for name in self.query for form in (name, quote(name, safe=""))})


def split_url(url: str | None) -> ServerURL:
    """``url`` without its credentials, and the credentials as a header and query values."""
    if not url:
        return ServerURL(url, public=url)
    parts = urlsplit(url)
    secrets: list[str] = []
    headers: dict[str, str] = {}
    userinfo = parts.username is not None or parts.password is not None
    if userinfo:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        given = parts.netloc.rpartition("@")[0]
        secrets += [given, f"{user}:{password}", password, quote(password, safe=""), token]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for value in query.values():  # every one: a credential may go by any name
        secrets += [value, quote(value, safe=""), quote_plus(value)]
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, "", ""))
    shown = "&".join(f"{quote(name, safe='')}=***" for name in query)
    public = urlunsplit((parts.scheme, "***@" + host if userinfo else host, parts.path, shown,
                         ""))  # fmt: skip
    return ServerURL(clean, headers, query, tuple(s for s in secrets if s), public)


def public_url(url: str | None) -> str | None:
    """``url`` as it may be shown: its user and password, and every query value, as ``***``
    (``https://u:p@host/v1?code=abc`` -> ``https://***@host/v1?code=***``)."""
    return split_url(url).public


def protect_logs(*secrets: str | None, names: Iterable[str] = ()) -> None:
    """Keep ``secrets``, the values of the query parameters ``names`` (those of a server URL)
    and credential-like query values out of every log record."""
    global _installed, _named
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= _MIN_SECRET)
        _names.update(n for n in names if n)
        if _names:
            alternatives = "|".join(map(re.escape, sorted(_names, key=len, reverse=True)))
            _named = re.compile(rf"(?<![\w-])((?:{alternatives})=)[^&#\s'\"<>]*")
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _scrub(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _scrub(record: logging.LogRecord) -> None:
    """Redact a record's message and traceback in place (before any handler formats it)."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is the logging module's to report
        return
    cleaned = redact_logged(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        cleaned = redact_logged(text)
        if cleaned != text:
            record.exc_text = cleaned
