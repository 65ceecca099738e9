"""Change acknowledgement: publishing versions, the agent's reading list, acknowledging, coverage
and reminders.

Modules: `publishing` (record versions, open requirements, assign agents), `acknowledge` (the
agent's side: reading list, banner, what changed, acknowledge), `gates` (when an update quiz must
be passed before an acknowledgement counts), `coverage` (SQL aggregates by roster dimension) and
`reminders` (SMTP nudges). May import `kb_app.catalog`, `kb_app.quizzes`, `kb_app.versions`,
`kb_app.models` and the foundation modules; never Flask or click.
"""
