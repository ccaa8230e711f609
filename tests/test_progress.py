"""The progress reporter's first line says what a search is about to do: a new search, a
resume from a later generation, or a run that already has all its generations."""

from __future__ import annotations

import io

import pytest

from evolve.config import SearchConfig, override
from evolve.reporters import ProgressBar


@pytest.mark.parametrize("first, generations, population, line", [
    (0, 1, 2, "neurevo: searching digits with rule bp, 1 generation x 2 candidates -> RUN"),
    (0, 3, 8, "neurevo: searching digits with rule bp, 3 generations x 8 candidates -> RUN"),
    (1, 3, 8, "neurevo: resuming RUN at generation 2 of 3: searching digits with rule bp, "
              "3 generations x 8 candidates"),
    (3, 3, 8, "neurevo: RUN already has all its 3 generations (searching digits with rule "
              "bp, 3 generations x 8 candidates): nothing to train; resume it with more "
              "generations (--generations N) to go further"),
])
def test_the_first_line_says_what_the_search_does(first, generations, population, line):
    stream = io.StringIO()
    config = override(SearchConfig(), {"generations": generations, "population": population,
                                       "rule": {"name": "bp"}})
    ProgressBar(stream).search_start("RUN", config, first)
    assert stream.getvalue() == line + "\n"
