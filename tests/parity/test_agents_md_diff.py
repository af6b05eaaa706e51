"""AGENTS.md discovery and composition side by side with the real `codex` 0.169 (issue #12).

For each layout of the corpus, the real `codex exec` runs against the fake Responses API server
(tests/fakemodel.py) and we read the AGENTS.md message it sends the model; `codex-orchestrator
instructions --format json` runs on the same folders with the same `$CODEX_HOME`. Both are reduced to
one view: the files that contribute, in order, each with the text the model gets from it (ends
stripped: our composition trims blank lines and adds a header comment per file, Codex adds separators).

Codex's message is `# AGENTS.md instructions[ for <cwd>]`, then `<INSTRUCTIONS>`: the global file,
`--- project-doc ---`, then each project file, joined by blank lines. The parser below tells the files
apart by their contents, which are distinct (none a prefix of another) in every layout.

Every layout states what Codex sends (so the harness itself can fail) and, where we differ on purpose,
what we compose instead, under an id that docs/codex-compat.md must explain.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.fakemodel import FakeModel, Turn
from tests.peers import codex_bin, codex_home_outside_tmp

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "docs" / "codex-compat.md"
HOME = "$CODEX_HOME/"  # how a view names a file of $CODEX_HOME
PROJECT_SEPARATOR = "\n\n--- project-doc ---\n\n"
_MESSAGE = re.compile(r"# AGENTS\.md instructions(?: for (?P<cwd>[^\n]+))?\n\n<INSTRUCTIONS>\n(?P<body>.*)\n"
                      r"</INSTRUCTIONS>", re.DOTALL)
_HEADER = re.compile(r"^<!-- AGENTS\.md: (?P<label>.+) \((?P<scope>global|repo|project)\) -->$", re.MULTILINE)

View = list[tuple[str, str]]  # (file, text the model gets from it), in order


@dataclass(frozen=True)
class Link:
    """A symbolic link to `target` (relative to the link's folder)."""

    target: str


DIR = object()  # a folder (for example one named AGENTS.md)


@dataclass(frozen=True)
class Layout:
    """Folders and files under a fresh work folder, and what each side makes of them.

    `files` and `cwd`/`root` are relative to the work folder; `root` is where the repository starts
    (the working directory when there is no `.git`). `codex` is what Codex sends; `ours` is set only
    where we differ on purpose, with `differs` naming the row of docs/codex-compat.md that says why.
    """

    name: str
    files: Mapping[str, str | bytes | Link | object]
    cwd: str
    root: str
    codex: View
    home: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    ours: View | None = None
    differs: str | None = None


GIT = {"repo/.git": DIR}

CORPUS = [
    Layout("nested folders, global file, cwd below the last AGENTS.md",
           home={"AGENTS.md": "global: prefer small commits\n"},
           files={"AGENTS.md": "above the repository: never read\n", **GIT,
                  "repo/AGENTS.md": "root: run pytest\n", "repo/a/AGENTS.md": "a: typed code\n",
                  "repo/a/b/AGENTS.md": "b: leaf notes\n", "repo/a/b/c": DIR, "repo/other/AGENTS.md": "sibling\n"},
           cwd="repo/a/b/c", root="repo",
           codex=[(HOME + "AGENTS.md", "global: prefer small commits"), ("repo/AGENTS.md", "root: run pytest"),
                  ("repo/a/AGENTS.md", "a: typed code"), ("repo/a/b/AGENTS.md", "b: leaf notes")]),
    Layout("override files win, in $CODEX_HOME and in a folder",
           home={"AGENTS.override.md": "global override\n", "AGENTS.md": "global plain\n"},
           files={**GIT, "repo/AGENTS.override.md": "root override\n", "repo/AGENTS.md": "root plain\n",
                  "repo/a/AGENTS.md": "a plain\n"},
           cwd="repo/a", root="repo",
           codex=[(HOME + "AGENTS.override.md", "global override"), ("repo/AGENTS.override.md", "root override"),
                  ("repo/a/AGENTS.md", "a plain")]),
    Layout("fallback names in their order, a folder named AGENTS.md skipped",
           config={"project_doc_fallback_filenames": ["CLAUDE.md", "GUIDE.md"]},
           files={**GIT, "repo/AGENTS.md": "root agents\n", "repo/CLAUDE.md": "root claude\n",
                  "repo/a/CLAUDE.md": "a claude\n", "repo/a/GUIDE.md": "a guide\n", "repo/a/b/GUIDE.md": "b guide\n",
                  "repo/a/b/c/AGENTS.md": DIR, "repo/a/b/c/GUIDE.md": "c guide\n"},
           cwd="repo/a/b/c", root="repo",
           codex=[("repo/AGENTS.md", "root agents"), ("repo/a/CLAUDE.md", "a claude"),
                  ("repo/a/b/GUIDE.md", "b guide"), ("repo/a/b/c/GUIDE.md", "c guide")]),
    Layout("empty and blank files contribute nothing",
           home={"AGENTS.override.md": " \n\n", "AGENTS.md": "global after a blank override\n"},
           files={**GIT, "repo/AGENTS.md": "", "repo/a/AGENTS.md": "  \n\t\n", "repo/a/b/AGENTS.md": "b real\n"},
           cwd="repo/a/b", root="repo",
           codex=[(HOME + "AGENTS.md", "global after a blank override"), ("repo/a/b/AGENTS.md", "b real")]),
    Layout("an empty override file next to AGENTS.md", differs="empty-override",
           files={**GIT, "repo/AGENTS.md": "root text\n", "repo/a/AGENTS.override.md": "",
                  "repo/a/AGENTS.md": "a: hidden by Codex\n"},
           cwd="repo/a", root="repo",
           codex=[("repo/AGENTS.md", "root text")],
           ours=[("repo/AGENTS.md", "root text"), ("repo/a/AGENTS.md", "a: hidden by Codex")]),
    Layout("the cut falls inside a 4-byte character; the global file is not counted", differs="cut-in-character",
           home={"AGENTS.md": "global " + "g" * 60 + "\n"},
           config={"project_doc_max_bytes": 8 + 13 + 2},  # "root ok\n", "naïve café ", 2 bytes of the emoji
           files={**GIT, "repo/AGENTS.md": "root ok\n", "repo/a/AGENTS.md": "naïve café 😀 end\n",
                  "repo/a/b/AGENTS.md": "left out\n"},
           cwd="repo/a/b", root="repo",
           codex=[(HOME + "AGENTS.md", "global " + "g" * 60), ("repo/AGENTS.md", "root ok"),
                  ("repo/a/AGENTS.md", "naïve café \ufffd")],
           ours=[(HOME + "AGENTS.md", "global " + "g" * 60), ("repo/AGENTS.md", "root ok"),
                 ("repo/a/AGENTS.md", "naïve café")]),
    Layout("the cut falls between ASCII characters",
           config={"project_doc_max_bytes": 11 + 6},
           files={**GIT, "repo/AGENTS.md": "root 12345\n", "repo/a/AGENTS.md": "a-file abcdefgh\n",
                  "repo/a/b/AGENTS.md": "not reached\n"},
           cwd="repo/a/b", root="repo",
           codex=[("repo/AGENTS.md", "root 12345"), ("repo/a/AGENTS.md", "a-file")]),
    Layout("the budget ends exactly at a file's end",
           config={"project_doc_max_bytes": 6 + 5},
           files={**GIT, "repo/AGENTS.md": "exact\n", "repo/a/AGENTS.md": "fits\n", "repo/a/b/AGENTS.md": "dropped\n"},
           cwd="repo/a/b", root="repo",
           codex=[("repo/AGENTS.md", "exact"), ("repo/a/AGENTS.md", "fits")]),
    Layout("invalid UTF-8 bytes count as stored",
           config={"project_doc_max_bytes": 13 + 4},
           files={**GIT, "repo/AGENTS.md": b"bad \xff\xfe bytes\n", "repo/a/AGENTS.md": "0123456789 tail\n"},
           cwd="repo/a", root="repo",
           codex=[("repo/AGENTS.md", "bad \ufffd\ufffd bytes"), ("repo/a/AGENTS.md", "0123")]),
    Layout("a file cut down to blanks", differs="blank-after-cut",
           config={"project_doc_max_bytes": 6 + 2},
           files={**GIT, "repo/AGENTS.md": "first\n", "repo/a/AGENTS.md": "   \nsecond\n",
                  "repo/a/b/AGENTS.md": "third file\n"},
           cwd="repo/a/b", root="repo",
           codex=[("repo/AGENTS.md", "first"), ("repo/a/b/AGENTS.md", "th")],
           ours=[("repo/AGENTS.md", "first")]),
    Layout("no git repository: only the working directory",
           files={"AGENTS.md": "above, no repository\n", "work/AGENTS.md": "cwd only\n",
                  "work/sub/AGENTS.md": "below the cwd\n"},
           cwd="work", root="work",
           codex=[("work/AGENTS.md", "cwd only")]),
    Layout("a worktree's .git file marks the root; no global file; cwd deep below",
           files={"repo/.git": "gitdir: /nowhere\n", "repo/AGENTS.md": "root of a worktree\n", "repo/x/y/z": DIR},
           cwd="repo/x/y/z", root="repo",
           codex=[("repo/AGENTS.md", "root of a worktree")]),
    Layout("project_doc_max_bytes = 0 keeps only the global file",
           home={"AGENTS.md": "global only, docs are off\n"}, config={"project_doc_max_bytes": 0},
           files={**GIT, "repo/AGENTS.md": "off\n"},
           cwd="repo", root="repo",
           codex=[(HOME + "AGENTS.md", "global only, docs are off")]),
    Layout("docs/AGENTS.md and .agent/AGENTS.md", differs="docs-and-agent-files",
           files={**GIT, "repo/AGENTS.md": "root says hi\n", "repo/docs/AGENTS.md": "docs for all\n",
                  "repo/a/AGENTS.md": "a says hi\n", "repo/a/.agent/AGENTS.md": "project file\n"},
           cwd="repo/a", root="repo",
           codex=[("repo/AGENTS.md", "root says hi"), ("repo/a/AGENTS.md", "a says hi")],
           ours=[("repo/AGENTS.md", "root says hi"), ("repo/docs/AGENTS.md", "docs for all"),
                 ("repo/a/AGENTS.md", "a says hi"), ("repo/a/.agent/AGENTS.md", "project file")]),
    Layout("the same file twice through a symlink", differs="same-file-twice",
           files={**GIT, "repo/AGENTS.md": "shared guidance\n", "repo/a/AGENTS.md": Link("../AGENTS.md")},
           cwd="repo/a", root="repo",
           codex=[("repo/AGENTS.md", "shared guidance"), ("repo/a/AGENTS.md", "shared guidance")],
           ours=[("repo/AGENTS.md", "shared guidance")]),
    Layout("an `## Override:` heading", differs="override-heading",
           files={**GIT, "repo/AGENTS.md": "## Testing\nRun pytest.\n",
                  "repo/a/AGENTS.md": "## Override: Testing\nRun make test.\n"},
           cwd="repo/a", root="repo",
           codex=[("repo/AGENTS.md", "## Testing\nRun pytest."),
                  ("repo/a/AGENTS.md", "## Override: Testing\nRun make test.")],
           ours=[("repo/AGENTS.md", '<!-- section "Testing" replaced by a/AGENTS.md -->'),
                 ("repo/a/AGENTS.md", "## Testing\nRun make test.")]),
    Layout("a byte-order mark", differs="byte-order-mark",
           files={**GIT, "repo/AGENTS.md": b"\xef\xbb\xbfwith a BOM\n"},
           cwd="repo", root="repo",
           codex=[("repo/AGENTS.md", "\ufeffwith a BOM")],
           ours=[("repo/AGENTS.md", "with a BOM")]),
]


# ---------------------------------------------------------------- building a layout


def build(layout: Layout, work: Path, home: Path) -> None:
    for name, text in layout.home.items():
        (home / name).write_text(text, encoding="utf-8")
    for rel, content in layout.files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, Link):
            path.symlink_to(content.target)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            assert isinstance(content, str)
            path.write_bytes(content.encode("utf-8"))
    (work / layout.cwd).mkdir(parents=True, exist_ok=True)


