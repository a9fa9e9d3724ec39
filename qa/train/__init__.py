"""Training of the extractive QA reader (SQuAD-style span extraction) on CPU.

``qa-train --help`` for the command line; :mod:`qa.train.reader` holds the loop and
:mod:`qa.train.evaluate` the SQuAD EM/F1 measurement against the dev questions.
"""
