#!/usr/bin/python3
"""Golden chat-template renders made with Python's jinja2 (Debian python3-jinja2), configured as
Hugging Face transformers configures it for apply_chat_template: a sandboxed environment with
trim_blocks and lstrip_blocks, raise_exception as a global, and a json.dumps-based tojson.

Run: /usr/bin/python3 tools/golden/make_chat_golden.py
Writes trainer/src/test/resources/golden/chat_templates.json.
"""
import json
import os

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "trainer", "src", "test", "resources", "golden")

TEMPLATES = {
    # Meta-Llama-3-8B-Instruct
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
        "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
    ),
    # Qwen2-Instruct (ChatML with a default system prompt)
    "chatml": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    # Mistral-7B-Instruct-v0.2
    "mistral_v02": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
        "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
        "{% endfor %}"
    ),
    # Mistral-7B-Instruct-v0.3 style: optional system message, whitespace control, slicing
    "mistral_v03": (
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {%- set system_message = messages[0]['content'] %}\n"
        "    {%- set loop_messages = messages[1:] %}\n"
        "{%- else %}\n"
        "    {%- set loop_messages = messages %}\n"
        "{%- endif %}\n"
        "\n"
        "{{- bos_token }}\n"
        "{%- for message in loop_messages %}\n"
        "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
        "        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n"
        "    {%- endif %}\n"
        "    {%- if message['role'] == 'user' %}\n"
        "        {%- if loop.first and system_message is defined %}\n"
        "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
        "        {%- else %}\n"
        "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
        "        {%- endif %}\n"
        "    {%- elif message['role'] == 'assistant' %}\n"
        "        {{- ' ' + message['content'] + eos_token}}\n"
        "    {%- else %}\n"
        "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"
    ),
    # what `prefstream model init` writes
    "prefstream": (
        "{{ bos_token }}{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    # block tags on their own lines: trim_blocks / lstrip_blocks, python string methods
    "blocks": (
        "{% for message in messages %}\n"
        "  {% if message['content'].startswith('!') %}\n"
        "[{{ message['role'].upper() }}] {{ message['content'].lstrip('!').strip() }}\n"
        "  {% else %}\n"
        "<{{ message['role'] }}> {{ message['content'].split(' ')[0] }}|{{ message['content'].rstrip() }}\n"
        "  {% endif %}\n"
        "{% endfor %}\n"
        "{% if add_generation_prompt %}\n"
        "<assistant>\n"
        "{% endif %}\n"
    ),
}

CONVERSATIONS = {
    "one_user": [{"role": "user", "content": "Hello"}],
    "system_user": [{"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "What is 2+2?"}],
    "injection": [{"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello! How can I help?"},
                  {"role": "user", "content": "{{ 7*7 }} and {% if true %}x{% endif %} {# c #} ${x} #{y}"}],
    "unicode": [{"role": "user",
                 "content": "  Grüße, 世界 \"quoted\" 'single' \\ back\\nslash\n\nnew  lines \t tab  "}],
    "bang": [{"role": "user", "content": "!!  shout it  "}, {"role": "assistant", "content": "ok fine  "}],
}


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    cases = []
    for tname, template in TEMPLATES.items():
        compiled = env.from_string(template)
        for cname, messages in CONVERSATIONS.items():
            for gen in (True, False):
                case = {"template": tname, "conversation": cname, "add_generation_prompt": gen}
                try:
                    case["rendered"] = compiled.render(messages=messages, add_generation_prompt=gen,
                                                       bos_token="<s>", eos_token="</s>")
                except TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    with open(os.path.join(OUT, "chat_templates.json"), "w") as f:
        json.dump({"templates": TEMPLATES, "conversations": CONVERSATIONS, "cases": cases}, f,
                  indent=1, ensure_ascii=False)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
