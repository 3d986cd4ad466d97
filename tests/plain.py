"""The fixed training recipe of technique tests, whatever the data size.

Since the honest recipe became the default for tables and small data (a held-out split, the epoch
chosen by calibrated validation loss, a temperature, the "small" preset under 2,000 rows), a
short fit on digits trains another network than the one a technique's test was written for.
Tests of a technique (not of the defaults) fit with ``**PLAIN`` (Python) or ``*PLAIN_ARGS``
(command line): library defaults at any size, every row trains, no temperature.
"""

PLAIN = {"preset": "none", "calibrate": False}
PLAIN_ARGS = ["--preset", "none", "--no-calibrate"]
