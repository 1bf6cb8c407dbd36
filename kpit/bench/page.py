"""The benchmark as one HTML page: the report's tables and chart, then a card per question.

Each card shows the image with every person's box, skeleton and number (as ``kpit show``
draws them), the category, the question, each model's answer in a column of its own with
the pose judge's claims marked in it, and under the answers the GPT judge's scores in each
order with its explanation. Filters (category, model pair, scores that disagree between
orders, a contradicted claim) work with CSS alone; a text search and sorting by score
difference come from a small script.

The page is one file that works offline: the images are JPEG data URIs (each image once,
however many questions ask about it), nothing is loaded from the network, and a
Content-Security-Policy allows only the page's own style and script (by their SHA-256
hashes) and ``data:`` images: no inline event handler, no remote load. Every text read from
the files (answers, questions, captions, judge text) is escaped by the template engine;
long texts are folded, never cut.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup
from PIL import Image

from kpit._version import __version__
from kpit.bench._output import claim_outputs, write_bytes
from kpit.bench._page_data import ICONS, REFERENCE, Card, Pairing, build_cards
from kpit.bench._page_tables import sections
from kpit.bench.files import CATEGORIES, Answer, Bench, load_bench, read_answers
from kpit.bench.report import CATEGORY_TITLES, ReviewFile, load_reviews
from kpit.bench.review import failures_path
from kpit.errors import ConfigError, DataError
from kpit.judges.pose.context import image_context
from kpit.paths import safe_join
from kpit.viz import draw

__all__ = ["write_page"]

PathLike = str | os.PathLike[str]

JPEG_QUALITY = 80
"""The quality of the embedded images."""


def _asset(name: str) -> str:
    return (resources.files("kpit.bench") / "templates" / name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    """A CSP source for ``text``: ``'sha256-...'``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def csp(css: str, script: str) -> str:
    """The page's Content-Security-Policy: nothing from anywhere, except its own style and
    script (by hash) and ``data:`` images."""
    return (f"default-src 'none'; img-src data:; style-src {_hash(css)}; "
            f"script-src {_hash(script)}; base-uri 'none'; form-action 'none'")  # fmt: skip


