package dev.prefstream.schemas.registry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;

/**
 * A registry held in memory with the semantics prefstream relies on: registry-wide ids shared by
 * identical schemas, per-subject versions, BACKWARD compatibility enforced on register. For
 * broker-free topology tests and offline tools; it is not a server.
 */
public final class InMemorySchemaRegistry implements SchemaRegistry {
  private final Map<Integer, Schema> byId = new HashMap<>();
  private final Map<Schema, Integer> idBySchema = new HashMap<>();
  private final Map<String, List<Schema>> subjects = new HashMap<>();
  private final Map<String, String> compatibility = new HashMap<>();

  @Override
  public synchronized int register(String subject, Schema schema) {
    List<Schema> versions = subjects.computeIfAbsent(subject, s -> new ArrayList<>());
    if (!versions.contains(schema)) {
      Compatibility check = testCompatibility(subject, schema);
      if (!check.compatible()) {
        throw new SchemaRegistryException(
            "incompatible schema for " + subject + ": " + check.messages(),
            409,
            SchemaRegistryException.INCOMPATIBLE_SCHEMA,
            null);
      }
      versions.add(schema);
    }
    return idBySchema.computeIfAbsent(
        schema,
        s -> {
          int id = byId.size() + 1;
          byId.put(id, s);
          return id;
        });
  }

  @Override
  public synchronized int idOf(String subject, Schema schema) {
    if (!subjects.getOrDefault(subject, List.of()).contains(schema)) {
      throw notFound(
          "schema not registered under " + subject, SchemaRegistryException.SCHEMA_NOT_FOUND);
    }
    return idBySchema.get(schema);
  }

  @Override
  public synchronized Schema schemaById(int id) {
    Schema schema = byId.get(id);
    if (schema == null) {
      throw notFound("schema id " + id + " not found", SchemaRegistryException.SCHEMA_NOT_FOUND);
    }
    return schema;
  }

  @Override
  public synchronized List<Integer> versions(String subject) {
    List<Schema> versions = subjects.get(subject);
    if (versions == null) {
      throw notFound(
          "subject " + subject + " not found", SchemaRegistryException.SUBJECT_NOT_FOUND);
    }
    List<Integer> numbers = new ArrayList<>();
    for (int i = 1; i <= versions.size(); i++) {
      numbers.add(i);
    }
    return numbers;
  }

  @Override
  public synchronized SubjectVersion latest(String subject) {
    List<Integer> versions = versions(subject);
    Schema schema = subjects.get(subject).get(versions.size() - 1);
    return new SubjectVersion(subject, versions.size(), idBySchema.get(schema), schema);
  }

  @Override
  public synchronized Compatibility testCompatibility(String subject, Schema schema) {
    List<Schema> versions = subjects.getOrDefault(subject, List.of());
    if (versions.isEmpty() || "NONE".equals(compatibility.get(subject))) {
      return new Compatibility(true, List.of());
    }
    // BACKWARD: the new schema must read data written with the latest one
    SchemaCompatibility.SchemaPairCompatibility result =
        SchemaCompatibility.checkReaderWriterCompatibility(
            schema, versions.get(versions.size() - 1));
    boolean ok = result.getType() == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE;
    return new Compatibility(ok, ok ? List.of() : List.of(result.getDescription()));
  }

  @Override
  public synchronized void setCompatibility(String subject, String level) {
    compatibility.put(subject, level);
  }

  @Override
  public synchronized void deleteSubject(String subject) {
    subjects.remove(subject);
    compatibility.remove(subject);
  }

  private static SchemaRegistryException notFound(String message, int code) {
    return new SchemaRegistryException(message, 404, code, null);
  }
}
