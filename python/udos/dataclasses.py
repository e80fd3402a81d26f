"""Result dataclasses, with the field names of disk-objectstore's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, List, Optional, Union

if TYPE_CHECKING:
    from .container import ObjectType

__all__ = ('ObjectCount', 'ObjectMeta', 'TotalSize', 'ValidationIssues')


class _ItemAccess:
    def __getitem__(self, item: str):
        """Dictionary-style access: ``result['key']`` is ``result.key``."""
        return asdict(self)[item]  # type: ignore[call-overload]


@dataclass(frozen=True)
class ObjectCount(_ItemAccess):
    """Number of packed and loose objects, and of pack files."""

    packed: int
    loose: int
    pack_files: int


@dataclass(frozen=True)
class ObjectMeta(_ItemAccess):
    """Where and how an object is stored.

    ``pack_offset`` is the offset of the object's record in its pack (udos
    records carry a header before the stored bytes); ``pack_length`` is the
    number of stored bytes.
    """

    type: 'ObjectType'
    size: Optional[int]
    pack_id: Optional[int]
    pack_compressed: Optional[bool]
    pack_offset: Optional[int]
    pack_length: Optional[int]

    def __getitem__(self, item: str) -> Union[str, int, bool, None]:
        # faster than asdict() and keeps the ObjectType member as is
        return getattr(self, item)


@dataclass(frozen=True)
class TotalSize(_ItemAccess):
    """Sizes of the objects and of the files that hold them."""

    total_size_packed: int
    total_size_packed_on_disk: int
    total_size_packfiles_on_disk: int
    total_size_packindexes_on_disk: int
    total_size_loose: int


@dataclass(frozen=True)
class ValidationIssues(_ItemAccess):
    """Problems found by ``Container.validate()``: lists of hash keys.

    ``other_issues`` (not in disk-objectstore) lists the findings that are not
    about one object's hash or size (damaged pack headers, dangling index
    entries...), as one-line descriptions.
    """

    invalid_hashes_loose: List[str]
    invalid_hashes_packed: List[str]
    invalid_sizes_packed: List[str]
    overlapping_packed: List[str]
    other_issues: List[str] = field(default_factory=list)

    def is_valid(self) -> bool:
        """True when no problem was found."""
        return not any(asdict(self).values())
