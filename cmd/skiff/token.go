package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/server"
)

// newTokenCommand manages join tokens: bootstrap tokens with a lifetime,
// through the API as any admin client, and the server's static token, on
// the server's host.
func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the tokens nodes join with",
	}
	config := adminConfigFlag(cmd)
	client := func() (kubernetes.Interface, []byte, error) {
		rc, err := config()
		if err != nil {
			return nil, nil, err
		}
		caPEM := rc.CAData
		if len(caPEM) == 0 && rc.CAFile != "" {
			if caPEM, err = os.ReadFile(rc.CAFile); err != nil {
				return nil, nil, err
			}
		}
		c, err := kubernetes.NewForConfig(rc)
		return c, caPEM, err
	}

	var opts server.BootstrapTokenOptions
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token and print it as a join token for `skiff agent --token`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, caPEM, err := client()
			if err != nil {
				return err
			}
			t, err := server.CreateBootstrapToken(cmd.Context(), c, caPEM, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.String())
			return nil
		},
	}
	create.Flags().DurationVar(&opts.TTL, "ttl", 24*time.Hour, "how long the token lasts (0: for ever)")
	create.Flags().StringVar(&opts.Description, "description", "", "what the token is for")
	create.Flags().StringSliceVar(&opts.Groups, "groups", nil, "extra groups (system:bootstrappers:...) the token authenticates as")

	list := &cobra.Command{
		Use:   "list",
		Short: "List bootstrap tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := client()
			if err != nil {
				return err
			}
			tokens, err := server.ListBootstrapTokens(cmd.Context(), c)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS")
			for _, t := range tokens {
				ttl, expires := "<forever>", "<never>"
				if t.Expires != nil {
					expires = t.Expires.UTC().Format(time.RFC3339)
					if d := time.Until(*t.Expires); d > 0 {
						ttl = d.Round(time.Second).String()
					} else {
						ttl = "<invalid>"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Token, ttl, expires, or(strings.Join(t.Usages, ","), "<none>"),
					or(t.Description, "<none>"), or(strings.Join(t.Groups, ","), "<none>"))
			}
			return w.Flush()
		},
	}

	del := &cobra.Command{
		Use:   "delete TOKEN-ID [TOKEN-ID...]",
		Short: "Delete bootstrap tokens (by id, <id>.<secret> or the whole join token)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := client()
			if err != nil {
				return err
			}
			for _, a := range args {
				if err := server.DeleteBootstrapToken(cmd.Context(), c, a); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", strings.SplitN(a, ".", 2)[0])
			}
			return nil
		},
	}

	var dataDir, newToken string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the server's static join token (run on the server's host); the old one stops working at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := server.RotateJoinToken(dataDir, newToken)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "new join token written to %s\n", filepath.Join(dataDir, "node-token"))
			fmt.Fprintln(cmd.OutOrStdout(), t.String())
			return nil
		},
	}
	rotate.Flags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the server's data dir")
	rotate.Flags().StringVar(&newToken, "new-token", "", "the new secret (default: a random one)")

	cmd.AddCommand(create, list, del, rotate)
	return cmd
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
