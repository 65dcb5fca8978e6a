package dev.prefstream.schemas.registry;

/**
 * A schema registry answered with an error, or could not be reached.
 *
 * <p>{@link #isRetriable()} separates the two: a 4xx answer (unknown subject or id, incompatible
 * schema, bad request) is permanent; network failures and 5xx answers may succeed later.
 */
public class SchemaRegistryException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Confluent error codes that callers act on. */
  public static final int SUBJECT_NOT_FOUND = 40401;

  public static final int VERSION_NOT_FOUND = 40402;
  public static final int SCHEMA_NOT_FOUND = 40403;
  public static final int INCOMPATIBLE_SCHEMA = 409;
  public static final int INVALID_SCHEMA = 42201;

  private final int httpStatus;
  private final int errorCode;

  public SchemaRegistryException(String message, int httpStatus, int errorCode, Throwable cause) {
    super(message, cause);
    this.httpStatus = httpStatus;
    this.errorCode = errorCode;
  }

  /** The HTTP status, or 0 when the registry could not be reached. */
  public int httpStatus() {
    return httpStatus;
  }

  /** Confluent's {@code error_code}, or the HTTP status when the body had none. */
  public int errorCode() {
    return errorCode;
  }

  public boolean isRetriable() {
    return httpStatus == 0 || httpStatus >= 500 || httpStatus == 429;
  }

  /** True for "no such subject / version / schema id". */
  public boolean isNotFound() {
    return httpStatus == 404;
  }
}
