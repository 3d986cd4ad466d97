"""Train on MNIST-1D, inspect the history, save, reload and predict."""

from headkit import HeadClassifier
from headkit.data import load_dataset

data = load_dataset("mnist1d")
clf = HeadClassifier(random_state=0, verbose=1).fit(data.X_train, data.y_train)
print(
    f"test accuracy {clf.score(data.X_test, data.y_test):.3f} after {clf.n_iter_} epochs "
    f"(best epoch {clf.best_epoch_})"
)
clf.save("runs/quickstart")
again = HeadClassifier.load("runs/quickstart")
print("reloaded predictions agree:", (again.predict(data.X_test) == clf.predict(data.X_test)).all())