def _picture(bench: Bench, name: str, images: Path | None, width: int) -> tuple[bytes, int, int]:
    """The image ``name`` with its people drawn, shrunk to ``width``, as JPEG bytes."""
    context = bench.contexts[name]
    source = bench.files.get("context")
    picture: Image.Image | None = None
    if images is not None:
        path = safe_join(images, name, file=source, record=f"image {name}")
        try:
            with Image.open(path) as opened:
                picture = opened.convert("RGB")
        except OSError as exc:
            raise DataError(f"cannot open the image: {exc.strerror or exc}", file=path,
                            record=f"image {name}", field="image") from None  # fmt: skip
    ctx = image_context(context, picture.size if picture else None, file=source)
    drawn = draw(ctx, picture)
    if drawn.width > width:
        height = max(1, round(drawn.height * width / drawn.width))
        drawn = drawn.resize((width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    drawn.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue(), drawn.width, drawn.height


def _image_rules(bench: Bench, names: Sequence[str], images: Path | None, width: int) -> str:
    rules = []
    for number, name in enumerate(names):
        data, w, h = _picture(bench, name, images, width)
        uri = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        rules.append(f'.im{number}{{background-image:url("{uri}");aspect-ratio:{w}/{h};'
                     f"--full:{w}px}}")  # fmt: skip
    return "\n".join(rules)


def _filter_rules(cards: Sequence[Card], pairings: Sequence[Pairing]) -> str:
    """The CSS that hides what a checked filter leaves out."""
    on = "body:has(#{}:checked)"
    rules = [f"{on.format('cat-' + c)} .card:not(.cat-{c})" for c in CATEGORIES]
    rules.append(f"{on.format('only-disagree')} .card:not(.disagree)")
    rules.append(f"{on.format('only-contradicted')} .card:not(.contradicted)")
    columns = {col.model: col.index for col in cards[0].columns} if cards else {}
    for pairing in pairings:
        checked = on.format(f"pair-{pairing.index}")
        keep = "".join(f":not(.m{columns[s]})" for s in pairing.sides if s in columns)
        rules += [f"{checked} .card:not(.has-p{pairing.index})", f"{checked} .col{keep}",
                  f"{checked} .rv:not(.p{pairing.index})"]  # fmt: skip
    return ",\n".join(rules) + " { display: none; }"


def _answer_files(
    answers: Sequence[PathLike | Mapping[int, Answer]], bench: Bench
) -> dict[str, Mapping[int, Answer]]:
    """Each answer file (or mapping) by its model."""
    out: dict[str, Mapping[int, Answer]] = {}
    for given in answers:
        path: Path | None = None
        if isinstance(given, Mapping):
            read: Mapping[int, Answer] = given
        else:
            path = Path(given)
            read = read_answers(path, default_model=path.stem)
        models = sorted({a.model_id or (path.stem if path else "model") for a in read.values()})
        if len(models) != 1:
            raise DataError(f"an answer file holds one model's answers, not {models or 'none'}",
                            file=path, field="model_id")  # fmt: skip
        model = models[0]
        if model in out or (model == REFERENCE and bench.references):
            raise ConfigError(f"two answer files of model {model!r}: give each model once"
                              if model in out else "'reference' names the benchmark's "
                              "reference answers; give the model another model_id",
                              file=path, field="model_id")  # fmt: skip
        out[model] = read
    return out


def _review_files(reviews: Sequence[PathLike | ReviewFile]) -> list[ReviewFile]:
    loaded = [r if isinstance(r, ReviewFile) else load_reviews(r) for r in reviews]
    seen: dict[Path, Path] = {}
    for f in loaded:
        first = seen.setdefault(f.path.resolve(), f.path)
        if first is not f.path:
            raise ConfigError(f"named twice ({first} and {f.path}): its reviews would count "
                              "twice", file=f.path)  # fmt: skip
    return loaded


def _inputs(
    bench: Bench,
    answers: Sequence[PathLike | Mapping[int, Answer]],
    reviews: Sequence[PathLike | ReviewFile],
    images: Path | None,
) -> list[PathLike]:
    """Every file the page reads: the output may be none of them."""
    paths: list[PathLike] = [*bench.files.values()]
    paths += [Path(a) for a in answers if not isinstance(a, Mapping)]
    for r in reviews:
        path = r.path if isinstance(r, ReviewFile) else Path(r)
        paths += [path, failures_path(path)]
    if images is not None:
        paths += [images / name for name in bench.contexts]
    return paths


def _render(context: Mapping[str, Any]) -> str:
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(_asset("page.html.j2")).render(**context)


def write_page(
    bench: Bench | PathLike,
    answers: Sequence[PathLike | Mapping[int, Answer]],
    out: PathLike,
    *,
    reviews: Sequence[PathLike | ReviewFile] = (),
    images: PathLike | None = None,
    image_width: int = 640,
    baseline: str | None = None,
    seed: int = 0,
    title: str | None = None,
) -> Path:
    """Write the benchmark as one self-contained HTML page and return its path.

    Args:
        bench: a benchmark (or its folder; references are shown when it has them).
        answers: answer files (or answers by ``question_id``), one model each: a column each.
        out: the HTML file to write (whole or not at all).
        reviews: review files: the GPT judge's (pairwise: the paper's table; against the
            references: LLaVA-Bench's) and the pose judge's (claims marked in the answers).
        images: the folder of the benchmark's images; without it the people are drawn on
            a blank canvas of the image's size.
        image_width: the width in pixels the images are shrunk to (JPEG).
        baseline: the paper's table adds each model's change of All against this model.
        seed: seeds the bootstrap of LLaVA-Bench's intervals (as ``kpit bench report``).
        title: the page's title (default: the benchmark folder's name).

    Raises:
        ConfigError: ``out`` is one of the inputs, a model is given twice, a baseline
            without pairwise reviews, or ``image_width`` is below 16.
        DataError: an input file cannot be read (naming the file, record and field), or an
            image cannot be opened.
    """
    loaded = bench if isinstance(bench, Bench) else load_bench(bench, require_references=False)
    if image_width < 16:
        raise ConfigError(f"image_width {image_width} is too small (16 or more)",
                          field="image_width")  # fmt: skip
    folder = Path(images) if images is not None else None
    target = Path(out)
    claim_outputs([target], _inputs(loaded, answers, reviews, folder))
    by_model = _answer_files(answers, loaded)
    files = _review_files(reviews)
    names = list(dict.fromkeys(q.image for q in loaded.questions))
    cards, pairings = build_cards(loaded, by_model, files, {n: i for i, n in enumerate(names)})
    css = "\n".join([_asset("page.css"), _filter_rules(cards, pairings),
                     _image_rules(loaded, names, folder, image_width)])  # fmt: skip
    script = _asset("page.js")
    questions = loaded.files.get("questions")
    name = title or (questions.parent.name if questions is not None else "benchmark")
    html = _render({
        "title": f"kpit benchmark: {name}" if title is None else title,
        "version": __version__,
        "csp": csp(css, script),
        "css": Markup(css),
        "script": Markup(script),
        "sections": sections(files, baseline=baseline, seed=seed),
        "cards": cards,
        "pairings": pairings,
        "models": list(by_model),
        "review_files": [f.path.name for f in files],
        "image_count": len(names),
        "with_images": folder is not None,
        "categories": [(c, CATEGORY_TITLES[c]) for c in CATEGORIES],
        "category_names": CATEGORY_TITLES,
        "icons": ICONS,
    })  # fmt: skip
    write_bytes(target, html.encode("utf-8"))
    return target
