"""The `kb` command. Each concern lives in its own module here and exposes `register(main)`.

Commands are thin: parse options, call one core function, print its result. Errors that the
user must fix exit 1; usage errors exit 2 (click's own convention).
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from kb_app import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kb")
def main() -> None:
    """Account Security knowledge base: SOPs, search, acknowledgements and quizzes."""


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(main)


_register_commands()
