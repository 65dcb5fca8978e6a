package dev.prefstream.trainer.tokenize.jinja;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.trainer.tokenize.TemplateException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the renderer refuses, and how it says so: the construct by name, with its line. */
class JinjaTemplateTest {

  static String render(String template, Map<String, ?> vars) {
    return JinjaTemplate.parse(template).render(vars);
  }

  @Test
  void unsupportedTagsFiltersAndTestsFailAtParseTimeByName() {
    assertThatThrownBy(() -> JinjaTemplate.parse("x\n{% include 'a.jinja' %}"))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("line 2")
        .hasMessageContaining("{% include %}");
    assertThatThrownBy(() -> JinjaTemplate.parse("{{ x | wordwrap(3) }}"))
        .hasMessageContaining("'wordwrap' filter");
    assertThatThrownBy(() -> JinjaTemplate.parse("{% if x is prime %}{% endif %}"))
        .hasMessageContaining("'prime' test");
    assertThatThrownBy(() -> JinjaTemplate.parse("{% for m in messages %}"))
        .hasMessageContaining("endfor");
    assertThatThrownBy(() -> JinjaTemplate.parse("{% for x in y recursive %}{% endfor %}"))
        .hasMessageContaining("recursive");
  }

  @Test
  void unsupportedOperationsFailAtRenderTimeByName() {
    assertThatThrownBy(() -> render("{{ '%s!' % name }}", Map.of("name", "a")))
        .hasMessageContaining("printf-style");
    assertThatThrownBy(() -> render("\n\n{{ name.zfill(3) }}", Map.of("name", "a")))
        .hasMessageContaining("line 3")
        .hasMessageContaining("zfill");
    assertThatThrownBy(() -> render("{{ name.__class__ }}", Map.of("name", "a")))
        .hasMessageContaining("unsafe");
    assertThatThrownBy(() -> render("{{ namespace(a=1) }}", Map.of()))
        .hasMessageContaining("Namespace");
    assertThatThrownBy(() -> render("{% set l = [1] %}{{ l.append(2) }}", Map.of()))
        .hasMessageContaining("modifies");
  }

  @Test
  void undefinedValuesBehaveLikeJinja2sDefaultUndefined() {
    assertThat(render("[{{ missing }}|{{ missing | length }}|{{ missing is defined }}]", Map.of()))
        .isEqualTo("[|0|False]");
    assertThat(
            render(
                "{{ m.nope }}|{{ m['nope'] }}|{{ l[5] }}", Map.of("m", Map.of(), "l", List.of())))
        .isEqualTo("||");
    assertThatThrownBy(() -> render("{{ missing.attr }}", Map.of()))
        .hasMessageContaining("'missing' is undefined");
    assertThatThrownBy(() -> render("{{ missing + 'x' }}", Map.of()))
        .hasMessageContaining("'missing' is undefined");
    assertThatThrownBy(() -> render("{{ 'a' + 1 }}", Map.of())).hasMessageContaining("str");
  }

  @Test
  void raiseExceptionCarriesTheTemplatesMessage() {
    assertThatThrownBy(
            () ->
                render(
                    "{% if x %}\n{{ raise_exception('Only user and assistant roles!') }}{% endif %}",
                    Map.of("x", true)))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("line 2")
        .hasMessageContaining("Only user and assistant roles!");
  }

  @Test
  void strftimeNowReadsTheGivenClock() {
    var t =
        JinjaTemplate.parse(
            "{{ strftime_now('%d %b %Y') }}",
            () -> java.time.ZonedDateTime.of(2025, 3, 7, 0, 0, 0, 0, java.time.ZoneOffset.UTC));
    assertThat(t.render(Map.of())).isEqualTo("07 Mar 2025");
  }
}
