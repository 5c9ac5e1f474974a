from safegen.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat

class GuardrailTextBlock(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class GuardrailImageBlock(_message.Message):
    __slots__ = ("format", "data")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    format: ImageFormat
    data: bytes
    def __init__(self, format: _Optional[_Union[ImageFormat, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class GuardrailContentBlock(_message.Message):
    __slots__ = ("text", "image")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    text: GuardrailTextBlock
    image: GuardrailImageBlock
    def __init__(self, text: _Optional[_Union[GuardrailTextBlock, _Mapping]] = ..., image: _Optional[_Union[GuardrailImageBlock, _Mapping]] = ...) -> None: ...

class ApplyGuardrailRequest(_message.Message):
    __slots__ = ("guardrail_id", "guardrail_version", "source", "content", "tighten_filters")
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TIGHTEN_FILTERS_FIELD_NUMBER: _ClassVar[int]
    guardrail_id: str
    guardrail_version: str
    source: _common_pb2.Source
    content: _containers.RepeatedCompositeFieldContainer[GuardrailContentBlock]
    tighten_filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterTightening]
    def __init__(self, guardrail_id: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.Source, str]] = ..., content: _Optional[_Iterable[_Union[GuardrailContentBlock, _Mapping]]] = ..., tighten_filters: _Optional[_Iterable[_Union[_common_pb2.FilterTightening, _Mapping]]] = ...) -> None: ...

class GuardrailAssessment(_message.Message):
    __slots__ = ("content_index", "action", "filters", "words", "labels", "topics", "sensitive_information", "detected_action", "threats")
    CONTENT_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    THREATS_FIELD_NUMBER: _ClassVar[int]
    content_index: int
    action: _common_pb2.Action
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterResult]
    words: _containers.RepeatedCompositeFieldContainer[_common_pb2.WordMatch]
    labels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModerationLabel]
    topics: _containers.RepeatedCompositeFieldContainer[_common_pb2.TopicResult]
    sensitive_information: _containers.RepeatedCompositeFieldContainer[_common_pb2.SensitiveInformationResult]
    detected_action: _common_pb2.Action
    threats: _containers.RepeatedCompositeFieldContainer[_common_pb2.ThreatMatch]
    def __init__(self, content_index: _Optional[int] = ..., action: _Optional[_Union[_common_pb2.Action, str]] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FilterResult, _Mapping]]] = ..., words: _Optional[_Iterable[_Union[_common_pb2.WordMatch, _Mapping]]] = ..., labels: _Optional[_Iterable[_Union[_common_pb2.ModerationLabel, _Mapping]]] = ..., topics: _Optional[_Iterable[_Union[_common_pb2.TopicResult, _Mapping]]] = ..., sensitive_information: _Optional[_Iterable[_Union[_common_pb2.SensitiveInformationResult, _Mapping]]] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ..., threats: _Optional[_Iterable[_Union[_common_pb2.ThreatMatch, _Mapping]]] = ...) -> None: ...

class GuardrailUsage(_message.Message):
    __slots__ = ("topic_policy_units", "content_policy_units", "word_policy_units", "sensitive_information_policy_units", "sensitive_information_policy_free_units", "contextual_grounding_policy_units", "content_policy_image_units")
    TOPIC_POLICY_UNITS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_POLICY_UNITS_FIELD_NUMBER: _ClassVar[int]
    WORD_POLICY_UNITS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_INFORMATION_POLICY_UNITS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_INFORMATION_POLICY_FREE_UNITS_FIELD_NUMBER: _ClassVar[int]
    CONTEXTUAL_GROUNDING_POLICY_UNITS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_POLICY_IMAGE_UNITS_FIELD_NUMBER: _ClassVar[int]
    topic_policy_units: int
    content_policy_units: int
    word_policy_units: int
    sensitive_information_policy_units: int
    sensitive_information_policy_free_units: int
    contextual_grounding_policy_units: int
    content_policy_image_units: int
    def __init__(self, topic_policy_units: _Optional[int] = ..., content_policy_units: _Optional[int] = ..., word_policy_units: _Optional[int] = ..., sensitive_information_policy_units: _Optional[int] = ..., sensitive_information_policy_free_units: _Optional[int] = ..., contextual_grounding_policy_units: _Optional[int] = ..., content_policy_image_units: _Optional[int] = ...) -> None: ...

class GuardrailCoverage(_message.Message):
    __slots__ = ("text_characters_guarded", "text_characters_total", "images_guarded", "images_total")
    TEXT_CHARACTERS_GUARDED_FIELD_NUMBER: _ClassVar[int]
    TEXT_CHARACTERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    IMAGES_GUARDED_FIELD_NUMBER: _ClassVar[int]
    IMAGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    text_characters_guarded: int
    text_characters_total: int
    images_guarded: int
    images_total: int
    def __init__(self, text_characters_guarded: _Optional[int] = ..., text_characters_total: _Optional[int] = ..., images_guarded: _Optional[int] = ..., images_total: _Optional[int] = ...) -> None: ...

class GuardrailOutput(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ApplyGuardrailResponse(_message.Message):
    __slots__ = ("action", "action_reason", "assessments", "outputs", "guardrail_id", "guardrail_version", "detected_action", "usage", "guardrail_coverage", "request_id")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTION_REASON_FIELD_NUMBER: _ClassVar[int]
    ASSESSMENTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    action: _common_pb2.Action
    action_reason: str
    assessments: _containers.RepeatedCompositeFieldContainer[GuardrailAssessment]
    outputs: _containers.RepeatedCompositeFieldContainer[GuardrailOutput]
    guardrail_id: str
    guardrail_version: str
    detected_action: _common_pb2.Action
    usage: GuardrailUsage
    guardrail_coverage: GuardrailCoverage
    request_id: str
    def __init__(self, action: _Optional[_Union[_common_pb2.Action, str]] = ..., action_reason: _Optional[str] = ..., assessments: _Optional[_Iterable[_Union[GuardrailAssessment, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[GuardrailOutput, _Mapping]]] = ..., guardrail_id: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ..., usage: _Optional[_Union[GuardrailUsage, _Mapping]] = ..., guardrail_coverage: _Optional[_Union[GuardrailCoverage, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListGuardrailsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GuardrailSummary(_message.Message):
    __slots__ = ("id", "name", "description", "is_default", "versions", "latest_version", "mode")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    is_default: bool
    versions: _containers.RepeatedScalarFieldContainer[str]
    latest_version: str
    mode: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., is_default: _Optional[bool] = ..., versions: _Optional[_Iterable[str]] = ..., latest_version: _Optional[str] = ..., mode: _Optional[str] = ...) -> None: ...

class ListGuardrailsResponse(_message.Message):
    __slots__ = ("guardrails",)
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    guardrails: _containers.RepeatedCompositeFieldContainer[GuardrailSummary]
    def __init__(self, guardrails: _Optional[_Iterable[_Union[GuardrailSummary, _Mapping]]] = ...) -> None: ...
