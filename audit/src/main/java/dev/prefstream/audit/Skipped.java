package dev.prefstream.audit;

/**
 * A record an audit could not read and went past: where it is and why. Every topic is untrusted; an
 * audit reports such records and never stops on them.
 */
public record Skipped(String topic, int partition, long offset, String reason, String message) {}
