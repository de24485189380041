#!/usr/bin/env python
"""FLIP modality-alignment pretraining (SPEC section 3) through the HF Trainer.

    python examples/run_pretrain.py --dataset movielens-100k --output_dir runs/pretrain \
        --max_train_samples 2000 --num_train_epochs 1 --per_device_train_batch_size 64

Single process, or data parallel (the contrastive loss then uses every process's negatives):

    accelerate launch --multi_gpu --num_processes 2 examples/run_pretrain.py ...   # CPU: gloo

The output folder (and every checkpoint-* folder) holds the model (safetensors + config.json) and
the FlipTabularTokenizer; resume with --resume_from_checkpoint. Ablations (Table VII):
--use_mlm/--use_mtm/--use_icl False, --text_masking token, --joint_reconstruction False.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from transformers import TrainingArguments

from flip_hf import DataCollatorForFlipPretraining, FlipForPretraining
from flip_hf.id_models import list_id_models
from flip_hf.modeling_flip import truncate_text_layers
from flip_hf.training import (
    DataArguments,
    FlipPretrainingTrainer,
    fit_tokenizer,
    load_data,
    parse_script_args,
    write_results,
)

logger = logging.getLogger("run_pretrain")


@dataclass
class PretrainArguments:
    plm: str | None = field(
        default=None, metadata={"help": "Local HF checkpoint of the text encoder (default: packaged MiniLM)."}
    )
    id_model: str = field(default="dcnv2", metadata={"help": f"One of {list_id_models()}"})
    num_text_layers: int | None = field(
        default=None, metadata={"help": "Keep only the first N encoder layers (quick runs)."}
    )
    use_mlm: bool = field(default=True)
    use_mtm: bool = field(default=True)
    use_icl: bool = field(default=True)
    text_masking: str = field(default="field", metadata={"help": "field | token (ablation)"})
    joint_reconstruction: bool = field(default=True)
    text_mask_ratio: float = field(default=0.15)
    tab_mask_ratio: float = field(default=0.15)
    nce_num_noise: int = field(default=25)
    contrastive_tau: float = field(default=0.7)
    contrastive_projection_dim: int = field(default=128)


PRETRAIN_DEFAULTS = dict(  # SPEC section 5: AdamW, batch 1024, lr 5e-5, cosine decay, 30 epochs
    output_dir="runs/pretrain",
    per_device_train_batch_size=1024,
    learning_rate=5e-5,
    lr_scheduler_type="cosine",
    num_train_epochs=30,
    weight_decay=0.0,
    logging_steps=20,
    save_strategy="epoch",
    save_total_limit=2,
    report_to="none",
    remove_unused_columns=False,
)


def main(argv=None):
    model_args, data_args, training_args = parse_script_args(
        (PretrainArguments, DataArguments, TrainingArguments), PRETRAIN_DEFAULTS, argv
    )
    ds = load_data(data_args)
    tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=model_args.plm)
    with training_args.main_process_first(desc="encoding"):
        train = tokenizer.encode_dataset(ds["train"], text=True)
    model = FlipForPretraining.from_text_pretrained(
        model_args.plm,
        tokenizer=tokenizer,
        id_model=model_args.id_model,
        use_mlm=model_args.use_mlm,
        use_mtm=model_args.use_mtm,
        use_icl=model_args.use_icl,
        text_masking=model_args.text_masking,
        joint_reconstruction=model_args.joint_reconstruction,
        text_mask_ratio=model_args.text_mask_ratio,
        tab_mask_ratio=model_args.tab_mask_ratio,
        nce_num_noise=model_args.nce_num_noise,
        contrastive_tau=model_args.contrastive_tau,
        contrastive_projection_dim=model_args.contrastive_projection_dim,
    )
    if model_args.num_text_layers:
        truncate_text_layers(model, model_args.num_text_layers)
    logger.info(
        "%s: %d pretraining rows, %d fields, %d feature ids; %d parameters; world size %d",
        data_args.dataset,
        len(train),
        tokenizer.num_fields,
        tokenizer.feature_vocab_size,
        model.num_parameters(),
        training_args.world_size,
    )

    trainer = FlipPretrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        data_collator=DataCollatorForFlipPretraining.from_config(tokenizer, model.config),
        processing_class=tokenizer,
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    elapsed = time.perf_counter() - start
    trainer.save_model(training_args.output_dir)
    last = [h for h in trainer.state.log_history if "mlm_loss" in h]
    summary = {
        "dataset": data_args.dataset,
        "train_samples": len(train),
        "id_model": model_args.id_model,
        "plm": model.config.text_config.name_or_path or str(model_args.plm),
        "num_text_layers": model.config.text_config.num_hidden_layers,
        "epochs": training_args.num_train_epochs,
        "train_time_s": round(elapsed, 2),
        "train_samples_per_second": result.metrics.get("train_samples_per_second"),
        "final_losses": {
            k: last[-1][k] for k in ("loss", "mlm_loss", "mtm_loss", "icl_loss") if last and k in last[-1]
        },
        "world_size": training_args.world_size,
    }
    if training_args.should_save:
        write_results(training_args.output_dir, summary, "pretrain_results.json")
    logger.info("pretraining done in %.1f s -> %s", elapsed, training_args.output_dir)
    return summary


if __name__ == "__main__":
    main()
