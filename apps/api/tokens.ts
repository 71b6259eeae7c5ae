/** Injection tokens of the API module. */
export const CONFIG = Symbol('SwitchyardConfig');
export const TEMPORAL_CLIENT = Symbol('TemporalClient');
