"""The shipped text must be readable by someone who has only this repository.

A newcomer who clones it cannot open design notes kept elsewhere or the issue tracker, so no
shipped markdown, config or launch file may cite them; and every relative link and every file
path quoted in the README, the model card and the changelog must lead to a file that is in the
repository (not a git-ignored run folder that exists only on the machine that wrote the text).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Files a user gets with the package: every markdown file, the code, the configs, the launch files and the
# package manifests (the vendored vision_msgs subset included).
SHIPPED_GLOBS = ("*.md", "models/*.md", "tools/**/*.md", "interfaces/**/*.md", "config/**/*.yaml",
                 "config/**/*.xml", "launch/*.xml", "package.xml", "interfaces/**/package.xml",
                 "mlkd_tracker/**/*.py", "tools/**/*.sh", "Makefile", "setup.py")
# The narrative documents: they hold links and quoted paths a reader will follow.
NARRATIVE = ("README.md", "models/MODELS.md", "CHANGELOG.md", "BENCHMARKS.md")

OUTSIDE_REFERENCES = {
    "a path outside the repository (../shared)": re.compile(r"\.\./shared\b|(?<![\w.])shared/"),
    "the design notes (DESIGN.md)": re.compile(r"DESIGN\.md"),
    "a reference note (reference/*.md)": re.compile(r"\breference/[\w.-]+\.md"),
    "an issue number": re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE),
}
# Per-session notes belong in nobody's shipped prose; the changelog dates its entries instead.
SESSION = re.compile(r"\bsessions?\s*\d+", re.IGNORECASE)

FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s*\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
# A quoted path into the repository's own folders, e.g. `config/tracker_student.yaml`.
QUOTED_PATH = re.compile(r"^(?:config|launch|models|mlkd_tracker|test|tools|interfaces)/[\w./-]*$")


def _repository_files() -> set[str]:
    """Tracked plus untracked-but-not-ignored files (relative posix paths); without git, every
    file on disk outside the usual ignored folders."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=REPO, capture_output=True, check=True, timeout=60).stdout
        return {p for p in out.decode().split("\0") if p and (REPO / p).exists()}
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "runs", "data", "build", "install", "log"}
        return {p.relative_to(REPO).as_posix() for p in REPO.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(REPO).parts)}


FILES = _repository_files()


def _in_repository(relative: str) -> bool:
    """A file of the repository, or a folder holding one."""
    relative = relative.rstrip("/")
    return relative in FILES or any(f.startswith(relative + "/") for f in FILES)


def _shipped() -> list[Path]:
    found = {p for pattern in SHIPPED_GLOBS for p in REPO.glob(pattern)
             if p.is_file() and p.relative_to(REPO).as_posix() in FILES}
    return sorted(found)


def _prose(text: str) -> str:
    """Markdown without fenced code blocks (commands and sample output, not links)."""
    return FENCE.sub("", text)


def _name(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


SHIPPED = _shipped()


def test_the_shipped_files_are_found():
    names = {_name(p) for p in SHIPPED}
    assert {"README.md", "package.xml", "config/tracker.yaml", "launch/sim_demo.launch.xml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=_name)
def test_no_shipped_file_cites_what_a_clone_does_not_have(path: Path):
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for what, pattern in OUTSIDE_REFERENCES.items():
            if pattern.search(line):
                problems.append(f"{_name(path)}:{number} cites {what}: {line.strip()}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", NARRATIVE)
def test_the_documents_have_no_session_notes(name: str):
    text = (REPO / name).read_text(encoding="utf-8")
    hits = [line.strip() for line in text.splitlines() if SESSION.search(line)]
    assert not hits, f"{name} still reads like a lab notebook: {hits}"


def _relative_links(path: Path) -> list[str]:
    text = _prose(path.read_text(encoding="utf-8"))
    targets = LINK.findall(text) + REF_LINK.findall(text)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)
            and not t.startswith("#")]


@pytest.mark.parametrize("name", NARRATIVE)
def test_every_relative_link_points_at_a_file_in_the_repository(name: str):
    path = REPO / name
    broken = []
    for target in _relative_links(path):
        file_part = target.split("#", 1)[0]
        resolved = (path.parent / file_part).resolve()
        try:
            relative = resolved.relative_to(REPO).as_posix()
        except ValueError:
            broken.append(f"{target} (outside the repository)")
            continue
        if not _in_repository(relative):
            broken.append(target)
    assert not broken, f"{name} links to what a clone does not have: {broken}"


@pytest.mark.parametrize("name", NARRATIVE)
def test_every_quoted_repository_path_exists(name: str):
    text = _prose((REPO / name).read_text(encoding="utf-8"))
    missing = [span for span in INLINE_CODE.findall(text)
               if QUOTED_PATH.match(span) and not re.search(r"[<>*{}]", span)
               and not _in_repository(span)]
    assert not missing, f"{name} names files that are not in the repository: {missing}"


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The patterns and the link parser on a made-up document, so a test above cannot pass
    because its pattern matches nothing."""
    bad = ("See ../shared/DESIGN.md, reference/evaluation.md and issue 6. Fixed in issue #12; "
           "session 8 notes.")
    hits = {what for what, p in OUTSIDE_REFERENCES.items() if p.search(bad)}
    assert hits == set(OUTSIDE_REFERENCES)
    assert SESSION.search(bad)
    assert not any(p.search("a shared-memory transport; tissue 3; reissue") for p in
                   OUTSIDE_REFERENCES.values())
    doc = tmp_path / "doc.md"
    doc.write_text("[card](models/MODELS.md) ![plot](a.png \"t\") [web](https://x.org) [top](#a)\n"
                   "```\n[in code](ignored.md)\n```\n[ref]: CHANGELOG.md\n")
    assert _relative_links(doc) == ["models/MODELS.md", "a.png", "CHANGELOG.md"]
    assert _in_repository("models/MODELS.md") and _in_repository("models/")
    assert not _in_repository("runs/demo") and not _in_repository("models/no_such.onnx")
