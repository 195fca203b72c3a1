"""Training: TFRS two-tower retrieval + multi-head ranker, evaluation, ONNX export, quality gate, publish.

Entry points (run in the training environment, ``TF_USE_LEGACY_KERAS=1``)::

    python -m training.train --ds YYYY-MM-DD [--eval-days 14] [--epochs N] [--out-dir DIR]
    python -m training.publish --bundle DIR [--tolerance 0.02] [--keep 5] [--force]
    python -m testing_support.training_inputs --data-dir DIR --ds YYYY-MM-DD   (dev data; pipeline env)

Only ``towers.py``, ``models.py``, ``export.py`` and ``train.py`` import TensorFlow; evaluation,
bundle evaluation and publishing are numpy/onnxruntime only.
"""
