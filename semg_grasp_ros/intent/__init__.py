"""Grasp-type classification from sEMG windows.

* ``spec``: ``InputSpec`` (rate, channels, window, filter) and ``filter_and_window``.
* ``base``: the ``IntentModel`` interface (``fit`` / ``predict_proba`` / ``save`` /
  ``from_pretrained``).
* ``checkpoint``: the checkpoint files (safetensors + JSON).
* ``lda``, ``torch_models`` (+ ``networks``, ``training``): the architectures.
* ``models``: named presets (``--model NAME``), ``DEFAULT_MODEL``, and ``load_model`` for a
  checkpoint of any architecture.
* ``evaluation``, ``metrics``: within-subject / leave-one-subject-out protocols at trial
  and window level.
* ``decoder``: ``OnlineDecoder``, the streaming wrapper used by the classifier node.
* ``semg-grasp train intent`` / ``semg-grasp eval intent``: ``cli.train_intent`` / ``cli.eval_intent``.

Modules are imported where needed (``import semg_grasp_ros.intent`` stays light).
"""
