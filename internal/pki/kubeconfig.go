package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigConfig describes one kubeconfig: one cluster, one user and one
// context, all under ContextName. Files named here are read and embedded, so
// the kubeconfig still works when copied to another machine.
type KubeconfigConfig struct {
	// Server is the API server URL, such as https://127.0.0.1:6443. Required.
	Server string
	// CAData is the PEM of the CA that signed the server's certificate.
	// When empty, CAFile is read instead; one of the two is required.
	CAData []byte
	// CAFile is a PEM file holding the CA, used when CAData is empty.
	CAFile string
	// ClientCertData and ClientKeyData are the PEM client certificate and
	// key. When empty, ClientCertFile and ClientKeyFile are read.
	ClientCertData, ClientKeyData []byte
	// ClientCertFile and ClientKeyFile are PEM files, as IssueClient returns.
	ClientCertFile, ClientKeyFile string
	// Token is a bearer token, for kubeconfigs of service accounts and
	// joining agents. Optional; may be combined with a client certificate.
	Token string
	// Namespace is the context's default namespace; empty means "default".
	Namespace string
	// ContextName names the cluster, the user and the context. Defaults to
	// "default", as k3s names them.
	ContextName string
}

// WriteKubeconfig writes a kubeconfig for cfg to path, mode 0600, replacing
// any file there atomically.
func WriteKubeconfig(path string, cfg KubeconfigConfig) error {
	data, err := buildKubeconfig(cfg)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// buildKubeconfig reads the files cfg names and renders the kubeconfig.
func buildKubeconfig(cfg KubeconfigConfig) ([]byte, error) {
	if cfg.Server == "" {
		return nil, errors.New("no server URL")
	}
	name := cfg.ContextName
	if name == "" {
		name = "default"
	}
	caData, err := dataOrFile(cfg.CAData, cfg.CAFile)
	if err != nil {
		return nil, err
	}
	if len(caData) == 0 {
		return nil, errors.New("no CA")
	}
	certData, err := dataOrFile(cfg.ClientCertData, cfg.ClientCertFile)
	if err != nil {
		return nil, err
	}
	keyData, err := dataOrFile(cfg.ClientKeyData, cfg.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	if (len(certData) == 0) != (len(keyData) == 0) {
		return nil, errors.New("client certificate and key must be given together")
	}

	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cfg.Server,
		CertificateAuthorityData: caData,
	}
	config.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certData,
		ClientKeyData:         keyData,
		Token:                 cfg.Token,
	}
	config.Contexts[name] = &clientcmdapi.Context{
		Cluster:   name,
		AuthInfo:  name,
		Namespace: cfg.Namespace,
	}
	config.CurrentContext = name
	return clientcmd.Write(*config)
}

// dataOrFile returns data, or the contents of file when data is empty.
func dataOrFile(data []byte, file string) ([]byte, error) {
	if len(data) > 0 || file == "" {
		return data, nil
	}
	return os.ReadFile(file)
}
