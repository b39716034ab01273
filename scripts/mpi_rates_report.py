#!/usr/bin/env python3
"""A quant_report.json-shaped input for bench/mpi_scaling_model from per-core rates
already measured (docs/RESULTS.md, "Ranks over MPI"), when the 1-rank report itself
is not at hand: the 2-layer LLaMA-2-7B-wide shapes, 8 x 512 tokens, group 128,
with the time of every part set from the rates (the model reads the rates back).
Without ALLOC_S_PER_WEIGHT the method is gptq; with it, slim (the bit allocation
at that rate per weight).
  mpi_rates_report.py FWD_GFLOPS SYRK_GFLOPS FACTOR_S_PER_DIM3 GPTQ_S_PER_ROWS_COLS2 [ALLOC_S_PER_WEIGHT] > r1.json"""
import json
import sys

if len(sys.argv) not in (5, 6):
    sys.exit(__doc__)
fwd, syrk_rate, factor, gptq = map(float, sys.argv[1:5])
alloc = float(sys.argv[5]) if len(sys.argv) == 6 else None
dim, hid, q, kv, n, T = 4096, 11008, 4096, 4096, 8, 512
lin = [("q_proj", q, dim), ("k_proj", kv, dim), ("v_proj", kv, dim), ("o_proj", dim, q),
       ("gate_proj", hid, dim), ("up_proj", hid, dim), ("down_proj", dim, hid)]
w = sum(r * c for _, r, c in lin)
fg = n * (2 * T * w + 2 * q * T * (T + 1)) / 1e9          # as calib/sequential.cc counts it
hg = fg - n * 2 * T * dim * hid / 1e9
syrk = sum(n * T * d * (d + 1) for d in (dim, q, dim, hid)) / 1e9
blocks = [{"layer": l, "hessian_pass_seconds": hg / fwd + syrk / syrk_rate, "hessian_add_seconds": syrk / syrk_rate,
           "propagate_seconds": fg / fwd, "forward_gflop": fg, "hessian_pass_gflop": hg, "comm_received_bytes": 0}
          for l in range(2)]
first = ("q_proj", "o_proj", "gate_proj", "down_proj")  # one factor per input site
layers = [{"layer": l, "name": nm, "shape": [r, c], "factor_seconds": factor * c ** 3 if nm in first else 0.0,
           "gptq_seconds": gptq * r * c * c, "allocation_seconds": alloc * r * c if alloc else 0.0}
          for l in range(2) for nm, r, c in lin]
json.dump({"calibration": {"nsamples": n, "seqlen": T},
           "totals": {"method": "slim" if alloc else "gptq", "group_size": 128},
           "layers": layers, "blocks": blocks}, sys.stdout)
