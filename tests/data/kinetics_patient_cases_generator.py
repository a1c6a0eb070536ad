"""Adversarial cases for the per-patient kinetics fit, compared with an independent R reading.

Writes ``kinetics_patient_cases.csv`` (one row per sample: ``patient_id``, ``day``, ``ca125``
as written in a markers file, ``"<5"`` for a value below the assay limit, and ``uln``) from a
fixed seed. It does not import ca125kinetics: the cases are what a user could hand to
``read_markers(..., duplicates="mean")`` and ``fit_kinetics(..., method="per-patient")``,
chosen to sit where the rules and the fit are hardest:

* 2, 3, 4, 6 and 10 samples; pretreatment samples anywhere in days -14..0, several of them
  (all enter the fit at t = 0), and none;
* flat, rising, nearly flat (k running to its lower bound), fast (k up to 3/day, beyond the
  upper bound) and slow declines, noise-free and noisy;
* plateaus above the ULN (the per-patient floor is capped at the ULN) and below it;
* a baseline exactly at the ULN, a hair above and below it, at 1e-3 ULN;
* censored values ``"<x"`` on treatment and at baseline, a censored value above the curve;
* huge (up to 9e5 U/mL) and tiny values (down to 1e-3), patients whose values and ULN are
  scaled by 1e-3 or 1e3, a value of 0, a value beyond the plausible maximum (1e6);
* unequal spacing (samples one day apart next to gaps of 60 days);
* samples outside the analysis window (before day -14, after day 100);
* two samples on one day (aggregated by the mean, censored if either is: an upper bound).

Run from the repository root: ``python tests/data/kinetics_patient_cases_generator.py``
(see ``kinetics_patient_README.md``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

SEED = 20261130
OUT = Path(__file__).with_name("kinetics_patient_cases.csv")


def curve(t, k, floor, c0):
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    return floor + (c0 - floor) * np.exp(-k * t)


def fmt(value: float) -> str:
    """A value as a lab system writes it: 6 significant digits (``repr`` for exact cases)."""
    return f"{value:.6g}"


class Cases:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.rows: list[tuple[str, int, str, str]] = []
        self.n = 0

    def add(self, kind: str, days, values, *, uln: float = 35.0, censored=None, text=None):
        """One patient: ``values`` formatted with :func:`fmt` unless ``text`` gives them."""
        pid = f"{kind}-{self.n:04d}"
        self.n += 1
        censored = [False] * len(days) if censored is None else censored
        for j, d in enumerate(days):
            shown = text[j] if text is not None else fmt(values[j])
            if censored[j] and not shown.startswith("<"):
                shown = "<" + shown
            self.rows.append((pid, int(d), shown, repr(float(uln))))

    # ----------------------------------------------------------------- random designs
    def schedule(self, n_samples: int, *, n_pre: int = 1) -> list[int]:
        """``n_pre`` pretreatment days in -14..0 and the rest on treatment in 1..100, sorted,
        distinct, unequally spaced."""
        pre = sorted(self.rng.choice(np.arange(-14, 1), size=n_pre, replace=False).tolist())
        n_on = n_samples - n_pre
        on = sorted(self.rng.choice(np.arange(1, 101), size=n_on, replace=False).tolist()) if n_on > 0 else []
        return pre + on

    def noisy(self, true, cv):
        return np.asarray(true) * np.exp(self.rng.normal(0.0, cv, len(true)))


def build(seed: int = SEED) -> list[tuple[str, int, str, str]]:
    c = Cases(seed)
    rng = c.rng
    sizes = (2, 3, 4, 6, 10)

    # 1. typical declines, every size, noisy and noise-free (noise-free: an exact fit exists)
    for n in sizes:
        for rep in range(14):
            days = c.schedule(n, n_pre=1 + (rep % 3 == 0 and n >= 4))
            k = math.exp(rng.normal(math.log(0.04), 0.6))
            floor = math.exp(rng.normal(math.log(8.0), 0.5))
            c0 = math.exp(rng.normal(math.log(400.0), 1.0)) + 40.0
            true = curve(days, k, floor, c0)
            cv = 0.0 if rep % 4 == 0 else float(rng.choice([0.03, 0.1, 0.25]))
            c.add(f"typical{n}", days, c.noisy(true, cv))

    # 2. flat and nearly flat series (k runs to its lower bound, or the slope is >= 0)
    for n in sizes:
        for rep in range(8):
            days = c.schedule(n)
            level = math.exp(rng.uniform(math.log(60.0), math.log(3000.0)))
            drift = [0.0, -1e-4, -5e-4, -2e-3][rep % 4]
            true = level * np.exp(drift * np.maximum(np.asarray(days, float), 0))
            c.add(f"flat{n}", days, c.noisy(true, [0.0, 0.002, 0.02, 0.05][rep // 2 % 4]))
    c.add("flatexact", [0, 21, 42, 63], [400.0] * 4)
    c.add("flatexact", [-3, 20, 41], [250.0, 250.0, 249.99])

    # 3. rising and rising-then-falling
    for n in sizes:
        for rep in range(4):
            days = c.schedule(n)
            base = math.exp(rng.uniform(math.log(50.0), math.log(800.0)))
            t = np.maximum(np.asarray(days, float), 0)
            if rep % 2 == 0:
                true = base * np.exp(rng.uniform(0.002, 0.03) * t)
            else:                                  # up, then down: a hump
                true = base * np.exp(0.02 * t - 0.0006 * t ** 2)
            c.add(f"rising{n}", days, c.noisy(true, 0.05))

    # 4. fast and slow declines; k beyond both bounds
    for n in sizes:
        for rep in range(6):
            days = c.schedule(n)
            k = [0.15, 0.4, 1.2, 3.0, 0.004, 0.0015][rep]
            c0 = math.exp(rng.uniform(math.log(200.0), math.log(5000.0)))
            floor = rng.uniform(3.0, 20.0)
            c.add(f"{'fast' if k > 0.1 else 'slow'}{n}", days,
                  c.noisy(curve(days, k, floor, c0), 0.0 if rep % 2 else 0.04))
    c.add("fastexact", [0, 1, 2, 3], curve([0, 1, 2, 3], 1.5, 6.0, 900.0))
    c.add("fastexact", [0, 7, 14], curve([0, 7, 14], 2.5, 6.0, 900.0))

    # 5. plateaus above the ULN (the per-patient floor stops at the ULN) and below it
    for n in (3, 4, 6, 10):
        for rep in range(6):
            days = c.schedule(n)
            floor = [60.0, 120.0, 400.0, 36.0, 12.0, 30.0][rep]
            c0 = floor * rng.uniform(3.0, 20.0)
            k = rng.uniform(0.03, 0.15)
            c.add(f"plateau{n}", days, c.noisy(curve(days, k, floor, c0), 0.0 if rep % 3 == 0 else 0.05))

    # 6. thresholds: baseline at, a hair above, a hair below the ULN; floors at their bounds
    for uln, base in ((35.0, "35"), (35.0, "35.0000001"), (35.0, "34.9999999"), (30.0, "30"),
                      (30.0, "30.000000001"), (35.0, "35.0001"), (35.0, "70")):
        c.add("thresh", [-2, 21, 42, 63], None, uln=uln, text=[base, "20", "12", "9"])
    c.add("thresh", [0, 21, 42], curve([0, 21, 42], 0.05, 0.035, 500.0))      # floor at 1e-3 ULN
    c.add("thresh", [0, 21, 42, 63], curve([0, 21, 42, 63], 0.05, 35.0, 500.0))  # floor at the ULN
    c.add("thresh", [0, 10, 30, 60], curve([0, 10, 30, 60], 1e-4, 5.0, 800.0))   # k at its lower bound
    c.add("thresh", [0, 1, 2], curve([0, 1, 2], 2.0, 5.0, 800.0))                # k at its upper bound

    # 7. censored values: on treatment (low, above the curve), at baseline, all on treatment
    for n in (3, 4, 6, 10):
        for rep in range(8):
            days = c.schedule(n)
            k = rng.uniform(0.03, 0.12)
            floor = rng.uniform(1.0, 8.0)
            c0 = rng.uniform(100.0, 1500.0)
            values = c.noisy(curve(days, k, floor, c0), 0.08)
            limit = [5.0, 10.0, 15.0, 35.0][rep % 4]
            cens = [bool(v < limit and d > 0) for d, v in zip(days, values)]
            if rep >= 6:                        # a "<x" reported above where the curve would be
                cens[-1] = True
                values[-1] = limit * 3
            shown = [fmt(limit) if cz and rep < 6 else fmt(v) for v, cz in zip(values, cens)]
            c.add(f"cens{n}", days, values, censored=cens, text=shown)
    c.add("censbase", [0, 21, 42], None, text=["<40", "20", "10"])
    c.add("censbase", [-5, 21, 42, 63], None, text=["<5", "<5", "<5", "<5"])
    c.add("censall", [0, 21, 42, 63], None, text=["500", "<5", "<5", "<5"])
    c.add("censall", [0, 21, 42], None, text=["500", "<100", "<100"])

    # 8. huge and tiny values; the same series in other units (values and ULN scaled)
    for scale in (1e-3, 1.0, 1e3):
        for rep in range(4):
            days = c.schedule(int(rng.choice([3, 4, 6])))
            values = c.noisy(curve(days, rng.uniform(0.02, 0.1), rng.uniform(3, 20), rng.uniform(200, 800)), 0.05)
            c.add("scaled", days, values * scale, uln=35.0 * scale)
    c.add("huge", [0, 21, 42, 63], [9.0e5, 2.0e5, 4.0e4, 9.0e3])
    c.add("huge", [0, 21, 42], [9.9e5, 9.0e5, 8.5e5])
    c.add("tiny", [0, 21, 42], [0.02, 0.011, 0.008], uln=0.01)
    c.add("tiny", [0, 21, 42], [0.02, 0.011, 0.008])                     # at the floor
    c.add("invalid", [0, 21, 42, 63], [500.0, 200.0, 0.0, 50.0])          # 0: the log fit refuses it
    c.add("invalid", [0, 21, 42, 120], [500.0, 200.0, 80.0, 0.0])         # 0 outside the window: used? no
    c.add("invalid", [0, 21, 42, 63], [500.0, 200.0, 2.0e6, 50.0])        # beyond the plausible maximum

    # 9. unequal spacing, samples outside the window, duplicate days
    for n in (3, 4, 6, 10):
        for rep in range(6):
            pre = sorted(rng.choice(np.arange(-14, 1), size=1 + rep % 2, replace=False).tolist())
            on = sorted({int(rng.integers(1, 4))} | set(rng.choice(np.arange(40, 101), size=n - len(pre) - 1,
                                                                     replace=False).tolist()))
            days = pre + on
            out = [int(rng.integers(-60, -15)), int(rng.integers(101, 200))][: 1 + rep % 2]
            k, floor, c0 = rng.uniform(0.01, 0.2), rng.uniform(2, 25), rng.uniform(150, 2000)
            all_days = sorted(days + out)
            c.add(f"window{n}", all_days, c.noisy(curve(all_days, k, floor, c0), 0.06))
    for n in (3, 4, 6):
        for rep in range(6):
            days = c.schedule(n)
            dup = days[int(rng.integers(0, len(days)))]
            all_days = sorted(days + [dup])
            k, floor, c0 = rng.uniform(0.01, 0.2), rng.uniform(2, 25), rng.uniform(150, 2000)
            values = c.noisy(curve(all_days, k, floor, c0), 0.1)
            cens = [False] * len(all_days)
            if rep >= 4 and dup > 0:             # one or both of the day's values censored
                j = all_days.index(dup)
                cens[j] = True
                cens[j + 1] = rep == 5
            c.add(f"dup{n}", all_days, values, censored=cens)
    c.add("dup", [-3, 0, 0, 21, 42], [300.0, 280.0, 260.0, 120.0, 60.0])   # baseline = mean of day 0
    c.add("dup", [0, 21, 21, 42], [300.0, 120.0, 122.0, 60.0])

    # 10. too few: 2 samples, no on-treatment pair, no baseline, everything outside the window
    c.add("few", [0, 21], [400.0, 150.0])
    c.add("few", [-10, -3, 21], [400.0, 380.0, 150.0])
    c.add("few", [10, 21, 42, 63], [400.0, 150.0, 80.0, 40.0])
    c.add("few", [-40, -20, 110, 150], [400.0, 380.0, 150.0, 90.0])
    c.add("few", [-14, 100, 101], [400.0, 30.0, 29.0])
    c.add("few", [-15, 0, 100], [900.0, 400.0, 30.0])

    # top up to about 500 patients with mixed random designs
    while c.n < 500:
        n = int(rng.choice(sizes))
        days = c.schedule(n, n_pre=1 + int(n >= 6 and rng.random() < 0.3))
        k = math.exp(rng.uniform(math.log(0.002), math.log(1.0)))
        floor = math.exp(rng.uniform(math.log(1.0), math.log(60.0)))
        c0 = math.exp(rng.uniform(math.log(30.0), math.log(1e4)))
        c.add("mixed", days, c.noisy(curve(days, k, floor, c0), float(rng.choice([0.0, 0.05, 0.15, 0.3]))))
    return c.rows


def main() -> None:
    rows = build()
    with OUT.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id", "day", "ca125", "uln"])
        w.writerows(rows)
    print(f"{OUT}: {len({r[0] for r in rows})} patients, {len(rows)} samples")


if __name__ == "__main__":
    main()
