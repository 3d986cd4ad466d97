"""`headkit train` with a pause after every epoch, so that a test can interrupt it mid-run.

Usage: python slow_train.py SECONDS headkit-arguments...  Each epoch prints ``epoch-done K`` to
stderr and then sleeps SECONDS (before that epoch's checkpoint is written). One torch thread, so
every process computes the same bits.
"""

import sys
import time

import torch

import headkit.estimator
from headkit.training import Callback, default_callbacks

torch.set_num_threads(1)
PAUSE = float(sys.argv[1])


class Pause(Callback):
    def on_epoch_end(self, trainer, record):
        print(f"epoch-done {record.epoch}", file=sys.stderr, flush=True)
        time.sleep(PAUSE)


def with_pause(verbose):
    return [*default_callbacks(verbose), Pause()]


headkit.estimator.classifier.default_callbacks = with_pause

if __name__ == "__main__":
    from headkit.cli.app import main

    sys.argv = ["headkit", *sys.argv[2:]]
    main()
