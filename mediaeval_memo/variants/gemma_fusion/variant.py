"""The `gemma-fusion` run variant (Pramov, MediaEval 2025 Subtask 2): a LoRA-adapted Gemma-3 reads the prompt
(title plus LLM-written rationale) while feature streams enter as projected soft tokens; see `net`.

Fold safety: a fit for outer fold k reads the rationales written for fold k (their exemplars come from fold k's
training part only) and standardises metadata on its own training videos; the final model reads fold `all`.
Early stopping and keep-best evaluate on the videos the runner held out of the fit's own training videos
(`val_fraction` of them, whole groups: VIDEM channels), never on the fold being scored.
Training runs through the shared engine (`mediaeval_memo.training`): checkpoints, resume, multi-GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mediaeval_memo.core.errors import InputError, Problem
from mediaeval_memo.report.panels import Panel, RunFiles
from mediaeval_memo.training import EpochBatches, train_loop
from mediaeval_memo.training.history import history_panels
from mediaeval_memo.training.lora import count_parameters
from mediaeval_memo.variants.base import FitContext, Job, Planned, Variant
from mediaeval_memo.variants.gemma_fusion.config import GemmaFusionConfig
from mediaeval_memo.variants.gemma_fusion.data import (
    META_STREAM,
    FusionData,
    FusionState,
    collate,
    meta_columns,
    resolve_streams,
    signed_log1p,
)
from mediaeval_memo.variants.gemma_fusion.model import GemmaFusionModel, build_net, config_dict
from mediaeval_memo.variants.gemma_fusion.net import StreamSpec, pairwise_ranking_loss


class GemmaFusion(Variant[GemmaFusionConfig, GemmaFusionModel]):
    name = "gemma-fusion"
    Config = GemmaFusionConfig
    Model = GemmaFusionModel

    def plan(self, config: GemmaFusionConfig, job: Job) -> Planned[GemmaFusionConfig]:
        """Nothing is left to the data; the backbone's name is checked here, before the job writes anything."""
        from mediaeval_memo.models.names import check_model_name
        from mediaeval_memo.models.tiny_gemma import TINY_GEMMA3

        check_model_name(config.model, [TINY_GEMMA3], source="memo train")
        return Planned(config)

    def report_panels(self, run: RunFiles) -> list[Panel]:
        """Each fit's training loss and held-out Spearman per epoch."""
        return history_panels(run)

    def fit(self, config: GemmaFusionConfig, ctx: FitContext) -> GemmaFusionModel:
        dataset, target = ctx.dataset, ctx.target
        targets = [target, *(dataset.check_target(t) for t in config.aux_targets)]
        fit_ids = list(ctx.train_ids)
        for t in targets[1:]:  # joint heads learn from videos labelled for every target
            known = set(dataset.labelled(t)["video_id"])
            fit_ids = [v for v in fit_ids if v in known]
        if not fit_ids:
            raise InputError(Problem(str(dataset.root), f"no labelled training videos for {ctx.name}"))

        streams = resolve_streams(dataset, config, ctx.fold)
        cols: list[str] = []
        mean: list[float] = []
        std: list[float] = []
        if config.metadata_stream and (cols := meta_columns(dataset)):
            values = signed_log1p(dataset.rows(fit_ids)[cols].astype(float).to_numpy())
            mean = np.nan_to_num(np.nanmean(values, axis=0)).tolist()
            sd = np.nan_to_num(np.nanstd(values, axis=0))
            std = np.where(sd > 0, sd, 1.0).tolist()
            streams.append(StreamSpec(META_STREAM, 1, len(cols)))
        state = FusionState(
            config=config_dict(config),
            fold=ctx.fold,
            targets=targets,
            streams=streams,
            meta_columns=cols,
            meta_mean=mean,
            meta_std=std,
        )
        net, tokenizer = build_net(config, state)
        data = FusionData(dataset, state, tokenizer, config)
        train_inputs = data.inputs(fit_ids)
        y = dataset.rows(fit_ids)[targets].astype(float).to_numpy(dtype=np.float32)
        pad = tokenizer.pad_token_id

        def collate_rows(rows: list[int]) -> dict[str, Any]:
            return collate(train_inputs, y, pad, rows)

        def loss_fn(model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            pred = model(batch["input_ids"], batch["attention_mask"], batch["streams"]).float()
            gold = batch["targets"].float()
            loss = torch.nn.functional.mse_loss(pred, gold)
            if config.ranking_weight > 0:
                rank = sum(pairwise_ranking_loss(pred[:, j], gold[:, j]) for j in range(gold.shape[1]))
                loss = loss + config.ranking_weight * rank / gold.shape[1]
            return loss

        model = GemmaFusionModel(net, tokenizer, config, state)
        eval_fn = ctx.held_out_spearman(lambda stop: model.scores(dataset, stop)[target])

        trainable, total = count_parameters(net)
        ctx.progress.say(
            f"{ctx.name}: gemma-fusion on {len(fit_ids)} videos, {net.soft_tokens} soft tokens, "
            f"{trainable:,} trainable of {total:,} parameters"
        )
        outcome = train_loop(
            net,
            EpochBatches.factory(list(range(len(fit_ids))), config.batch_size, collate_rows, ctx.seed),
            eval_fn,
            config,
            ctx.workdir,
            loss_fn=loss_fn,
            seed=ctx.seed,
            progress=ctx.progress,
        )
        model.fit_report = outcome.summary()
        return model
