#!/usr/bin/python3
"""Golden numbers for the trainer tests, computed independently of the Java code under test.

Run with Debian's python3-torch (1.13): /usr/bin/python3 tools/golden/make_golden.py
It writes trainer/src/test/resources/golden/: tiny model directories (config.json +
safetensors, in F32, BF16, F16 and sharded form), PEFT adapter directories, expected.json
with log-probabilities, losses and gradient norms, and llama-train-expected.safetensors with the
clipped gradients of two training steps and the weights after torch.optim.AdamW (float64) on
exactly those gradients rounded to float32. It leaves chat_templates.json (make_chat_golden.py's)
in place, and reruns write identical bytes.

Everything here is written from the published formulas: the Llama / Qwen2 / Mistral forward as
Hugging Face transformers defines it (RMSNorm, rotate_half RoPE with linear / dynamic / llama3
scaling, grouped-query attention, SwiGLU), PEFT's LoRA, and the preference losses as TRL (v0.2x
DPOTrainer.dpo_loss, CPOTrainer for SimPO, ORPOTrainer, KTOTrainer) and LLaMA-Factory (pref_ftx,
ld_alpha) define them. Log-probabilities and losses are computed in float64 from the float32
weights; each sequence is scored alone (no padding), unlike the Java batch.
"""
import json
import math
import os
import shutil
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "trainer", "src", "test", "resources", "golden")
F64 = torch.float64

# ----------------------------------------------------------------------------- safetensors


def write_safetensors(path, tensors, dtype="F32"):
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        if dtype == "F32":
            raw = t.numpy().tobytes()
        elif dtype == "F16":
            raw = t.to(torch.float16).numpy().tobytes()
        elif dtype == "BF16":
            # bf16 = the high 16 bits of the float32 after round-to-nearest-even
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rounded(tensors, dtype):
    """The float32 values a reader gets back from tensors stored in `dtype`."""
    if dtype == "F32":
        return tensors
    tdt = torch.float16 if dtype == "F16" else torch.bfloat16
    return {k: v.to(tdt).to(torch.float32) for k, v in tensors.items()}


# ----------------------------------------------------------------------------- models


