"""Proto enum fields checked on the way in: an unknown number is INVALID_ARGUMENT naming the field and the allowed names.

proto3 enums are open: a caller can send any int32 (7, 99, -5) and the generated code keeps it, so
every servicer that maps an enum field to domain values goes through `check_enum` first.
"""

from __future__ import annotations

from google.protobuf.descriptor import EnumDescriptor

from safegen.errors import InvalidArgument


def check_enum(value: int, enum: EnumDescriptor, field: str) -> int:
    """Returns value if `enum` defines it, else raises InvalidArgument listing the allowed names."""
    if value in enum.values_by_number:
        return value
    allowed = ", ".join(f"{v.name} ({v.number})" for v in enum.values)
    raise InvalidArgument(f"{field}: {value} is not a valid {enum.full_name}; allowed values: {allowed}")
