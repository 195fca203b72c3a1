"""Training: TFRS two-tower retrieval + multi-head ranker, evaluation, ONNX export, quality gate, publish.

Entry points (run in the training environment)::

    python -m training.train --ds YYYY-MM-DD [--epochs N] [--out-dir DIR]   (--help lists every flag)
    python -m training.publish --bundle DIR [--tolerance 0.02] [--keep 5] [--force]
    python -m testing_support.training_inputs --data-dir DIR --ds YYYY-MM-DD   (dev data; pipeline env)

Only ``towers.py``, ``models.py``, ``export.py``, ``retrieval.py``, ``ranker_fit.py`` and ``train.py``
import TensorFlow; evaluation, the splits, item-to-item models, reports and publishing are numpy only.
"""

import os

# TensorFlow Recommenders needs Keras 2 (tf-keras). This is the one place it is set: every entry
# point imports this package before anything can import TensorFlow.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
