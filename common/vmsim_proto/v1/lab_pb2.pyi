from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Exercise(_message.Message):
    __slots__ = ("kind", "title", "answer_format")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    title: str
    answer_format: str
    def __init__(self, kind: _Optional[str] = ..., title: _Optional[str] = ..., answer_format: _Optional[str] = ...) -> None: ...

class QuestionItem(_message.Message):
    __slots__ = ("id", "prompt", "answer")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    id: str
    prompt: str
    answer: str
    def __init__(self, id: _Optional[str] = ..., prompt: _Optional[str] = ..., answer: _Optional[str] = ...) -> None: ...

class Question(_message.Message):
    __slots__ = ("kind", "number", "text", "items", "working")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    WORKING_FIELD_NUMBER: _ClassVar[int]
    kind: str
    number: int
    text: str
    items: _containers.RepeatedCompositeFieldContainer[QuestionItem]
    working: str
    def __init__(self, kind: _Optional[str] = ..., number: _Optional[int] = ..., text: _Optional[str] = ..., items: _Optional[_Iterable[_Union[QuestionItem, _Mapping]]] = ..., working: _Optional[str] = ...) -> None: ...

class ItemResult(_message.Message):
    __slots__ = ("id", "correct", "given", "expected")
    ID_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    GIVEN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    id: str
    correct: bool
    given: str
    expected: str
    def __init__(self, id: _Optional[str] = ..., correct: _Optional[bool] = ..., given: _Optional[str] = ..., expected: _Optional[str] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("items", "correct", "total", "working")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    WORKING_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ItemResult]
    correct: int
    total: int
    working: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[ItemResult, _Mapping]]] = ..., correct: _Optional[int] = ..., total: _Optional[int] = ..., working: _Optional[_Iterable[str]] = ...) -> None: ...

class ListExercisesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListExercisesResponse(_message.Message):
    __slots__ = ("exercises",)
    EXERCISES_FIELD_NUMBER: _ClassVar[int]
    exercises: _containers.RepeatedCompositeFieldContainer[Exercise]
    def __init__(self, exercises: _Optional[_Iterable[_Union[Exercise, _Mapping]]] = ...) -> None: ...

class GetQuestionsRequest(_message.Message):
    __slots__ = ("kind", "seed", "count", "with_answers")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WITH_ANSWERS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    seed: int
    count: int
    with_answers: bool
    def __init__(self, kind: _Optional[str] = ..., seed: _Optional[int] = ..., count: _Optional[int] = ..., with_answers: _Optional[bool] = ...) -> None: ...

class GetQuestionsResponse(_message.Message):
    __slots__ = ("questions",)
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    questions: _containers.RepeatedCompositeFieldContainer[Question]
    def __init__(self, questions: _Optional[_Iterable[_Union[Question, _Mapping]]] = ...) -> None: ...

class CheckAnswersRequest(_message.Message):
    __slots__ = ("kind", "seed", "count", "answers")
    class AnswersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    seed: int
    count: int
    answers: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., seed: _Optional[int] = ..., count: _Optional[int] = ..., answers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CheckAnswersResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: CheckResult
    def __init__(self, result: _Optional[_Union[CheckResult, _Mapping]] = ...) -> None: ...

