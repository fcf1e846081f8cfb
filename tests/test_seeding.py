"""The derived seeds are frozen: the same configured seed must train, evaluate and generate the same."""

import numpy as np

from signavatar.seeding import latent_seeds, mask_seed, repetition_seed, sample_seed


def test_derived_seeds_are_pinned():
    assert mask_seed(7, 3) == 700_024
    assert [sample_seed(0, 0), sample_seed(42, 1), sample_seed(2**63 - 1, 5)] == [0, 1_000_045, 5_000_014]
    assert [repetition_seed(0, 0), repetition_seed(42, 3), repetition_seed(2**40, 7)] == [1, 646_786, 733_104]
    assert latent_seeds(np.array([0, 123_456_789, 4_294_967_295]), 42, 1) == [42_500_135, 165_956_924, 42_500_134]
    assert latent_seeds(np.array([5]), 1_836_311_903, 0) == [1_997_047_266]
