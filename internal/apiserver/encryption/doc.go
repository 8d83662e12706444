// Package encryption encrypts objects at rest: it reads upstream's
// EncryptionConfiguration (apiserver.config.k8s.io/v1) and wraps a
// storage.Store so that values under the configured resources' keys are
// encrypted on every write and decrypted on every read (Get, List, Watch,
// and the current values Update and Delete return on a conflict).
//
// For each resource the first provider encrypts; every provider decrypts.
// An encrypted value starts with upstream's prefix
// "k8s:enc:<provider>:v1:<key name>:", which picks the provider and key
// that read it. A value without a prefix (written before encryption was
// turned on, or by the identity provider) is returned as it is, so
// objects written earlier stay readable. Providers: identity, aescbc,
// aesgcm, secretbox. KMS (v1 and v2) is not supported: a configuration
// naming it is refused.
//
// The caller builds a Config with Load or Parse, then NewStore(inner, cfg)
// and hands the result to the API server in place of the inner store.
// SetConfig swaps the configuration on a running store (key rotation);
// Status counts how the values under a prefix are stored, so a caller can
// tell when every object has been rewritten with the current key.
package encryption
