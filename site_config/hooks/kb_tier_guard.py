"""MkDocs hook: a Tier 1 page must never carry Tier 2 material.

`kb build-site` leaves Tier 2 text out of the Tier 1 staging docs already; this check fails the
build if a rendered Tier 1 page still holds a Tier 2 block or a link to a `t2_only` page.
"""

from mkdocs.exceptions import PluginError


def on_post_page(output, page, config):
    kb = config.extra.get("kb") or {}
    if kb.get("audience") != "T1":
        return output
    for marker in ("admonition tier-t2", *kb.get("t2_only_markers", ())):
        if marker in output:
            raise PluginError(f"Doc file '{page.file.src_uri}' would show Tier 2 material on the Tier 1 site ({marker!r})")
    return output
