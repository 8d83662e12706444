package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"skiff/internal/server"
)

// newEtcdSnapshotCommand saves, lists, deletes and prunes the snapshots of
// a running server's embedded etcd, as an admin client. The snapshots are
// files on that server, in --etcd-snapshot-dir.
func newEtcdSnapshotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd-snapshot",
		Short: "Save, list, delete and prune snapshots of the server's embedded etcd",
		Long: `Snapshots of the embedded etcd of the server the kubeconfig points at, kept on
that server in <data-dir>/db/snapshots (--etcd-snapshot-dir) and named
<name>-<node>-<unix time>. The server also takes them on a schedule
(--etcd-snapshot-schedule-cron, --etcd-snapshot-retention). Restore one with
skiff server --cluster-reset --cluster-reset-restore-path FILE.`,
	}
	client := adminClientFlag(cmd)
	var name string
	save := &cobra.Command{
		Use:   "save",
		Short: "Save a snapshot now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			sn, err := server.SaveEtcdSnapshot(cmd.Context(), c, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Snapshot %s saved.\n", sn.Name)
			return nil
		},
	}
	save.Flags().StringVar(&name, "name", "on-demand", "the snapshot's name, to which the node and time are added")
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the snapshots",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			snaps, err := server.ListEtcdSnapshots(cmd.Context(), c)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "Name\tLocation\tSize\tCreated")
			for _, sn := range snaps {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", sn.Name, sn.Location, sn.Size, sn.Created.Format("2006-01-02T15:04:05Z07:00"))
			}
			return w.Flush()
		},
	}
	del := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete snapshots",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := server.DeleteEtcdSnapshots(cmd.Context(), c, args); err != nil {
				return err
			}
			for _, n := range args {
				fmt.Fprintf(cmd.OutOrStdout(), "Snapshot %s deleted.\n", n)
			}
			return nil
		},
	}
	var retention int
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete all but the newest snapshots of a name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			pruned, err := server.PruneEtcdSnapshots(cmd.Context(), c, name, retention)
			if err != nil {
				return err
			}
			for _, n := range pruned {
				fmt.Fprintf(cmd.OutOrStdout(), "Snapshot %s deleted.\n", n)
			}
			return nil
		},
	}
	prune.Flags().StringVar(&name, "name", "on-demand", "prune the snapshots of this name")
	prune.Flags().IntVar(&retention, "snapshot-retention", server.DefaultSnapshotRetention, "snapshots to keep")
	cmd.AddCommand(save, list, del, prune)
	return cmd
}
