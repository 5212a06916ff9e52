"""Does the `cow` exercise ask what Linux does? Its answers at the real kernel's own scenario
(cow-1g-4k) against the capture's figures; on small seeded scenarios against a hand-written
model of mapcounts; its questions, its check, and the input it refuses."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from tests.kernel import linux32
from tests.lab.lab_cli import checked_key
from typer.testing import CliRunner

from vmsim.cli import app
from vmsim_kernel import InvalidArgument
from vmsim_lab import check_answers, questions
from vmsim_lab.cow import (
    MAX_REGION_PAGES,
    CowScenario,
    CowStep,
    Side,
    run_cow_scenario,
    scenario_question,
)
from vmsim_lab.grading import LabConfig, LabStore

SEEDS = range(6)
KIB_PER_PAGE = 4


# ---- the real kernel's scenario -------------------------------------------------------------------
# vmprobe's phases of cow-1g-4k, in the order the exercise asks them: (process, phase)
CAPTURE_STEPS = [
    ("C", "p1-child-read-all"),
    ("C", "p2-child-write-first-half"),
    ("P", "p3-parent-write-all"),
]
CAPTURE_AFTER_EXIT = ("P", "p4-parent-rewrite-all")


def _linux_answers(capture: linux32.Capture) -> list[int]:
    """The exercise's items in order, read from the capture's VP rows."""
    fork = capture.vp_values("vma", "fork", "P")
    answers = [fork["Pss"], fork["Shared_Dirty"]]
    for who, phase in CAPTURE_STEPS:
        vmdelta = capture.vp_values("vmdelta", phase)
        region = capture.vp_values("vma", phase, "P")
        answers += [
            capture.vp_values("proc", phase, who)["d_minflt"],
            vmdelta["nr_anon_pages"],
            vmdelta["pgreuse"],
            region["Pss"],
            region["Shared_Dirty"],
        ]
    # The child's exit frees the region's pages only it maps: its Private_Dirty before it.
    answers.append(
        capture.vp_values("vma", CAPTURE_STEPS[-1][1], "C")["Private_Dirty"] // KIB_PER_PAGE
    )
    who, phase = CAPTURE_AFTER_EXIT
    vmdelta = capture.vp_values("vmdelta", phase)
    answers += [
        capture.vp_values("proc", phase, who)["d_minflt"],
        vmdelta["nr_anon_pages"],
        vmdelta["pgreuse"],
    ]
    return answers


@pytest.mark.slow
def test_the_answers_at_the_captures_scenario_are_linuxs_figures() -> None:
    """300 MiB written, fork, the child reads all, writes the first half, the parent writes
    all, the child exits, the parent writes all again: every answer is the capture's."""
    capture = linux32.load("cow-1g-4k")
    (nr_pages,) = {row.values["pages"] for row in capture.vp_rows_of_kind("vma")}
    every, first_half = (0, nr_pages), (0, nr_pages // 2)
    scenario = CowScenario(
        nr_pages,
        (
            CowStep(Side.CHILD, False, *every),
            CowStep(Side.CHILD, True, *first_half),
            CowStep(Side.PARENT, True, *every),
        ),
        after_exit=CowStep(Side.PARENT, True, *every),
    )
    question = scenario_question(scenario, 1)
    linux = _linux_answers(capture)
    assert [int(item.answer) for item in question.items] == linux
    # Linux's exit also frees the child's few pages outside the region (libc, stack).
    linux_freed = -capture.vp_values("vmdelta", "p4a-child-exited")["nr_anon_pages"]
    assert linux[-4] <= linux_freed <= linux[-4] + 10


# ---- small scenarios against a model of mapcounts ------------------------------------------------------
STEP = re.compile(r"(?:step \d+:|then) the (parent|child) (reads|writes) pages? (\d+)(?:-(\d+))?")


def _model(text: str) -> list[int]:
    """The items of a question, from its text alone: each side's PTE names a frame, a frame's
    mapcount is the PTEs naming it, fork leaves every PTE read-only."""
    nr_pages = int(re.search(r"maps (\d+) pages", text).group(1))  # type: ignore[union-attr]
    steps = [
        (side, verb == "writes", int(first), int(last or first))
        for side, verb, first, last in STEP.findall(text)
    ]
    frames = {side: list(range(nr_pages)) for side in ("parent", "child")}
    writable = {side: [False] * nr_pages for side in ("parent", "child")}
    next_frame = nr_pages

    def mapcount(frame: int) -> int:
        return sum(side_frames.count(frame) for side_frames in frames.values())

    def smaps() -> list[int]:
        counts = [mapcount(frame) for frame in frames["parent"]]
        pss = sum(KIB_PER_PAGE // count for count in counts)
        return [pss, KIB_PER_PAGE * sum(count > 1 for count in counts)]

    def run(side: str, write: bool, first: int, last: int) -> list[int]:
        nonlocal next_frame
        faults = copies = reuses = 0
        for page in range(first, last + 1):
            if not write or writable[side][page]:
                continue
            faults += 1
            if mapcount(frames[side][page]) == 1:
                reuses += 1
            else:
                copies += 1
                frames[side][page], next_frame = next_frame, next_frame + 1
            writable[side][page] = True
        return [faults, copies, reuses]

    answers = smaps()
    for step in steps[:-1]:
        answers += run(*step) + smaps()
    answers.append(len(set(frames.pop("child")) - set(frames["parent"])))
    return answers + run(*steps[-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_small_scenarios_agree_with_a_model_of_mapcounts(seed: int) -> None:
    (question,) = questions("cow", seed, 1)
    assert [int(item.answer) for item in question.items] == _model(question.text), question.text


def test_different_seeds_give_different_questions() -> None:
    texts = {questions("cow", seed, 1)[0].text for seed in SEEDS}
    assert len(texts) == len(SEEDS)
    assert questions("cow", 3, 2)[0].text != questions("cow", 3, 2)[1].text
    assert questions("cow", 3, 1)[0] == questions("cow", 3, 2)[0]


def test_check_grades_right_and_wrong_answers() -> None:
    (question,) = questions("cow", 4, 1)
    right = {item.id: item.answer for item in question.items}
    assert check_answers("cow", 4, 1, right).correct == len(question.items)
    first, second, *_ = question.items
    wrong = {**right, first.id: str(int(first.answer) + 4), second.id: ""}
    result = check_answers("cow", 4, 1, wrong)
    assert [item.correct for item in result.items[:3]] == [False, False, True]
    assert result.correct == len(question.items) - 2


def test_the_command_line_prints_a_key_that_its_check_accepts(tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    question = checked_key("cow", 9, answers)
    key = answers.read_text()
    answers.write_text(key.replace(f"{question.items[0].id}: ", "1a: 9999 # ", 1))
    failed = CliRunner().invoke(app, ["lab", "check", "cow", "--seed", "9", str(answers)])
    assert failed.exit_code == 1 and "WRONG" in failed.stdout


def test_the_example_graded_lab_grades_each_students_own_cow_questions(tmp_path: Path) -> None:
    lab = LabConfig.from_toml(Path(__file__).resolve().parents[2] / "docs" / "labs" / "lab.toml")
    store = LabStore(tmp_path / "lab.sqlite3", lab)
    now = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    for name in ("ada", "bob"):
        store.join(name, "", now)
    ada, bob = (store.questions_of(name, "cow") for name in ("ada", "bob"))
    assert ada[0].text != bob[0].text
    key = {item.id: item.answer for question in ada for item in question.items}
    half_wrong = {
        item: "-1" if index % 2 else answer for index, (item, answer) in enumerate(key.items())
    }
    first = store.submit("ada", "cow", half_wrong, now)
    best = store.submit("ada", "cow", key, now)
    weight = lab.exercise("cow").weight
    assert first.result.correct < len(key)
    assert first.score == pytest.approx(weight * first.result.correct / len(key))
    assert best.score == pytest.approx(weight)


# ---- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seed", "count", "message"),
    [(-1, 1, r"seed: -1 \(allowed: 0 .. 2\*\*64 - 1\)"), (1 << 64, 1, "seed"), (1, 0, "count")],
)
def test_a_seed_or_count_out_of_range_is_refused(seed: int, count: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        questions("cow", seed, count)


def test_unknown_kinds_and_items_are_refused_with_what_is_allowed() -> None:
    with pytest.raises(InvalidArgument, match=r"no exercise 'fork' \(allowed: .*\bcow\b"):
        questions("fork", 1)
    with pytest.raises(InvalidArgument, match="no item 1z"):
        check_answers("cow", 1, 1, {"1z": "4"})


@pytest.mark.parametrize(
    ("option", "value"), [("--seed", "-5"), ("--seed", str(1 << 64)), ("--count", "-1")]
)
def test_the_command_line_refuses_what_the_wire_cannot_carry(option: str, value: str) -> None:
    """A seed or count outside uint64/uint32 gets typer's usage error, not a traceback."""
    refused = CliRunner().invoke(app, ["lab", "question", "cow", option, value])
    assert refused.exit_code == 2 and "is not in the range" in refused.output, refused.output


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (CowScenario(0, (CowStep(Side.CHILD, True, 0, 1),), CowStep(Side.PARENT, True, 0, 1)), "nr_pages: 0"),
        (CowScenario(MAX_REGION_PAGES + 1, (CowStep(Side.CHILD, True, 0, 1),), CowStep(Side.PARENT, True, 0, 1)), "nr_pages"),
        (CowScenario(8, (), CowStep(Side.PARENT, True, 0, 1)), "steps: 0 steps"),
        (CowScenario(8, (CowStep(Side.CHILD, True, 6, 3),), CowStep(Side.PARENT, True, 0, 1)), r"pages 6-8 of a 8-page region \(allowed: pages 0 .. 7"),
        (CowScenario(8, (CowStep(Side.CHILD, True, 0, 0),), CowStep(Side.PARENT, True, 0, 1)), "step"),
        (CowScenario(8, (CowStep(Side.CHILD, True, 0, 1),), CowStep(Side.CHILD, True, 0, 1)), "the child has exited"),
    ],
)  # fmt: skip
def test_a_scenario_the_exercise_cannot_run_is_refused(scenario: CowScenario, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        run_cow_scenario(scenario)
