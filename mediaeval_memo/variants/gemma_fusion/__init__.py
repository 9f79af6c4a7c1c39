"""The `gemma-fusion` run variant: Gemma-3 with projected feature streams and rationales (Pramov, MediaEval 2025)."""

from mediaeval_memo.variants.gemma_fusion.config import GemmaFusionConfig
from mediaeval_memo.variants.gemma_fusion.model import GemmaFusionModel
from mediaeval_memo.variants.gemma_fusion.variant import GemmaFusion

__all__ = ["GemmaFusion", "GemmaFusionConfig", "GemmaFusionModel"]
