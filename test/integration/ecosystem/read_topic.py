"""Reads a d4stream topic with tools nobody on d4stream wrote, for the ecosystem tests.

  read_topic.py registry --bootstrap B --registry URL --topic T [--idle S]
      The Confluent Python client: a read-committed Consumer and AvroDeserializer with a
      SchemaRegistryClient (the writer schema comes from the registry by the id in each record).
  read_topic.py schemaless --schema FILE.avsc --kcat FILE
      Raw records as kcat wrote them (-f '%K:%k%S:%s'), each value decoded with fastavro's
      schemaless_reader and the .avsc the README names for the topic.

Prints one JSON line per record: {"key", "value", "schema_id"} (bytes as base64, timestamps as
ISO strings).
"""
import argparse
import base64
import datetime
import json
import struct
import sys
import time
import uuid


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    return v


def emit(key, value, schema_id):
    sys.stdout.write(json.dumps({"key": key, "value": plain(value), "schema_id": schema_id}, ensure_ascii=False) + "\n")


def registry(args):
    from confluent_kafka import Consumer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": args.registry}))
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": f"py-reader-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe([args.topic])
    last = time.time()
    try:
        while time.time() - last < args.idle:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise SystemExit(f"consumer error: {msg.error()}")
            last = time.time()
            raw = msg.value()
            schema_id = struct.unpack(">bI", raw[:5])[1] if raw and raw[0] == 0 else None
            value = deserializer(raw, SerializationContext(msg.topic(), MessageField.VALUE))
            emit(msg.key().decode("utf-8") if msg.key() is not None else None, value, schema_id)
    finally:
        consumer.close()


def schemaless(args):
    import io
    from fastavro import parse_schema, schemaless_reader

    schema = parse_schema(json.load(open(args.schema)))
    data = open(args.kcat, "rb").read()
    at = 0
    while at < len(data):
        # kcat -f '%K:%k%S:%s': key length, ':', key, value length, ':', value (-1: null)
        colon = data.index(b":", at)
        klen = int(data[at:colon])
        at = colon + 1
        key = data[at:at + klen].decode("utf-8") if klen >= 0 else None
        at += max(klen, 0)
        colon = data.index(b":", at)
        vlen = int(data[at:colon])
        at = colon + 1
        raw = data[at:at + vlen]
        at += max(vlen, 0)
        emit(key, schemaless_reader(io.BytesIO(raw), schema), None)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("registry")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--registry", required=True)
    r.add_argument("--topic", required=True)
    r.add_argument("--idle", type=float, default=6.0)
    s = sub.add_parser("schemaless")
    s.add_argument("--schema", required=True)
    s.add_argument("--kcat", required=True)
    args = p.parse_args()
    registry(args) if args.mode == "registry" else schemaless(args)


if __name__ == "__main__":
    main()
