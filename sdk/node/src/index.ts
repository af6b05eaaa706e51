// codex-orchestrator-sdk: run commands and pipelines through codex-orchestrator from Node.
// docs/sdk.md in the repository is the guide; docs/serve.md the protocol underneath.

export { Orchestrator, Session, type ServerInfo } from './orchestrator.js';
export {
  AbortError, CliNotFoundError, OrchestratorError, ProtocolError, RequestFailedError, ServerExitedError, UsageError,
} from './errors.js';
export { CONFIG_ENV } from './config.js';
export type * from './types.js';
export * from './events.generated.js';
