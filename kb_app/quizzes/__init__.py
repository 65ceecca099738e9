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
    visible_by_tier,
)
from kb_app.quizzes.draw import Attempt, AttemptMismatch, DrawnQuestion, draw_attempt, taker_view
from kb_app.quizzes.gift import GiftWriteError, bank_to_gift, gift_to_bank, parse_gift
from kb_app.quizzes.grading import GradeResult, QuestionGrade, SubmissionError, grade, review_view
from kb_app.quizzes.schema import (
    Bank,
    Matching,
    MultipleResponse,
    Numerical,
    Option,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
)

__all__ = [
    "Attempt",
    "AttemptMismatch",
    "Bank",
    "BankSet",
    "DrawnQuestion",
    "GiftWriteError",
    "GradeResult",
    "Matching",
    "MultipleResponse",
    "Numerical",
    "Option",
    "Ordering",
    "QuestionGrade",
    "ShortAnswer",
    "SingleChoice",
    "SubmissionError",
    "TrueFalse",
    "bank_hash",
    "bank_to_gift",
    "bank_to_yaml",
    "catalog_index",
    "draw_attempt",
    "gift_to_bank",
    "grade",
    "load_banks",
    "parse_bank",
    "parse_gift",
    "read_banks",
    "review_view",
    "taker_view",
    "validate_banks",
    "visible_by_tier",
]
