"""Workflows that span domain packages, each one function called by both the web and `kb`.

A workflow composes the domain packages (`acks`, `quizzes`, `search`, `sites`, `audit`) into one
user action with one error policy and one audit entry: publishing a release, submitting a quiz,
acknowledging a change. The web and CLI layers parse input, call one of these, and render.
May import every domain package; never Flask or click.
"""
