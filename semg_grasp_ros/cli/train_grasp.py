"""``semg-grasp train grasp``: train a grasp diffusion model from a YAML config.

Examples::

    semg-grasp train grasp --config config/grasp_diffusion_improved.yaml
    semg-grasp train grasp --config config/grasp_diffusion_paper.yaml --data data/grasps --resume

Writes ``<out>/model`` (safetensors + JSON, loadable with ``from_pretrained``) and
``<out>/state`` (for ``--resume``) every ``checkpoint_every`` epochs.

Data parallel, one process per core or GPU (``grasp.diffusion.training``)::

    torchrun --nproc-per-node 2 -m semg_grasp_ros.cli train grasp --config config/grasp_diffusion_improved.yaml
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..grasp.diffusion.training import DEVICES, load_train_config, resolve_device, train

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="training YAML (config/grasp_diffusion_*.yaml)")
    parser.add_argument("--data", help="dataset folder or GraspArrays .npz (overrides the config's 'data')")
    parser.add_argument("--out", help="output folder (overrides 'out_dir')")
    parser.add_argument("--epochs", type=int, help="total epochs (overrides 'epochs')")
    parser.add_argument("--device", choices=DEVICES, help="overrides 'device' (auto: GPU when present)")
    parser.add_argument("--seed", type=int, help="overrides 'seed'")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (overrides 'num_threads')")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/state when it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    names = {"data": "data", "out": "out_dir", "epochs": "epochs", "device": "device", "seed": "seed",
             "threads": "num_threads"}
    overrides = {field: getattr(args, arg) for arg, field in names.items() if getattr(args, arg) is not None}
    config = load_train_config(args.config, **overrides)
    result = train(config, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun rank 0 reports
        return 0
    last = result.history[-1] if result.history else {}
    val = last.get("val_loss")
    print(f"model written to {result.out_dir / 'model'}: {len(result.history)} epochs, "
          f"train loss {last.get('train_loss', float('nan')):.5f}"
          + (f", validation loss {val:.5f}" if val is not None else "")
          + f" (device {resolve_device(config.device)})")
    return 0
