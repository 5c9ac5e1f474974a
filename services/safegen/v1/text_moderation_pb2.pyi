from safegen.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModerateTextRequest(_message.Message):
    __slots__ = ("text", "source", "guardrail_id", "guardrail_version", "tighten_filters")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIGHTEN_FILTERS_FIELD_NUMBER: _ClassVar[int]
    text: str
    source: _common_pb2.Source
    guardrail_id: str
    guardrail_version: str
    tighten_filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterTightening]
    def __init__(self, text: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.Source, str]] = ..., guardrail_id: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., tighten_filters: _Optional[_Iterable[_Union[_common_pb2.FilterTightening, _Mapping]]] = ...) -> None: ...

class ModerateTextResponse(_message.Message):
    __slots__ = ("action", "filters", "words", "guardrail_id", "backend", "guardrail_version", "detected_action", "blocked", "topics", "sensitive_information", "anonymized_text", "threats")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    ANONYMIZED_TEXT_FIELD_NUMBER: _ClassVar[int]
    THREATS_FIELD_NUMBER: _ClassVar[int]
    action: _common_pb2.Action
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterResult]
    words: _containers.RepeatedCompositeFieldContainer[_common_pb2.WordMatch]
    guardrail_id: str
    backend: str
    guardrail_version: str
    detected_action: _common_pb2.Action
    blocked: bool
    topics: _containers.RepeatedCompositeFieldContainer[_common_pb2.TopicResult]
    sensitive_information: _containers.RepeatedCompositeFieldContainer[_common_pb2.SensitiveInformationResult]
    anonymized_text: str
    threats: _containers.RepeatedCompositeFieldContainer[_common_pb2.ThreatMatch]
    def __init__(self, action: _Optional[_Union[_common_pb2.Action, str]] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FilterResult, _Mapping]]] = ..., words: _Optional[_Iterable[_Union[_common_pb2.WordMatch, _Mapping]]] = ..., guardrail_id: _Optional[str] = ..., backend: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ..., blocked: _Optional[bool] = ..., topics: _Optional[_Iterable[_Union[_common_pb2.TopicResult, _Mapping]]] = ..., sensitive_information: _Optional[_Iterable[_Union[_common_pb2.SensitiveInformationResult, _Mapping]]] = ..., anonymized_text: _Optional[str] = ..., threats: _Optional[_Iterable[_Union[_common_pb2.ThreatMatch, _Mapping]]] = ...) -> None: ...
