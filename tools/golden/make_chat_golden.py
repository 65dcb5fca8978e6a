#!/usr/bin/python3
"""Golden chat-template renders made with Python's jinja2 (Debian python3-jinja2), configured as
Hugging Face transformers configures it for apply_chat_template: a sandboxed environment with
trim_blocks and lstrip_blocks, the loopcontrols extension, raise_exception as a global, and a
json.dumps-based tojson.

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
    # Gemma 2 (google/gemma-2-*-it), transcribed from its tokenizer_config.json
    "gemma2": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
    ),
    # Phi-3 (microsoft/Phi-3-mini-4k-instruct), transcribed from its tokenizer_config.json
    "phi3": (
        "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
        "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
        "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
    ),
    # Llama 2 chat (meta-llama/Llama-2-7b-chat-hf), transcribed from its tokenizer_config.json
    "llama2_chat": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
    ),
    # the constructs real templates use, together: namespace assignment, reversed slices, loop
    # attributes, tojson with arguments, string methods, tests, whitespace control, loop controls,
    # macros, set blocks, for-else, filters
    "constructs": (
        "{%- macro show(m, sep=': ') -%}\n"
        "  {{- m.role | upper ~ sep ~ (m.content | length) -}}\n"
        "{%- endmacro -%}\n"
        "{%- set ns = namespace(last_user=-1, count=0, seen='') -%}\n"
        "{%- for message in messages[::-1] %}\n"
        "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
        "    {%- if ns.last_user == -1 and message.role == 'user' %}{% set ns.last_user = index %}{% endif %}\n"
        "    {%- set ns.count = ns.count + 1 %}\n"
        "    {%- set ns.seen = ns.seen ~ message['role'][0] %}\n"
        "{%- endfor %}\n"
        "last={{ ns.last_user }} count={{ ns.count }} seen={{ ns.seen }} rev={{ messages[-1:0:-1] | length }}\n"
        "{% for m in messages %}\n"
        "  {% if loop.first %}[first of {{ loop.length }}]{% endif %}\n"
        "{{ loop.index }}/{{ loop.revindex }}/{{ loop.revindex0 }} {{ show(m) }} {{ show(m, sep='=') }}\n"
        "  {%+ if m.content.startswith('!') or m.content.endswith(('?', '  ')) %}  punct{% endif %}\n"
        "  {{- ' prev=' ~ (loop.previtem.role if loop.previtem is defined else 'none') }}\n"
        "  {{- ' split=' ~ m.content.split()|join('+') ~ ' rsplit=' ~ m.content.rsplit(' ', 1)|tojson }}\n"
        "  {{- ' strip=' ~ m.content.strip()|tojson ~ m.content.lstrip('! ')|tojson ~ m.content.rstrip()|tojson }}\n"
        "  {{- ' first3=' ~ m.content[:3]|tojson ~ ' last3=' ~ m.content[-3:]|tojson ~ ' every2=' ~ m.content[::2]|tojson }}\n"
        "  {%- if m.reasoning is defined %}{{ raise_exception('no reasoning here') }}{% endif %}\n"
        "  {%- if m.content is string and m.missing is not defined and m.get('missing') is none %} ok{% endif %}\n"
        "  {%- if 'Hello' in m.content %}{% continue %}{% endif %}\n"
        "  {{- ' json=' ~ m | tojson }} {{ {'b': [1, 2.5, none, true], 'a': m.content} | tojson(indent=2, sort_keys=true) }}\n"
        "  {{- {'k': 'v', 'n': 1} | tojson(separators=(',', ':')) }}\n"
        "  {%- if loop.index > 3 %}{% break %}{% endif %}\n"
        "{% else %}\n"
        "no messages\n"
        "{% endfor %}\n"
        "{% set block %}{{ messages | map(attribute='role') | join(',') }}|{{ messages | selectattr('role', 'equalto', 'user') | list | length }}{% endset %}\n"
        "{{ block }} {{ (messages | last).content | replace(' ', '_') | title }} {{ undefined_name | default('dflt') }}\n"
        "{{- '\\t' ~ 7 // 2 ~ ' ' ~ 7 / 2 ~ ' ' ~ -7 % 3 ~ ' ' ~ 2 ** 10 ~ ' ' ~ none ~ ' ' ~ (1, 'x') ~ ' ' ~ [1, 'y'] }}\n"
        "{% if add_generation_prompt %}<gen>{% endif %}\n"
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
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
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
