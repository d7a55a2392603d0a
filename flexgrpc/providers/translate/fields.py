"""Typed values out of a caller's JSON body, with the field named when one is wrong, shared by
every format's request reader."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

from flexgrpc.providers.translate.ir import Media, invalid


def string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(where, f"`{where}` must be a string.")
    return value


def optional_string(value: Any, where: str) -> str | None:
    return None if value is None else string(value, where)


def optional_bool(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise invalid(where, f"`{where}` must be true or false.")


def optional_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(where, f"`{where}` must be an integer.")
    return value


def positive_int(value: Any, where: str) -> int | None:
    found = optional_int(value, where)
    if found is not None and found < 1:
        raise invalid(where, f"`{where}` must be at least 1, for example 1024.")
    return found


def optional_number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(where, f"`{where}` must be a number.")
    return float(value)


def strings(value: Any, where: str, *, single: bool = True) -> tuple[str, ...]:
    """A list of strings (or, with ``single``, one string standing for a list of one)."""
    if value is None:
        return ()
    if single and isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise invalid(where, f'`{where}` must be a list of strings, for example ["\\n\\n"].')


def objects(value: Any, where: str) -> list[Mapping[str, Any]]:
    """A list of JSON objects (``[]`` for none)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise invalid(where, f"`{where}` must be a list of objects.")
    return list(value)


def schema(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(where, f"`{where}` must be a JSON Schema object.")
    return value


def arguments(value: Any, where: str) -> Mapping[str, Any]:
    """Tool-call arguments: a JSON object, or JSON text of one (``""`` means none)."""
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise invalid(where, f'`{where}` must be a JSON object in a string, e.g. "{{\\"x\\": 1}}".')


def arguments_json(value: Mapping[str, Any] | None) -> str:
    """Parsed tool-call arguments as JSON text."""
    return json.dumps(dict(value) if value is not None else {}, ensure_ascii=False)


def data_url(url: str, where: str, *, kind: str = "image") -> Media:
    """A ``data:<type>;base64,<data>`` URL as inline media."""
    header, sep, data = url[len("data:") :].partition(",")
    media_type, _, encoding = header.partition(";")
    wrong_kind = kind == "image" and not media_type.startswith("image/")
    if not sep or encoding != "base64" or "/" not in media_type or wrong_kind:
        raise invalid(
            where, f"`{where}` must be a base64 data URL such as data:image/png;base64,iVBOR..."
        )
    try:
        binascii.a2b_base64(data)
    except binascii.Error as exc:
        raise invalid(where, f"`{where}` holds invalid base64 data.") from exc
    media = "document" if kind == "document" or not media_type.startswith("image/") else "image"
    return Media(media, media_type=media_type, data=data)  # type: ignore[arg-type]


def media_url(url: Any, where: str, *, kind: str = "image") -> Media:
    """An http(s) URL or a base64 data URL as media."""
    if not isinstance(url, str):
        raise invalid(where, f"`{where}` must be a URL or a base64 data URL.")
    if url.startswith("data:"):
        return data_url(url, where, kind=kind)
    if url.startswith(("https://", "http://")):
        return Media("document" if kind == "document" else "image", url=url)
    raise invalid(where, f"`{where}` must be an http(s) URL or a base64 data URL.")


def as_data_url(media: Media) -> str:
    return f"data:{media.media_type};base64,{media.data}"
