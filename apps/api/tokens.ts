/** Injection tokens of the API module. */
export const CONFIG = Symbol('SwitchyardConfig');
export const TEMPORAL_CLIENT = Symbol('TemporalClient');
export const AUDIT_STORE = Symbol('AuditStore');
export const TOKEN_STORE = Symbol('TokenStore');
export const JWT_VERIFIER = Symbol('JwtVerifier');
export const NOTIFICATION_SINK = Symbol('NotificationSink');
