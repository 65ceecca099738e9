"""The rendered redline: words inserted and deleted in the text an agent reads, tables and lists
kept as tables and lists, another tier's block never in it."""

from __future__ import annotations

from html.parser import HTMLParser

from kb_app.catalog import text_for_tier
from kb_app.catalog.redline import redline, redline_html
from kb_app.catalog.rendering import render_markdown


def render(text: str) -> str:
    return render_markdown(text, "procedures/ato-recovery.md")


class _Structure(HTMLParser):
    """Checks that every element closes in order, and collects the text of ins and del."""

    VOID = {"br", "hr", "img", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.marked: dict[str, list[str]] = {"ins": [], "del": []}
        self.parents: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        self.parents.append((tag, self.stack[-1] if self.stack else ""))
        self.stack.append(tag)
        if tag in ("ins", "del"):
            self.marked[tag].append("")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        for kind in ("ins", "del"):
            if kind in self.stack and "span" not in self.stack[-1:]:
                self.marked[kind][-1] += data


def structure(markup: str) -> _Structure:
    checker = _Structure()
    checker.feed(markup)
    checker.close()
    assert checker.errors == [] and checker.stack == [], (checker.errors, checker.stack)
    return checker


def marked_words(markup: str, kind: str) -> list[str]:
    return [" ".join(text.split()) for text in structure(markup).marked[kind]]


def test_words_changed_in_a_sentence_are_marked_and_the_markdown_is_not_shown():
    old = render("Use **one** strong signal, see [the matrix](priority.md#p1).")
    new = render("Use **two** strong signals, see [the matrix](priority.md#p1).")
    markup, inserted, deleted = redline_html(old, new)
    assert marked_words(markup, "ins") == ["two", "signals"]
    assert marked_words(markup, "del") == ["one", "signal"]
    assert (inserted, deleted) == (2, 2)
    assert "**" not in markup and "](" not in markup
    assert '<a href="/sop/procedures/priority/#p1">the matrix</a>' in markup  # rendered, links to the site


def test_each_change_is_announced_in_words_not_by_colour_alone():
    markup, _, _ = redline_html(render("Reset the password."), render("Reset the password and sign out."))
    assert '<ins class="redline-ins"><span class="visually-hidden">Inserted: </span>' in markup
    assert '<span class="visually-hidden"> (end of insertion)</span></ins>' in markup
    markup, _, _ = redline_html(render("Reset the password now."), render("Reset the password."))
    assert '<del class="redline-del"><span class="visually-hidden">Deleted: </span>' in markup


def test_a_rewritten_phrase_reads_as_old_then_new_not_word_by_word():
    markup, _, _ = redline_html(
        render("The current one is the mass ATO bulletin."), render("If no banner shows, no bulletin is in force.")
    )
    deleted = marked_words(markup, "del")
    assert "The current one" in deleted  # one deletion for the phrase, not one per word


def test_tables_stay_tables_with_the_new_row_inserted_and_the_removed_row_struck():
    old = render("| Situation | Follow |\n| --- | --- |\n| Lost phone | SIM swap |\n| Deleted account | Restore |\n")
    new = render(
        "| Situation | Follow |\n| --- | --- |\n| Lost phone | SIM swap |\n| Unknown passkey | Passkey recovery |\n"
    )
    markup, _, _ = redline_html(old, new)
    checked = structure(markup)
    assert "<table>" in markup and "|" not in markup
    assert "Unknown passkey" in marked_words(markup, "ins")
    assert "Deleted account" in marked_words(markup, "del")
    # Every marked cell sits in a cell: nothing is pushed out of the table.
    assert all(parent in ("td", "th", "a") for tag, parent in checked.parents if tag in ("ins", "del"))


def test_a_removed_list_item_is_shown_as_a_struck_item_of_the_list():
    old = render("1. Confirm identity.\n2. Sign out every session.\n3. Reset the password.\n")
    new = render("1. Confirm identity.\n2. Reset the password.\n")
    markup, _, deleted = redline_html(old, new)
    checked = structure(markup)
    assert marked_words(markup, "del") == ["Sign out every session."]
    assert deleted == 4
    assert all(parent in ("li", "p") for tag, parent in checked.parents if tag == "del")
    assert markup.count("<li") == 3


def test_sections_are_summarised_as_changed_added_removed_or_unchanged():
    old = "Lead text.\n\n## Verify {#verify}\n\nOne signal.\n\n## Old part {#old}\n\nGone soon.\n\n## Same {#same}\n\nKept.\n"
    new = "Lead text.\n\n## Verify {#verify}\n\nTwo signals.\n\n## Same {#same}\n\nKept.\n\n## New part {#new}\n\nFresh.\n"
    result = redline(old, new, render)
    statuses = {s.anchor: s.status for s in result.sections}
    assert statuses == {"": "unchanged", "verify": "changed", "same": "unchanged", "new": "added", "old": "removed"}
    added = next(s for s in result.sections if s.anchor == "new")
    assert "Fresh." in marked_words(added.html, "ins") and added.words_inserted == 3  # heading words too
    removed = next(s for s in result.sections if s.anchor == "old")
    assert "Gone soon." in marked_words(removed.html, "del")
    assert next(s for s in result.sections if s.anchor == "same").html == ""


def test_a_change_of_source_layout_only_is_no_change_for_the_reader():
    old = "## Steps {#steps}\n\nSign out every\nsession.\n"
    new = "## Steps {#steps}\n\nSign out every session.\n"
    assert [s.status for s in redline(old, new, render).sections] == ["unchanged"]


def test_a_tier_1_reader_never_sees_tier_2_block_text_not_even_as_deleted():
    old = "## Steps {#steps}\n\nReset the password.\n\n/// tier | T2\nCheck the ASN list OLD-SECRET.\n///\n"
    new = "## Steps {#steps}\n\nReset the password now.\n\n/// tier | T2\nCheck the ASN list NEW-SECRET.\n///\n"
    t1 = redline(text_for_tier(old, "T1"), text_for_tier(new, "T1"), render)
    html = "".join(s.html for s in t1.sections)
    assert "now" in marked_words(html, "ins")
    assert "SECRET" not in html and "ASN" not in html and "Tier 2" not in html
    t2 = redline(text_for_tier(old, "T2"), text_for_tier(new, "T2"), render)
    html = "".join(s.html for s in t2.sections)
    assert "NEW-SECRET" in " ".join(marked_words(html, "ins")) and "OLD-SECRET" in " ".join(marked_words(html, "del"))


def test_tabs_and_admonitions_render_rather_than_show_their_markup():
    old = '!!! warning "Check for a bulletin"\n\n    Open the banner.\n\n=== "Chat"\n\n    Say hello.\n'
    new = '!!! warning "Check for a bulletin"\n\n    Open the banner first.\n\n=== "Chat"\n\n    Say hello there.\n'
    markup, _, _ = redline_html(render(old), render(new))
    structure(markup)
    assert "!!!" not in markup and '=== "Chat"' not in markup
    assert "admonition" in markup and "tabbed" in markup
    assert marked_words(markup, "ins") == ["first", "there"]


def test_text_is_escaped_on_the_way_through():
    markup, _, _ = redline_html(render("Type `<b>` here."), render("Type `<script>` here."))
    assert "<script" not in markup and "&lt;" in markup and marked_words(markup, "ins") == ["script"]
