"""Parse and print Kubernetes quantities such as ``70Gi`` or ``500M`` as whole bytes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY_RE = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[kMGTPE]|)$"
)

_MULTIPLIERS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}

_BINARY_SUFFIXES = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")


class QuantityError(ValueError):
    """A value that is not a whole, positive number of bytes."""


def parse_bytes(value: object, *, field: str) -> int:
    """Return the whole number of bytes a quantity names, such as 70Gi or 75161927680.

    Rejects negative, zero, fractional-byte and milli (``m``) quantities, because a weight
    size or a throughput of those makes no sense. ``field`` names the spec field in errors.
    """
    if value is None:
        raise QuantityError(f"{field}: missing; set bytes or a quantity such as 70Gi.")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QuantityError(f"{field}: {value!r} is not a size; use bytes or a quantity like 70Gi.")
    if isinstance(value, int):
        amount = Decimal(value)
    else:
        match = _QUANTITY_RE.match(value.strip())
        if match is None:
            raise QuantityError(
                f"{field}: {value!r} is not a byte quantity; use an integer or a quantity "
                "such as 70Gi, 500Mi or 2G."
            )
        try:
            amount = Decimal(match["number"]) * _MULTIPLIERS[match["suffix"]]
        except InvalidOperation as error:
            raise QuantityError(f"{field}: {value!r} is not a number.") from error
    if amount != amount.to_integral_value():
        raise QuantityError(f"{field}: {value!r} is not a whole number of bytes.")
    if amount <= 0:
        raise QuantityError(f"{field}: {value!r} must be greater than zero bytes.")
    return int(amount)


def format_bytes(size: int) -> str:
    """Return the shortest exact binary quantity for ``size``, such as ``70Gi``.

    Sizes that are not a whole multiple of a binary unit are written with one decimal in the
    largest unit they exceed (``1.5Gi``), or as plain bytes below one KiB.
    """
    for suffix in _BINARY_SUFFIXES:
        unit = _MULTIPLIERS[suffix]
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    for suffix in _BINARY_SUFFIXES:
        unit = _MULTIPLIERS[suffix]
        if size >= unit:
            return f"{size / unit:.1f}{suffix}"
    return str(size)
