#!/usr/bin/python3
"""Checks `prefstream eval --output json` against the independent PyTorch implementation in
make_golden.py, the way a new user (or reviewer) would: the token ids eval prints are re-scored
from the model directory (and PEFT adapter) with float64 PyTorch, and every log-prob and loss must
agree to the given relative tolerance.

usage: /usr/bin/python3 tools/golden/check_eval.py MODEL_DIR ADAPTER_DIR|- EVAL.jsonl LOSS BETA [REL]
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_golden as g  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        assert info["dtype"] == "F32", info["dtype"]
        buf = bytearray(raw[8 + n + start:8 + n + end])
        out[name] = torch.frombuffer(buf, dtype=torch.float32).reshape(info["shape"])
    return out


def main():
    model_dir, adapter_dir, eval_file, loss, beta = sys.argv[1:6]
    rel = float(sys.argv[6]) if len(sys.argv) > 6 else 2e-4
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    lora = None
    if adapter_dir != "-":
        acfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
        t = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        scale = acfg["lora_alpha"] / (acfg["r"] ** 0.5 if acfg.get("use_rslora") else acfg["r"])
        lora = {}
        for k in t:
            if k.endswith("lora_A.weight"):
                key = k[len("base_model.model."):-len(".lora_A.weight")]
                lora[key] = (t[k], t[k.replace("lora_A", "lora_B")], scale)
    rows = [json.loads(line) for line in open(eval_file) if line.strip()]
    pairs = [r for r in rows if "index" in r]
    worst = 0.0
    toks = []
    for p in pairs:
        c = g.response_token_logps(w, cfg, p["prompt_ids"], p["chosen_ids"], lora)
        r = g.response_token_logps(w, cfg, p["prompt_ids"], p["rejected_ids"], lora)
        rc = g.response_token_logps(w, cfg, p["prompt_ids"], p["chosen_ids"])
        rr = g.response_token_logps(w, cfg, p["prompt_ids"], p["rejected_ids"])
        toks.append((c, r, rc, rr))
        for key, val in [("policy_chosen_logps", c.sum()), ("policy_rejected_logps", r.sum()),
                         ("reference_chosen_logps", rc.sum()), ("reference_rejected_logps", rr.sum())]:
            err = abs(p[key] - val.item()) / max(abs(val.item()), 1e-6)
            worst = max(worst, err)
            if err > rel:
                print(f"pair {p['index']} {key}: ours {p[key]} torch {val.item()} rel {err:.2e}")
    losses, _, _, _, _ = g.batch_loss({"type": loss, "beta": float(beta)}, toks)
    for p, want in zip(pairs, losses.tolist()):
        err = abs(p["loss"] - want) / max(abs(want), 1e-6)
        worst = max(worst, err)
        if err > rel:
            print(f"pair {p['index']} loss: ours {p['loss']} torch {want} rel {err:.2e}")
    print(f"{len(pairs)} pairs, loss {loss}, worst relative error {worst:.2e}",
          "OK" if worst <= rel else "FAIL")
    sys.exit(0 if worst <= rel else 1)


if __name__ == "__main__":
    main()
