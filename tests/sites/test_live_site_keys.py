"""Which live sites a node checks against the release: each audience's and those its live build
names as built with it, folder names only."""

from __future__ import annotations

import json

from kb_app.sites import live_site_keys


def _live(site_dir, key, built_with):
    (site_dir / key).mkdir(parents=True)
    (site_dir / key / "kb-site.json").write_text(json.dumps({"catalog_hash": "h", "built_with": built_with}))


def test_the_audiences_and_what_their_builds_were_built_with(tmp_path):
    _live(tmp_path, "T1", ["T1", "T1.es", "preview-T1"])
    _live(tmp_path, "T2", ["T2", "T2.es", "preview-T2"])
    assert live_site_keys(tmp_path) == ["T1", "T2", "T1.es", "preview-T1", "T2.es", "preview-T2"]


def test_no_site_built_yet_still_names_the_audiences(tmp_path):
    assert live_site_keys(tmp_path / "missing") == ["T1", "T2"]


def test_a_manifest_edited_by_hand_cannot_point_outside_the_site_folder(tmp_path):
    _live(tmp_path, "T1", ["../../etc", "/abs", ".builds", 7, None, "T1.es"])
    (tmp_path / "T2").mkdir()
    (tmp_path / "T2" / "kb-site.json").write_text("not json", encoding="utf-8")
    assert live_site_keys(tmp_path) == ["T1", "T2", "T1.es"]
