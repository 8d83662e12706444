package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"skiff/internal/server"
)

// newServiceAccountCommand manages the service account token signing key
// of a running server, as an admin client.
func newServiceAccountCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service-account",
		Short: "Manage the key that signs service account tokens",
	}
	client := adminClientFlag(cmd)
	rotate := &cobra.Command{
		Use:   "rotate-key",
		Short: "Sign service account tokens with a new key; tokens signed with the old one keep verifying",
		Long: `Rotate the service account signing key of the running server the kubeconfig
points at, without a restart. The new key (<data-dir>/tls/sa.key) signs every
token issued from now on; the old key's public half moves to
<data-dir>/tls/sa-verify/, so tokens it signed keep verifying and
/openid/v1/jwks lists both keys. Delete a file in sa-verify/ (and restart) once
the tokens its key signed have expired, to retire it for good.

Servers sharing an external etcd each have their own key: rotate each one, and
give the others the new public keys with --service-account-key-file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			kid, err := server.RotateServiceAccountKey(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service account tokens are now signed with key %s\n", kid)
			return nil
		},
	}
	cmd.AddCommand(rotate)
	return cmd
}
