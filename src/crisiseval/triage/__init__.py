"""A fast local crisis triage classifier, trained on labels in a run store.

Hashed word and character n-grams (:mod:`~crisiseval.triage._features`, numpy over a whole
batch), a linear model with calibrated probabilities (:mod:`~crisiseval.triage._model`), choices
made by cross-validation on the training items only (:mod:`~crisiseval.triage._train`), the
training and evaluation items read from the store with the evaluation items left out by id and by
text (:mod:`~crisiseval.triage._data`), and a versioned model file that is loaded without running
anything from it (:mod:`~crisiseval.triage._artifact`). ``crisiseval triage train|predict`` and
the ``classify`` stage's ``trained`` classifiers use it.
"""

from crisiseval.triage._artifact import FORMAT, FORMAT_VERSION, load_model, save_model
from crisiseval.triage._data import (
    META_PREFIX,
    TrainingSelection,
    evaluation_items,
    label_records,
    predict_items,
    predict_texts,
    select_training,
    text_key,
    triage_info,
    write_labels,
)
from crisiseval.triage._model import Learner, Prediction, Recipe, TriageModel, text_of
from crisiseval.triage._train import (
    DEFAULT_CS,
    LOGISTIC_CS,
    TARGET_FPR,
    TrainingData,
    TrainResult,
    calibrate,
    default_cs,
    measure_throughput,
    operating_threshold,
    train,
)

__all__ = [
    "DEFAULT_CS",
    "FORMAT",
    "FORMAT_VERSION",
    "LOGISTIC_CS",
    "META_PREFIX",
    "TARGET_FPR",
    "Learner",
    "Prediction",
    "Recipe",
    "TrainResult",
    "TrainingData",
    "TrainingSelection",
    "TriageModel",
    "calibrate",
    "default_cs",
    "evaluation_items",
    "label_records",
    "load_model",
    "measure_throughput",
    "operating_threshold",
    "predict_items",
    "predict_texts",
    "save_model",
    "select_training",
    "text_key",
    "text_of",
    "train",
    "triage_info",
    "write_labels",
]
