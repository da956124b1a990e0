"""The book's Keras MLP, on the 8x8 digits set (MNIST cannot be downloaded here).

Logs loss, accuracy, val_loss and val_accuracy at every epoch. With
``warm_start_run`` it continues that run's stored model from ``initial_epoch``
to ``epochs`` (how Hyperband promotes a trial without training it again).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from pydantic import Field  # noqa: E402

from tunelab.tracking import ExperimentConfig, TrackedExperiment  # noqa: E402
from tunelab.tracking.estimators import split  # noqa: E402

NUM_CLASSES = 10


class Config(ExperimentConfig):
    batch_size: int = Field(ge=1)
    epochs: int = Field(ge=1)
    num_units_first_layer: int = Field(ge=1)
    num_units_second_layer: int = Field(ge=1)
    dropout_first_layer: float = Field(ge=0, lt=1)
    dropout_second_layer: float = Field(ge=0, lt=1)
    learning_rate: float = Field(gt=0)
    test_size: float = Field(gt=0, lt=1)
    warm_start_run: int | None
    initial_epoch: int = Field(ge=0)


ex = TrackedExperiment("mlp", Config)


@ex.capture
def build_model(
    num_units_first_layer, num_units_second_layer, dropout_first_layer, dropout_second_layer, learning_rate, n_features
):
    model = keras.Sequential(
        [
            keras.Input(shape=(n_features,)),
            keras.layers.Dense(num_units_first_layer, activation="relu"),
            keras.layers.Dropout(dropout_first_layer),
            keras.layers.Dense(num_units_second_layer, activation="relu"),
            keras.layers.Dropout(dropout_second_layer),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model


@ex.main
def run(batch_size, epochs, test_size, warm_start_run, initial_epoch, seed):
    keras.utils.set_random_seed(seed)
    X_train, X_test, y_train, y_test = split(ex.load_data("digits"), test_size, seed)
    X_train, X_test = X_train.astype("float32") / 16.0, X_test.astype("float32") / 16.0

    class LogMetrics(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
                ex.log_scalar(name, float(logs[name]), epoch + 1)

    if warm_start_run is None:
        model = build_model(n_features=X_train.shape[1])
    else:
        model = keras.models.load_model(ex.load_artifact(warm_start_run, "model.keras"))
    model.fit(
        X_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        validation_data=(X_test, y_test),
        callbacks=[LogMetrics()],
    )
    _, accuracy = model.evaluate(X_test, y_test, verbose=0)
    ex.save_model(model, "model.keras")
    return float(accuracy)


if __name__ == "__main__":
    ex.run_commandline()
