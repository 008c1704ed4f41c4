// Passkeys in the browser: the server's WebAuthn options arrive as JSON (`{"publicKey":
// {...}}`, binary fields in base64url, as webauthn-rs writes them), the browser's API wants
// ArrayBuffers, and its answer goes back as JSON with base64url again.

import { ApiError } from './api.js';

/** Whether this page can use passkeys: WebAuthn exists only in a secure context (HTTPS, localhost). */
export function passkeysAvailable() {
  return window.isSecureContext && typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

/** Makes a passkey from beginPasskeyRegistration's options; returns the credential as JSON. */
export async function createPasskey(options) {
  const publicKey = withoutNulls(options?.publicKey);
  if (!publicKey?.challenge || !publicKey.user?.id) throw new ApiError('The server sent no usable passkey options.');
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  publicKey.user = { ...publicKey.user, id: fromBase64Url(publicKey.user.id) };
  if (publicKey.excludeCredentials) publicKey.excludeCredentials = publicKey.excludeCredentials.map(withBinaryId);
  return ceremony('create', publicKey, (response) => ({
    attestationObject: toBase64Url(response.attestationObject),
    clientDataJSON: toBase64Url(response.clientDataJSON),
    transports: typeof response.getTransports === 'function' ? response.getTransports() : undefined,
  }));
}

/** Signs with a passkey, for authenticate's options; returns the assertion as JSON. */
export async function usePasskey(options) {
  const publicKey = withoutNulls(options?.publicKey);
  if (!publicKey?.challenge) throw new ApiError('The server sent no usable passkey options.');
  publicKey.challenge = fromBase64Url(publicKey.challenge);
  if (publicKey.allowCredentials) publicKey.allowCredentials = publicKey.allowCredentials.map(withBinaryId);
  return ceremony('get', publicKey, (response) => ({
    authenticatorData: toBase64Url(response.authenticatorData),
    clientDataJSON: toBase64Url(response.clientDataJSON),
    signature: toBase64Url(response.signature),
    userHandle: response.userHandle ? toBase64Url(response.userHandle) : undefined,
  }));
}

/**
 * Runs navigator.credentials.create or .get and returns the credential as the JSON webauthn-rs
 * reads (binary fields in base64url); `encode` turns the ceremony's own response into it.
 */
async function ceremony(purpose, publicKey, encode) {
  let credential;
  try {
    credential = await navigator.credentials[purpose]({ publicKey });
  } catch (e) {
    throw explain(e, purpose);
  }
  return {
    id: credential.id,
    rawId: toBase64Url(credential.rawId),
    type: credential.type,
    response: encode(credential.response),
    clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
  };
}

/** The browser's refusals (DOMException names) as what a person can do about them. */
function explain(e, purpose) {
  if (e?.name === 'NotAllowedError') {
    return new ApiError(
      purpose === 'create'
        ? 'No passkey was made: the browser’s prompt was cancelled or timed out.'
        : 'No passkey was used: the browser’s prompt was cancelled or timed out, or this device has no passkey for this site.',
    );
  }
  if (e?.name === 'InvalidStateError' && purpose === 'create') {
    return new ApiError('This device already holds a passkey for your account.');
  }
  if (e?.name === 'SecurityError') {
    return new ApiError('The browser refused passkeys for this address: the server’s AUTHQL_APP_URL must be the address in the address bar.');
  }
  return new ApiError(`The browser could not ${purpose === 'create' ? 'make' : 'use'} a passkey: ${e?.message ?? e}`);
}

function withBinaryId(descriptor) {
  return { ...descriptor, id: fromBase64Url(descriptor.id) };
}

// The options' optional members may come as null; WebAuthn's dictionaries take them absent.
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
}

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function toBase64Url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
