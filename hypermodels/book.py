"""The book's Keras Tuner hypermodel (3.2.4) and the digits data, for ``configs/search/book_keras_tuner.json``."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


def build_model(hp):
    model = keras.Sequential()
    model.add(keras.Input(shape=(8, 8)))
    model.add(keras.layers.Flatten())
    for i in range(hp.Int("num_layers", 2, 20)):
        model.add(keras.layers.Dense(units=hp.Int("units_" + str(i), 32, 512, 32), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-2, 1e-3, 1e-4])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load():
    """The keyword arguments of ``search()`` that hold data."""
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images.astype("float32") / 16.0, digits.target, test_size=0.2, random_state=0
    )
    return {"x": x_train, "y": y_train, "validation_data": (x_test, y_test)}
