"""Copies between twin messages (GenerateRequest/StreamGenerateRequest, GenerateImagesRequest/StreamGenerateImagesRequest) field by field.

The twins share field names and numbers; copying set fields directly replaces the
SerializeToString/FromString round trip the gateway used to convert one into the other.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def twin(src: Message, kind: type[M]) -> M:
    """A `kind` message holding every set field of `src` (fields missing from `kind` are an error)."""
    dst: M = kind()
    for field, value in src.ListFields():
        if field.is_repeated:
            getattr(dst, field.name).extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(dst, field.name).CopyFrom(value)
        else:
            setattr(dst, field.name, value)
    return dst
