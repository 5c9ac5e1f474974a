from safegen.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModerateTextRequest(_message.Message):
    __slots__ = ("text", "source", "guardrail_id")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    text: str
    source: _common_pb2.Source
    guardrail_id: str
    def __init__(self, text: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.Source, str]] = ..., guardrail_id: _Optional[str] = ...) -> None: ...

class ModerateTextResponse(_message.Message):
    __slots__ = ("action", "filters", "words", "guardrail_id", "backend")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    action: _common_pb2.Action
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterResult]
    words: _containers.RepeatedCompositeFieldContainer[_common_pb2.WordMatch]
    guardrail_id: str
    backend: str
    def __init__(self, action: _Optional[_Union[_common_pb2.Action, str]] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FilterResult, _Mapping]]] = ..., words: _Optional[_Iterable[_Union[_common_pb2.WordMatch, _Mapping]]] = ..., guardrail_id: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...
