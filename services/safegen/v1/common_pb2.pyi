from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_SEXUAL: _ClassVar[Category]
    CATEGORY_VIOLENCE: _ClassVar[Category]
    CATEGORY_HATE: _ClassVar[Category]
    CATEGORY_INSULTS: _ClassVar[Category]
    CATEGORY_MISCONDUCT: _ClassVar[Category]
    CATEGORY_PROMPT_ATTACK: _ClassVar[Category]

class Confidence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIDENCE_UNSPECIFIED: _ClassVar[Confidence]
    CONFIDENCE_NONE: _ClassVar[Confidence]
    CONFIDENCE_LOW: _ClassVar[Confidence]
    CONFIDENCE_MEDIUM: _ClassVar[Confidence]
    CONFIDENCE_HIGH: _ClassVar[Confidence]

class FilterStrength(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILTER_STRENGTH_UNSPECIFIED: _ClassVar[FilterStrength]
    FILTER_STRENGTH_NONE: _ClassVar[FilterStrength]
    FILTER_STRENGTH_LOW: _ClassVar[FilterStrength]
    FILTER_STRENGTH_MEDIUM: _ClassVar[FilterStrength]
    FILTER_STRENGTH_HIGH: _ClassVar[FilterStrength]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_NONE: _ClassVar[Action]
    ACTION_GUARDRAIL_INTERVENED: _ClassVar[Action]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_INPUT: _ClassVar[Source]
    SOURCE_OUTPUT: _ClassVar[Source]

class WordList(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORD_LIST_UNSPECIFIED: _ClassVar[WordList]
    WORD_LIST_MANAGED_PROFANITY: _ClassVar[WordList]
    WORD_LIST_CUSTOM: _ClassVar[WordList]

class PolicyAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_ACTION_UNSPECIFIED: _ClassVar[PolicyAction]
    POLICY_ACTION_NONE: _ClassVar[PolicyAction]
    POLICY_ACTION_BLOCKED: _ClassVar[PolicyAction]
    POLICY_ACTION_ANONYMIZED: _ClassVar[PolicyAction]
CATEGORY_UNSPECIFIED: Category
CATEGORY_SEXUAL: Category
CATEGORY_VIOLENCE: Category
CATEGORY_HATE: Category
CATEGORY_INSULTS: Category
CATEGORY_MISCONDUCT: Category
CATEGORY_PROMPT_ATTACK: Category
CONFIDENCE_UNSPECIFIED: Confidence
CONFIDENCE_NONE: Confidence
CONFIDENCE_LOW: Confidence
CONFIDENCE_MEDIUM: Confidence
CONFIDENCE_HIGH: Confidence
FILTER_STRENGTH_UNSPECIFIED: FilterStrength
FILTER_STRENGTH_NONE: FilterStrength
FILTER_STRENGTH_LOW: FilterStrength
FILTER_STRENGTH_MEDIUM: FilterStrength
FILTER_STRENGTH_HIGH: FilterStrength
ACTION_UNSPECIFIED: Action
ACTION_NONE: Action
ACTION_GUARDRAIL_INTERVENED: Action
SOURCE_UNSPECIFIED: Source
SOURCE_INPUT: Source
SOURCE_OUTPUT: Source
WORD_LIST_UNSPECIFIED: WordList
WORD_LIST_MANAGED_PROFANITY: WordList
WORD_LIST_CUSTOM: WordList
POLICY_ACTION_UNSPECIFIED: PolicyAction
POLICY_ACTION_NONE: PolicyAction
POLICY_ACTION_BLOCKED: PolicyAction
POLICY_ACTION_ANONYMIZED: PolicyAction

class FilterResult(_message.Message):
    __slots__ = ("category", "score", "confidence", "filter_strength", "detected", "action")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    FILTER_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    DETECTED_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    category: Category
    score: float
    confidence: Confidence
    filter_strength: FilterStrength
    detected: bool
    action: PolicyAction
    def __init__(self, category: _Optional[_Union[Category, str]] = ..., score: _Optional[float] = ..., confidence: _Optional[_Union[Confidence, str]] = ..., filter_strength: _Optional[_Union[FilterStrength, str]] = ..., detected: _Optional[bool] = ..., action: _Optional[_Union[PolicyAction, str]] = ...) -> None: ...

class WordMatch(_message.Message):
    __slots__ = ("match", "start", "end", "word_list", "word", "action")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    WORD_LIST_FIELD_NUMBER: _ClassVar[int]
    WORD_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    match: str
    start: int
    end: int
    word_list: WordList
    word: str
    action: PolicyAction
    def __init__(self, match: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., word_list: _Optional[_Union[WordList, str]] = ..., word: _Optional[str] = ..., action: _Optional[_Union[PolicyAction, str]] = ...) -> None: ...

class ThreatMatch(_message.Message):
    __slots__ = ("match", "start", "end", "category", "kind", "action")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    match: str
    start: int
    end: int
    category: Category
    kind: str
    action: PolicyAction
    def __init__(self, match: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., category: _Optional[_Union[Category, str]] = ..., kind: _Optional[str] = ..., action: _Optional[_Union[PolicyAction, str]] = ...) -> None: ...

class TopicResult(_message.Message):
    __slots__ = ("name", "type", "detected", "action", "score")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DETECTED_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    detected: bool
    action: PolicyAction
    score: float
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., detected: _Optional[bool] = ..., action: _Optional[_Union[PolicyAction, str]] = ..., score: _Optional[float] = ...) -> None: ...

class SensitiveInformationResult(_message.Message):
    __slots__ = ("type", "regex", "match", "start", "end", "detected", "action", "configured_action")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DETECTED_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_ACTION_FIELD_NUMBER: _ClassVar[int]
    type: str
    regex: bool
    match: str
    start: int
    end: int
    detected: bool
    action: PolicyAction
    configured_action: str
    def __init__(self, type: _Optional[str] = ..., regex: _Optional[bool] = ..., match: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., detected: _Optional[bool] = ..., action: _Optional[_Union[PolicyAction, str]] = ..., configured_action: _Optional[str] = ...) -> None: ...

class FilterTightening(_message.Message):
    __slots__ = ("category", "input_strength", "output_strength")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INPUT_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    category: Category
    input_strength: FilterStrength
    output_strength: FilterStrength
    def __init__(self, category: _Optional[_Union[Category, str]] = ..., input_strength: _Optional[_Union[FilterStrength, str]] = ..., output_strength: _Optional[_Union[FilterStrength, str]] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("left", "top", "width", "height")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    left: float
    top: float
    width: float
    height: float
    def __init__(self, left: _Optional[float] = ..., top: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class ModerationLabel(_message.Message):
    __slots__ = ("name", "parent_name", "confidence", "taxonomy_level", "bounding_box", "category", "text")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    name: str
    parent_name: str
    confidence: float
    taxonomy_level: int
    bounding_box: BoundingBox
    category: Category
    text: str
    def __init__(self, name: _Optional[str] = ..., parent_name: _Optional[str] = ..., confidence: _Optional[float] = ..., taxonomy_level: _Optional[int] = ..., bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., category: _Optional[_Union[Category, str]] = ..., text: _Optional[str] = ...) -> None: ...
