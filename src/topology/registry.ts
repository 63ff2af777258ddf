import type { StageDefinition } from '../stages/stage.js';
import { exactStage } from '../stages/exact/exact.js';
import { nearStage } from '../stages/near/near.js';
import { embedStage } from '../stages/embed/embed.js';
import { semanticStage } from '../stages/semantic/semantic.js';
import { prototypeStage } from '../stages/prototype/prototype.js';

/** Every stage type a topology or `--stages` may name, in pipeline order. */
export const stageDefinitions: ReadonlyMap<string, StageDefinition<any>> = new Map<string, StageDefinition<any>>([
  [exactStage.type, exactStage],
  [nearStage.type, nearStage],
  [embedStage.type, embedStage],
  [semanticStage.type, semanticStage],
  [prototypeStage.type, prototypeStage],
]);

export function stageDefinition(type: string): StageDefinition<any> {
  const def = stageDefinitions.get(type);
  if (!def) throw new ConfigError(`unknown stage type "${type}"; known: ${[...stageDefinitions.keys()].join(', ')}`);
  return def;
}

/** A configuration mistake the user must fix: printed without a stack trace, exit code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
