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
// aesgcm, secretbox, and kms with apiVersion v2 (KMS v1 is refused).
//
// A kms provider speaks upstream's KMS v2 gRPC API (k8s.io/kms/apis/v2) to
// a plugin on a unix socket. On the first write, and whenever the plugin's
// Status reports another key ID, it makes a random 32-byte seed and has the
// plugin encrypt it; each value is then AES-GCM under a key HKDF-SHA256
// derives from the seed and 32 random bytes, and is stored as
// "k8s:enc:kms:v2:<name>:" followed by upstream's EncryptedObject protobuf
// (encryptedData, keyID, encryptedDEKSource, annotations,
// encryptedDEKSourceType), so upstream reads it and the other way round.
// Writes ask Status at most once a minute (every 10 s after a failure),
// ProbeKMS (which Store.Status calls) asks it at once; a seed writes for three
// minutes after the last Status that confirmed its key ID, so writes stop
// soon after the plugin goes away. Decrypted seeds are cached by encrypted
// seed, so values under a known seed read without the plugin. A value
// under another key ID than the plugin's current one reads as stale.
//
// The caller builds a Config with Load or Parse, then NewStore(inner, cfg)
// and hands the result to the API server in place of the inner store.
// SetConfig swaps the configuration on a running store (key rotation);
// Status counts how the values under a prefix are stored, so a caller can
// tell when every object has been rewritten with the current key.
package encryption
