package dev.prefstream.trainer.tokenize;

/**
 * A chat template that cannot be used, or a conversation it refuses: a construct prefstream's
 * renderer does not support (named, with its line), a template error (undefined attribute, type
 * error) or the template's own {@code raise_exception}. Never a usage error: the data or the model
 * directory is at fault, not the command line.
 */
public class TemplateException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public TemplateException(String message) {
    super(message);
  }

  public TemplateException(String message, Throwable cause) {
    super(message, cause);
  }
}
