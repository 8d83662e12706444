package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/apiserver/auth"
	"skiff/internal/pki"
)

// ServiceAccountKeyRotatePath rotates the service account signing key of
// the server that receives the POST: a new key signs from then on, the
// old one only verifies (its public half moves to
// <data-dir>/tls/sa-verify/). Admin only (system:masters).
const ServiceAccountKeyRotatePath = "/skiff/v1/serviceaccount-key/rotate"

// saKeys loads the service account keys of a data dir and the
// verification-only key files of --service-account-key-file into tokens.
type saKeys struct {
	mu     sync.Mutex
	dir    string
	files  []string
	tokens *auth.Tokens
	now    func() time.Time
}

// load reads the keys from disk and hands them to tokens.
func (k *saKeys) load() error {
	signer, verify, err := pki.LoadServiceAccountKeys(k.dir)
	if err != nil {
		return err
	}
	for _, f := range k.files {
		pubs, err := pki.ReadPublicKeys(f)
		if err != nil {
			return fmt.Errorf("--service-account-key-file: %w", err)
		}
		verify = append(verify, pubs...)
	}
	return k.tokens.SetKeys(signer, verify)
}

func newSAKeys(cfg Config, issuer string) (*saKeys, error) {
	k := &saKeys{dir: filepath.Join(cfg.DataDir, "tls"), files: cfg.ServiceAccountKeyFiles, now: time.Now}
	signer, err := pki.LoadOrCreateServiceAccountKey(k.dir)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	if k.tokens, err = auth.NewTokens(signer, issuer); err != nil {
		return nil, err
	}
	if err := k.load(); err != nil {
		return nil, fmt.Errorf("service account keys: %w", err)
	}
	return k, nil
}

// ServeHTTP serves ServiceAccountKeyRotatePath.
func (k *saKeys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{}, r.Method))
		return
	}
	kid, err := k.rotate()
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"kid": kid})
}

// rotate replaces the signing key on disk, loads the keys again and
// returns the new key's kid.
func (k *saKeys) rotate() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := pki.RotateServiceAccountKey(k.dir, k.now()); err != nil {
		return "", err
	}
	if err := k.load(); err != nil {
		return "", err
	}
	signer, _, err := pki.LoadServiceAccountKeys(k.dir)
	if err != nil {
		return "", err
	}
	return auth.KeyID(signer.Public())
}

// writeStatus writes err as the metav1.Status clients decode.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

// RotateServiceAccountKey asks the server behind client to sign service
// account tokens with a new key from now on, and returns the new key's
// kid. Tokens signed with the old key keep verifying.
func RotateServiceAccountKey(ctx context.Context, client kubernetes.Interface) (string, error) {
	body, err := client.CoreV1().RESTClient().Post().AbsPath(ServiceAccountKeyRotatePath).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return "", errors.New("rotate service account key: the server does not support it")
	}
	if err != nil {
		return "", fmt.Errorf("rotate service account key: %w", err)
	}
	var out struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("rotate service account key: %w", err)
	}
	return out.Kid, nil
}
