"""The `gbt` run variant: gradient-boosted trees and an SVR on feature blocks, tuned in nested CV (see `variant`)."""

from mediaeval_memo.variants.gbt.config import GBTConfig
from mediaeval_memo.variants.gbt.design import Design, TargetEncoding, Transform
from mediaeval_memo.variants.gbt.model import GBTModel
from mediaeval_memo.variants.gbt.variant import GBTVariant

__all__ = ["Design", "GBTConfig", "GBTModel", "GBTVariant", "TargetEncoding", "Transform"]