def candidates(layout: Layout, work: Path, home: Path) -> View:
    """Every readable file of the layout, as Codex would decode it, in the layout's order.
    (Codex trims the global file's text; a project file's goes to the model as it is.)"""
    found: View = [(HOME + name, text.strip()) for name, text in layout.home.items()]
    for rel in layout.files:
        path = work / rel
        if path.is_file() and not rel.endswith("/.git"):
            found.append((rel, path.read_bytes().decode("utf-8", "replace")))
    texts = [text for _, text in found if text.strip()]
    for text in texts:  # the parser below tells files apart by their contents
        assert not any(other != text and other.startswith(text) for other in texts), text
    return found


# ---------------------------------------------------------------- what Codex sends


@pytest.fixture
def codex_home() -> Iterator[Path]:
    home = codex_home_outside_tmp()
    yield home
    shutil.rmtree(home, ignore_errors=True)


def codex_message(home: Path, cwd: Path, config: Mapping[str, Any]) -> str | None:
    """The AGENTS.md message `codex exec` sends the model from `cwd`, or None when it sends none."""
    with FakeModel() as model:
        model.script(Turn.message("done"))
        model.codex_home(home, **config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_")}
        done = subprocess.run([str(codex_bin()), "exec", "--skip-git-repo-check", "say done"], cwd=cwd,
                              env={**env, "CODEX_HOME": str(home)}, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert len(model.requests) == 1, model.unexpected
        found = [text for text in model.texts(0, role="user") if text.startswith("# AGENTS.md instructions")]
    assert len(found) <= 1, found
    return found[0] if found else None


def codex_view(message: str | None, cwd: Path, files: View) -> tuple[View, set[str]]:
    """The files in Codex's message, in order, and which of them it cut."""
    if message is None:
        return [], set()
    match = _MESSAGE.fullmatch(message)
    assert match, message
    assert match["cwd"] in (None, str(cwd)), match["cwd"]
    body, view, cut = match["body"], [], set()
    unused = list(files)
    while body:
        whole = [(name, text) for name, text in unused if text.strip() and body.startswith(text)
                 and (body == text or body[len(text):].startswith("\n\n"))]
        if not whole:  # the last file, cut by the budget (a split character shows as U+FFFD)
            cut_from = [(name, text) for name, text in unused if text.startswith(body.removesuffix("\ufffd"))]
            assert len(cut_from) == 1, (body, unused)
            view.append((cut_from[0][0], body.strip()))
            cut.add(cut_from[0][0])
            break
        name, text = whole[0]
        unused.remove((name, text))
        view.append((name, text.strip()))
        body = body[len(text):]
        separator = PROJECT_SEPARATOR if name.startswith(HOME) else "\n\n"
        assert body == "" or body.startswith(separator), (name, body[:40])
        body = body[len(separator):]
    return view, cut


# ---------------------------------------------------------------- what we compose


def our_view(work: Path, home: Path, layout: Layout) -> tuple[View, set[str]]:
    """Our composed text, file by file, and which files we cut (or left out) for the budget."""
    config = "".join(f"{key} = {json.dumps(value)}\n" for key, value in layout.config.items())
    (home / "config.toml").write_text(config)  # the same keys Codex read, from the same file
    cwd = work / layout.cwd
    done = run_cli("instructions", "--format", "json", "--cwd", str(cwd), cwd=cwd,
                   env={"CODEX_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    headers = list(_HEADER.finditer(document["text"]))
    view: View = []
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following else len(document["text"])
        label = header["label"]
        name = HOME + label.removeprefix("$CODEX_HOME/") if header["scope"] == "global" \
            else (Path(layout.root) / label).as_posix()
        view.append((name, document["text"][header.end():end].strip()))
    cut = {Path(source["path"]).relative_to(work).as_posix() for source in document["sources"]
           if source["truncated"]}
    return view, cut


# ---------------------------------------------------------------- the differential test


@pytest.mark.parametrize("layout", CORPUS, ids=[layout.name for layout in CORPUS])
def test_agents_md_matches_what_codex_sends(layout: Layout, tmp_path: Path, codex_home: Path) -> None:
    work = tmp_path.resolve() / "work"
    work.mkdir()
    build(layout, work, codex_home)
    cwd = work / layout.cwd
    theirs, codex_cut = codex_view(codex_message(codex_home, cwd, layout.config), cwd,
                                   candidates(layout, work, codex_home))
    ours, our_cut = our_view(work, codex_home, layout)

    assert theirs == layout.codex  # what Codex 0.169 does, so the comparison below cannot pass vacuously
    if layout.ours is None:
        assert ours == theirs
        assert codex_cut <= our_cut  # the file Codex cut is recorded as truncated in ours
    else:
        assert ours == layout.ours and ours != theirs
        assert f"`{layout.differs}`" in COMPAT.read_text(), f"docs/codex-compat.md has no row for {layout.differs}"


def test_the_corpus_covers_the_cases_the_issue_names() -> None:
    names = " ".join(layout.name for layout in CORPUS)
    for case in ("nested", "override", "fallback", "empty", "inside a 4-byte character", "global",
                 "cwd below", "no git repository"):
        assert case in names, case
    assert len(CORPUS) >= 8 and len({layout.name for layout in CORPUS}) == len(CORPUS)
    differs = [layout.differs for layout in CORPUS if layout.differs]
    assert len(differs) == len(set(differs)) and all(layout.ours for layout in CORPUS if layout.differs)
