package main

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"skiff/internal/server"
)

// newSecretsEncryptCommand reports and applies encryption at rest through
// the API, as an admin client.
func newSecretsEncryptCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets-encrypt",
		Short: "Report and apply the encryption of Secrets at rest",
		Long: `Report and apply the encryption of Secrets at rest on a server started with
--secrets-encryption or --encryption-provider-config.

With --secrets-encryption, "rotate-keys" does it all on a running server: it
adds a new key in front of <data-dir>/tls/encryption-config.json, keeps the old
ones for reading, and rewrites every Secret (on one server; servers sharing an
external etcd each need the new file, and a restart, before old keys go).

With --encryption-provider-config, rotate by hand: put a new key first in the configuration's provider and keep the old
ones after it, restart the server, run "reencrypt", check "status", then
remove the old keys and restart again. With a KMS v2 provider, rotate the key in
the plugin: "status" and "reencrypt" ask the plugin for its current key ID and
rewrite the Secrets stored under an older one.`,
	}
	client := adminClientFlag(cmd)
	status := &cobra.Command{
		Use:   "status",
		Short: "Print which provider and key encrypt Secrets, and whether every Secret is stored with it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			st, err := server.EncryptionStatus(cmd.Context(), c)
			if errors.Is(err, server.ErrEncryptionOff) {
				fmt.Fprintln(cmd.OutOrStdout(), "Encryption Status: Disabled")
				return nil
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "Encryption Status: Enabled")
			fmt.Fprintf(out, "Active provider: %s\n", st.WriteProvider)
			if st.Current == st.Total {
				fmt.Fprintf(out, "All %d Secrets are stored with it\n", st.Total)
			} else {
				fmt.Fprintf(out, "%d of %d Secrets are stored with it; run `skiff secrets-encrypt reencrypt`\n", st.Current, st.Total)
			}
			names := make([]string, 0, len(st.Stored))
			for p := range st.Stored {
				names = append(names, p)
			}
			sort.Strings(names)
			for _, p := range names {
				fmt.Fprintf(out, "  %s: %d\n", p, st.Stored[p])
			}
			return nil
		},
	}
	reencrypt := &cobra.Command{
		Use:   "reencrypt",
		Short: "Write every Secret again, so each is stored with the active provider and key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			n, err := server.ReencryptSecrets(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rewrote %d Secrets\n", n)
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate-keys",
		Short: "With --secrets-encryption: encrypt with a new key (old keys kept for reading), then rewrite every Secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			p, n, err := server.RotateEncryptionKeys(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Secrets are now encrypted with %s; rewrote %d Secrets\n", p, n)
			return nil
		},
	}
	cmd.AddCommand(status, reencrypt, rotate)
	return cmd
}
