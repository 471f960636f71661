import type { AgentToolCallRecord } from '@cos/events';
import { ModelError, recordingCaller, type ModelProvider, type ModelRequest, type ModelResult } from './provider';

/**
 * The deterministic provider (default): each step's `rules` answer — keyword rules and plain lookups through the
 * same tools a model would call. No tokens, no key, same answer every time; the run's steps still record the tool
 * calls it made.
 */
export function createRulesProvider(): ModelProvider {
  return {
    name: 'rules',
    async complete<T>(req: ModelRequest<T>): Promise<ModelResult<T>> {
      const toolCalls: AgentToolCallRecord[] = [];
      const answer = await req.rules(req.input, recordingCaller(req.tools, toolCalls));
      const parsed = req.output.safeParse(answer);
      if (!parsed.success) throw new ModelError(`the rules of ${req.prompt.id} answered an invalid shape: ${parsed.error.message}`, false);
      return { output: parsed.data, model: 'rules', usage: { modelCalls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 }, toolCalls };
    },
  };
}
