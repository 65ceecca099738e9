"""A small SOP corpus for the search tests, written through the `sop_dir` factory, plus helpers.

Imported by the tests/test_search*.py modules; it holds no tests itself. The corpus has one of
everything search treats differently: a t2_only SOP, Tier 2 blocks, a retired SOP and its active
successor, a draft, an open and an expired bulletin, an escalation path, and a section quoting HTML.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from fixtures.sops import SopDir
from kb_app.search import SearchService, build_index

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)

# Words that exist only in Tier 2 material (the t2_only SOP and Tier 2 blocks).
T2_SECRETS = ("quokka", "collusion", "marmalade", "zebralineage", "gondolier", "T2-INSIDER-RISK", "insider-risk")

ATO_BODY = """Lead text before any heading: this is the parent procedure.

## When this applies {#when-this-applies}

The customer says "my account was hacked", "someone took over my account" or "I'm locked out".
The password, recovery email or phone number was changed and they did not do it.

## Verify ownership {#verify-ownership}

Collect two strong signals through the console before you recover anything. Ask open questions
about the account creation date and old usernames; never confirm a partial answer.

/// tier | T2
Tier 2 only: open the zebralineage view and trace the gondolier sessions back through the window.
///

## Recover the account {#recover}

Sign out every session, restore the contact points, then send a password reset link to the
verified channel only.

## Related {#related}

- [Two-step verification reset](two-step-reset.md)
- [SIM swap and port-out](sim-swap.md)
"""

TWO_STEP_BODY = """## When this applies {#when-this-applies}

The customer cannot get past two-step verification because they lost the phone or the
authenticator app that produces their codes.

## Cooling-off period {#cooling-off}

A standard reset waits 72 hours before the factor is removed. Customers push back on the wait;
explain that it protects them.

## Attacker-enrolled authenticator {#attacker-enrolled}

Remove an authenticator that the attacker enrolled inside the compromise window straight away.
"""

SIM_BODY = """## Signals {#signals}

The phone suddenly says no service, and the customer gets codes they never asked for. The
carrier moved their number to a SIM card someone else controls.

## Carrier advice {#carrier-advice}

Tell the customer to call their mobile carrier from another phone and ask for a port freeze.
"""

EMAIL_BODY = """## Anchor email {#anchor-email}

The anchor email is the last address the customer controlled before the compromise window.

## Customer has no access to the anchor email {#no-access}

If the customer cannot open the anchor email any more, ask for a new address they control and
collect the ownership signals instead. Never restore a mailbox that was itself compromised.
"""

PHISHING_BODY = """## Triage {#triage}

The customer typed their password into a phishing site that imitated our sign-in screen.
Report the link, then treat the account as compromised.
"""

INSIDER_BODY = """## Marmalade protocol {#marmalade-protocol}

Suspected employee collusion: freeze the quokka ledger and tell nobody outside Tier 2.

## Reporting {#reporting}

Send the collusion report to the insider risk team with the quokka ledger attached.
"""

RETIRED_BODY = """## Text message code fallback {#fallback}

When the authenticator is lost, send a text message code to the phone on file as a fallback.
"""

ACTIVE_SMS_BODY = """## Text message code delivery {#delivery}

A text message code that does not arrive: check the phone on file and resend the code once.
"""

HTML_BODY = """## Pasted markup {#pasted-markup}

If a customer pastes <script>alert('x')</script> into the chat, do not open it; write "a & b" instead.
"""

ESCALATION_BODY = """## When to escalate {#when-to-escalate}

Escalate threats, extortion and doxxing within 30 minutes.

## Steps {#steps}

Use the urgent form.
"""

BULLETIN_BODY = """## What is happening {#summary}

A wave of credential stuffing takeovers. Every recovery signs out everywhere.
"""

OLD_BULLETIN_BODY = """## What happened {#summary}

A past outage of the recovery console delayed verification codes.
"""

DRAFT_BODY = """## Draft notes {#notes}

Pangolin procedure, not yet published.
"""


def write_corpus(sop_dir, *, with_tier2: bool = True) -> None:
    """The search test corpus. `with_tier2=False` leaves out everything only Tier 2 may read."""
    ato_body = (
        ATO_BODY
        if with_tier2
        else ATO_BODY.replace(ATO_BODY[ATO_BODY.index("/// tier") : ATO_BODY.index("///\n\n## Recover") + 4], "")
    )
    sop_dir.write("ATO-RECOVERY", body=ato_body, title="Hacked account recovery", tags=["ato", "recovery"])
    sop_dir.write(
        "TWO-STEP-RESET", body=TWO_STEP_BODY, title="Two-step verification reset", tags=["authenticator", "recovery"]
    )
    sop_dir.write("SIM-SWAP", body=SIM_BODY, title="SIM swap and port-out", tags=["phone", "sim"])
    sop_dir.write("EMAIL-CHANGE-REVERSAL", body=EMAIL_BODY, title="Reversing an email change", tags=["email"])
    sop_dir.write("PHISHING-TRIAGE", body=PHISHING_BODY, title="Phishing triage", tags=["phishing"])
    sop_dir.write(
        "SMS-OTP-FALLBACK", body=RETIRED_BODY, title="Text message code fallback", status="retired", tags=["sms"]
    )
    sop_dir.write("SMS-CODE-DELIVERY", body=ACTIVE_SMS_BODY, title="Text message code delivery", tags=["sms"])
    sop_dir.write("CHAT-HYGIENE", body=HTML_BODY, title="Chat hygiene", tags=["chat"])
    sop_dir.write(
        "ESC-THREAT-MGMT",
        kind="escalation",
        body=ESCALATION_BODY,
        title="Escalating to Threat Management",
        tags=["escalation", "threat"],
    )
    sop_dir.write(
        "BUL-2026-11-WAVE",
        kind="bulletin",
        body=BULLETIN_BODY,
        title="Credential stuffing wave",
        tags=["bulletin", "ato"],
        expires="2026-12-20T00:00:00Z",
    )
    sop_dir.write(
        "BUL-2025-01-OUTAGE",
        kind="bulletin",
        body=OLD_BULLETIN_BODY,
        title="Recovery console outage",
        tags=["bulletin"],
        expires="2025-02-01T00:00:00Z",
    )
    sop_dir.write("PANGOLIN-DRAFT", body=DRAFT_BODY, title="Pangolin draft", status="draft")
    if with_tier2:
        sop_dir.write(
            "T2-INSIDER-RISK",
            body=INSIDER_BODY,
            title="Insider risk and collusion",
            visibility="t2_only",
            audience={"tiers": ["T2"]},
            tags=["insider-risk", "tier2"],
        )


@pytest.fixture(scope="module")
def search_corpus(tmp_path_factory) -> SopDir:
    """The corpus, written once per test module (tests must not change it; use `sop_dir` for that)."""
    sop_dir = SopDir(tmp_path_factory.mktemp("search") / "sop")
    write_corpus(sop_dir)
    return sop_dir


@pytest.fixture(scope="module")
def index_dir(search_corpus) -> Path:
    path = search_corpus.root.parent / "index"
    build_index(search_corpus.root, path)
    return path


@pytest.fixture(scope="module")
def service(index_dir) -> SearchService:
    service = SearchService(index_dir, clock=lambda: NOW)
    yield service
    service.close()


def keys(results) -> list[str]:
    return [f"{hit.sop_id}#{hit.anchor}" for hit in results.hits]


def sop_ids(results) -> list[str]:
    return [hit.sop_id for hit in results.hits]
