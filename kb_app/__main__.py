"""`python -m kb_app` is the `kb` command."""

from kb_app.cli import main

main(prog_name="kb")
