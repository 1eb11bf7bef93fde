"""The grasp diffusion model: network -> noise scheduler -> sampler, and its training.

* ``networks``: the denoisers (paper-faithful and improved) and ``GraspDiffusion``.
* ``scheduler``: DDPM / DDIM noise schedulers (tensor maths only, no weights).
* ``sampler``: ``GraspSampler`` composes a model, a scheduler and refinement into grasps.
* ``training``: the training loop and its config (``TrainConfig``); ``training_data``: its data
  (``GraspArrays``), split by object, batches, rotation augmentation.
* ``checkpoint``: safetensors weights + JSON config, ``from_pretrained``.
"""
