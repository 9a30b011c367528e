"""Domain errors. Messages are user-facing (Chinese); the API and web layers map them to responses."""
from __future__ import annotations


class UnionflowError(Exception):
    """Base class for every error the engine raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(UnionflowError):
    pass


class PermissionDenied(UnionflowError):
    pass


class Conflict(UnionflowError):
    """The case changed since the caller saw it (optimistic lock).

    ``current_version`` is known when the caller's version was stale before anything was
    written; when another writer won a race at the flush, only ``case_id`` is (the version
    that won can be read only once the failed transaction is rolled back: engine.cases.case.case_version).
    """

    def __init__(self, message: str, current_version: int | None = None, *, case_id: int | None = None):
        super().__init__(message)
        self.current_version = current_version
        self.case_id = case_id


class InvalidAction(UnionflowError):
    """The trigger does not exist in the case's current state."""


class ConditionFailed(UnionflowError):
    """A named rule of the definition refused the transition."""

    def __init__(self, message: str, reasons: list[str]):
        super().__init__(message)
        self.reasons = reasons


class ValidationFailed(UnionflowError):
    """Bad input; ``fields`` maps a field name to its messages."""

    def __init__(self, fields: dict[str, list[str]], message: str = "提交的内容有误，请按提示修改"):
        super().__init__(message)
        self.fields = fields

    def __str__(self) -> str:
        details = "；".join(f"{name}: {'，'.join(map(str, messages))}" for name, messages in self.fields.items())
        return f"{self.message}（{details}）" if details else self.message


class DefinitionError(UnionflowError):
    """A workflow definition file is invalid; the message names the file and the field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class CalendarNotCovered(UnionflowError):
    """A date falls in a year neither chinesecalendar nor the calendar table covers."""

    def __init__(self, year: int):
        super().__init__(f"工作日历缺少 {year} 年的数据，请管理员导入该年度节假日安排")
        self.year = year
