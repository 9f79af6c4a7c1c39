"""The registry of run variants, imported lazily.

`memo --help` and the GBT path must not import torch or transformers, so the registry maps names to
"module:Class" strings and imports a variant only when it is asked for.
"""

from __future__ import annotations

import importlib

from mediaeval_memo.core.errors import InputError, Problem, unknown_name
from mediaeval_memo.variants.base import AnyVariant, Variant

REGISTRY: dict[str, str] = {
    "gbt": "mediaeval_memo.variants.gbt:GBTVariant",
    "gemma-fusion": "mediaeval_memo.variants.gemma_fusion:GemmaFusion",
    "qwen-vl": "mediaeval_memo.variants.qwen_vl:QwenVL",
}


def available() -> list[str]:
    return sorted(REGISTRY)


def get_variant(name: str) -> AnyVariant:
    """Instantiate the variant registered as `name`; unknown names fail with a suggestion, and an entry that is
    not a `Variant` subclass (a wrong "module:Class" line) is an input error that says so."""
    if name not in REGISTRY:
        raise unknown_name("variant", name, available(), file="variant", field="VARIANT")
    entry = REGISTRY[name]
    module_name, _, class_name = entry.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Variant)):
        raise InputError(
            Problem(
                "variant",
                f"the registry entry of {name} is not a Variant subclass (expected module:Class of a Variant)",
                field="REGISTRY",
                value=entry,
            )
        )
    variant: AnyVariant = cls()
    return variant
