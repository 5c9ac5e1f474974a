from safegen.v1 import common_pb2 as _common_pb2
from safegen.v1 import image_generation_pb2 as _image_generation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_PROMPT_MODERATION: _ClassVar[Stage]
    STAGE_GENERATION: _ClassVar[Stage]
    STAGE_IMAGE_MODERATION: _ClassVar[Stage]
STAGE_UNSPECIFIED: Stage
STAGE_PROMPT_MODERATION: Stage
STAGE_GENERATION: Stage
STAGE_IMAGE_MODERATION: Stage

class GenerateRequest(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "width", "height", "num_images", "steps", "guidance_scale", "seed", "guardrail_id", "guardrail_version", "tighten_filters")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_IMAGES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIGHTEN_FILTERS_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_images: int
    steps: int
    guidance_scale: float
    seed: int
    guardrail_id: str
    guardrail_version: str
    tighten_filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterTightening]
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., num_images: _Optional[int] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., seed: _Optional[int] = ..., guardrail_id: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., tighten_filters: _Optional[_Iterable[_Union[_common_pb2.FilterTightening, _Mapping]]] = ...) -> None: ...

class PromptAssessment(_message.Message):
    __slots__ = ("action", "filters", "words", "topics", "sensitive_information", "anonymized_prompt", "detected_action", "threats")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    ANONYMIZED_PROMPT_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    THREATS_FIELD_NUMBER: _ClassVar[int]
    action: _common_pb2.Action
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterResult]
    words: _containers.RepeatedCompositeFieldContainer[_common_pb2.WordMatch]
    topics: _containers.RepeatedCompositeFieldContainer[_common_pb2.TopicResult]
    sensitive_information: _containers.RepeatedCompositeFieldContainer[_common_pb2.SensitiveInformationResult]
    anonymized_prompt: str
    detected_action: _common_pb2.Action
    threats: _containers.RepeatedCompositeFieldContainer[_common_pb2.ThreatMatch]
    def __init__(self, action: _Optional[_Union[_common_pb2.Action, str]] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FilterResult, _Mapping]]] = ..., words: _Optional[_Iterable[_Union[_common_pb2.WordMatch, _Mapping]]] = ..., topics: _Optional[_Iterable[_Union[_common_pb2.TopicResult, _Mapping]]] = ..., sensitive_information: _Optional[_Iterable[_Union[_common_pb2.SensitiveInformationResult, _Mapping]]] = ..., anonymized_prompt: _Optional[str] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ..., threats: _Optional[_Iterable[_Union[_common_pb2.ThreatMatch, _Mapping]]] = ...) -> None: ...

class GeneratedImage(_message.Message):
    __slots__ = ("data", "mime_type", "blurred", "withheld", "action", "filters", "labels", "seed", "attempt", "detected_action")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    BLURRED_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mime_type: str
    blurred: bool
    withheld: bool
    action: _common_pb2.Action
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterResult]
    labels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ModerationLabel]
    seed: int
    attempt: int
    detected_action: _common_pb2.Action
    def __init__(self, data: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., blurred: _Optional[bool] = ..., withheld: _Optional[bool] = ..., action: _Optional[_Union[_common_pb2.Action, str]] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FilterResult, _Mapping]]] = ..., labels: _Optional[_Iterable[_Union[_common_pb2.ModerationLabel, _Mapping]]] = ..., seed: _Optional[int] = ..., attempt: _Optional[int] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ...) -> None: ...

class StageTimings(_message.Message):
    __slots__ = ("prompt_moderation_seconds", "generation_seconds", "image_moderation_seconds", "total_seconds", "moderation_overhead_ratio")
    PROMPT_MODERATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_MODERATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MODERATION_OVERHEAD_RATIO_FIELD_NUMBER: _ClassVar[int]
    prompt_moderation_seconds: float
    generation_seconds: float
    image_moderation_seconds: float
    total_seconds: float
    moderation_overhead_ratio: float
    def __init__(self, prompt_moderation_seconds: _Optional[float] = ..., generation_seconds: _Optional[float] = ..., image_moderation_seconds: _Optional[float] = ..., total_seconds: _Optional[float] = ..., moderation_overhead_ratio: _Optional[float] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("action", "prompt_assessment", "images", "warnings", "attempts", "timings", "guardrail_id", "model_id", "blocked_message", "negative_prompt", "guardrail_version", "detected_action", "request_id")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ACTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    action: _common_pb2.Action
    prompt_assessment: PromptAssessment
    images: _containers.RepeatedCompositeFieldContainer[GeneratedImage]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    attempts: int
    timings: StageTimings
    guardrail_id: str
    model_id: str
    blocked_message: str
    negative_prompt: str
    guardrail_version: str
    detected_action: _common_pb2.Action
    request_id: str
    def __init__(self, action: _Optional[_Union[_common_pb2.Action, str]] = ..., prompt_assessment: _Optional[_Union[PromptAssessment, _Mapping]] = ..., images: _Optional[_Iterable[_Union[GeneratedImage, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ..., attempts: _Optional[int] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ..., guardrail_id: _Optional[str] = ..., model_id: _Optional[str] = ..., blocked_message: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., detected_action: _Optional[_Union[_common_pb2.Action, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class StreamGenerateRequest(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "width", "height", "num_images", "steps", "guidance_scale", "seed", "guardrail_id", "guardrail_version", "tighten_filters")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_IMAGES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_ID_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIGHTEN_FILTERS_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_images: int
    steps: int
    guidance_scale: float
    seed: int
    guardrail_id: str
    guardrail_version: str
    tighten_filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FilterTightening]
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., num_images: _Optional[int] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., seed: _Optional[int] = ..., guardrail_id: _Optional[str] = ..., guardrail_version: _Optional[str] = ..., tighten_filters: _Optional[_Iterable[_Union[_common_pb2.FilterTightening, _Mapping]]] = ...) -> None: ...

class StageEvent(_message.Message):
    __slots__ = ("stage", "finished", "attempt", "seconds", "detail")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    finished: bool
    attempt: int
    seconds: float
    detail: str
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., finished: _Optional[bool] = ..., attempt: _Optional[int] = ..., seconds: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class StreamGenerateResponse(_message.Message):
    __slots__ = ("stage", "progress", "result")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    stage: StageEvent
    progress: _image_generation_pb2.GenerationProgress
    result: GenerateResponse
    def __init__(self, stage: _Optional[_Union[StageEvent, _Mapping]] = ..., progress: _Optional[_Union[_image_generation_pb2.GenerationProgress, _Mapping]] = ..., result: _Optional[_Union[GenerateResponse, _Mapping]] = ...) -> None: ...
