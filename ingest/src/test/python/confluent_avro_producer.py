"""Produces a scenario of feedback events the way a product using Confluent's Python client does.

Values go through confluent_kafka.avro.AvroProducer, which registers the schema with the registry
(subject <topic>-value) and writes Confluent's wire format; keys are Avro strings, as that producer
frames them (subject <topic>-key). Records given as raw bytes go through a plain Producer: the
malformed input a misbehaving client would send.

Usage: confluent_avro_producer.py BOOTSTRAP REGISTRY_URL FEEDBACK_TOPIC SERVED_TOPIC
           FEEDBACK_SCHEMA.avsc SERVED_SCHEMA.avsc SCENARIO.jsonl
Prints "sent N" and exits 0 when every record was acknowledged.
"""
import base64
import datetime
import json
import sys

from confluent_kafka import Producer
from confluent_kafka import avro
from confluent_kafka.avro import AvroProducer

TIME_FIELDS = ("occurred_at", "served_at")


def as_datum(value):
    """The Avro writer wants datetimes for timestamp-millis fields."""
    datum = dict(value)
    for field in TIME_FIELDS:
        if field in datum and isinstance(datum[field], int):
            datum[field] = datetime.datetime.fromtimestamp(
                datum[field] / 1000.0, tz=datetime.timezone.utc)
    return datum


def main(argv):
    bootstrap, registry, feedback_topic, served_topic, feedback_avsc, served_avsc, scenario = argv
    with open(feedback_avsc, encoding="utf-8") as f:
        feedback_schema = avro.loads(f.read())
    with open(served_avsc, encoding="utf-8") as f:
        served_schema = avro.loads(f.read())
    key_schema = avro.loads('"string"')
    common = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"}
    framed = AvroProducer(dict(common, **{"schema.registry.url": registry}),
                          default_key_schema=key_schema)
    plain = Producer(common)
    failures = []

    def delivered(err, msg):
        if err is not None:
            failures.append(str(err))

    sent = 0
    with open(scenario, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            topic = served_topic if record["topic"] == "served" else feedback_topic
            if "raw_base64" in record:
                plain.produce(topic, value=base64.b64decode(record["raw_base64"]),
                              key=record["key"].encode("utf-8"), on_delivery=delivered)
                plain.flush(30)
            else:
                schema = served_schema if record["topic"] == "served" else feedback_schema
                framed.produce(topic=topic, value=as_datum(record["value"]), value_schema=schema,
                               key=record["key"], callback=delivered)
                # one at a time keeps the scenario's order (a choice before its impression)
                framed.flush(30)
            sent += 1
    if failures:
        print("delivery failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    print("sent %d" % sent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
