"""Closing the loop: feedback from the page, gaps from every signal, owned actions, and their
measured outcomes. Plain Python over the database (no Flask, no click)."""
