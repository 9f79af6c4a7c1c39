"""Visual tokens of a frozen Qwen-VL vision tower, computed once per video and cached on disk.

The tower costs 40-60% of every training step and its output never changes between epochs, folds or grid
settings, so each video's tokens are computed once without autograd and kept under
`<data>/cache/visual_tokens/<setting key>/`; training and prediction then run only the language model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mediaeval_memo.core.io import atomic_path
from mediaeval_memo.models.qwen_vl import Backbone, Resize, parts, patchify


@dataclass
class VisualTokens:
    """A video's visual tokens after the tower's merger: `tokens` (n, hidden), per-grid `grid_thw` (k, 3), and the
    deepstack features Qwen3-VL adds to its first language layers (empty for the other families)."""

    tokens: torch.Tensor
    grid_thw: torch.Tensor
    deepstack: list[torch.Tensor]


@torch.no_grad()
def encode_frames(
    backbone: Backbone, frames: Sequence[Any], size: int, as_video: bool, resize: Resize = "native"
) -> VisualTokens:
    """Run the frozen vision tower on one video's frames (resized as `models.qwen_vl.patchify`), without autograd."""
    inner, _, _ = parts(backbone.model)
    visual = inner.visual
    pixel_values, grid = patchify(frames, size, backbone.prep, as_video, resize)
    device = next(visual.parameters()).device
    out = visual(pixel_values.to(device, next(visual.parameters()).dtype), grid_thw=grid.to(device))
    deepstack = [d.detach().cpu() for d in (getattr(out, "deepstack_features", None) or [])]
    return VisualTokens(out.pooler_output.detach().cpu(), grid, deepstack)


class VisualCache:
    """Visual tokens on disk: `<root>/<setting key>/<video_id>.<frames sha8>.safetensors`.

    The setting key hashes the model identity, the resolution, how frames are resized (native aspect or square)
    and the frame mode; the file name carries a hash of the frame files' bytes, so re-extracted frames are never
    served stale tokens. Writes are atomic.
    """

    def __init__(self, root: Path, backbone_identity: str, size: int, as_video: bool, resize: Resize = "native"):
        setting = {"model": backbone_identity, "size": size, "video": as_video, "resize": resize}
        key = json.dumps(setting, sort_keys=True)
        self.dir = Path(root) / hashlib.sha256(key.encode()).hexdigest()[:16]
        self.key = key

    def path(self, video_id: str, frame_paths: Sequence[Path]) -> Path:
        return self.dir / f"{video_id}.{_frames_digest(frame_paths)[:8]}.safetensors"

    def put(self, path: Path, tokens: VisualTokens) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "key.json"
        if not meta.exists():
            meta.write_text(self.key + "\n", encoding="utf-8")
        tensors = {"tokens": tokens.tokens.contiguous(), "grid_thw": tokens.grid_thw.contiguous()}
        tensors.update({f"deepstack_{i}": d.contiguous() for i, d in enumerate(tokens.deepstack)})
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))


_DIGESTS: dict[tuple[tuple[str, int, int], ...], str] = {}


def _frames_digest(frame_paths: Sequence[Path]) -> str:
    """sha256 (hex) of the frame files' bytes in order, remembered for this process while their sizes and
    modification times stay the same (every fold of a cross-validation asks again for the same frames)."""
    key = tuple((str(p.resolve()), (st := p.stat()).st_size, st.st_mtime_ns) for p in frame_paths)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for p in frame_paths:
            h.update(p.read_bytes())
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def read_visual_tokens(path: Path) -> VisualTokens:
    data = load_file(str(path))
    deepstack = [data[f"deepstack_{i}"] for i in range(sum(k.startswith("deepstack_") for k in data))]
    return VisualTokens(data["tokens"], data["grid_thw"], deepstack)
