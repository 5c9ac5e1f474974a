from safegen.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModerateImagesRequest(_message.Message):
    __slots__ = ("images", "source", "guardrail_id", "guardrail_version", "tighten_filters")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIGHTEN_FILTERS_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    source: _common_pb2.Source
    guardrail_id: str
    guardrail_version: str
    tighten_filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterTightening]
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., source: _Optional[_Union[_common_pb2.Source, str]] = ..., guardrail_id: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., tighten_filters: _Optional[_Iterable[_Union[_common_pb2.FilterTightening, _Mapping]]] = ...) -> None: ...

class ImageModerationResult(_message.Message):
    __slots__ = ("index", "action", "filters", "labels", "format", "width", "height", "detected_action")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    index: int
    action: _common_pb2.Action
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterResult]
    labels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModerationLabel]
    format: str
    width: int
    height: int
    detected_action: _common_pb2.Action
    def __init__(self, index: _Optional[int] = ..., action: _Optional[_Union[_common_pb2.Action, str]] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FilterResult, _Mapping]]] = ..., labels: _Optional[_Iterable[_Union[_common_pb2.ModerationLabel, _Mapping]]] = ..., format: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ...) -> None: ...

class ModerateImagesResponse(_message.Message):
    __slots__ = ("results", "guardrail_id", "backend", "coverage", "guardrail_version")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ImageModerationResult]
    guardrail_id: str
    backend: str
    coverage: _containers.RepeatedCompositeFieldContainer[CategoryCoverage]
    guardrail_version: str
    def __init__(self, results: _Optional[_Iterable[_Union[ImageModerationResult, _Mapping]]] = ..., guardrail_id: _Optional[str] = ..., backend: _Optional[str] = ..., coverage: _Optional[_Iterable[_Union[CategoryCoverage, _Mapping]]] = ..., guardrail_version: _Optional[str] = ...) -> None: ...

class CategoryCoverage(_message.Message):
    __slots__ = ("category", "covered", "detectors", "gaps")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    COVERED_FIELD_NUMBER: _ClassVar[int]
    DETECTORS_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    category: _common_pb2.Category
    covered: bool
    detectors: _containers.RepeatedScalarFieldContainer[str]
    gaps: str
    def __init__(self, category: _Optional[_Union[_common_pb2.Category, str]] = ..., covered: _Optional[bool] = ..., detectors: _Optional[_Iterable[str]] = ..., gaps: _Optional[str] = ...) -> None: ...
