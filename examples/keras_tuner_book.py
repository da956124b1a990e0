"""The book's Keras Tuner listings (3.2.4), tracked by tunelab: only the import changed.

MNIST cannot be downloaded here, so the data are scikit-learn's 8x8 digits
(``Flatten(input_shape=(8, 8))`` instead of ``(28, 28)``), and Hyperband's
``max_epochs`` is 3 instead of 10 to keep the example short. Every execution
is a run in tunelab's database: ``tunelab runs list``, ``tunelab study show mnist_dir``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

import tunelab.keras_tuner as kt  # noqa: E402
from tunelab.keras_tuner import RandomSearch  # noqa: E402  (was: from kerastuner.tuners import RandomSearch)

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(digits.images, digits.target, test_size=0.2, random_state=0)
X_train = X_train.astype("float32") / 16.0
X_test = X_test.astype("float32") / 16.0


def build_model(hp):
    model = keras.Sequential()
    model.add(layers.Flatten(input_shape=(8, 8)))
    for i in range(hp.Int("num_layers", 2, 20)):
        model.add(layers.Dense(units=hp.Int("units_" + str(i), 32, 512, 32), activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-2, 1e-3, 1e-4])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


tuner = RandomSearch(build_model, objective="val_accuracy", max_trials=3, executions_per_trial=2, directory="mnist_dir")
tuner.search_space_summary()
tuner.search(x=X_train, y=y_train, epochs=3, validation_data=(X_test, y_test))
tuner.results_summary()
models = tuner.get_best_models(num_models=2)
best_model = tuner.get_best_models(num_models=1)[0]
accuracy = best_model.evaluate(X_test, y_test)

h_tuner = kt.Hyperband(
    build_model,
    objective="val_accuracy",
    max_epochs=3,
    factor=3,
    directory="mnist_hyperband_dir",
    project_name="hello_hyperband",
)
h_tuner.search(x=X_train, y=y_train, epochs=3, validation_data=(X_test, y_test))
best_hps = h_tuner.get_best_hyperparameters(num_trials=1)[0]
h_model = h_tuner.hypermodel.build(best_hps)
h_model.fit(X_train, y_train, epochs=3, validation_data=(X_test, y_test))
best_model = h_tuner.get_best_models(num_models=1)[0]
accuracy = best_model.evaluate(X_test, y_test)
