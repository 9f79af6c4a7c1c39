"""What the neural run variants share: the training loop, its config, checkpoints, and LoRA/QLoRA set-up.

The stable API (see docs/training.md):
    TrainerConfig, LoraConfig          config dataclasses a variant's Config mixes in
    train_loop(model, train_batches, eval_fn, config, workdir, loss_fn=..., seed=..., progress=...) -> TrainOutcome
    EpochBatches.factory(examples, batch_size, collate, seed)   a seeded, resumable `train_batches`
    add_lora, count_parameters         (mediaeval_memo.training.lora; 4-bit loading is in mediaeval_memo.models)
Importing this package imports torch and accelerate; the CLI imports it only inside commands.
"""

from mediaeval_memo.training.config import LoraConfig, TrainerConfig
from mediaeval_memo.training.loop import EpochBatches, TrainOutcome, lr_lambda, train_loop

__all__ = ["EpochBatches", "LoraConfig", "TrainOutcome", "TrainerConfig", "lr_lambda", "train_loop"]
