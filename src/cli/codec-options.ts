import { ConfigError } from '../topology/registry.js';
import type { CodecOptions } from '../io/avro/codec.js';
import type { RegistryUse } from '../io/registry/framing.js';

export interface FramingCliOptions {
  readonly schemaId?: number;
  readonly schemaRegistry?: string;
}

/**
 * How a command frames and reads Avro records: schemaless (default), one fixed id (--schema-id),
 * or a schema registry (--schema-registry: registers what the command writes, reads what it reads).
 */
export async function codecOptionsFor(opts: FramingCliOptions, use: RegistryUse, log: (m: string) => void): Promise<CodecOptions> {
  if (opts.schemaRegistry !== undefined) {
    if (opts.schemaId !== undefined) throw new ConfigError('--schema-id and --schema-registry exclude each other: with a registry every record type gets its own id');
    const { registryCodecOptions } = await import('../io/registry/framing.js');
    return registryCodecOptions(opts.schemaRegistry, use, log);
  }
  return opts.schemaId === undefined ? {} : { confluentSchemaId: opts.schemaId };
}
