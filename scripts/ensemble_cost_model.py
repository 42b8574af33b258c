#!/usr/bin/env python3
"""The cost model of rewind's ensembles (docs/ensemble.md), checked against
measured runs and extrapolated.

    T(R) = t_setup + sum over rounds r of ( max_{m in r} t_m + t_x(R, b) )

Member m runs on rank m mod R, in round m // R; every round ends with an
all-gather of the round's R results of b bytes each, so it waits for the
round's slowest member. t_x(R, b) = (R - 1) (alpha + b / beta) is a ring
all-gather (latency alpha, bandwidth beta).

Usage: scripts/ensemble_cost_model.py ONE_RANK.json TWO_RANKS.json
(the JSON reports of `rewind spec --hvp-ensemble K`, one rank with one
thread and R ranks). Prints the prediction of the R-rank wall time from the
one-rank member times, the measured time, and the extrapolation to 1024
ranks for a randomized eigensolver (two dependent blocks).
"""
import json
import math
import sys
from statistics import NormalDist


def predict(times, ranks, t_setup, t_x):
    rounds = [times[i:i + ranks] for i in range(0, len(times), ranks)]
    return t_setup + sum(max(r) + t_x for r in rounds), len(rounds)


def expected_max(mean, sd, ranks):
    """The expected largest of `ranks` normal draws (Blom's approximation)."""
    if ranks == 1:
        return mean
    return mean + sd * NormalDist().inv_cdf((ranks - 0.375) / (ranks + 0.25))


def ring(ranks, b, alpha, beta):
    return (ranks - 1) * (alpha + b / beta)


def main():
    one = json.load(open(sys.argv[1]))
    many = json.load(open(sys.argv[2]))
    assert one["ranks"] == 1, "the first report must be a one-rank run"
    R = many["ranks"]
    b = 8 * one["grid"][0] ** 2
    t = one["member_s"]
    mean = sum(t) / len(t)
    sd = math.sqrt(sum((x - mean) ** 2 for x in t) / max(1, len(t) - 1))
    print(f"one rank: {len(t)} products, mean {mean:.2f} s, sd {sd:.2f} s ({100 * sd / mean:.0f} %), set-up {one['setup_s']:.2f} s")
    # on one machine the exchange is shared memory: 1 us, 5 GB/s (bounded
    # above by the measured exchange time, which includes waiting)
    alpha, beta = 1e-6, 5e9
    # the rounds' maxima are not known from a one-rank run: the expected
    # maximum of R draws from the members' times
    m_R = expected_max(mean, sd, R)
    rounds = math.ceil(len(t) / R)
    pred = one["setup_s"] + rounds * (m_R + ring(R, b, alpha, beta))
    print(f"R = 1: predicted {predict(t, 1, one['setup_s'], 0.0)[0]:.2f} s, measured {one['wall_s']:.2f} s")
    print(f"R = {R}: predicted {pred:.2f} s ({rounds} rounds of {m_R:.2f} s), measured {many['wall_s']:.2f} s "
          f"({100 * (pred / many['wall_s'] - 1):+.1f} %); speed-up measured {one['wall_s'] / many['wall_s']:.2f}x")
    # extrapolation: the eigensolver of `rewind hessian` at this size, two
    # dependent blocks of l = k + p products, on a cluster (alpha 2 us,
    # beta 10 GB/s), with the set-up a linearisation (about a gradient:
    # half a product)
    print("\nrandomized eigensolver, two blocks of l products each, cluster network (2 us, 10 GB/s):")
    print(f"{'R':>6} {'l=30: T (s)':>12} {'speed-up':>9} {'l=510: T (s)':>13} {'speed-up':>9} {'rounds':>7} {'exchange share':>15}")
    setup = mean / 2
    for R in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]:
        row = []
        for l in (30, 510):
            m_R = expected_max(mean, sd, R)
            per_block = math.ceil(l / R)
            tx = ring(R, b, 2e-6, 1e10) if R > 1 else 0.0
            T = setup + 2 * per_block * (m_R + tx)
            T1 = setup + 2 * l * mean
            row.append((T, T1 / T, 2 * per_block * tx / T))
        rounds = 2 * math.ceil(510 / R)
        print(f"{R:>6} {row[0][0]:>12.1f} {row[0][1]:>9.1f} {row[1][0]:>13.1f} {row[1][1]:>9.1f} {rounds:>7} {100 * row[1][2]:>14.2f}%")


if __name__ == "__main__":
    main()
