package dev.prefstream.trainer.tokenize.jinja;

/** A failure while rendering; the renderer adds the template line. */
class JinjaError extends RuntimeException {
  private static final long serialVersionUID = 1L;

  JinjaError(String message) {
    super(message);
  }
}
