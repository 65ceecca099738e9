"""`kb preview` rebuild benchmark on the real corpus: first build, a save that changes nothing,
and a save that changes one SOP page (validation of SOPs and quiz banks included).

    python bench/preview.py [--sop-dir sop] [--quiz-dir quizzes] [--repeat 5]

The SOP directory is copied into a temporary git repository, so edits never touch the working tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from kb_app.cli.preview import bank_check  # noqa: E402
from kb_app.sites.preview import PreviewSession  # noqa: E402
from results import median, table, write_section  # noqa: E402


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=b@example.com", "-c", "user.name=Bench", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sop-dir", type=Path, default=ROOT / "sop")
    parser.add_argument("--quiz-dir", type=Path, default=ROOT / "quizzes")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kb-bench-preview-") as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(args.sop_dir, repo / "sop")
        shutil.copytree(args.quiz_dir, repo / "quizzes")
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "corpus")
        rows = []
        for tier in ("T1", "T2"):
            session = PreviewSession(
                repo / "sop", Path(tmp) / tier / "site", tier=tier, also_check=bank_check(repo / "quizzes")
            )
            first = session.rebuild()
            unchanged = [session.rebuild().seconds for _ in range(args.repeat)]
            page = repo / "sop" / "procedures" / "phishing-triage.md"
            original = page.read_text(encoding="utf-8")
            one_page = []
            for n in range(args.repeat):
                page.write_text(
                    original.replace("## Related {#related}", f"Edit {n}.\n\n## Related {{#related}}"), encoding="utf-8"
                )
                build = session.rebuild()
                assert not build.full and "procedures/phishing-triage.md" in build.rebuilt
                one_page.append(build.seconds)
            page.write_text(original, encoding="utf-8")
            rows.append(
                [tier, first.pages, f"{first.seconds:.2f}", f"{median(unchanged):.2f}", f"{median(one_page):.2f}"]
            )
    load = os.getloadavg()[0]
    body = table(
        ["audience", "pages", "first build (s)", "save, nothing changed (s)", "save, one page changed (s)"], rows
    )
    body += (
        f"\n\nMedian of {args.repeat} saves. Each rebuild loads and validates the SOPs (with the git comparison) and "
        "the quiz banks, stages the pages, and runs MkDocs' dirty build, which renders only pages whose staged "
        "file changed (the edited page and the home page, which lists the problems). Most of what is left is "
        "MkDocs collecting the theme's static files on every build. Load average "
        f"{load:.1f} at the end (other work shared the machine)."
    )
    write_section("Preview rebuild", body)
    print(body)


if __name__ == "__main__":
    main()
