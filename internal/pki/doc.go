// Package pki creates and keeps skiff's certificates, keys and kubeconfigs.
//
// Everything lives in one directory (by default /var/lib/skiff/tls):
//
//	ca.crt, ca.key           the cluster CA: ECDSA P-256, self-signed, 10 years;
//	                         after RotateCA, ca.crt is the new CA followed by
//	                         the old, and ca-cross.crt the new CA signed by
//	                         the old (appended to every leaf it signs)
//	<name>.crt, <name>.key   serving and client certificates signed by the CA
//	sa.key, sa.pub           the key pair that signs service account tokens
//	sa-verify/*.pub          public keys of retired signing keys, which
//	                         tokens still verify with (RotateServiceAccountKey)
//	front-proxy/             a second CA (same layout) and its client
//	                         certificate front-proxy-client, which the API
//	                         server presents to extension API servers
//
// Every function is idempotent, so the server calls them on each start:
// LoadOrCreateCA returns the CA already on disk, or makes one the first time;
// IssueServing and IssueClient keep a certificate that is still good (signed
// by this CA, short of two thirds of its life, with the wanted names) and
// replace it otherwise, so adding a --tls-san or a new host address takes a
// restart and nothing else. A Renewer runs the same decision for a set of
// Leaves on a clock, so certificates are renewed at two thirds of their life
// without a restart; whoever holds one in memory reloads it
// (KeyPairReloader). CheckCertificates lists what is on disk.
//
// Keys are ECDSA because generating one takes well under a millisecond; an
// RSA CA or service account key supplied by the operator is read and used as
// is.
//
// Files are written to a temporary name and renamed, so a crash leaves either
// the old file or the new one, never half of one. Keys are 0600.
//
// The decision whether a certificate on disk can be kept (checkLeaf) is a
// pure function of the certificate, the CA and the clock; the rest is file
// I/O around it.
package pki
