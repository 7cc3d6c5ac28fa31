"""Training and fine-tuning of every RIFE 4.x release (issue #4).

* :class:`Trainer` wraps a release's IFNet plus the privileged teacher block with AdamW, AMP and DDP;
  ``Trainer.update(imgs, gt, learning_rate, training=True)`` returns the prediction and the loss terms.
* :mod:`.losses`: Laplacian-pyramid L1, edge-aware flow smoothness, teacher distillation.
* :class:`Schedule`: linear warm-up and cosine decay, a pure function of the step.
* :mod:`.data`: Vimeo-90K triplets and triplets cut from any video through VapourSynth, with augmentation.
* :mod:`.checkpoint`: official-layout ``flownet.pkl`` (loads in the filter as it is) and an exact resume file.
* :class:`RunConfig` / :class:`DataConfig` (:mod:`.config`): a whole run's settings;
  ``vsrife.train.loop.run(config)`` runs it from Python.
* ``python -m vsrife.train`` / ``vsrife train`` / ``torchrun -m vsrife.train``: the same run from the command
  line.
"""

from .checkpoint import official_state_dict, save_resume, save_weights, state_hash
from .config import DataConfig, RunConfig
from .losses import distillation, edge_aware_smoothness, laplacian_l1, laplacian_pyramid
from .model import LossWeights, TrainConfig, Trainer, TrainNet
from .schedule import Schedule, learning_rate

__all__ = [
    "DataConfig",
    "LossWeights",
    "RunConfig",
    "Schedule",
    "TrainConfig",
    "TrainNet",
    "Trainer",
    "distillation",
    "edge_aware_smoothness",
    "laplacian_l1",
    "laplacian_pyramid",
    "learning_rate",
    "official_state_dict",
    "save_resume",
    "save_weights",
    "state_hash",
]
