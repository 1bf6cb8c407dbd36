"""The benchmark as a page: built on the bundled sample, answered by three models (one of
them hostile), judged by a loopback GPT judge (pairwise, both orders, and against the
references) and by the pose judge, then read back with an HTML parser."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kpit
from kpit.bench import Answer, Bench, build_bench, judge_answers, load_reviews, write_page
from kpit.bench.files import write_jsonl
from kpit.cli import cli
from kpit.testing import LoopbackJudge

from ..helpers.cli_results import one_clear_line
from .page_html import Node, parse

HOSTILE = ('<script>alert("x")</script></div></article></main><a href="javascript:alert(1)">'
           "click</a> <img src=x onerror=alert(1)> The catcher is standing. ")  # fmt: skip
MILLION = "long " * 200_000
JUDGED = ("good", "hostile", "plain")


def _biased(messages: Sequence[dict[str, Any]]) -> str:
    """A judge that prefers Assistant 1, whoever it is, on about half the questions."""
    question = str(messages[-1]["content"]).split("[Question]\n")[1].split("\n\n")[0]
    if hashlib.sha256(question.encode()).digest()[0] % 2:
        return "8 5\nAssistant 1 is better."
    return "6 6\nBoth are alike: <b>equal</b> & fine."


def _answers(bench: Bench, model: str, text: Any) -> dict[int, Answer]:
    return {q.question_id: Answer(q.question_id, text(q), model, f"{model}-{q.question_id}")
            for q in bench.questions}  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from ..conftest import SAMPLE

    out = tmp_path_factory.mktemp("page")
    contexts = list(kpit.load_coco(SAMPLE, split="val2017"))
    bench = build_bench(contexts, out / "hpaub", num_images=4, seed=0)
    models = {
        "good": _answers(bench, "good", lambda q: bench.references[q.question_id].text),
        "hostile": _answers(bench, "hostile", lambda q: HOSTILE),
        "plain": _answers(bench, "plain", lambda q: f"There are two people. {q.text}"),
        # not sent to the GPT judge: its token count refuses a million characters
        "huge": _answers(
            bench, "huge", lambda q: HOSTILE + (MILLION if q.question_id == 1 else "")
        ),
    }
    for name, answers in models.items():
        write_jsonl(out / f"{name}.jsonl", (a.to_dict() for a in answers.values()))
        if name != "huge":  # a million characters take the pose judge a while: not needed
            judge_answers(bench, answers, out / f"pose-{name}.jsonl", judge="pose")
    with LoopbackJudge(_biased) as server:
        options = {"base_url": server.base_url, "api_key": "sk-local"}
        for other in ("hostile", "plain"):
            judge_answers(bench, models["good"], out / f"gpt-{other}.jsonl", versus=models[other],
                          swap=True, model="loopback", judge_options=options)  # fmt: skip
        judge_answers(bench, models["plain"], out / "ref-plain.jsonl", model="loopback",
                      judge_options=options)  # fmt: skip
    reviews = [out / name for name in ("gpt-hostile.jsonl", "gpt-plain.jsonl", "ref-plain.jsonl",
                                       "pose-good.jsonl", "pose-hostile.jsonl",
                                       "pose-plain.jsonl")]  # fmt: skip
    page = write_page(out / "hpaub", [out / f"{m}.jsonl" for m in models], out / "page.html",
                      reviews=reviews, images=SAMPLE / "val2017")  # fmt: skip
    html = page.read_text(encoding="utf-8")
    root, unbalanced = parse(html)
    return {"out": out, "bench": bench, "models": models, "html": html, "root": root,
            "unbalanced": unbalanced, "reviews": reviews}  # fmt: skip


def _cards(root: Node) -> list[Node]:
    return root.find("article", "card")


def _column(card: Node, model: str) -> Node:
    (column,) = [c for c in card.find("section", "col") if c.attrs.get("data-model") == model]
    return column


def _answer_text(column: Node) -> str:
    (text,) = column.find("div", "answer")
    return text.text(skip=frozenset({"why", "badge"}))


def test_one_card_per_question_in_the_benchmark_order(made) -> None:
    bench, cards = made["bench"], _cards(made["root"])
    assert made["unbalanced"] == []  # no answer closed or opened an element of the page
    assert [int(c.attrs["data-question-id"]) for c in cards] == [
        q.question_id for q in bench.questions
    ]
    for card, question in zip(cards, bench.questions, strict=True):
        assert f"cat-{question.category}" in card.classes
        (asked,) = card.find("p", "question")
        assert asked.text() == question.text
        (shot,) = card.find("span", "shot")  # the image, drawn once per image in the CSS
        number = re.fullmatch(r"im(\d+)", next(c for c in shot.classes if c.startswith("im")))
        assert number is not None and f".im{number[1]}{{background-image:url(" in made["html"]


def test_every_answer_of_every_model_is_there_as_text(made) -> None:
    bench, cards = made["bench"], _cards(made["root"])
    for card, question in zip(cards, bench.questions, strict=True):
        qid = question.question_id
        assert _answer_text(_column(card, "reference")) == bench.references[qid].text
        for model, answers in made["models"].items():
            assert _answer_text(_column(card, model)) == answers[qid].text
    html = made["html"]
    assert html.count("<script") == 1 and html.count("</script>") == 1  # the page's own
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;/div&gt;" in html
    root = made["root"]
    assert not [n for n in root.walk() if n.tag == "a" and "javascript" in n.attrs.get("href", "")]
    assert not [n for n in root.walk() if n.tag == "img" and n.attrs.get("src") == "x"]
    handlers = [(n.tag, k) for n in root.walk() for k in n.attrs if k.startswith("on")]
    assert handlers == []


def test_a_long_answer_is_folded_whole(made) -> None:
    card = _cards(made["root"])[1]
    column = _column(card, "huge")
    assert len(_answer_text(column)) == len(HOSTILE + MILLION)  # not cut
    (fold,) = column.find("div", "fold")
    (toggle,) = fold.find("details")
    assert "1,000,000" not in toggle.text() and f"{len(HOSTILE + MILLION):,}" in toggle.text()
    short = _column(_cards(made["root"])[0], "huge")
    assert short.find("details") == [] or "Show all" not in short.text()


def test_the_claims_match_the_review_records(made) -> None:
    cards = {int(c.attrs["data-question-id"]): c for c in _cards(made["root"])}
    checked = 0
    for model in JUDGED:
        for review in load_reviews(made["out"] / f"pose-{model}.jsonl").reviews:
            column = _column(cards[review["question_id"]], model)
            marked = column.find("span", "claim")
            claims = sorted(review["claims"], key=lambda c: (c["start"], c["end"]))
            assert [(int(m.attrs["data-start"]), int(m.attrs["data-end"]), m.attrs["data-status"])
                    for m in marked] == [(c["start"], c["end"], c["status"])
                                         for c in claims]  # fmt: skip
            for number, (mark, claim) in enumerate(zip(marked, claims, strict=True), start=1):
                assert mark.attrs["data-claim"] == str(number)
                assert mark.attrs["tabindex"] == "0"  # the deciding fact shows on focus
                words = mark.find("span", "words")
                if words:  # a claim sharing words with an earlier one carries its mark only
                    assert words[0].text() == review["text"][claim["start"] : claim["end"]]
                (why,) = mark.find("span", "why")
                deciding = claim.get("fact") or claim.get("reason")
                assert str(deciding) in why.text() and claim["status"] in why.text()
                (badge,) = mark.find("span", "badge")
                assert badge.text() == {
                    "supported": "\u2713",
                    "contradicted": "\u2717",
                    "undecidable": "?",
                }[claim["status"]] + str(number)
                checked += 1
    assert checked > 20
    statuses = {m.attrs["data-status"] for m in made["root"].find("span", "claim")}
    assert statuses == {"supported", "contradicted", "undecidable"}


def _report_tables(*args: str) -> list[list[list[str]]]:
    result = CliRunner().invoke(cli, ["bench", "report", *map(str, args)])
    assert result.exit_code == 0, result.output
    tables: list[list[list[str]]] = []
    previous = False
    for line in result.stdout.splitlines():
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row and not set(line) <= set("|- "):
            tables[-1].append([cell.strip() for cell in line.strip().strip("|").split("|")])
        previous = row
    return tables


def _page_tables(root: Node) -> list[list[list[str]]]:
    return [[[cell.text().strip() for cell in row.find() if cell.tag in ("th", "td")]
             for row in table.find("tr")] for table in root.find("table", "scores")]  # fmt: skip


def test_the_tables_are_those_of_kpit_bench_report(made) -> None:
    out = made["out"]
    paper = _report_tables(out / "gpt-hostile.jsonl", out / "gpt-plain.jsonl", "--protocol",
                           "paper")  # fmt: skip
    llava = _report_tables(out / "ref-plain.jsonl")
    pose = _report_tables(*(out / f"pose-{m}.jsonl" for m in JUDGED))
    assert _page_tables(made["root"]) == paper + llava + pose
    assert len(paper[0]) == 4 and len(pose[0]) > 4  # a header and three models; categories
    charts = made["root"].find("img", "chart")
    assert len(charts) == 2 and all(c.attrs["src"].startswith("data:image/png;base64,")
                                    for c in charts)  # fmt: skip
    said = [_chart_description(c.attrs["src"]) for c in charts]
    assert "interval" not in said[0] and "interval" in said[1]  # the paper's bars say no more


def _chart_description(uri: str) -> str:
    """What a chart says it draws (its PNG's Description), as ``bench report --plot``."""
    import base64
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as chart:
        return str(chart.text["Description"])  # type: ignore[attr-defined]


def _disagreeing(paths: Sequence[Path]) -> dict[int, bool]:
    scores: dict[tuple[int, str, int], dict[str, Any]] = {}
    for path in paths:
        for r in load_reviews(path).reviews:
            key = (r["question_id"], r["versus_id"], r.get("run", 0))
            scores.setdefault(key, {})[r["order"]] = r["scores"]
    out: dict[int, bool] = {}
    for (qid, _, _), orders in scores.items():
        values = list(orders.values())
        out[qid] = out.get(qid, False) or (len(values) == 2 and values[0] != values[1])
    return out


def test_the_filters_read_the_reviews(made) -> None:
    out, cards = made["out"], _cards(made["root"])
    disagree = _disagreeing([out / "gpt-hostile.jsonl", out / "gpt-plain.jsonl"])
    assert set(disagree.values()) == {True, False}  # the biased judge flips some questions
    contradicted = {
        r["question_id"] for m in JUDGED for r in
        load_reviews(out / f"pose-{m}.jsonl").reviews
        if any(c["status"] == "contradicted" for c in r["claims"])
    }  # fmt: skip
    assert contradicted
    for card in cards:
        qid = int(card.attrs["data-question-id"])
        assert ("disagree" in card.classes) == disagree[qid]
        assert ("contradicted" in card.classes) == (qid in contradicted)
        reviews = [r for r in card.find("tr", "rv")]
        assert len(reviews) == 2 + 2 + 1  # two pairings in both orders, one reference review
    labels = [n.text().strip() for n in made["root"].find("label")]
    for wanted in (
        "Conversation",
        "good vs hostile",
        "good vs plain",
        "plain vs reference",
        "a contradicted claim",
        "the judge's scores disagree between orders",
    ):
        assert wanted in labels
    html = made["html"]
    assert "body:has(#only-contradicted:checked) .card:not(.contradicted)" in html
    assert "body:has(#cat-detail:checked) .card:not(.cat-detail)" in html


def test_cards_carry_the_score_differences_they_sort_by(made) -> None:
    means: dict[tuple[int, frozenset[str]], dict[str, list[float]]] = {}
    for path in (made["out"] / "gpt-hostile.jsonl", made["out"] / "gpt-plain.jsonl"):
        for r in load_reviews(path).reviews:
            key = (r["question_id"], frozenset(r["scores"]))
            for model, score in r["scores"].items():
                means.setdefault(key, {}).setdefault(model, []).append(score)
    for card in _cards(made["root"]):
        qid = int(card.attrs["data-question-id"])
        gaps = [abs(sum(a) / len(a) - sum(b) / len(b))
                for (q, _), sides in means.items() if q == qid
                for a, b in [list(sides.values())]]  # fmt: skip
        reference = load_reviews(made["out"] / "ref-plain.jsonl").reviews
        gaps += [abs(r["tuple"][1] - r["tuple"][0]) for r in reference if r["question_id"] == qid]
        assert float(card.attrs["data-diff"]) == pytest.approx(max(gaps), abs=1e-3)


def test_nothing_is_loaded_from_the_network_and_the_policy_holds(made) -> None:
    root, html = made["root"], made["html"]
    loaded = [
        (n.tag, k, v)
        for n in root.walk()
        for k, v in n.attrs.items()
        if k in ("src", "href", "srcset", "poster", "action", "data", "formaction")
    ]
    assert loaded and all(v.startswith("data:") for _, _, v in loaded), loaded
    assert not re.search(r"https?://", html)  # no address at all, loaded or not
    assert not re.findall(r"url\((?!\"data:)", html)
    assert not [n for n in root.walk() if n.tag in ("link", "iframe", "object", "embed", "base")]
    (meta,) = [n for n in root.find("meta") if n.attrs.get("http-equiv") ==
               "Content-Security-Policy"]  # fmt: skip
    policy = dict(part.strip().split(" ", 1) for part in meta.attrs["content"].split(";"))
    assert policy["default-src"] == "'none'" and policy["img-src"] == "data:"
    for tag in ("style", "script"):
        (element,) = root.find(tag)
        digest = base64.b64encode(hashlib.sha256(element.text().encode()).digest()).decode()
        assert policy[f"{tag}-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in meta.attrs["content"]
    assert not [n for n in root.walk() if "style" in n.attrs]  # the policy would block them


def test_the_page_reads_in_both_colour_schemes_and_by_keyboard(made) -> None:
    html, root = made["html"], made["root"]
    assert "@media (prefers-color-scheme: dark)" in html
    legend = root.find("ul", "legend")[0].text()
    for word in ("\u2713 supported", "\u2717 contradicted", "? undecidable"):
        assert word in legend
    zooms = root.find("details", "zoom")
    assert len(zooms) == len(_cards(root)) and all(z.find("summary") for z in zooms)


def test_the_command_line_writes_the_page(made, tmp_path: Path) -> None:
    from ..conftest import SAMPLE

    out = made["out"]
    args = [
        "bench",
        "page",
        str(out / "hpaub"),
        "--answers",
        str(out / "good.jsonl"),
        "--answers",
        str(out / "plain.jsonl"),
        "--reviews",
        str(out / "gpt-plain.jsonl"),
        "--reviews",
        str(out / "pose-plain.jsonl"),
        "--images",
        str(SAMPLE / "val2017"),
        "--image-width",
        "200",
        "--baseline",
        "plain",
        "-o",
        str(tmp_path / "p.html"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "p.html: 12 questions, 2 models" in result.stdout
    root, unbalanced = parse((tmp_path / "p.html").read_text(encoding="utf-8"))
    assert unbalanced == [] and len(_cards(root)) == 12
    assert "vs plain" in [c.text() for c in root.find("th")]  # the baseline's column
    taken = [*args[:-1], str(out / "good.jsonl")]
    one_clear_line(CliRunner().invoke(cli, taken), "would write over an input")
    twice = args[:5] + args[3:5] + ["-o", str(tmp_path / "q.html")]
    one_clear_line(CliRunner().invoke(cli, twice), "two answer files of model 'good'")
    hidden = [*args[:-2], "--images", str(tmp_path), "-o", str(tmp_path / "r.html")]
    one_clear_line(CliRunner().invoke(cli, hidden), "cannot open the image")


def test_without_reviews_or_images_the_page_has_no_tables(made, tmp_path: Path) -> None:
    page = write_page(made["bench"], [made["models"]["plain"]], tmp_path / "bare.html",
                      image_width=64)  # fmt: skip
    root, unbalanced = parse(page.read_text(encoding="utf-8"))
    assert unbalanced == [] and root.find("table", "scores") == [] and root.find("tr", "rv") == []
    assert "No reviews given" in root.text() and "blank canvas" in root.text()
    assert len(_cards(root)) == 12 and not root.find("span", "claim")


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@pytest.fixture(scope="module")
def sample_bench(made) -> Bench:
    """The sample's benchmark alone (a small repr in hypothesis's reports)."""
    return made["bench"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=_TEXT, question=_TEXT, cut=st.lists(st.integers(0, 300), max_size=6))
def test_any_text_comes_back_as_text(
    sample_bench: Bench, tmp_path: Path, answer: str, question: str, cut: list[int]
) -> None:
    first = sample_bench.questions[0]
    asked = type(first)(first.question_id, first.image, question, first.category)
    small = Bench([asked], {first.image: sample_bench.context(first)}, {})
    spans = sorted(cut)
    claims = [{"kind": "posture", "label": "standing", "status": "supported", "start": a,
               "end": b, "fact": "person 1 is <standing>"}
              for a, b in zip(spans[::2], spans[1::2], strict=False)]  # fmt: skip
    review = {"kind": "pose", "question_id": first.question_id, "category": first.category,
              "model_id": "m", "text": answer, "claims": claims}  # fmt: skip
    path = tmp_path / "pose.jsonl"
    write_jsonl(path, [review])
    page = write_page(small, [{first.question_id: Answer(first.question_id, answer, "m")}],
                      tmp_path / "one.html", reviews=[path], image_width=32)  # fmt: skip
    root, unbalanced = parse(page.read_text(encoding="utf-8"))
    assert unbalanced == []
    (card,) = _cards(root)
    # HTML reads a carriage return as a line feed (the input stream's newlines are normalised)
    assert card.find("p", "question")[0].text() == _newlines(question)
    assert _answer_text(_column(card, "m")) == _newlines(answer)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.slow
def test_hpaub_at_full_size_with_four_models_stays_under_8_mb(made, tmp_path: Path) -> None:
    """HPAUB's 90 questions on 30 images (the sample's real COCO images, copied under 30
    names), four models answering at reference length, three pairings judged in both orders
    with explanations of GPT-4o's length, and the pose judge's reviews of every answer."""
    from ..conftest import SAMPLE

    small: Bench = made["bench"]
    images, contexts, questions = tmp_path / "images", {}, []
    images.mkdir()
    for n in range(30):
        name = f"{n:012d}.jpg"
        source = small.questions[3 * (n % 4)].image
        (images / name).write_bytes((SAMPLE / "val2017" / source).read_bytes())
        context = small.contexts[source]
        contexts[name] = type(context)(name, context.captions, context.instances, context.people,
                                       context.width, context.height)  # fmt: skip
        for k in range(3):
            asked = small.questions[3 * (n % 4) + k]
            questions.append(type(asked)(3 * n + k, name, asked.text, asked.category))
    pose = {(r["question_id"], r["model_id"]): r for m in JUDGED
            for r in load_reviews(made["out"] / f"pose-{m}.jsonl").reviews}  # fmt: skip
    models, reviews = ("good", "hostile", "plain", "good"), []
    answers = []
    for number, model in enumerate(models):
        name = f"{model}-{number}"
        replies = {q.question_id: made["models"][model][q.question_id % 12].text for q in questions}
        answers.append({qid: Answer(qid, text, name) for qid, text in replies.items()})
        poses = [{**pose[(q.question_id % 12, model)], "question_id": q.question_id,
                  "model_id": name, "image": q.image} for q in questions]  # fmt: skip
        write_jsonl(tmp_path / f"pose-{name}.jsonl", poses)
        reviews.append(tmp_path / f"pose-{name}.jsonl")
    explanation = ("Assistant 1 describes the people and their poses accurately ... " * 10)[:600]
    for number in range(1, 4):
        mine, theirs = f"{models[number]}-{number}", f"{models[0]}-0"
        records = [{"kind": "pairwise", "question_id": q.question_id, "category": q.category,
                    "model_id": mine, "versus_id": theirs, "order": order, "tuple": [7, 6],
                    "scores": {theirs: 7, mine: 6}, "content": f"7 6\n{explanation}"}
                   for q in questions for order in ("versus-first", "answers-first")]  # fmt: skip
        write_jsonl(tmp_path / f"gpt-{number}.jsonl", records)
        reviews.append(tmp_path / f"gpt-{number}.jsonl")
    bench = Bench(questions, contexts, {})
    page = write_page(bench, answers, tmp_path / "hpaub.html", reviews=reviews, images=images)
    size = page.stat().st_size
    print(f"HPAUB page, 90 questions, 4 models: {size / 1e6:.2f} MB")
    assert size < 8_000_000
    root, unbalanced = parse(page.read_text(encoding="utf-8"))
    assert unbalanced == [] and len(_cards(root)) == 90
    assert len(root.find("section", "col")) == 90 * 4
    assert page.read_text(encoding="utf-8").count("data:image/jpeg;base64,") == 30  # once each


def test_claims_that_share_words_keep_the_text_whole() -> None:
    """As ``kpit bench show`` marks them: the later of two overlapping claims gets its mark
    only, numbered in text order, and the text reads the same."""
    from kpit.bench._page_data import mark

    text = "The man on the left is sitting, facing the camera."
    claims = [
        {"status": "supported", "start": 22, "end": 29, "kind": "posture", "label": "sitting",
         "fact": "person 1 is sitting"},
        {"status": "contradicted", "start": 4, "end": 29, "kind": "posture", "label": "x",
         "fact": "person 2 is standing"},
        {"status": "undecidable", "start": 31, "end": 50, "kind": "facing", "label": "camera",
         "reason": "no face visible"},
        {"status": "supported", "start": 40, "end": 999, "kind": "facing", "label": "y"},
    ]  # fmt: skip
    segments, numbered = mark(text, claims)
    assert "".join(s.text for s in segments) == text
    assert [(c.number, c.start, c.end, c.status) for c in numbered] == [
        (1, 4, 29, "contradicted"),
        (2, 22, 29, "supported"),
        (3, 31, 50, "undecidable"),
        (4, 40, 50, "supported"),  # clamped to the text
    ]
    marks = [(s.claim.number, s.whole, s.text) for s in segments if s.claim is not None]
    assert marks == [(1, True, text[4:29]), (2, False, ""), (3, True, text[31:50]),
                     (4, False, "")]  # fmt: skip
    assert "Undecidable: no face visible" in numbered[2].why
    assert "Contradicted by person 2 is standing" in numbered[0].why