def make_weights(gen, cfg):
    c, v = cfg["hidden_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs = cfg.get("head_dim") or c // nh
    inter = cfg["intermediate_size"]
    qwen = cfg["model_type"] == "qwen2"

    def n(*shape, std=0.3):
        return (torch.randn(*shape, generator=gen) * std).to(torch.float32)

    w = {"model.embed_tokens.weight": n(v, c, std=1.0)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + n(c, std=0.1)
        w[p + "post_attention_layernorm.weight"] = 1 + n(c, std=0.1)
        w[p + "self_attn.q_proj.weight"] = n(nh * hs, c)
        w[p + "self_attn.k_proj.weight"] = n(nkv * hs, c)
        w[p + "self_attn.v_proj.weight"] = n(nkv * hs, c)
        w[p + "self_attn.o_proj.weight"] = n(c, nh * hs)
        if qwen:
            w[p + "self_attn.q_proj.bias"] = n(nh * hs, std=0.2)
            w[p + "self_attn.k_proj.bias"] = n(nkv * hs, std=0.2)
            w[p + "self_attn.v_proj.bias"] = n(nkv * hs, std=0.2)
        w[p + "mlp.gate_proj.weight"] = n(inter, c)
        w[p + "mlp.up_proj.weight"] = n(inter, c)
        w[p + "mlp.down_proj.weight"] = n(c, inter)
    w["model.norm.weight"] = 1 + n(c, std=0.1)
    if not cfg.get("tie_word_embeddings", False):
        w["lm_head.weight"] = n(v, c)
    return w


def inv_freq(cfg, seq_len):
    """RoPE inverse frequencies per transformers' modeling_rope_utils, in float32 as it does."""
    nh = cfg["num_attention_heads"]
    dim = cfg.get("head_dim") or cfg["hidden_size"] // nh
    base = cfg.get("rope_theta", 10000.0)
    scaling = cfg.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    maxpos = cfg["max_position_embeddings"]
    if kind == "dynamic":
        factor = scaling["factor"]
        L = seq_len if seq_len > maxpos else maxpos
        base = base * ((factor * L / maxpos) - (factor - 1)) ** (dim / (dim - 2))
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if kind == "linear":
        inv = inv / scaling["factor"]
    elif kind == "llama3":
        factor = scaling["factor"]
        lo, hi = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        out = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = (wl >= hi_wl) & (wl <= lo_wl)
        inv = torch.where(medium, smoothed, out)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward_logits(w, cfg, ids, lora=None, dtype=F64):
    """Logits (T, V) for one unpadded sequence; lora: dict module-key -> (A, B, scale)."""
    w = {k: v.to(dtype) for k, v in w.items()}
    T = len(ids)
    c = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs = cfg.get("head_dim") or c // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None

    def rms(x, g):
        return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def proj(x, layer, part, module):
        key = f"model.layers.{layer}.{part}.{module}"
        y = x @ w[key + ".weight"].T
        if key + ".bias" in w:
            y = y + w[key + ".bias"]
        if lora is not None and key in lora:
            A, B, s = lora[key]
            y = y + (x @ A.to(dtype).T) @ B.to(dtype).T * s
        return y

    inv = inv_freq(cfg, T).to(dtype)
    pos = torch.arange(T, dtype=dtype)
    freqs = torch.outer(pos, inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    i = torch.arange(T).unsqueeze(1)
    j = torch.arange(T).unsqueeze(0)
    allowed = j <= i
    if window:
        allowed = allowed & (i - j < window)
    mask = torch.zeros(T, T, dtype=dtype).masked_fill(~allowed, float("-inf"))

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = proj(h, l, "self_attn", "q_proj").view(T, nh, hs).transpose(0, 1)
        k = proj(h, l, "self_attn", "k_proj").view(T, nkv, hs).transpose(0, 1)
        v = proj(h, l, "self_attn", "v_proj").view(T, nkv, hs).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=0)
        v = v.repeat_interleave(nh // nkv, dim=0)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + mask, dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, nh * hs)
        x = x + proj(y, l, "self_attn", "o_proj")
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate = proj(h, l, "mlp", "gate_proj")
        up = proj(h, l, "mlp", "up_proj")
        x = x + proj(torch.nn.functional.silu(gate) * up, l, "mlp", "down_proj")
    x = rms(x, w["model.norm.weight"])
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    return x @ head.T


def response_token_logps(w, cfg, prompt, response, lora=None, dtype=F64):
    ids = prompt + response
    logits = forward_logits(w, cfg, ids, lora, dtype)
    logp = torch.log_softmax(logits[:-1], dim=-1)
    targets = torch.tensor(ids[1:])
    per = logp.gather(1, targets.unsqueeze(1)).squeeze(1)
    return per[len(prompt) - 1:]  # the response tokens only


# ----------------------------------------------------------------------------- LoRA

MODULES = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


def dims(cfg, module):
    c = cfg["hidden_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hs = cfg.get("head_dim") or c // nh
    inter = cfg["intermediate_size"]
    return {"q_proj": (c, nh * hs), "k_proj": (c, nkv * hs), "v_proj": (c, nkv * hs),
            "o_proj": (nh * hs, c), "gate_proj": (c, inter), "up_proj": (c, inter),
            "down_proj": (inter, c)}[module]


def make_lora(gen, cfg, r, alpha, targets, rslora):
    scale = alpha / math.sqrt(r) if rslora else alpha / r
    lora, tensors = {}, {}
    for l in range(cfg["num_hidden_layers"]):
        for m in targets:
            fin, fout = dims(cfg, m)
            A = (torch.rand(r, fin, generator=gen) * 2 - 1) / math.sqrt(fin)
            B = torch.randn(fout, r, generator=gen) * 0.05
            key = f"model.layers.{l}.{MODULES[m]}.{m}"
            lora[key] = (A.float(), B.float(), scale)
            tensors[f"base_model.model.{key}.lora_A.weight"] = A.float()
            tensors[f"base_model.model.{key}.lora_B.weight"] = B.float()
    return lora, tensors


def write_adapter(path, tensors, r, alpha, targets, rslora, dtype="F32"):
    os.makedirs(path, exist_ok=True)
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha,
           "lora_dropout": 0.0, "target_modules": targets, "use_rslora": rslora, "bias": "none",
           "fan_in_fan_out": False, "inference_mode": True, "base_model_name_or_path": "golden",
           "use_dora": False, "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {},
           "layers_to_transform": None}
    with open(os.path.join(path, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    write_safetensors(os.path.join(path, "adapter_model.safetensors"), tensors, dtype)


# ----------------------------------------------------------------------------- losses (per pair)


def logsig(x):
    return torch.nn.functional.logsigmoid(x)


class Running:
    """TRL's RunningMoments with one observation (a batch mean) per update."""

    def __init__(self):
        self.mean, self.var, self.count = 0.0, 1.0, 1e-24

    def update(self, x):
        delta = x - self.mean
        tot = self.count + 1
        old = self.var * self.count + delta ** 2 * self.count / tot
        self.mean += delta / tot
        self.var = old / tot
        self.count = tot


def aggregate(per_tokens, kind, ld_alpha, pair_lengths):
    """TRL / LLaMA-Factory aggregation of per-token response log-probs of one sequence."""
    if ld_alpha is not None and kind == "policy":
        shared = min(pair_lengths)
        weights = torch.tensor([1.0 if k < shared else ld_alpha for k in range(len(per_tokens))], dtype=F64)
        return (per_tokens * weights).sum()
    return per_tokens.sum()


def pair_losses(case, pc, pr, rc, rr, chosen_mean, running):
    """Per-pair losses (tensor B) and rewards for one loss case, given aggregated logps."""
    t, beta = case["type"], case.get("beta", 0.1)
    ls = case.get("label_smoothing", 0.0)
    if t in ("simpo", "orpo"):
        cr, rj = beta * pc, beta * pr
    else:
        cr, rj = beta * (pc - rc), beta * (pr - rr)
    logits = (pc - pr) - (rc - rr)
    if t == "sigmoid":
        loss = -logsig(beta * logits) * (1 - ls) - logsig(-beta * logits) * ls
    elif t == "robust":
        loss = (-logsig(beta * logits) * (1 - ls) + logsig(-beta * logits) * ls) / (1 - 2 * ls)
    elif t == "hinge":
        loss = torch.relu(1 - beta * logits)
    elif t == "ipo":
        loss = (logits - 1 / (2 * beta)) ** 2
    elif t == "bco_pair":
        cr_, rr_ = beta * (pc - rc), beta * (pr - rr)
        if running is not None:
            running.update(torch.cat((cr_, rr_)).mean().item())
            delta = running.mean
        else:
            delta = 0.0
        loss = -logsig(cr_ - delta) - logsig(-(rr_ - delta))
    elif t == "apo_zero":
        loss = (1 - torch.sigmoid(beta * (pc - rc))) + torch.sigmoid(beta * (pr - rr))
    elif t == "apo_down":
        loss = torch.sigmoid(beta * (pc - rc)) + (1 - torch.sigmoid(beta * ((pc - rc) - (pr - rr))))
    elif t == "simpo":
        z = beta * (pc - pr) - case.get("simpo_gamma", 0.5)
        loss = -logsig(z) * (1 - ls) - logsig(-z) * ls
    elif t == "orpo":
        log_odds = (pc - pr) - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
        loss = -pc - beta * logsig(log_odds)
    else:
        raise ValueError(t)
    ftx = case.get("pref_ftx", 0.0)
    if ftx > 0:
        loss = loss + ftx * (-chosen_mean)
    return loss, cr, rj


def batch_loss(case, toks, running=None):
    """toks: list of (chosen_tokens, rejected_tokens, ref_chosen_tokens, ref_rejected_tokens)."""
    t = case["type"]
    avg = t in ("ipo", "simpo", "orpo")
    ld = case.get("ld_alpha")
    pc, pr, rc, rr, cm = [], [], [], [], []
    for c, r, refc, refr in toks:
        lens = (len(c), len(r))
        a = aggregate(c, "policy", ld, lens)
        b = aggregate(r, "policy", ld, lens)
        ra, rb = refc.sum(), refr.sum()
        if avg:
            a, b, ra, rb = a / len(c), b / len(r), ra / len(c), rb / len(r)
        pc.append(a), pr.append(b), rc.append(ra), rr.append(rb), cm.append(c.mean())
    st = torch.stack
    loss, cr, rj = pair_losses(case, st(pc), st(pr), st(rc), st(rr), st(cm), running)
    return loss, cr, rj, st(pc), st(pr)


def unpaired_losses(case, pol, ref, pol_kl, ref_kl, desirable):
    beta = case.get("beta", 0.1)
    wd, wu = case.get("desirable_weight", 1.0), case.get("undesirable_weight", 1.0)
    ratio = pol - ref
    if case["type"] == "kto":
        kl = max((pol_kl - ref_kl).mean().item(), 0.0)
        good = 1 - torch.sigmoid(beta * (ratio - kl))
        bad = 1 - torch.sigmoid(beta * (kl - ratio))
    else:  # apo_zero_unpaired
        kl = 0.0
        good = 1 - torch.sigmoid(beta * ratio)
        bad = torch.sigmoid(beta * ratio)
    d = torch.tensor(desirable, dtype=F64)
    return d * wd * good + (1 - d) * wu * bad, beta * ratio, kl


# ----------------------------------------------------------------------------- cases

LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
         "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 48, "max_position_embeddings": 64,
         "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
         "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
         "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}
QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32,
         "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 1, "vocab_size": 40, "max_position_embeddings": 128,
         "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
         "tie_word_embeddings": True, "use_sliding_window": False, "torch_dtype": "float32",
         "bos_token_id": 1, "eos_token_id": 2}
MISTRAL = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 32,
           "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 44,
           "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "hidden_act": "silu", "tie_word_embeddings": False, "sliding_window": 5,
           "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}

ROPE_VARIANTS = {
    "linear": {"rope_type": "linear", "factor": 2.0},
    "dynamic": {"type": "dynamic", "factor": 3.0},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
}

LOSS_CASES = [
    {"type": "sigmoid", "beta": 0.1},
    {"type": "sigmoid", "beta": 0.5, "label_smoothing": 0.1},
    {"type": "robust", "beta": 0.3, "label_smoothing": 0.2},
    {"type": "hinge", "beta": 0.5},
    {"type": "ipo", "beta": 0.1},
    {"type": "simpo", "beta": 2.0, "simpo_gamma": 0.5},
    {"type": "simpo", "beta": 2.5, "simpo_gamma": 1.0, "label_smoothing": 0.1},
    {"type": "orpo", "beta": 0.1},
    {"type": "bco_pair", "beta": 0.2},
    {"type": "apo_zero", "beta": 0.1},
    {"type": "apo_down", "beta": 0.1},
    {"type": "sigmoid", "beta": 0.1, "ld_alpha": 0.5},
    {"type": "ipo", "beta": 0.2, "ld_alpha": 0.3},
    {"type": "sigmoid", "beta": 0.1, "pref_ftx": 0.5},
    {"type": "orpo", "beta": 0.2, "pref_ftx": 1.0},
]


def random_pairs(gen, vocab, n, seed_lengths):
    pairs = []
    for i in range(n):
        lp, lc, lr = seed_lengths[i % len(seed_lengths)]
        ids = lambda k: [int(x) for x in torch.randint(3, vocab, (k,), generator=gen)]
        pairs.append({"prompt": [1] + ids(lp - 1), "chosen": ids(lc - 1) + [2], "rejected": ids(lr - 1) + [2]})
    return pairs


def score_pairs(w, cfg, lora, pairs):
    toks = []
    for p in pairs:
        c = response_token_logps(w, cfg, p["prompt"], p["chosen"], lora)
        r = response_token_logps(w, cfg, p["prompt"], p["rejected"], lora)
        rc = response_token_logps(w, cfg, p["prompt"], p["chosen"])
        rr = response_token_logps(w, cfg, p["prompt"], p["rejected"])
        toks.append((c, r, rc, rr))
    return toks


def logps_json(toks):
    return [{"policy_chosen": c.sum().item(), "policy_rejected": r.sum().item(),
             "reference_chosen": rc.sum().item(), "reference_rejected": rr.sum().item()}
            for c, r, rc, rr in toks]


def loss_json(toks):
    out = []
    for case in LOSS_CASES:
        running = None
        loss, cr, rj, pc, pr = batch_loss(case, toks, running)
        out.append({"case": case, "losses": loss.tolist(), "chosen_rewards": cr.tolist(),
                    "rejected_rewards": rj.tolist(), "logps_chosen": pc.tolist(),
                    "logps_rejected": pr.tolist()})
    return out


def grad_cases(w, cfg, lora, pairs):
    """Loss and gradient norm of the first step for each loss (bco with TRL's running update)."""
    out = []
    for case in LOSS_CASES:
        leaves = {k: (A.clone().to(F64).requires_grad_(True), B.clone().to(F64).requires_grad_(True), s)
                  for k, (A, B, s) in lora.items()}
        toks = []
        for p in pairs:
            c = response_token_logps(w, cfg, p["prompt"], p["chosen"], leaves)
            r = response_token_logps(w, cfg, p["prompt"], p["rejected"], leaves)
            with torch.no_grad():
                rc = response_token_logps(w, cfg, p["prompt"], p["chosen"])
                rr = response_token_logps(w, cfg, p["prompt"], p["rejected"])
            toks.append((c, r, rc, rr))
        loss, _, _, _, _ = batch_loss(case, toks, Running())
        total = loss.mean()
        total.backward()
        norm = math.sqrt(sum((A.grad ** 2).sum().item() + (B.grad ** 2).sum().item() for A, B, _ in leaves.values()))
        out.append({"case": case, "loss": total.item(), "grad_norm": norm})
    return out


def step_gradients(w, cfg, params, batch, loss_case, max_grad_norm, dtype=F64):
    """Loss, global gradient norm and clipped gradients of one step at the LoRA `params`
    ({key: (A, B, scale)}), with torch.autograd and torch.nn.utils.clip_grad_norm_'s formula, all
    in `dtype` (float64 for the golden numbers; float32 only to measure float32's error)."""
    leaves = {k: (A.detach().to(dtype).clone().requires_grad_(True),
                  B.detach().to(dtype).clone().requires_grad_(True), s) for k, (A, B, s) in params.items()}
    toks = []
    for p in batch:
        c = response_token_logps(w, cfg, p["prompt"], p["chosen"], leaves, dtype)
        r = response_token_logps(w, cfg, p["prompt"], p["rejected"], leaves, dtype)
        with torch.no_grad():
            rc = response_token_logps(w, cfg, p["prompt"], p["chosen"], None, dtype)
            rr = response_token_logps(w, cfg, p["prompt"], p["rejected"], None, dtype)
        toks.append((c, r, rc, rr))
    loss, _, _, _, _ = batch_loss(loss_case, toks)
    total = loss.mean()
    total.backward()
    grads = {}
    for key, (A, B, _) in leaves.items():
        grads[f"base_model.model.{key}.lora_A.weight"] = A.grad.detach()
        grads[f"base_model.model.{key}.lora_B.weight"] = B.grad.detach()
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values()))
    coef = max_grad_norm / (norm + 1e-6)  # clip_grad_norm_
    if coef < 1:
        grads = {k: g * coef for k, g in grads.items()}
    return total.item(), norm.item(), grads


def train_steps(w, cfg, lora, batches, opt_cfg):
    """The well-conditioned parts of clipped AdamW steps, each against its own float64 reference.

    Per step s (1-based): the clipped gradients at the current parameters in float64 autograd
    ("step{s}.grad.NAME", stored rounded to float32) and the parameters after torch.optim.AdamW in
    float64 applied to exactly those float32 gradients ("step{s}.param.NAME"). The Java test feeds
    its AdamW the same float32 gradients, so the update is compared without the amplification of
    gradient rounding by Adam's 1/sqrt(v) (an element whose gradient is float32 noise moves by up to
    lr either way, whatever its gradient's error)."""
    params = {k: (A.to(F64).clone(), B.to(F64).clone(), s) for k, (A, B, s) in lora.items()}
    names = []
    flat = []
    for key, (A, B, _) in params.items():
        names += [f"base_model.model.{key}.lora_A.weight", f"base_model.model.{key}.lora_B.weight"]
        flat += [A, B]
    opt = torch.optim.AdamW(flat, lr=opt_cfg["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=opt_cfg["weight_decay"])
    results, tensors = [], {}
    for s, batch in enumerate(batches, 1):
        loss, norm, grads = step_gradients(w, cfg, params, batch, opt_cfg["loss"], opt_cfg["max_grad_norm"])
        for name, t in zip(names, flat):
            g32 = grads[name].to(torch.float32)
            tensors[f"step{s}.grad.{name}"] = g32
            t.grad = g32.to(F64)
        opt.step()
        for name, t in zip(names, flat):
            tensors[f"step{s}.param.{name}"] = t.detach().clone()
        results.append({"loss": loss, "grad_norm": norm})
    return results, tensors


def float32_gradient_error(w, cfg, lora, batch, opt_cfg):
    """Printed, not stored: how far torch's own float32 autograd lands from float64 (the error the
    Java test's tolerance must cover, seen through another implementation and summation order)."""
    _, _, g64 = step_gradients(w, cfg, lora, batch, opt_cfg["loss"], opt_cfg["max_grad_norm"])
    _, _, g32 = step_gradients({k: v.to(torch.float32) for k, v in w.items()}, cfg, lora, batch,
                               opt_cfg["loss"], opt_cfg["max_grad_norm"], torch.float32)
    worst_norm, worst_elem = 0.0, 0.0
    for name, ref in g64.items():
        d = g32[name].to(F64) - ref
        rms = ref.norm().item() / math.sqrt(ref.numel())
        worst_norm = max(worst_norm, d.norm().item() / ref.norm().item())
        worst_elem = max(worst_elem, d.abs().max().item() / rms)
    eps32 = 2.0 ** -24
    print(f"torch float32 gradients vs float64: max per-tensor |dg|/|g| = {worst_norm / eps32:.1f} u,"
          f" max |dg_i|/rms(g) = {worst_elem / eps32:.1f} u (u = 2^-24)")


def write_model(name, cfg, w, dtype="F32", shards=1):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    c = dict(cfg)
    c["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), w, dtype)
        return
    names = sorted(w)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(d, fname), {k: w[k] for k in part}, dtype)
        weight_map.update({k: fname for k in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2, sort_keys=True)


def main():
    # start from nothing but chat_templates.json, which tools/golden/make_chat_golden.py writes
    os.makedirs(OUT, exist_ok=True)
    for entry in os.listdir(OUT):
        path = os.path.join(OUT, entry)
        if entry == "chat_templates.json":
            continue
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    gen = torch.Generator().manual_seed(20240611)
    expected = {"models": {}, "rope": {}, "dtypes": {}, "unpaired": {}}
    lengths = [(4, 5, 3), (7, 2, 6), (3, 8, 8), (9, 4, 1 + 1), (5, 1 + 1, 7)]

    specs = [("llama", LLAMA, 4, 8, list(MODULES), False),
             ("qwen2", QWEN2, 2, 4, ["q_proj", "v_proj"], True),
             ("mistral", MISTRAL, 4, 16, ["q_proj", "k_proj", "v_proj", "o_proj"], False)]
    weights = {}
    for name, cfg, r, alpha, targets, rslora in specs:
        w = make_weights(gen, cfg)
        weights[name] = w
        write_model(name, cfg, w)
        lora, tensors = make_lora(gen, cfg, r, alpha, targets, rslora)
        write_adapter(os.path.join(OUT, name + "-lora"), tensors, r, alpha, targets, rslora)
        pairs = random_pairs(gen, cfg["vocab_size"], 5, lengths)
        toks = score_pairs(w, cfg, lora, pairs)
        entry = {"model": name, "adapter": name + "-lora", "pairs": pairs,
                 "logps": logps_json(toks), "losses": loss_json(toks),
                 "first_token_logps": toks[0][0].tolist()}
        if name == "llama":
            entry["grads"] = grad_cases(w, cfg, lora, pairs[:3])
            # weight decay 0.1 moves a weight by lr * 0.1 * |w| per step (up to 2e-4 here), hundreds
            # of times the float32 tolerance of the AdamW comparison: a trainer without decay, or
            # with coupled (L2) decay, fails it
            opt_cfg = {"lr": 0.01, "weight_decay": 0.1, "loss": {"type": "sigmoid", "beta": 0.1}}
            # max_grad_norm: half the first step's gradient norm, so that the first step is clipped
            _, norm0, _ = step_gradients(w, cfg, lora, pairs[:3], opt_cfg["loss"], 1e9)
            opt_cfg["max_grad_norm"] = norm0 * 0.5
            steps, tensors = train_steps(w, cfg, lora, [pairs[:3], pairs[2:]], opt_cfg)
            write_safetensors(os.path.join(OUT, "llama-train-expected.safetensors"), tensors)
            float32_gradient_error(w, cfg, lora, pairs[:3], opt_cfg)
            entry["train"] = {"lr": opt_cfg["lr"], "weight_decay": opt_cfg["weight_decay"],
                              "max_grad_norm": opt_cfg["max_grad_norm"], "beta": 0.1,
                              "batches": [[0, 1, 2], [2, 3, 4]], "steps": steps}
            # unpaired: examples (prompt, completion, desirable) from the pairs
            examples = []
            for i, p in enumerate(pairs):
                examples.append({"prompt": p["prompt"], "completion": p["chosen"], "desirable": True})
                if i % 2 == 0:
                    examples.append({"prompt": p["prompt"], "completion": p["rejected"], "desirable": False})
            pol = torch.stack([response_token_logps(w, cfg, e["prompt"], e["completion"], lora).sum() for e in examples])
            ref = torch.stack([response_token_logps(w, cfg, e["prompt"], e["completion"]).sum() for e in examples])
            shifted = [examples[-1]["completion"]] + [e["completion"] for e in examples[:-1]]
            pol_kl = torch.stack([response_token_logps(w, cfg, e["prompt"], s, lora).sum() for e, s in zip(examples, shifted)])
            ref_kl = torch.stack([response_token_logps(w, cfg, e["prompt"], s).sum() for e, s in zip(examples, shifted)])
            cases = []
            for case in [{"type": "kto", "beta": 0.1}, {"type": "kto", "beta": 0.5, "undesirable_weight": 1.5},
                         {"type": "apo_zero_unpaired", "beta": 0.2}]:
                losses, rewards, kl = unpaired_losses(case, pol, ref, pol_kl, ref_kl, [e["desirable"] for e in examples])
                cases.append({"case": case, "losses": losses.tolist(), "rewards": rewards.tolist(), "kl": kl})
            expected["unpaired"] = {"examples": examples, "policy": pol.tolist(), "reference": ref.tolist(),
                                    "cases": cases}
        expected["models"][name] = entry

    # rope scaling variants of the llama weights (configs only; the test copies the weights)
    pairs = random_pairs(gen, LLAMA["vocab_size"], 3, [(12, 10, 12), (20, 15, 6), (5, 3, 4)])
    for kind, scaling in ROPE_VARIANTS.items():
        cfg = dict(LLAMA, rope_scaling=scaling, max_position_embeddings=16 if kind != "llama3" else 64)
        toks = [(response_token_logps(weights["llama"], cfg, p["prompt"], p["chosen"]),
                 response_token_logps(weights["llama"], cfg, p["prompt"], p["rejected"])) for p in pairs]
        expected["rope"][kind] = {"config": cfg, "pairs": pairs,
                                  "chosen": [c.sum().item() for c, _ in toks],
                                  "rejected": [r.sum().item() for _, r in toks]}

    # the llama weights stored as BF16, F16 and in two F32 shards
    pairs = expected["models"]["llama"]["pairs"]
    for dtype, shards, name in [("BF16", 1, "llama-bf16"), ("F16", 1, "llama-f16"), ("F32", 2, "llama-sharded")]:
        w = rounded(weights["llama"], dtype)
        write_model(name, LLAMA, weights["llama"], dtype, shards)
        toks = [(response_token_logps(w, LLAMA, p["prompt"], p["chosen"]),
                 response_token_logps(w, LLAMA, p["prompt"], p["rejected"])) for p in pairs]
        expected["dtypes"][name] = {"chosen": [c.sum().item() for c, _ in toks],
                                    "rejected": [r.sum().item() for _, r in toks]}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
