package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"skiff/internal/server"
)

// newEtcdCommand lists and removes the members of the servers' embedded
// etcd cluster, as an admin client of any server.
func newEtcdCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "List and remove the members of the servers' embedded etcd",
		Long: `The servers' embedded etcd cluster: the first server (started with
--cluster-init) and every server that joined it with --server. A server shut
down for good must leave the member list, or it counts against the quorum:
remove it through another server with skiff etcd remove-member NAME (deleting
its node removes it too).`,
	}
	client := adminClientFlag(cmd)
	members := &cobra.Command{
		Use:     "members",
		Aliases: []string{"member-list"},
		Short:   "List the members",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			list, err := server.ListEtcdMembers(cmd.Context(), c)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tID\tROLE\tPEER URLS\tANSWERED")
			for _, m := range list {
				role, self := "voter", ""
				if m.Learner {
					role = "learner"
				}
				if m.Self {
					self = "*"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.ID, role, strings.Join(m.PeerURLs, ","), self)
			}
			return w.Flush()
		},
	}
	remove := &cobra.Command{
		Use:   "remove-member NAME",
		Short: "Remove a member (by name or hex ID) of a server shut down for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := server.RemoveEtcdMember(cmd.Context(), c, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Member %s removed.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(members, remove)
	return cmd
}
