"""Command-line options shared by the commands that read a COCO split."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from kpit.coco.loader import CocoContexts, load_coco
from kpit.errors import ConfigError

__all__ = [
    "AliasedOption",
    "backend_options",
    "base_url_option",
    "coco_options",
    "coco_options_without_images",
    "load_from_options",
    "parse_key_values",
    "price_option",
]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

price_option = click.option(
    "--price",
    "prices",
    multiple=True,
    metavar="MODEL=INPUT,OUTPUT[,CACHED]",
    help="Dollars per million input, output and (optionally) cached input tokens, over the "
    "built-in table (repeatable).",
)
"""``--price``, as ``kpit generate`` and ``kpit bench answer`` take it."""


def base_url_option(server_of: str) -> Callable[[F], F]:
    """``--base-url``, repeatable: the server of ``server_of``, or several servers of one
    model (each request goes to the one with the fewest in flight)."""
    return click.option(
        "--base-url",
        "base_url",
        multiple=True,
        metavar="URL",
        help=f"An OpenAI-compatible server for {server_of}; repeat it for several servers of "
        "one model (vLLM or TGI replicas): each request goes to the one with the fewest in "
        "flight.",
    )


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class AliasedOption(click.Option):
    """An option that also answers to old names, which ``--help`` and error messages leave out.

    ``@click.option("-o", "--output", "--out", "out", cls=AliasedOption,
    hidden_aliases=("--out",))``: scripts that still say ``--out`` keep working, and the
    help shows ``-o, --output`` only.
    """

    def __init__(self, *args: Any, hidden_aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = tuple(hidden_aliases)
        unknown = set(self.hidden_aliases) - set(self.opts) - set(self.secondary_opts)
        if unknown:
            raise TypeError(f"hidden aliases that are not names of the option: {sorted(unknown)}")

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """The help line, without the hidden aliases."""
        opts = self.opts
        self.opts = [name for name in opts if name not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts

    def get_error_hint(self, ctx: click.Context | None) -> str:
        """The option's names in an error message, without the hidden aliases."""
        shown = [name for name in self.opts if name not in self.hidden_aliases]
        return " / ".join(f"'{name}'" for name in shown or [self.human_readable_name])


def coco_options(function: F) -> F:
    """Add PATH and the options of :func:`kpit.load_coco` to a command."""
    return _coco_options(function, image_dir=True)


def coco_options_without_images(function: F) -> F:
    """:func:`coco_options` without ``--images`` (for commands that use that name otherwise)."""
    return _coco_options(function, image_dir=False)


def _coco_options(function: F, image_dir: bool) -> F:
    decorators = [
        click.argument(
            "path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
        ),
        click.option(
            "--split",
            default="val2017",
            show_default=True,
            help="Split name in the file names (train2017, val2014, ...).",
        ),
        click.option("--captions", type=_FILE, help="Captions file (overrides PATH's)."),
        click.option("--instances", type=_FILE, help="Instances file (overrides PATH's)."),
        click.option(
            "--keypoints", type=_FILE, help="Person keypoints file, COCO-17 or COCO-WholeBody."
        ),
        click.option(
            "--min-people",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Keep images with at least this many people with keypoints.",
        ),
        click.option(
            "--min-keypoints",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Leave out people with fewer labelled points.",
        ),
        click.option(
            "--crowd",
            type=click.Choice(["skip", "keep"]),
            default="skip",
            show_default=True,
            help="Leave crowd regions out or keep them as boxes.",
        ),
        click.option(
            "--image-id", "image_ids", type=int, multiple=True, help="Only this image (repeatable)."
        ),
        click.option("--limit", type=click.IntRange(min=0), help="At most this many images."),
    ]
    if image_dir:
        folder = click.Path(exists=True, file_okay=False, path_type=Path)
        decorators.insert(
            5, click.option("--images", type=folder, help="Image folder (default PATH/SPLIT).")
        )
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def load_from_options(options: Mapping[str, Any]) -> CocoContexts:
    """Call :func:`kpit.load_coco` with the values of :func:`coco_options`."""
    loaded = load_coco(
        options["path"],
        options["split"],
        captions=options["captions"],
        instances=options["instances"],
        keypoints=options["keypoints"],
        images=options.get("images"),
        min_people=options["min_people"],
        min_keypoints=options["min_keypoints"],
        crowd=options["crowd"],
        image_ids=options["image_ids"] or None,
        limit=options["limit"],
    )
    log.info("loaded %d images: %s", len(loaded), loaded.stats)
    _check_image_ids(loaded, options["image_ids"])
    return loaded


def _check_image_ids(loaded: CocoContexts, image_ids: Sequence[int]) -> None:
    """An ``--image-id`` that gives nothing is an error, not an empty result with exit 0."""
    chosen = set(loaded.image_ids)
    for image_id in image_ids:
        if image_id in chosen:
            continue
        if not loaded.listed(image_id):
            raise ConfigError(f"no image {image_id} in the annotation files", field="image_id")
        raise ConfigError(f"image {image_id} is left out by the other options (--min-people, "
                          "--min-keypoints, --limit)", field="image_id")  # fmt: skip


def parse_key_values(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("temperature=0.7", "seed=3")`` to ``{"temperature": 0.7, "seed": 3}``.

    Values that read as JSON (numbers, true/false, null, lists) are parsed as JSON; anything
    else stays a string.
    """
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def backend_options(
    pairs: tuple[str, ...], base_url: str | Sequence[str] | None = None, **flags: Any
) -> dict[str, Any]:
    """A backend's options: ``-O KEY=VALUE`` pairs, with the flags that are set on top.

    ``base_url``: one server, or several (``--base-url`` repeated; one of them is one URL)."""
    if not isinstance(base_url, str) and base_url is not None:
        urls = list(base_url)
        base_url = None if not urls else urls[0] if len(urls) == 1 else urls
    given = {"base_url": base_url, **flags}
    return parse_key_values(pairs) | {k: v for k, v in given.items() if v is not None}
