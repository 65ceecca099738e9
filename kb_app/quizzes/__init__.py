"""Quiz banks: load and validate `quizzes/*.yml`, draw attempts, grade them, and GIFT import/export.

No Flask and no database here: the web layer and `kb` call these functions and store what they
return (`Attempt.to_dict()`, `GradeResult.to_dict()`).
"""

from kb_app.quizzes.bank import (
    BankSet,
    bank_hash,
    bank_to_yaml,
    catalog_index,
    load_banks,
    parse_bank,
    read_banks,
    validate_banks,
)
from kb_app.quizzes.draw import Attempt, AttemptMismatch, DrawnQuestion, draw_attempt, taker_view
from kb_app.quizzes.grading import GradeResult, QuestionGrade, SubmissionError, grade, review_view
from kb_app.quizzes.schema import Bank, MultipleResponse, Option, Ordering, ShortAnswer, SingleChoice, TrueFalse

__all__ = [
    "Attempt",
    "AttemptMismatch",
    "Bank",
    "BankSet",
    "DrawnQuestion",
    "GradeResult",
    "MultipleResponse",
    "Option",
    "Ordering",
    "QuestionGrade",
    "ShortAnswer",
    "SingleChoice",
    "SubmissionError",
    "TrueFalse",
    "bank_hash",
    "bank_to_yaml",
    "catalog_index",
    "draw_attempt",
    "grade",
    "load_banks",
    "parse_bank",
    "read_banks",
    "review_view",
    "taker_view",
    "validate_banks",
]
