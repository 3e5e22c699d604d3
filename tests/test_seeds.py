"""The named random streams: the documented offsets of the run seed, written out by hand."""

from supermasks.seeds import streams


def test_the_streams_of_seed_7():
    s = streams(7)
    assert (s.weights, s.scores, s.signs, s.batches, s.stream_order) == (7, 8, 8, 9, 9)
    assert (s.fisher, s.buffer, s.probe) == (10, 10, 10)
    assert (s.head(0), s.head(2)) == (1007, 1009)
    assert s.candidates == 1_000_010
    assert (s.permutation(0), s.permutation(3)) == (7, 10)
    assert s.pixel_order == 5_000_018


def test_the_pixel_order_wraps_below_2_to_the_32():
    assert streams(2**32 - 1).pixel_order == 5_000_010  # (2**32 - 1 + 5_000_011) mod 2**32, a RandomState seed


def test_the_streams_of_seed_0_and_a_seed_given_as_text():
    s = streams(0)
    assert (s.weights, s.scores, s.batches, s.fisher, s.head(9), s.candidates) == (0, 1, 2, 3, 1009, 1_000_003)
    assert streams("7") == streams(7)  # a seed read from a file or a command line


def test_the_augmentation_seed_of_a_task_and_step():
    from numpy.random import SeedSequence

    low, high = SeedSequence((7, 4, 2, 30)).generate_state(2, "uint32")
    assert streams(7).augment(2, 30) == int(low) | (int(high & 0x7FFFFFFF) << 32)
    seeds = {streams(s).augment(t, k) for s in (0, 1) for t in range(3) for k in range(50)}
    assert len(seeds) == 300 and all(0 <= v < 2**63 for v in seeds)  # distinct, and a valid torch seed
