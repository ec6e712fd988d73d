"""Benchmarks (`make bench`): each prints its measurements side by side with their ratios. Not part of
`make test`."""
