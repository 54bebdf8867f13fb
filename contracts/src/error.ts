export type ContractsErrorCode =
  | 'ANVIL_NOT_FOUND'
  | 'ANVIL_START_FAILED'
  | 'ANVIL_PORT_IN_USE'
  | 'ANVIL_EXITED'
  | 'ANVIL_START_TIMEOUT'
  | 'CONTAINER_RUNTIME_UNAVAILABLE'
  | 'CONTAINER_START_FAILED'
  | 'ARTIFACT_MISSING'
  | 'ARTIFACT_MALFORMED'
  | 'DEPLOY_FAILED'
  | 'DEPLOYER_KEY_MISSING'
  | 'INVALID_ARGUMENT'
  | 'RPC_UNAVAILABLE'
  | 'RELEASE_EVENT_MISSING'
  | 'INVALID_HARDWARE_ID';

export class ContractsError extends Error {
  override readonly name = 'ContractsError';
  constructor(
    readonly code: ContractsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
