"""The named random streams: the documented offsets of the run seed, written out by hand."""

from supermasks.seeds import streams


def test_the_streams_of_seed_7():
    s = streams(7)
    assert (s.weights, s.scores, s.signs, s.batches, s.stream_order) == (7, 8, 8, 9, 9)
    assert (s.fisher, s.buffer, s.probe) == (10, 10, 10)
    assert (s.head(0), s.head(2)) == (1007, 1009)
    assert s.candidates == 1_000_010
    assert (s.permutation(0), s.permutation(3)) == (7, 10)


def test_the_streams_of_seed_0_and_a_seed_given_as_text():
    s = streams(0)
    assert (s.weights, s.scores, s.batches, s.fisher, s.head(9), s.candidates) == (0, 1, 2, 3, 1009, 1_000_003)
    assert streams("7") == streams(7)  # a seed read from a file or a command line
