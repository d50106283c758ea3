"""Tests of the adapter cache, the classify route and `kiln adapter fit`."""
