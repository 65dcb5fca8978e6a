package dev.prefstream.schemas.registry;

import java.util.List;
import org.apache.avro.Schema;

/**
 * The operations prefstream needs from a schema registry that speaks Confluent's REST API. Schema
 * ids are registry-wide: never assume an id equals a subject version.
 */
public interface SchemaRegistry {

  /** Registers {@code schema} under {@code subject} (idempotent) and returns its id. */
  int register(String subject, Schema schema);

  /** The id of {@code schema} under {@code subject}, without registering it. */
  int idOf(String subject, Schema schema);

  /** The schema with this id. */
  Schema schemaById(int id);

  /** The versions registered under {@code subject}, ascending. */
  List<Integer> versions(String subject);

  /** The latest version under {@code subject}. */
  SubjectVersion latest(String subject);

  /**
   * Whether {@code schema} may be registered under {@code subject} given its compatibility rule,
   * with the registry's reasons when it may not.
   */
  Compatibility testCompatibility(String subject, Schema schema);

  /** Sets the compatibility level of {@code subject}, e.g. BACKWARD. */
  void setCompatibility(String subject, String level);

  /**
   * Deletes {@code subject} and all its versions for good (Confluent's API: a soft delete, then a
   * permanent one); a subject that is not there is not an error. The schemas' ids stay readable
   * wherever another subject uses them.
   */
  void deleteSubject(String subject);

  /** One registered version of a subject. */
  record SubjectVersion(String subject, int version, int id, Schema schema) {}

  /** The answer of a compatibility check. */
  record Compatibility(boolean compatible, List<String> messages) {}
}
