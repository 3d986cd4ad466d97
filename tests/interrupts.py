"""A callback that interrupts a fit the way Ctrl-C does (shared by the checkpoint tests)."""

from headkit.training import Callback


class InterruptAt(Callback):
    """Raise KeyboardInterrupt at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, record):
        if record.epoch == self.epoch:
            raise KeyboardInterrupt