class JoinLabRequest(_message.Message):
    __slots__ = ("name", "token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    token: str
    def __init__(self, name: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class LabExercise(_message.Message):
    __slots__ = ("kind", "count", "weight", "attempts")
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    count: int
    weight: float
    attempts: int
    def __init__(self, kind: _Optional[str] = ..., count: _Optional[int] = ..., weight: _Optional[float] = ..., attempts: _Optional[int] = ...) -> None: ...

class LabTerms(_message.Message):
    __slots__ = ("policy", "deadline_unix", "extended", "late_penalty", "close_unix")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_FIELD_NUMBER: _ClassVar[int]
    LATE_PENALTY_FIELD_NUMBER: _ClassVar[int]
    CLOSE_UNIX_FIELD_NUMBER: _ClassVar[int]
    policy: str
    deadline_unix: int
    extended: bool
    late_penalty: float
    close_unix: int
    def __init__(self, policy: _Optional[str] = ..., deadline_unix: _Optional[int] = ..., extended: _Optional[bool] = ..., late_penalty: _Optional[float] = ..., close_unix: _Optional[int] = ...) -> None: ...

class JoinLabResponse(_message.Message):
    __slots__ = ("token", "title", "exercises", "deadline_unix", "terms")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    EXERCISES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    token: str
    title: str
    exercises: _containers.RepeatedCompositeFieldContainer[LabExercise]
    deadline_unix: int
    terms: LabTerms
    def __init__(self, token: _Optional[str] = ..., title: _Optional[str] = ..., exercises: _Optional[_Iterable[_Union[LabExercise, _Mapping]]] = ..., deadline_unix: _Optional[int] = ..., terms: _Optional[_Union[LabTerms, _Mapping]] = ...) -> None: ...

class GetLabQuestionsRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class GetLabQuestionsResponse(_message.Message):
    __slots__ = ("questions", "terms", "attempts_used", "attempts")
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_USED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    questions: _containers.RepeatedCompositeFieldContainer[Question]
    terms: LabTerms
    attempts_used: int
    attempts: int
    def __init__(self, questions: _Optional[_Iterable[_Union[Question, _Mapping]]] = ..., terms: _Optional[_Union[LabTerms, _Mapping]] = ..., attempts_used: _Optional[int] = ..., attempts: _Optional[int] = ...) -> None: ...

class SubmitLabAnswersRequest(_message.Message):
    __slots__ = ("kind", "answers", "dry_run")
    class AnswersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    kind: str
    answers: _containers.ScalarMap[str, str]
    dry_run: bool
    def __init__(self, kind: _Optional[str] = ..., answers: _Optional[_Mapping[str, str]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class SubmitLabAnswersResponse(_message.Message):
    __slots__ = ("result", "attempt", "attempts", "score", "dry_run", "late", "unanswered", "terms")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    UNANSWERED_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    result: CheckResult
    attempt: int
    attempts: int
    score: float
    dry_run: bool
    late: bool
    unanswered: _containers.RepeatedScalarFieldContainer[str]
    terms: LabTerms
    def __init__(self, result: _Optional[_Union[CheckResult, _Mapping]] = ..., attempt: _Optional[int] = ..., attempts: _Optional[int] = ..., score: _Optional[float] = ..., dry_run: _Optional[bool] = ..., late: _Optional[bool] = ..., unanswered: _Optional[_Iterable[str]] = ..., terms: _Optional[_Union[LabTerms, _Mapping]] = ...) -> None: ...

class GetLabResultsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ItemMark(_message.Message):
    __slots__ = ("id", "correct")
    ID_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    id: str
    correct: bool
    def __init__(self, id: _Optional[str] = ..., correct: _Optional[bool] = ...) -> None: ...

class ExerciseResult(_message.Message):
    __slots__ = ("score", "attempt", "attempts_used", "submitted_unix", "late", "items")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_USED_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_UNIX_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    score: float
    attempt: int
    attempts_used: int
    submitted_unix: int
    late: bool
    items: _containers.RepeatedCompositeFieldContainer[ItemMark]
    def __init__(self, score: _Optional[float] = ..., attempt: _Optional[int] = ..., attempts_used: _Optional[int] = ..., submitted_unix: _Optional[int] = ..., late: _Optional[bool] = ..., items: _Optional[_Iterable[_Union[ItemMark, _Mapping]]] = ...) -> None: ...

class StudentResult(_message.Message):
    __slots__ = ("name", "scores", "total", "possible", "submissions", "percent", "exercises")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ExercisesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ExerciseResult
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ExerciseResult, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    POSSIBLE_FIELD_NUMBER: _ClassVar[int]
    SUBMISSIONS_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    EXERCISES_FIELD_NUMBER: _ClassVar[int]
    name: str
    scores: _containers.ScalarMap[str, float]
    total: float
    possible: float
    submissions: int
    percent: float
    exercises: _containers.MessageMap[str, ExerciseResult]
    def __init__(self, name: _Optional[str] = ..., scores: _Optional[_Mapping[str, float]] = ..., total: _Optional[float] = ..., possible: _Optional[float] = ..., submissions: _Optional[int] = ..., percent: _Optional[float] = ..., exercises: _Optional[_Mapping[str, ExerciseResult]] = ...) -> None: ...

class GetLabResultsResponse(_message.Message):
    __slots__ = ("title", "students", "kinds", "policy")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    title: str
    students: _containers.RepeatedCompositeFieldContainer[StudentResult]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    policy: str
    def __init__(self, title: _Optional[str] = ..., students: _Optional[_Iterable[_Union[StudentResult, _Mapping]]] = ..., kinds: _Optional[_Iterable[str]] = ..., policy: _Optional[str] = ...) -> None: ...

class RegradeLabRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegradeLabResponse(_message.Message):
    __slots__ = ("submissions", "changed")
    SUBMISSIONS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    submissions: int
    changed: int
    def __init__(self, submissions: _Optional[int] = ..., changed: _Optional[int] = ...) -> None: ...

class ResetLabTokenRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ResetLabTokenResponse(_message.Message):
    __slots__ = ("name", "token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    token: str
    def __init__(self, name: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...
