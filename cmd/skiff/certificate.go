package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"skiff/internal/pki"
	"skiff/internal/server"
)

// newCertificateCommand inspects and rotates the certificates in a
// server's data dir, on the server's host.
func newCertificateCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "certificate",
		Short: "Check the certificates in the data dir, or rotate the cluster CA",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the server's (or the agent's) data dir")

	check := &cobra.Command{
		Use:   "check",
		Short: "List every certificate under <data-dir>/tls with its subject, expiry and whether it is due for renewal",
		Long: `List every certificate under <data-dir>/tls: its file, subject, expiry, the
time left, when it is renewed and its status:

  ok       valid and not yet due
  due      at or past two thirds of its life: a running server (or agent)
           renews it within the hour, a stopped one when it starts
  due(old-ca)
           signed by the CA before the last 'rotate-ca': replaced by the
           server in the same way
  expired  past its expiry
  ca       a CA certificate (ten years; not renewed automatically: see
           'skiff certificate rotate-ca')

A server and an agent renew each certificate they issued at two thirds of its
life (eight months for the one-year ones) without a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			certs, err := pki.CheckCertificates(filepath.Join(dataDir, "tls"), now)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no certificates: %s does not exist (is --data-dir right?)", filepath.Join(dataDir, "tls"))
			}
			if err != nil {
				return err
			}
			return writeCertTable(cmd.OutOrStdout(), dataDir, certs, now)
		},
	}

	rotate := &cobra.Command{
		Use:   "rotate-ca",
		Short: "Replace the cluster CA with a new one; certificates of the old CA stay trusted",
		Long: `Replace the cluster CA in <data-dir>/tls with a new self-signed one, for a
stopped or a running server on this data dir. Nothing stops working:

  ca.crt        becomes a bundle: the new CA, then the old one. Every client
                and server that reads it (admin.kubeconfig, the components,
                the API server at its next start) trusts both, so
                certificates the old CA signed are accepted until they are
                renewed. A CA rotated before the old one is dropped.
  ca.key        becomes the new CA's key: from now on the new CA signs.
  ca-cross.crt  is the new CA signed by the old one. It follows every new
                certificate in its file, so that whoever still trusts only
                the old CA (a node that joined earlier, a copied kubeconfig
                with the old CA embedded) accepts the new certificates.
  node-token    is written anew: a join token names the CA's hash. Give new
                nodes the new token; tokens printed before no longer join.

A running server signs the certificates of joining and renewing nodes with the
new CA at once, and replaces its own certificates (API serving certificate,
admin and component client certificates, its node's) within the hour, when its
renewal loop next looks; a stopped server does so when it starts. Restart the
server to have it replace them at once; it also publishes the bundle to pods
(the kube-root-ca.crt ConfigMaps) when it starts. Nodes get the new bundle
when they next renew their certificates (at two thirds of their life).

The old CA stays in ca.crt until the next rotation. Only the cluster CA is
rotated: the embedded etcd's CA (tls/etcd) and the front-proxy
CA (tls/front-proxy) are kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := server.RotateCA(dataDir, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "the cluster CA is now %s (%s); the old CA stays trusted\n", ca.Cert.Subject.CommonName, ca.CertFile())
			fmt.Fprintf(cmd.OutOrStdout(), "new join token in %s\n", filepath.Join(dataDir, "node-token"))
			return nil
		},
	}
	cmd.AddCommand(check, rotate)
	return cmd
}

// writeCertTable writes certs as `skiff certificate check` shows them,
// files relative to dataDir.
func writeCertTable(w io.Writer, dataDir string, certs []pki.CertStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CERTIFICATE\tSUBJECT\tEXPIRES\tRESIDUAL\tRENEW AT\tSTATUS")
	for _, c := range certs {
		file := c.File
		if rel, err := filepath.Rel(dataDir, c.File); err == nil {
			file = rel
		}
		renewAt, status := "-", "ok"
		switch {
		case c.Expired:
			status = "expired"
		case c.CA:
			status = "ca"
		case c.OldCA:
			status = "due(old-ca)"
		case c.Due:
			status = "due"
		}
		if !c.CA {
			renewAt = c.RenewAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", file, c.Subject, c.NotAfter.UTC().Format(time.DateTime), residual(c.NotAfter.Sub(now)), renewAt, status)
	}
	return tw.Flush()
}

// residual is the time left, as kubeadm shows it: years, else days, else
// hours.
func residual(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d <= 0:
		return "0"
	case d >= 365*day:
		return fmt.Sprintf("%dy", d/(365*day))
	case d >= day:
		return fmt.Sprintf("%dd", d/day)
	default:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
}
