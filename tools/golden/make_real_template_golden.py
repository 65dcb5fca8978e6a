#!/usr/bin/python3
"""Golden renders of real models' chat templates, made with Python's jinja2 (Debian python3-jinja2)
configured as Hugging Face transformers configures it for apply_chat_template
(transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, the loopcontrols extension, raise_exception and strftime_now globals, a json.dumps
tojson filter). strftime_now reads a fixed clock (2024-07-26 13:14:15) so that renders are stable.

The templates and their example inputs are the end-to-end cases of Hugging Face's JavaScript Jinja
(huggingface.js, packages/jinja/test/e2e.test.js), extracted with extract_hfjs_templates.cjs:

  node tools/golden/extract_hfjs_templates.cjs HUGGINGFACE_JS/packages/jinja/test/e2e.test.js > /tmp/t.json
  /usr/bin/python3 tools/golden/make_real_template_golden.py /tmp/t.json

Writes trainer/src/test/resources/golden/real_chat_templates.json: per template its source, its
input, jinja2's render (or jinja2's error) and the JavaScript reference's own expected text.
"""
import datetime
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2 import nodes

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "trainer", "src", "test", "resources",
                   "golden", "real_chat_templates.json")
NOW = datetime.datetime(2024, 7, 26, 13, 14, 15)


class Generation(Extension):
    """transformers' AssistantTracker without the tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(format):
    return NOW.strftime(format)


def main():
    source = json.load(open(sys.argv[1]))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, "jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    out = {}
    for name, case in source.items():
        entry = {"template": case["chat_template"], "data": case["data"],
                 "javascript_target": case["target"]}
        try:
            entry["rendered"] = env.from_string(case["chat_template"]).render(**case["data"])
        except Exception as e:  # jinja2's own failure is the expectation then
            entry["error"] = type(e).__name__ + ": " + str(e)
        out[name] = entry
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print(len(out), "templates;", sum("error" in e for e in out.values()), "fail in jinja2;",
          sum(e.get("rendered") != e["javascript_target"] for e in out.values()),
          "differ from the JavaScript target")


if __name__ == "__main__":
    main()
